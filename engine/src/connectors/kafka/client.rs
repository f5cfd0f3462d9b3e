//! What weir's Kafka clients (source consumers, sink producers, the publisher) share: reporting connection
//! trouble without flooding stderr, asking whether a topic exists, and closing clients off the caller's path.

pub use crate::report::RateLimitedReport;
use rdkafka::client::{Client, ClientContext};
use rdkafka::error::KafkaResult;
use std::time::{Duration, Instant};

/// Drops `client` on a thread of its own. Closing some rust-rdkafka clients blocks for up to 100 ms for
/// nothing weir needs: an `AdminClient` or a `ThreadedProducer` joins its polling thread, which sleeps in
/// 100 ms polls, and a consumer with a group id polls until its group queue has closed, 100 ms at a time.
/// Done inline, that would delay every run's start (the sinks' admin client) and its end (the last output
/// waits for the workers). Call it only once nothing more is wanted of the client (a producer flushed).
pub fn close_in_background<T: Send + 'static>(client: T) {
    // Should the thread not start, the closure and the client in it are dropped here, as before.
    let _ = std::thread::Builder::new()
        .name("weir-kafka-close".into())
        .spawn(move || drop(client));
}

/// A Kafka client that is closed with [`close_in_background`] when dropped.
pub struct ClosedInBackground<T: Send + 'static>(Option<T>);

impl<T: Send + 'static> ClosedInBackground<T> {
    pub fn new(client: T) -> Self {
        Self(Some(client))
    }
}

impl<T: Send + 'static> std::ops::Deref for ClosedInBackground<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_ref().expect("present until dropped")
    }
}

impl<T: Send + 'static> Drop for ClosedInBackground<T> {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            close_in_background(client);
        }
    }
}

/// Whether librdkafka takes `key = value` as a client setting (a known property, a valid value), checked by
/// its own configuration parser without connecting anywhere; the reason it gives if not.
pub fn check_property(key: &str, value: &str) -> Result<(), String> {
    let mut one = rdkafka::ClientConfig::new();
    one.set(key, value);
    match one.create_native_config() {
        Err(rdkafka::error::KafkaError::ClientConfig(_, why, _, _)) => Err(why),
        _ => Ok(()),
    }
}

/// The partition count of `topic`, `None` if the broker does not have it (yet); `Err` if the broker did
/// not answer within `timeout`.
pub fn topic_partitions<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    timeout: Duration,
) -> KafkaResult<Option<u32>> {
    let md = client.fetch_metadata(Some(topic), timeout)?;
    Ok(md
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len() as u32))
}

/// A checkpointed offset that its partition no longer has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetGap {
    pub topic: String,
    pub partition: i32,
    /// The offset the checkpoint resumes at.
    pub offset: i64,
    /// The partition's first and next offsets now, if the broker said.
    pub bounds: Option<(i64, i64)>,
    /// The first offset found at or after the one looked for (`None`: the partition ends before it).
    pub found: Option<i64>,
}

impl OffsetGap {

    /// Where reading can go on: the first message found, or the partition's end.
    pub fn resume_at(&self) -> i64 {
        self.found.or(self.bounds.map(|b| b.1)).unwrap_or(0)
    }

    /// Where the partition starts now (for reading it back from its beginning).
    pub fn start(&self) -> i64 {
        self.bounds.map_or(0, |b| b.0)
    }
}

impl std::fmt::Display for OffsetGap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (topic, p, o) = (&self.topic, self.partition, self.offset);
        write!(
            f,
            "topic `{topic}` partition {p}: the checkpoint resumes at offset {o}, but "
        )?;
        match (self.found, self.bounds) {
            (None, Some((_, high))) => write!(
                f,
                "the partition ends at {high} (the topic was recreated, its data lost, or these are other brokers)"
            ),
            (None, None) => write!(
                f,
                "the partition has no message before it (the topic was recreated, its data lost, or these are other brokers)"
            ),
            (Some(found), _) => write!(
                f,
                "the partition's messages start at {found} (retention deleted offsets {o}..{found})"
            ),
        }
    }
}

/// What the user can do about offset gaps.
pub const OFFSET_GAP_REMEDY: &str = "run with --fresh to start over without the checkpoint, or with \
     --accept-topic-reset to go on from the offsets the partitions have now (the gap is reported, nothing is \
     skipped silently)";

/// Where a restore goes on in a partition whose checkpointed offset is gone (`--accept-topic-reset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicReset {
    /// A source: at the first message there is, or at the partition's end.
    Resume,
    /// A sink reading back what it sent: from the partition's start.
    ReadBack,
}

