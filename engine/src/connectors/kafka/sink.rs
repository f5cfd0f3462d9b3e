//! Kafka as a sink: alerts and changelogs as keyed JSON messages.
//!
//! Each record is one JSON message. Its key and headers come from the record's fields (`key = "FIELD"`,
//! `headers = { NAME = "FIELD" }`; by default the `key` field, and `kind`, `job`, `view`, `op` where the
//! stream has them), so one key's messages stay in one partition, in order. A changelog `delete` is written
//! as a tombstone (no value; headers `view` and `op`), which is what a `cleanup.policy=compact` topic needs
//! to forget a key.
//!
//! The producer is idempotent (`enable.idempotence=true`, `acks=all`): librdkafka retries transient failures
//! without duplicating or reordering. A message it finally gives up on (after `delivery_timeout`) fails the
//! sink, and with it the job, with the broker's reason: never a silent drop.
//!
//! A [`KafkaSinkSpec`] is the `kind = "kafka"` sink component (its topic is created, if missing, before the
//! workers start).

use crate::component::{SinkBuildContext, SinkComponent, SinkPrepareContext};
use crate::connectors::kafka::client::{topic_partitions, ClosedInBackground, RateLimitedReport};
use crate::dataflow::sink_op::line_sink;
use crate::dataflow::sink_op::{LineWriter, SinkPosition};
use crate::dataflow::Line;
use crate::error::{BuildError, RunError};
use crate::record::RecordStream;
use parking_lot::Mutex;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::Message;
use std::collections::BTreeMap;
use std::collections::HashSet;
use std::io;
use std::time::{Duration, Instant};

/// A Kafka sink as the job defines it.
#[derive(Clone, Debug)]
pub struct KafkaSinkSpec {
    pub brokers: String,
    pub topic: String,
    /// Create the topic with `cleanup.policy=compact` if it does not exist (changelogs).
    pub compact: bool,
    /// Partitions of the topic if weir creates it.
    pub partitions: u32,
    pub delivery_timeout: Duration,
    /// Extra librdkafka settings (`properties` in the job), applied last.
    pub properties: Vec<(String, String)>,
    /// The field whose value is the message key (`None`: the stream's `key` field, if it has one).
    pub key: Option<String>,
    /// Header name → field (`None`: `kind`, `job`, `view`, `op` where the stream has them).
    pub headers: Option<Vec<(String, String)>>,
}

impl KafkaSinkSpec {
    /// Where the key and headers of a message of `schema` come from (the planner checked the fields exist).
    pub fn message_fields(&self, schema: &crate::schema::Schema) -> crate::dataflow::render::MessageFields {
        let mut m = crate::dataflow::render::MessageFields::defaults(schema);
        if let Some(k) = &self.key {
            m.key = schema.index_of(k);
        }
        if let Some(h) = &self.headers {
            m.headers = h
                .iter()
                .filter_map(|(name, field)| Some((name.clone(), schema.index_of(field)?)))
                .collect();
        }
        m
    }
}

/// A producer's context: keeps the first delivery failure, counts deliveries per partition, and reports
/// connection trouble on stderr (at most every 10 s).
pub struct DeliveryReport {
    reporter: RateLimitedReport,
    failure: Mutex<Option<String>>,
    delivered: Mutex<BTreeMap<i32, u64>>,
    /// Per partition: the offset after the last acknowledged message.
    next_offsets: Mutex<BTreeMap<i32, i64>>,
    /// Told at once about the first failure (it stops the job even when no more lines arrive).
    on_failure: Option<FailureHook>,
}

/// What a sink calls, with the broker's reason, when a message is lost for good.
pub type FailureHook = Box<dyn Fn(String) + Send + Sync>;

impl DeliveryReport {
    pub fn new(label: String) -> Self {
        Self {
            reporter: RateLimitedReport::new(label),
            failure: Mutex::new(None),
            delivered: Mutex::new(BTreeMap::new()),
            next_offsets: Mutex::new(BTreeMap::new()),
            on_failure: None,
        }
    }

