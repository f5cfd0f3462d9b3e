//! The ingest log (DESIGN §11): what a source that cannot replay by itself (MQTT, HTTP) received, made
//! durable before it is acknowledged, and read by the dataflow as a partition with offsets.
//!
//! **Where it lives.** `<checkpoint dir>/ingest/<source>/`, one log per source per process: its segment files
//! are `p<PROCESS>-<FIRST OFFSET>.seg` (a process's log stays with that process: in Kubernetes, a volume claim
//! per pod). One directory therefore holds everything a job needs to resume.
//!
//! **What it holds.** Append-only frames ([`frame`]): each record (offsets count records, from 0), with the
//! MQTT topic and packet id it came with; MQTT acknowledgements; HTTP idempotency keys with their answers.
//!
//! **Durability.** [`IngestLog::append`] writes; [`IngestLog::wait_durable`] returns once an `fsync` covers
//! what was written (group commit: one `fsync` serves every writer waiting then). Sources acknowledge only
//! after it, and the dataflow reads only what is durable, so output never depends on a record a crash could
//! take back.
//!
//! **How big it grows.** Segments roll over at an eighth of `max_log_bytes` (at least 64 KiB, at most
//! 64 MiB). A segment is deleted once every kept checkpoint resumes after it ([`IngestLog::release_below`]).
//! Appending past `max_log_bytes` fails with [`IngestError::Full`]: HTTP answers 503, MQTT stops
//! acknowledging until checkpoints free space.

pub mod frame;
mod keys;
mod log;
mod reader;

pub use frame::LogRecord;
pub use log::{IngestLog, LogOptions, Publish};
pub use reader::{LogBatch, LogReader};

use std::path::PathBuf;

/// What can go wrong with an ingest log.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    #[error("ingest log `{path}`: {cause}")]
    Io { path: PathBuf, cause: String },
    #[error("ingest log `{path}` is corrupt at byte {at} (a frame that is not the last one fails its checksum)")]
    Corrupt { path: PathBuf, at: u64 },
    #[error("the ingest log is full ({bytes} of max_log_bytes {max} bytes); it frees space as checkpoints complete")]
    Full { bytes: u64, max: u64 },
    #[error("ingest log offset {offset} was deleted (the log starts at {first})")]
    Deleted { offset: u64, first: u64 },
}

/// The directory of source `source`'s ingest logs under a checkpoint directory.
pub fn log_dir(checkpoint_dir: &std::path::Path, source: &str) -> PathBuf {
    checkpoint_dir.join("ingest").join(source)
}
