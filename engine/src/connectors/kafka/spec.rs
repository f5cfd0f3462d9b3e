//! A Kafka source as the job defines it: its topic and brokers, where it starts, how much it keeps in flight.

use std::time::Duration;

/// Where a Kafka source starts reading when it has no saved position.
#[derive(Clone, Debug, PartialEq)]
pub enum StartPosition {
    Earliest,
    Latest,
    /// The first message with a timestamp at or after this (epoch ms).
    Timestamp(i64),
}

/// A Kafka source as the job defines it.
#[derive(Clone, Debug)]
pub struct KafkaSourceSpec {
    pub brokers: String,
    pub topic: String,
    pub start: StartPosition,
    /// A partition with no data for this long stops holding back the job watermark until data arrives.
    pub idle_timeout: Option<Duration>,
    /// Stop each partition once it has been read to its end (backfills, tests); otherwise run until stopped.
    pub stop_at_end: bool,
    /// Extra librdkafka settings (`properties` in the job), applied last.
    pub properties: Vec<(String, String)>,
    /// Records per worker in flight between the source and the sinks before the source pauses.
    pub max_in_flight: u64,
    /// Read at most this many messages per second (over the whole topic).
    pub rate: Option<f64>,
}

/// Default of [`KafkaSourceSpec::max_in_flight`].
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 50_000;