    /// The broker's reason for the first message lost for good, if any.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().clone()
    }

    /// Messages acknowledged so far, per partition.
    pub fn delivered(&self) -> BTreeMap<i32, u64> {
        self.delivered.lock().clone()
    }
}

impl ClientContext for DeliveryReport {
    fn error(&self, error: KafkaError, reason: &str) {
        self.reporter.report(&format!("{reason} ({error}); retrying"));
    }
}

impl ProducerContext for DeliveryReport {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                *self.delivered.lock().entry(m.partition()).or_default() += 1;
                let mut next = self.next_offsets.lock();
                let n = next.entry(m.partition()).or_insert(0);
                *n = (*n).max(m.offset() + 1);
            }
            Err((e, _)) => {
                let mut f = self.failure.lock();
                if f.is_none() {
                    *f = Some(e.to_string());
                    if let Some(hook) = &self.on_failure {
                        hook(e.to_string());
                    }
                }
            }
        }
    }
}

/// Hands `record` to the producer, waiting while its local queue is full (deliveries make room) for at
/// most `timeout`; fails early if a message was already lost for good.
pub fn send_with_room<K, P>(
    producer: &ThreadedProducer<DeliveryReport>,
    mut record: BaseRecord<'_, K, P>,
    timeout: Duration,
) -> Result<(), String>
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    let mut deadline = None;
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r))
                if *deadline.get_or_insert_with(|| Instant::now() + timeout) > Instant::now() =>
            {
                if let Some(e) = producer.context().failure() {
                    return Err(format!("delivery to Kafka topic `{}` failed: {e}", r.topic));
                }
                std::thread::sleep(Duration::from_millis(1));
                record = r;
            }
            Err((e, r)) => return Err(format!("cannot send to Kafka topic `{}`: {e}", r.topic)),
        }
    }
}

/// The producer settings of every weir producer for `spec`.
pub fn client_config(spec: &KafkaSinkSpec) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &spec.brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", spec.delivery_timeout.as_millis().to_string())
        .set("reconnect.backoff.max.ms", "2000")
        // Topics are created by weir, with the right settings (compaction), never as a side effect.
        .set("allow.auto.create.topics", "false");
    for (k, v) in &spec.properties {
        cfg.set(k, v);
    }
    cfg
}

/// Waits until the brokers answer (printing why it waits every 10 s) and creates the topic if it is missing.
pub fn ensure_topic(spec: &KafkaSinkSpec, label: &str, stopped: impl Fn() -> bool) -> Result<(), String> {
    let report = DeliveryReport::new(label.to_string());
    let admin: AdminClient<DeliveryReport> = client_config(spec)
        .create_with_context(report)
        .map_err(|e| format!("cannot create a Kafka client for `{}`: {e}", spec.brokers))?;
    create_if_missing(&ClosedInBackground::new(admin), spec, label, stopped)
}

fn create_if_missing(
    admin: &AdminClient<DeliveryReport>,
    spec: &KafkaSinkSpec,
    label: &str,
    stopped: impl Fn() -> bool,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| e.to_string())?;
    loop {
        if stopped() {
            return Err("stopped while waiting for the broker".into());
        }
        match topic_partitions(admin.inner(), &spec.topic, Duration::from_secs(3)) {
            Ok(Some(_)) => return Ok(()),
            Ok(None) => {
                let mut topic = NewTopic::new(&spec.topic, spec.partitions as i32, TopicReplication::Fixed(1));
                if spec.compact {
                    topic = topic.set("cleanup.policy", "compact");
                }
                let created = runtime.block_on(admin.create_topics([&topic], &AdminOptions::new()));
                match created.map(|mut r| r.pop()) {
                    Ok(Some(Ok(_))) | Ok(Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists)))) => {
                        eprintln!(
                            "weir: {label}: created topic `{}` ({} partitions{})",
                            spec.topic,
                            spec.partitions,
                            if spec.compact { ", cleanup.policy=compact" } else { "" }
                        );
                        return Ok(());
                    }
                    Ok(Some(Err((_, code)))) => {
                        return Err(format!("cannot create topic `{}`: {code}", spec.topic));
                    }
                    Ok(None) | Err(_) => admin
                        .inner()
                        .context()
                        .reporter
                        .report("creating the topic failed; retrying"),
                }
            }
            Err(e) => admin.inner().context().reporter.report(&format!(
                "cannot reach Kafka brokers {} ({e}); retrying until they answer",
                spec.brokers
            )),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Writes lines to a topic (on worker 0, in the deterministic output order).
