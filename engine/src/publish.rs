//! The publisher behind `weir publish`: JSONL lines (a file or a built-in generator) to a Kafka topic, keyed
//! by a chosen field, as fast as possible or at a target rate, optionally in bursts.
//!
//! Each line becomes one message; its key is the value of the key field (so each key stays in one
//! partition) and its timestamp the `ts` field when it is an integer. Lines without the key field — the
//! workload's deliberately malformed ones — are sent unkeyed, so the job downstream sees them as dead
//! letters. The producer is idempotent; a message the broker finally rejects fails the run.

use crate::connectors::kafka::sink::{client_config, ensure_topic, send_with_room, DeliveryReport, KafkaSinkSpec};
use crate::dataflow::source_op::ChunkReader;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long the publisher waits for the broker to take or acknowledge a message.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// How to publish.
#[derive(Clone, Debug)]
pub struct PublishOptions {
    pub brokers: String,
    pub topic: String,
    /// Field whose value keys each message.
    pub key_field: Option<String>,
    /// Partitions of the topic if it has to be created.
    pub partitions: u32,
    /// Messages per second on average (`None`: as fast as possible).
    pub rate: Option<f64>,
    /// Messages sent back to back at each tick of the rate.
    pub burst: u64,
    /// Stop after this many messages.
    pub limit: Option<u64>,
    /// Send every message to this partition instead of choosing by key.
    pub partition: Option<i32>,
}

/// What a run of the publisher sent.
#[derive(Debug, Default)]
pub struct PublishReport {
    pub messages: u64,
    pub bytes: u64,
    pub unkeyed: u64,
    pub per_partition: BTreeMap<i32, u64>,
    pub elapsed: Duration,
}

impl PublishReport {
    pub fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The raw text of a top-level JSON field's value in `line` (a string without its quotes), without parsing
/// the whole object. Good enough for flat event objects; `None` if the field is absent.
pub fn field_text<'a>(line: &'a [u8], field: &str) -> Option<&'a [u8]> {
    let needle = format!("\"{field}\"");
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&line[from..], needle.as_bytes()) {
        let mut j = from + i + needle.len();
        while j < line.len() && line[j].is_ascii_whitespace() {
            j += 1;
        }
        if line.get(j) != Some(&b':') {
            from = from + i + 1;
            continue;
        }
        j += 1;
        while j < line.len() && line[j].is_ascii_whitespace() {
            j += 1;
        }
        if line.get(j) == Some(&b'"') {
            let rest = &line[j + 1..];
            let end = memchr::memchr(b'"', rest)?;
            return Some(&rest[..end]);
        }
        let end = line[j..]
            .iter()
            .position(|b| matches!(b, b',' | b'}' | b' '))
            .map_or(line.len(), |e| j + e);
        return Some(&line[j..end]);
    }
    None
}

/// Publishes every line of `reader` to the topic, printing nothing; see [`PublishReport`].
pub fn publish(
    mut reader: Box<dyn ChunkReader>,
    options: &PublishOptions,
    stopped: impl Fn() -> bool,
) -> Result<PublishReport, String> {
    let spec = KafkaSinkSpec {
        brokers: options.brokers.clone(),
        topic: options.topic.clone(),
        compact: false,
        partitions: options.partitions,
        delivery_timeout: DELIVERY_TIMEOUT,
        properties: Vec::new(),
        key: None,
        headers: None,
    };
    ensure_topic(&spec, "weir publish", &stopped)?;
    // The sinks' producer settings (idempotent, acks=all, no topic auto-creation), batched harder.
    let producer: ThreadedProducer<DeliveryReport> = client_config(&spec)
        .set("linger.ms", "10")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "500000")
        .create_with_context(DeliveryReport::new("publish".into()))
        .map_err(|e| format!("cannot create a Kafka producer for `{}`: {e}", options.brokers))?;
    let started = Instant::now();
    let mut report = PublishReport::default();
    let burst = options.burst.max(1);
    let limit = options.limit.unwrap_or(u64::MAX);
    'chunks: while let Some((_, chunk)) = reader.next_chunk().map_err(|e| format!("reading input: {e}"))? {
        for line in chunk.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            if report.messages >= limit || stopped() {
                break 'chunks;
            }
            if let Some(rate) = options.rate {
                if report.messages % burst == 0 {
                    let due = started + Duration::from_secs_f64(report.messages as f64 / rate);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                }
            }
            let key = options.key_field.as_deref().and_then(|f| field_text(line, f));
            let ts = field_text(line, "ts").and_then(|t| std::str::from_utf8(t).ok()?.parse::<i64>().ok());
            let mut record = BaseRecord::<[u8], [u8]>::to(&options.topic).payload(line);
            match key {
                Some(k) => record = record.key(k),
                None => report.unkeyed += 1,
            }
            if let Some(ts) = ts {
                record = record.timestamp(ts);
            }
            if let Some(p) = options.partition {
                record = record.partition(p);
            }
            send_with_room(&producer, record, DELIVERY_TIMEOUT)?;
            report.messages += 1;
            report.bytes += line.len() as u64;
        }
    }
    producer
        .flush(DELIVERY_TIMEOUT)
        .map_err(|e| format!("flushing topic `{}`: {e}", options.topic))?;
    report.elapsed = started.elapsed();
    if let Some(e) = producer.context().failure() {
        return Err(format!("delivery to topic `{}` failed: {e}", options.topic));
    }
    report.per_partition = producer.context().delivered();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::field_text;

    #[test]
    fn finds_string_and_number_fields() {
        let line = br#"{"order_id": "o-1", "ts":1700000000000,"lat":1.5, "x":{"order_id":"inner"}}"#;
        assert_eq!(field_text(line, "order_id"), Some(&b"o-1"[..]));
        assert_eq!(field_text(line, "ts"), Some(&b"1700000000000"[..]));
        assert_eq!(field_text(line, "lat"), Some(&b"1.5"[..]));
        assert_eq!(field_text(line, "missing"), None);
        assert_eq!(
            field_text(br#"{"a":"order_id","order_id":"o-2"}"#, "order_id"),
            Some(&b"o-2"[..])
        );
    }
}
