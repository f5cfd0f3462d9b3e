//! Reading a topic with librdkafka: connecting patiently (saying why it waits), giving each worker its
//! partitions with `assign()`, and reading message values in batches per partition.
//!
//! The reader tracks the next offset of every partition it owns and drops any message below it, so a
//! re-assignment (after the topic disappeared and came back, or a broker restart) can never make the engine
//! count a record twice. Offsets it cannot fetch (a partition recreated shorter than the position already
//! read) are waited for, never skipped: `auto.offset.reset` is `error`, and the reader re-seeks every second.
//!
//! When every broker connection is down, the reader drops its consumer and builds a new one once the topic
//! is back, assigned at its own positions. A broker that lost its data (tansu's memory storage) recreates
//! the topic under a new topic id, and librdkafka 2.x crashes updating a long-lived client's metadata cache
//! with it (confluentinc/librdkafka#4964); a fresh client has no stale entry.

use super::spec::{KafkaSourceSpec, StartPosition};
use crate::connectors::kafka::client::{close_in_background, topic_partitions, RateLimitedReport};
use crate::connectors::kafka::queue::{BatchQueue, QueueItem};
use crate::metrics::PartitionPositions;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::BorrowedMessage;
use rdkafka::statistics::Statistics;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a Kafka client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSourceError {
    #[error("cannot create a Kafka client for `{brokers}`: {cause}")]
    Client { brokers: String, cause: KafkaError },
    #[error("topic `{topic}`: cannot find offsets for start timestamp {ts}: {cause}")]
    StartOffsets { topic: String, ts: i64, cause: KafkaError },
    #[error("stopped while waiting for the broker")]
    Stopped,
}

/// Reports connection problems on stderr (at most every 10 s, saying that it retries) and feeds the
/// broker's high watermarks into [`PartitionPositions`].
pub struct ReportingContext {
    reporter: RateLimitedReport,
    topic: String,
    positions: Arc<PartitionPositions>,
    all_brokers_down: std::sync::atomic::AtomicBool,
}

impl ReportingContext {
    pub fn new(label: String, topic: String, positions: Arc<PartitionPositions>) -> Self {
        Self {
            reporter: RateLimitedReport::new(label),
            topic,
            positions,
            all_brokers_down: Default::default(),
        }
    }

    /// Prints `message` unless something was printed in the last 10 s.
    pub fn report(&self, message: &str) {
        self.reporter.report(message);
    }
}