///
/// Every message carries the headers `weir.run` (the run's id, kept across restores) and `weir.seq` (the
/// line's index in the sink's output). A restored writer reads each partition from the offsets its
/// checkpoint recorded, collects the sequence numbers of its run found there, and does not send those
/// lines again when the restored run regenerates them: exactly-once without transactions.
pub struct KafkaLineWriter {
    /// Flushed before the writer is finished with; closed in the background, like every weir client.
    producer: ClosedInBackground<ThreadedProducer<DeliveryReport>>,
    topic: String,
    delivery_timeout: Duration,
    run: String,
    seq: u64,
    /// Offsets recorded by the checkpoint this writer resumed from (partitions without new deliveries keep
    /// them).
    resumed_offsets: BTreeMap<i32, i64>,
    /// Sequence numbers already in the topic after the checkpoint.
    already: HashSet<u64>,
}

impl KafkaLineWriter {
    /// A producer for the spec's topic; `on_failure` hears of the first message lost for good, from
    /// librdkafka's thread, as soon as it happens.
    pub fn create(spec: &KafkaSinkSpec, label: String, run: u64, on_failure: FailureHook) -> io::Result<Self> {
        let mut report = DeliveryReport::new(label);
        report.on_failure = Some(on_failure);
        let producer = client_config(spec)
            .create_with_context(report)
            .map_err(io::Error::other)?;
        Ok(Self {
            producer: ClosedInBackground::new(producer),
            topic: spec.topic.clone(),
            delivery_timeout: spec.delivery_timeout,
            run: run.to_string(),
            seq: 0,
            resumed_offsets: BTreeMap::new(),
            already: HashSet::new(),
        })
    }

    /// A writer continuing run `run` from a checkpoint's position: reads what the run sent after it.
    /// Offsets the topic no longer has are an error unless `restore.accept_reset`; a stop ends the reading.
    pub fn resume(
        spec: &KafkaSinkSpec,
        label: String,
        (run, seq, offsets): (u64, u64, BTreeMap<i32, i64>),
        restore: Restore<'_>,
        on_failure: FailureHook,
    ) -> io::Result<Self> {
        let mut w = Self::create(spec, label.clone(), run, on_failure)?;
        // Without --accept-topic-reset, `prepare` has checked the offsets already.
        let offsets = match restore.accept_reset {
            true => checked_offsets(spec, &label, offsets, true)?,
            false => offsets,
        };
        w.already = sent_after(spec, &w.run, &offsets, restore.stopped)?
            .into_iter()
            .filter(|s| *s >= seq)
            .collect();
        w.seq = seq;
        w.resumed_offsets = offsets;
        Ok(w)
    }


    fn failure(&self) -> io::Result<()> {
        match self.producer.context().failure() {
            Some(e) => Err(io::Error::other(format!(
                "delivery to Kafka topic `{}` failed: {e}",
                self.topic
            ))),
            None => Ok(()),
        }
    }

    fn send(&mut self, line: &Line) -> io::Result<()> {
        let seq = self.seq;
        self.seq += 1;
        if self.already.remove(&seq) {
            return Ok(());
        }
        let meta = line.meta.as_deref().cloned().unwrap_or_default();
        let seq_text = seq.to_string();
        let mut headers = OwnedHeaders::new()
            .insert(Header {
                key: RUN_HEADER,
                value: Some(self.run.as_bytes()),
            })
            .insert(Header {
                key: SEQ_HEADER,
                value: Some(seq_text.as_bytes()),
            });
        for (name, v) in &meta.headers {
            headers = headers.insert(Header {
                key: name,
                value: Some(v.as_bytes()),
            });
        }
        let mut record = BaseRecord::to(&self.topic).headers(headers);
        if let Some(k) = &meta.key {
            record = record.key(k.as_str());
        }
        if !meta.tombstone {
            record = record.payload(line.text.as_str());
        }
        send_with_room(&self.producer, record, self.delivery_timeout).map_err(io::Error::other)
    }
}

