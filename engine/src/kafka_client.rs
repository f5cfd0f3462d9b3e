//! What weir's Kafka clients (source consumers, sink producers, the publisher) share: reporting connection
//! trouble without flooding stderr, and asking whether a topic exists.

use parking_lot::Mutex;
use rdkafka::client::{Client, ClientContext};
use rdkafka::error::KafkaResult;
use std::time::{Duration, Instant};

/// How often the same client may print a problem.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Prints a client's problems on stderr, prefixed with its label, at most once every 10 s.
pub struct RateLimitedReport {
    label: String,
    last: Mutex<Option<Instant>>,
}

impl RateLimitedReport {
    pub fn new(label: String) -> Self {
        Self {
            label,
            last: Mutex::new(None),
        }
    }

    /// Prints `message` unless something was printed in the last 10 s.
    pub fn report(&self, message: &str) {
        let mut last = self.last.lock();
        if last.is_none_or(|t| t.elapsed() >= REPORT_EVERY) {
            *last = Some(Instant::now());
            eprintln!("weir: {}: {message}", self.label);
        }
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
