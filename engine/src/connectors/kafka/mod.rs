//! Kafka: the `kafka` source (a topic's partitions, each with its own watermark), the `kafka` sink (alerts
//! and changelogs, idempotent, exactly once through checkpoints) and the `kafka` table (a compacted topic),
//! over librdkafka (`rdkafka`).

pub mod config;
pub mod client;
pub mod queue;
pub mod reader;
pub mod sink;
pub mod source;
pub mod source_op;
pub mod spec;
pub mod table;