impl LineWriter for KafkaLineWriter {
    fn write(&mut self, lines: &[Line]) -> io::Result<()> {
        self.failure()?;
        for l in lines {
            self.send(l)?;
        }
        Ok(())
    }

    /// Waits until every message is acknowledged by the broker.
    fn finish(&mut self) -> io::Result<()> {
        self.producer
            .flush(self.delivery_timeout)
            .map_err(|e| io::Error::other(format!("flushing Kafka topic `{}`: {e}", self.topic)))?;
        self.failure()
    }

    fn abort(&mut self) {}

    fn checkpoint(&mut self) -> io::Result<SinkPosition> {
        self.finish()?;
        let mut offsets = self.resumed_offsets.clone();
        offsets.extend(
            self.producer
                .context()
                .next_offsets
                .lock()
                .iter()
                .map(|(p, o)| (*p, *o)),
        );
        Ok(SinkPosition::Kafka { seq: self.seq, offsets })
    }

    fn suspend(&mut self) -> io::Result<()> {
        self.finish()
    }
}

/// Header naming the run a message belongs to.
pub const RUN_HEADER: &str = "weir.run";
/// Header holding a message's index in its sink's output.
pub const SEQ_HEADER: &str = "weir.seq";

/// How a restore reads back what the previous run sent.
pub struct Restore<'a> {
    /// `--accept-topic-reset`: offsets the topic no longer has are reported and read from the partition's
    /// start instead.
    pub accept_reset: bool,
    /// Whether the job was asked to stop meanwhile.
    pub stopped: &'a dyn Fn() -> bool,
}

/// The checkpoint's offsets, checked against what the topic's partitions have now.
fn checked_offsets(
    spec: &KafkaSinkSpec,
    label: &str,
    offsets: BTreeMap<i32, i64>,
    accept_reset: bool,
) -> io::Result<BTreeMap<i32, i64>> {
    let accept = accept_reset.then_some(crate::connectors::kafka::client::TopicReset::ReadBack);
    crate::connectors::kafka::client::checked_resume_offsets(&spec.brokers, &spec.topic, offsets, accept, label)
        .map_err(io::Error::other)
}

/// The sequence numbers of run `run`'s messages in the topic, reading each partition from `offsets` (from
/// its beginning where none is recorded) to its end; gives up when `stopped()`.
fn sent_after(
    spec: &KafkaSinkSpec,
    run: &str,
    offsets: &BTreeMap<i32, i64>,
    stopped: &dyn Fn() -> bool,
) -> io::Result<HashSet<u64>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    use rdkafka::{Offset, TopicPartitionList};
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &spec.brokers)
        .set("group.id", "weir-restore")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest");
    let consumer: BaseConsumer = cfg.create().map_err(io::Error::other)?;
    let partitions = topic_partitions(consumer.client(), &spec.topic, Duration::from_secs(30))
        .map_err(io::Error::other)?
        .ok_or_else(|| io::Error::other(format!("topic `{}` does not exist", spec.topic)))?;
    let mut list = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        let at = offsets.get(&p).map_or(Offset::Beginning, |o| Offset::Offset(*o));
        list.add_partition_offset(&spec.topic, p, at)
            .map_err(io::Error::other)?;
    }
    consumer.assign(&list).map_err(io::Error::other)?;
    let mut open: HashSet<i32> = (0..partitions as i32).collect();
    let mut seqs = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !open.is_empty() {
        if stopped() {
            return Err(io::Error::other(format!(
                "stopped while reading back topic `{}` to resume",
                spec.topic
            )));
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "reading back topic `{}` to resume did not reach the end of partitions {open:?} in 120 s",
                spec.topic
            )));
        }
        match consumer.poll(Duration::from_millis(500)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
            }
            Some(Err(e)) => return Err(io::Error::other(format!("reading back topic `{}`: {e}", spec.topic))),
            Some(Ok(m)) => {
                let Some(h) = m.headers() else { continue };
                let mut this_run = false;
                let mut seq = None;
                for hd in h.iter() {
                    match (hd.key, hd.value) {
                        (RUN_HEADER, Some(v)) => this_run = v == run.as_bytes(),
                        (SEQ_HEADER, Some(v)) => seq = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()),
                        _ => {}
                    }
                }
                if let (true, Some(s)) = (this_run, seq) {
                    seqs.insert(s);
                }
            }
        }
    }
    Ok(seqs)
}