/// `resume_at` (partition → offset) checked against the brokers: unchanged if every offset is there; if some
/// are gone, `Err` with a report of each and the remedy — unless `accept`, which prints each gap (prefixed
/// with `label`) and moves the partition to where `reset` says.
pub fn checked_resume_offsets(
    brokers: &str,
    topic: &str,
    mut resume_at: std::collections::BTreeMap<i32, i64>,
    accept: Option<TopicReset>,
    label: &str,
) -> Result<std::collections::BTreeMap<i32, i64>, String> {
    let gaps =
        offset_gaps(brokers, topic, &resume_at).map_err(|e| format!("reading the offsets of topic `{topic}`: {e}"))?;
    if gaps.is_empty() {
        return Ok(resume_at);
    }
    let Some(reset) = accept else {
        let lines: Vec<String> = gaps.iter().map(|g| format!("  - {g}")).collect();
        return Err(format!(
            "cannot resume from the checkpoint:\n{}\n{OFFSET_GAP_REMEDY}",
            lines.join("\n")
        ));
    };
    for g in gaps {
        let at = match reset {
            TopicReset::Resume => {
                let at = g.resume_at();
                eprintln!(
                    "weir: {label}: {g}; --accept-topic-reset: resuming partition {} at offset {at}",
                    g.partition
                );
                at
            }
            TopicReset::ReadBack => {
                let at = g.start();
                eprintln!(
                    "weir: {label}: {g}; --accept-topic-reset: reading partition {} back from offset {at} (alerts \
                     sent before the reset cannot be checked for duplicates)",
                    g.partition
                );
                at
            }
        };
        resume_at.insert(g.partition, at);
    }
    Ok(resume_at)
}

/// A partition whose resume offset is outside its reported watermarks: (resume offset, the offset whose
/// message should be there, the watermarks if the broker gave them).
type Suspect = (i64, i64, Option<(i64, i64)>);

/// How long the offset check waits for the broker.
const OFFSET_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// The offsets of `resume_at` (partition → offset) that the partitions of `topic` no longer have, on the
/// brokers at `brokers`.
///
/// The partitions' watermarks decide, except that an offset outside them (or a partition whose watermarks
/// the broker does not give) is confirmed by reading the message the checkpoint implies is there — the one
/// before the resume offset, or the one at it when it is the first: some brokers (tansu's memory storage)
/// report a high watermark below the partition's real end.
pub fn offset_gaps(
    brokers: &str,
    topic: &str,
    resume_at: &std::collections::BTreeMap<i32, i64>,
) -> KafkaResult<Vec<OffsetGap>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "weir-offset-check")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "error")
        .create()?;
    let mut gaps = Vec::new();
    // partition → (resume offset, the offset whose message should be there, watermarks if known)
    let mut suspects: std::collections::BTreeMap<i32, Suspect> = Default::default();
    for (&partition, &offset) in resume_at {
        let bounds = consumer.fetch_watermarks(topic, partition, OFFSET_CHECK_TIMEOUT).ok();
        match bounds {
            Some((low, high)) if (low..=high).contains(&offset) => {}
            Some((low, _)) if offset < low => gaps.push(OffsetGap {
                topic: topic.to_string(),
                partition,
                offset,
                bounds,
                found: Some(low),
            }),
            _ => {
                suspects.insert(partition, (offset, (offset - 1).max(0), bounds));
            }
        }
    }
    if suspects.is_empty() {
        return Ok(gaps);
    }
    let mut list = rdkafka::TopicPartitionList::new();
    for (&p, &(_, expect, _)) in &suspects {
        list.add_partition_offset(topic, p, rdkafka::Offset::Offset(expect))?;
    }
    consumer.assign(&list)?;
    let mut found: std::collections::BTreeMap<i32, Option<i64>> = Default::default();
    let deadline = Instant::now() + OFFSET_CHECK_TIMEOUT;
    while found.len() < suspects.len() && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) if suspects.contains_key(&m.partition()) => {
                found.entry(m.partition()).or_insert(Some(m.offset()));
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) if suspects.contains_key(&p) => {
                found.entry(p).or_insert(None);
            }
            _ => {}
        }
    }
    for (partition, (offset, expect, bounds)) in suspects {
        let first = found.get(&partition).copied().flatten();
        if first != Some(expect) {
            gaps.push(OffsetGap {
                topic: topic.to_string(),
                partition,
                offset,
                bounds,
                found: first.filter(|f| *f > expect),
            });
        }
    }
    Ok(gaps)
}