impl ClientContext for ReportingContext {
    fn error(&self, error: KafkaError, reason: &str) {
        // The end of a partition is news for `stop_at_end`, not a problem.
        if matches!(error, KafkaError::Global(RDKafkaErrorCode::PartitionEOF)) {
            return;
        }
        if matches!(error, KafkaError::Global(RDKafkaErrorCode::AllBrokersDown)) {
            self.all_brokers_down.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        self.report(&format!("{reason} ({error}); retrying"));
    }

    fn stats(&self, statistics: Statistics) {
        if let Some(t) = statistics.topics.get(&self.topic) {
            for (p, s) in &t.partitions {
                if *p >= 0 && s.hi_offset >= 0 {
                    self.positions.set_high(*p, s.hi_offset);
                }
            }
        }
    }
}

impl ConsumerContext for ReportingContext {}

pub type WeirConsumer = BaseConsumer<ReportingContext>;

/// Messages asked of a partition queue at once by [`KafkaPartitionReader::poll`].
const MESSAGES_PER_CONSUME: usize = 256;

/// A consumer that reads the partitions it is assigned. librdkafka's assign() needs a group id; it is never
/// used for membership or commits.
fn consumer(spec: &KafkaSourceSpec, context: ReportingContext) -> Result<WeirConsumer, KafkaSourceError> {
    create(spec, Some("weir"), context)
}

/// A consumer for metadata only. It has no group id: dropping a consumer with one waits for its group queue
/// to close (up to 100 ms, which every start would spend).
pub(super) fn metadata_client(spec: &KafkaSourceSpec, context: ReportingContext) -> Result<WeirConsumer, KafkaSourceError> {
    create(spec, None, context)
}

fn create(
    spec: &KafkaSourceSpec,
    group: Option<&str>,
    context: ReportingContext,
) -> Result<WeirConsumer, KafkaSourceError> {
    let mut cfg = client_config(spec);
    if let Some(group) = group {
        cfg.set("group.id", group);
    }
    for (k, v) in &spec.properties {
        cfg.set(k, v);
    }
    cfg.create_with_context(context)
        .map_err(|cause| KafkaSourceError::Client {
            brokers: spec.brokers.clone(),
            cause,
        })
}

/// Every source client's settings but the group id and the job's `properties` (applied last).
fn client_config(spec: &KafkaSourceSpec) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &spec.brokers)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", if spec.stop_at_end { "true" } else { "false" })
        .set("auto.offset.reset", "error")
        .set("statistics.interval.ms", "1000")
        // librdkafka's prefetch, sized for a bounded footprint (its defaults hold up to 64 MiB and 100 000
        // messages per partition, plus fetch responses of up to 50 MiB): each partition queue holds about
        // 2 MiB or 20 000 messages, a fetch response at most 1 MiB. Back-pressure: the fetcher stops when a
        // queue is full ...
        .set("queued.max.messages.kbytes", "2048")
        .set("queued.min.messages", "20000")
        .set("fetch.max.bytes", "1048576")
        // ... and looks again 2 ms later, not after librdkafka's default second, in which a reader faster
        // than one fetch per second would drain the queue and wait (half of all time at 500 k messages/s).
        // Measured on vibration-rollup from 4 partitions (2 workers, alternating runs): 1 MiB queues and
        // 10 ms, median 5.5 s over 6 runs, peak RSS 100-106 MB; 2 MiB and 2 ms, 5.1 s over 3, 107-117 MB.
        .set("fetch.queue.backoff.ms", "2")
        // A caught-up partition's fetch waits this long on the broker for new data, and librdkafka reports a
        // partition's end only from such an empty fetch: a backfill that stops at the end waits 10 ms for it
        // (its fetches before the end return data at once); a streaming source saves the broker empty polls.
        .set("fetch.wait.max.ms", if spec.stop_at_end { "10" } else { "100" })
        .set("reconnect.backoff.max.ms", "2000");
    cfg
}