impl SinkComponent for KafkaSinkSpec {
    fn kind(&self) -> &'static str {
        "kafka"
    }

    /// librdkafka crashes (SIGSEGV) when a topic it reads or writes is deleted.
    fn may_crash_process(&self) -> bool {
        true
    }

    fn describe(&self, _name: &str) -> String {
        format!(
            "kafka topic `{}` at {} (keyed by `{}`; idempotent producer{})",
            self.topic,
            self.brokers,
            self.key.as_deref().unwrap_or("key"),
            if self.compact { "; compacted" } else { "" }
        )
    }

    fn prepare(&self, cx: SinkPrepareContext<'_>) -> Result<(), RunError> {
        let error = |cause: String| RunError::Sink {
            sink: cx.name.to_string(),
            cause,
        };
        let label = format!("sink `{}`", cx.name);
        ensure_topic(self, &label, cx.stopped).map_err(|cause| {
            if (cx.stopped)() {
                RunError::StoppedBeforeStart(self.brokers.clone())
            } else {
                error(cause)
            }
        })?;
        // Offsets the restored position names but the topic lacks refuse the run here, before the workers
        // start (with --accept-topic-reset, the build reports them and reads the partitions back instead).
        let restored = cx.restored.and_then(|c| c.sink_states(cx.name).first().cloned());
        if let (Some(bytes), false) = (restored, cx.accept_topic_reset) {
            if let Ok(SinkPosition::Kafka { offsets, .. }) = crate::checkpoint::decode::<SinkPosition>(bytes) {
                checked_offsets(self, &label, offsets, false).map_err(|e| error(e.to_string()))?;
            }
        }
        Ok(())
    }

    fn build<'s>(&self, cx: SinkBuildContext<'s, '_>) -> Result<Option<RecordStream<'s>>, BuildError> {
        let lines = cx.lines(|schema| Some(self.message_fields(schema)));
        let writer: Option<Box<dyn LineWriter>> = if cx.writes {
            let (stop, sink, topic) = (cx.ctx.stop.clone(), cx.name.to_string(), self.topic.clone());
            let hook = Box::new(move |cause: String| {
                stop.fail(crate::dataflow::JobFailure::KafkaDelivery {
                    sink: sink.clone(),
                    topic: topic.clone(),
                    cause,
                })
            });
            let label = format!("sink `{}`", cx.name);
            let run = cx.ctx.checkpoints.coordinator().meta().run_id;
            let opened = match cx.restored_state()? {
                Some(SinkPosition::Kafka { seq, offsets }) => {
                    let ctx = cx.ctx.clone();
                    let restore = Restore {
                        accept_reset: cx.ctx.checkpoints.coordinator().topic_reset_accepted(),
                        stopped: &move || ctx.stop.aborted(),
                    };
                    KafkaLineWriter::resume(self, label, (run, seq, offsets), restore, hook)
                }
                _ => KafkaLineWriter::create(self, label, run, hook),
            };
            Some(Box::new(opened.map_err(|e| BuildError::Sink {
                sink: cx.name.to_string(),
                cause: e.to_string(),
            })?))
        } else {
            None
        };
        line_sink(lines, cx.job_end, cx.name.to_string(), writer, cx.ctx.clone());
        Ok(None)
    }
}
