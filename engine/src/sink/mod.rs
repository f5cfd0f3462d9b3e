//! Sinks: where finished output goes. Each does I/O and nothing else; ordering and batching are decided by
//! the sink operators in [`crate::dataflow::sink_op`].
//!
//! Files are written under a temporary name and renamed into place only when complete, so a reader never
//! sees a partial file under its final name — except JSONL files of a job with checkpoints, which are written
//! in place (a streaming job's alerts must be followable) and continued exactly on restore. Each writer says
//! where it stands for a checkpoint ([`LineWriter::checkpoint`], [`SinkPosition`]).

pub mod encode;
pub mod jsonl;
pub mod kafka;
pub mod parquet;
pub mod stdout;
pub mod webhook;

use crate::dataflow::Line;
use std::io;

/// A destination for rendered lines (alerts, dead letters, rows as JSON).
pub trait LineWriter {
    fn write(&mut self, lines: &[Line]) -> io::Result<()>;
    /// Flushes and publishes the output under its final name.
    fn finish(&mut self) -> io::Result<()>;
    /// Discards unpublished output after a failure.
    fn abort(&mut self);
    /// Makes everything written so far durable and returns the position a checkpoint records, from which
    /// a restored run's writer resumes.
    fn checkpoint(&mut self) -> io::Result<SinkPosition> {
        Ok(SinkPosition::None)
    }
    /// The job stopped and will resume from a checkpoint: keep the output unfinished (flushed, not
    /// published under its final name).
    fn suspend(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where a line sink's output stood at a checkpoint.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SinkPosition {
    /// Nothing to resume (stdout).
    #[default]
    None,
    /// Bytes of a file written so far.
    File { bytes: u64 },
    /// Lines sent so far (the next line's sequence number) and, per partition, the next offset after what
    /// was acknowledged: a restored run reads the topic from there to learn what it already sent.
    Kafka {
        seq: u64,
        offsets: std::collections::BTreeMap<i32, i64>,
    },
}

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}
