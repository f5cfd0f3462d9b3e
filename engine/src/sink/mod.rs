//! Sinks: where finished output goes. Each does I/O and nothing else; ordering and batching are decided by
//! the sink operators in [`crate::dataflow::sink_op`].
//!
//! Files are written under a temporary name and renamed into place only when complete, so a reader never
//! sees a partial file under its final name.

pub mod jsonl;
pub mod kafka;
pub mod parquet;
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
}

/// Lines to standard output, for trying jobs out.
pub struct StdoutWriter;

impl LineWriter for StdoutWriter {
    fn write(&mut self, lines: &[Line]) -> io::Result<()> {
        use io::Write;
        let mut out = io::stdout().lock();
        for l in lines {
            out.write_all(l.text.as_bytes())?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn abort(&mut self) {}
}

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}