/// Waits until the brokers answer and the topic exists, printing why it waits every 10 s; returns the
/// topic's partition count. Gives up only when `stopped()` says so.
pub fn wait_for_partitions(
    spec: &KafkaSourceSpec,
    label: &str,
    stopped: impl Fn() -> bool,
) -> Result<u32, KafkaSourceError> {
    let ctx = ReportingContext::new(label.to_string(), spec.topic.clone(), Arc::default());
    let c = metadata_client(spec, ctx)?;
    loop {
        if stopped() {
            return Err(KafkaSourceError::Stopped);
        }
        match topic_partitions(c.client(), &spec.topic, Duration::from_secs(3)) {
            Ok(Some(n)) => return Ok(n),
            Ok(None) => c.context().report(&format!(
                "topic `{}` does not exist on {} yet; waiting for it (create it, e.g. `tansu topic create \
                     --broker tcp://{} --partitions 4 {}`)",
                spec.topic, spec.brokers, spec.brokers, spec.topic
            )),
            Err(e) => c.context().report(&format!(
                "cannot reach Kafka brokers {} ({e}); retrying until they answer",
                spec.brokers
            )),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// One partition's messages from one poll: values back to back, with their ranges and offsets.
#[derive(Default)]
pub struct MessageBatch {
    pub raw: Vec<u8>,
    pub ranges: Vec<(u32, u32)>,
    pub offsets: Vec<u64>,
}

/// What a poll brought besides messages.
#[derive(Default)]
pub struct PollOutcome {
    pub messages: usize,
    /// Partitions that reached their end (only with `stop_at_end`).
    pub ended: Vec<i32>,
}

/// One partition's read position while a poll appends its messages to the partition's batch.
struct PartitionCursor<'a> {
    /// Next offset to read (`None` before the first message).
    next: &'a mut Option<i64>,
    /// With a start timestamp: messages stamped before it are still skipped (`None` once one was not).
    skip_before: Option<i64>,
    batch: &'a mut MessageBatch,
}

impl PartitionCursor<'_> {
    /// Appends one message unless it was read already (a re-assignment may re-deliver: never count a record
    /// twice) or lies before the start timestamp; `true` if appended.
    fn accept(&mut self, offset: i64, timestamp: Option<i64>, payload: &[u8]) -> bool {
        if self.next.is_some_and(|n| offset < n) {
            return false;
        }
        *self.next = Some(offset + 1);
        if let Some(start) = self.skip_before {
            if timestamp.is_some_and(|t| t < start) {
                return false;
            }
            self.skip_before = None;
        }
        let b = &mut *self.batch;
        let start = b.raw.len() as u32;
        b.raw.extend_from_slice(payload);
        b.ranges.push((start, b.raw.len() as u32));
        b.offsets.push(offset as u64);
        true
    }
}

/// The partitions of one topic that one worker reads.
pub struct KafkaPartitionReader {
    /// `None` while reconnecting after every broker went away.
    consumer: Option<Arc<WeirConsumer>>,
    /// Each partition's own message queue, so the reader chooses which partition to read next.
    queues: BTreeMap<i32, BatchQueue<ReportingContext>>,
    spec: KafkaSourceSpec,
    label: String,
    reconnect_at: Option<Instant>,
    /// With a start timestamp: partitions still before their first message stamped at or after it. The broker
    /// is asked for that offset, but some (tansu's memory storage) answer with the beginning; skipping here
    /// gives Kafka's offsets-for-times meaning on any broker.
    skip_before: BTreeMap<i32, i64>,
    topic: String,
    /// partition → next offset to read (`None` before the first message: start position applies).
    next: BTreeMap<i32, Option<i64>>,
    start: StartPosition,
    positions: Arc<PartitionPositions>,
    reseek_at: Option<Instant>,
    bytes: u64,
}

impl Drop for KafkaPartitionReader {
    fn drop(&mut self) {
        self.close_consumer();
    }
}

impl KafkaPartitionReader {
    /// Assigns `partitions` of the spec's topic, each at its saved offset from `resume_at` or else at the
    /// spec's start position.
    pub fn open(
        spec: &KafkaSourceSpec,
        label: String,
        partitions: Vec<i32>,
        resume_at: &BTreeMap<i32, i64>,
        positions: Arc<PartitionPositions>,
    ) -> Result<Self, KafkaSourceError> {
        let ctx = ReportingContext::new(label.clone(), spec.topic.clone(), positions.clone());
        let consumer = consumer(spec, ctx)?;
        let next = partitions.iter().map(|p| (*p, resume_at.get(p).copied())).collect();
        let mut reader = Self {
            consumer: Some(Arc::new(consumer)),
            queues: BTreeMap::new(),
            spec: spec.clone(),
            label,
            reconnect_at: None,
            skip_before: match spec.start {
                StartPosition::Timestamp(ts) => partitions
                    .iter()
                    .filter(|p| !resume_at.contains_key(p))
                    .map(|p| (*p, ts))
                    .collect(),
                _ => BTreeMap::new(),
            },
            topic: spec.topic.clone(),
            next,
            start: spec.start.clone(),
            positions,
            reseek_at: None,
            bytes: 0,
        };
        for (p, n) in &reader.next {
            if let Some(n) = n {
                reader.positions.set_next(*p, *n);
            }
        }
        // Learn the partitions' leaders before assigning: a partition assigned without a known leader waits
        // for librdkafka's offset-query retry timer (500 ms) before its first fetch. Failing here is no
        // error: assign() and the reconnect path handle unreachable brokers.
        if let Some(c) = &reader.consumer {
            let _ = topic_partitions(c.client(), &reader.topic, Duration::from_secs(5));
        }
        reader.assign()?;
        Ok(reader)
    }

    fn assign(&mut self) -> Result<(), KafkaSourceError> {
        let Some(consumer) = self.consumer.as_ref() else {
            return Ok(());
        };
        let mut tpl = TopicPartitionList::new();
        for (p, next) in &self.next {
            let offset = match (next, &self.start) {
                (Some(n), _) => Offset::Offset(*n),
                (None, StartPosition::Earliest) => Offset::Beginning,
                (None, StartPosition::Latest) => Offset::End,
                (None, StartPosition::Timestamp(ts)) => Offset::Offset(*ts),
            };
            tpl.add_partition_offset(&self.topic, *p, offset)
                .expect("valid partition list");
        }
        if let (StartPosition::Timestamp(ts), true) = (&self.start, self.next.values().any(Option::is_none)) {
            // offsets_for_times reads the timestamps from the offset fields set above.
            let resolved = consumer
                .offsets_for_times(tpl.clone(), Duration::from_secs(10))
                .map_err(|cause| KafkaSourceError::StartOffsets {
                    topic: self.topic.clone(),
                    ts: *ts,
                    cause,
                })?;
            for e in resolved.elements() {
                if self.next[&e.partition()].is_none() {
                    let o = match e.offset() {
                        Offset::Offset(o) => Offset::Offset(o),
                        _ => Offset::End,
                    };
                    tpl.set_partition_offset(&self.topic, e.partition(), o)
                        .expect("partition in list");
                }
            }
        }
        consumer.assign(&tpl).map_err(|cause| KafkaSourceError::Client {
            brokers: self.spec.brokers.clone(),
            cause,
        })?;
        // assign() deactivates earlier partition queues: split them again.
        let consumer = consumer.clone();
        self.queues = self
            .next
            .keys()
            .filter_map(|p| BatchQueue::split(&consumer, &self.topic, *p).map(|q| (*p, q)))
            .collect();
        Ok(())
    }

    /// The partitions this reader still reads.
    pub fn partitions(&self) -> impl Iterator<Item = i32> + '_ {
        self.next.keys().copied()
    }

    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Stops reading `partition` (it ended).
    pub fn release(&mut self, partition: i32) {
        self.next.remove(&partition);
        self.queues.remove(&partition);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.topic, partition);
        if let Some(c) = &self.consumer {
            let _ = c.incremental_unassign(&tpl);
        }
    }

    /// Lets go of the consumer and its partition queues, closing it in the background. The queues hold the
    /// consumer too: they go first, so the closing thread has the last reference.
    fn close_consumer(&mut self) {
        self.queues.clear();
        if let Some(c) = self.consumer.take() {
            close_in_background(c);
        }
    }

    /// After every broker went away: drops the consumer, then builds a new one once the topic is back.
    fn reconnect(&mut self) {
        if let Some(c) = &self.consumer {
            if !c.context().all_brokers_down.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            c.context()
                .report("lost every broker connection; reconnecting with a fresh client once the topic is back");
            self.close_consumer();
            self.reconnect_at = Some(Instant::now() + Duration::from_millis(200));
        }
        if self.reconnect_at.is_none_or(|t| t > Instant::now()) {
            return;
        }
        self.reconnect_at = Some(Instant::now() + Duration::from_millis(500));
        let ctx = ReportingContext::new(self.label.clone(), self.topic.clone(), self.positions.clone());
        let Ok(fresh) = consumer(&self.spec, ctx) else { return };
        let fresh = Arc::new(fresh);
        if let Ok(Some(_)) = topic_partitions(fresh.client(), &self.topic, Duration::from_millis(500)) {
            self.queues.clear();
            self.consumer = Some(fresh);
            self.reconnect_at = None;
            if self.assign().is_err() {
                self.close_consumer();
                self.reconnect_at = Some(Instant::now() + Duration::from_millis(500));
            }
        } else {
            close_in_background(fresh);
        }
    }

    /// Moves up to `max` ready messages, and not many more than `max_bytes` of values, into `batches` without
    /// blocking, reading the partitions in the order given (those not listed wait: the caller reads the
    /// partitions holding the watermark back first).
    pub fn poll(
        &mut self,
        order: &[i32],
        max: usize,
        max_bytes: usize,
        batches: &mut BTreeMap<i32, MessageBatch>,
    ) -> PollOutcome {
        let mut out = PollOutcome::default();
        self.reconnect();
        let Some(consumer) = self.consumer.clone() else {
            return out;
        };
        if self.reseek_at.is_some_and(|t| t <= Instant::now()) {
            self.reseek_at = None;
            if let Err(e) = self.assign() {
                consumer
                    .context()
                    .report(&format!("re-assigning partitions failed: {e}"));
                self.reseek_at = Some(Instant::now() + Duration::from_secs(1));
            }
        }
        // The main queue serves callbacks (errors, statistics) and anything not split off.
        while let Some(result) = consumer.poll(Duration::ZERO) {
            if !self.take(result, batches, &mut out) {
                return out;
            }
        }
        let mut errors = Vec::new();
        let mut bytes_taken = 0;
        for p in order {
            // Messages from the main queue may already have filled `max`.
            let room = max.saturating_sub(out.messages);
            if room == 0 || bytes_taken >= max_bytes {
                break;
            }
            let (Some(queue), Some(next)) = (self.queues.get_mut(p), self.next.get_mut(p)) else {
                continue;
            };
            let mut cursor = PartitionCursor {
                next,
                skip_before: self.skip_before.get(p).copied(),
                batch: batches.entry(*p).or_default(),
            };
            let read_before = *cursor.next;
            let bytes_before = cursor.batch.raw.len();
            if cursor.batch.raw.capacity() == 0 {
                // Room for the whole budget at once: no doubling, no copies of what was appended.
                cursor.batch.raw.reserve(max_bytes - bytes_taken + max_bytes / 8);
            }
            let mut taken = 0;
            loop {
                // A few hundred messages at a time, so the byte budget is overshot by little.
                let asked = (room - taken).min(MESSAGES_PER_CONSUME);
                let n = queue.consume(asked, |item| match item {
                    QueueItem::Message {
                        offset,
                        timestamp,
                        payload,
                    } => taken += cursor.accept(offset, timestamp, payload) as usize,
                    QueueItem::Error(e) => errors.push(e),
                });
                let bytes = bytes_taken + cursor.batch.raw.len() - bytes_before;
                if n < asked || taken >= room || bytes >= max_bytes || !errors.is_empty() {
                    break;
                }
            }
            let appended = cursor.batch.raw.len() - bytes_before;
            out.messages += taken;
            bytes_taken += appended;
            self.bytes += appended as u64;
            if cursor.skip_before.is_none() {
                self.skip_before.remove(p);
            }
            if *cursor.next != read_before {
                if let Some(n) = *cursor.next {
                    self.positions.set_next(*p, n);
                }
            }
            if batches.get(p).is_some_and(|b| b.offsets.is_empty()) {
                batches.remove(p);
            }
            let mut carry_on = true;
            for e in errors.drain(..) {
                carry_on &= self.take_error(e, &mut out);
            }
            if !carry_on {
                break;
            }
        }
        out
    }

    /// A message that arrived on the main queue (before its partition was split off).
    fn take(
        &mut self,
        result: KafkaResult<BorrowedMessage<'_>>,
        batches: &mut BTreeMap<i32, MessageBatch>,
        out: &mut PollOutcome,
    ) -> bool {
        let m = match result {
            Ok(m) => m,
            Err(e) => return self.take_error(e, out),
        };
        let p = m.partition();
        let Some(next) = self.next.get_mut(&p) else { return true };
        let mut cursor = PartitionCursor {
            next,
            skip_before: self.skip_before.get(&p).copied(),
            batch: batches.entry(p).or_default(),
        };
        let payload = m.payload().unwrap_or_default();
        if cursor.accept(m.offset(), m.timestamp().to_millis(), payload) {
            out.messages += 1;
            self.bytes += payload.len() as u64;
        }
        if cursor.skip_before.is_none() {
            self.skip_before.remove(&p);
        }
        if let Some(n) = self.next[&p] {
            self.positions.set_next(p, n);
        }
        if batches.get(&p).is_some_and(|b| b.offsets.is_empty()) {
            batches.remove(&p);
        }
        true
    }

    /// Handles a consumer error event; `false` stops this poll.
    fn take_error(&mut self, e: KafkaError, out: &mut PollOutcome) -> bool {
        let Some(consumer) = self.consumer.clone() else {
            return false;
        };
        match e {
            KafkaError::PartitionEOF(p) => {
                if self.next.contains_key(&p) && !out.ended.contains(&p) {
                    out.ended.push(p);
                }
                true
            }
            KafkaError::MessageConsumption(
                code @ (RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange),
            ) => {
                consumer.context().report(&format!(
                    "topic `{}`: the next offsets {:?} are not on the broker ({code}); the topic was \
                     recreated or truncated. Waiting for those offsets instead of skipping any",
                    self.topic, self.next
                ));
                self.reseek_at = Some(Instant::now() + Duration::from_secs(1));
                false
            }
            e => {
                consumer.context().report(&format!("{e}; retrying"));
                true
            }
        }
    }
}
