//! JSON-lines files: one alert, dead letter or row per line.
//!
//! A job that ends by itself without checkpoints writes `PATH.inprogress`, renamed to `PATH` when the output
//! is complete (a failed run publishes nothing). A job with checkpoints, or one that runs until it is stopped
//! (a Kafka source without `stop_at_end`), writes `PATH` directly, each step's lines handed to the file as
//! the step writes them, so on-call can follow it. With checkpoints a restored run continues the file: its length is
//! recorded at each checkpoint; on restore the complete lines written after it are kept and skipped (checked
//! equal) as the restored run regenerates them, and a torn last line is cut off. A reader never sees a line
//! twice.
//!
//! [`JsonlSink`] is the `kind = "jsonl"` sink component.

use crate::component::{SinkBuildContext, SinkComponent};
use crate::dataflow::sink_op::line_sink;
use crate::dataflow::sink_op::{with_suffix, LineWriter, SinkPosition};
use crate::dataflow::Line;
use crate::error::BuildError;
use crate::record::RecordStream;
use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Writes to `PATH.inprogress`, renamed to `PATH` by [`LineWriter::finish`] (or to `PATH` directly).
pub struct JsonlWriter {
    /// Where the file is published at the end (`None`: it is written in place).
    path: Option<PathBuf>,
    /// The file written.
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
    /// Bytes of the output so far, including lines skipped because a previous run wrote them.
    position: u64,
    /// After a restore: lines the previous run wrote after its checkpoint, which this run regenerates
    /// identically and must not write again.
    already: VecDeque<String>,
}

impl JsonlWriter {
    pub fn create(path: &Path) -> io::Result<Self> {
        Self::start(with_suffix(path, ".inprogress"), Some(path.to_path_buf()))
    }

    /// A file written in place (jobs with checkpoints), from the start.
    pub fn create_in_place(path: &Path) -> io::Result<Self> {
        Self::start(path.to_path_buf(), None)
    }

    /// A new, empty file `written`, renamed to `publish` when finished (if given).
    fn start(written: PathBuf, publish: Option<PathBuf>) -> io::Result<Self> {
        if let Some(dir) = written.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let out = BufWriter::with_capacity(1 << 16, File::create(&written)?);
        Ok(Self {
            path: publish,
            tmp: written,
            out: Some(out),
            position: 0,
            already: VecDeque::new(),
        })
    }

    /// Continues a file written in place by a run whose checkpoint recorded `bytes`.
    pub fn resume(path: &Path, bytes: u64) -> io::Result<Self> {
        let tmp = path.to_path_buf();
        let mut file = File::options().read(true).write(true).open(&tmp).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "the checkpoint continues the output `{}`, which cannot be opened ({e}); start over with \
                     --fresh",
                    tmp.display()
                ),
            )
        })?;
        let len = file.metadata()?.len();
        if len < bytes {
            return Err(io::Error::other(format!(
                "`{}` is shorter ({len} bytes) than the checkpoint recorded ({bytes} bytes): it was changed \
                 since; start over with --fresh",
                tmp.display()
            )));
        }
        file.seek(SeekFrom::Start(bytes))?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail)?;
        let complete = tail.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let already = String::from_utf8_lossy(&tail[..complete])
            .lines()
            .map(str::to_string)
            .collect();
        let end = bytes + complete as u64;
        file.set_len(end)?;
        file.seek(SeekFrom::Start(end))?;
        Ok(Self {
            path: None,
            tmp,
            out: Some(BufWriter::with_capacity(1 << 16, file)),
            position: bytes,
            already,
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(out) = self.out.as_mut() {
            out.flush()?;
            out.get_ref().sync_data()?;
        }
        Ok(())
    }
}

impl LineWriter for JsonlWriter {
    fn write(&mut self, lines: &[Line]) -> io::Result<()> {
        let out = self.out.as_mut().expect("writer is open");
        for l in lines {
            self.position += l.text.len() as u64 + 1;
            if let Some(prev) = self.already.pop_front() {
                if prev != l.text {
                    return Err(io::Error::other(format!(
                        "the restored run regenerated a different line than `{}` holds after the checkpoint \
                         (did the input or the job change?)\n  had: {prev}\n  now: {}",
                        self.tmp.display(),
                        l.text
                    )));
                }
                continue;
            }
            out.write_all(l.text.as_bytes())?;
            out.write_all(b"\n")?;
        }
        // A file written in place is followed by readers: what a step wrote reaches the file with the step
        // (one write(2) per sink step, no fsync).
        if self.path.is_none() && !out.buffer().is_empty() {
            out.flush()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if !self.already.is_empty() {
            return Err(io::Error::other(format!(
                "`{}` holds {} line(s) after the checkpoint that the restored run did not regenerate (did the \
                 input or the job change?)",
                self.tmp.display(),
                self.already.len()
            )));
        }
        if let Some(out) = self.out.take() {
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            if let Some(path) = &self.path {
                fs::rename(&self.tmp, path)?;
            }
        }
        Ok(())
    }

    fn abort(&mut self) {
        // A file written in place is kept: a restored run continues it.
        if self.out.take().is_some() && self.path.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }

    fn checkpoint(&mut self) -> io::Result<SinkPosition> {
        self.flush()?;
        Ok(SinkPosition::File { bytes: self.position })
    }

    fn suspend(&mut self) -> io::Result<()> {
        self.flush()
    }
}

/// `kind = "jsonl"`: every input's records as JSON lines in one file.
#[derive(Clone, Debug)]
pub struct JsonlSink {
    pub path: PathBuf,
}

impl SinkComponent for JsonlSink {
    fn kind(&self) -> &'static str {
        "jsonl"
    }

    fn path(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn output_dir(&self) -> Option<&Path> {
        self.path.parent().filter(|p| !p.as_os_str().is_empty())
    }

    fn describe(&self, _name: &str) -> String {
        format!("jsonl {}", self.path.display())
    }

    /// A checkpoint continues this very file at a byte offset: another path has nothing to continue.
    fn shape_details(&self) -> Vec<(&'static str, String)> {
        vec![("path", self.path.display().to_string())]
    }

    fn build<'s>(&self, cx: SinkBuildContext<'s, '_>) -> Result<Option<RecordStream<'s>>, BuildError> {
        let lines = cx.lines(|_| None);
        let writer: Option<Box<dyn LineWriter>> = if cx.writes {
            let opened = match cx.restored_state()? {
                Some(SinkPosition::File { bytes }) => JsonlWriter::resume(&self.path, bytes),
                _ if cx.checkpoints() || cx.live => JsonlWriter::create_in_place(&self.path),
                _ => JsonlWriter::create(&self.path),
            };
            Some(Box::new(opened.map_err(cx.output_error(&self.path))?))
        } else {
            None
        };
        line_sink(lines, cx.job_end, cx.name.to_string(), writer, cx.ctx.clone());
        Ok(None)
    }
}

/// `kind = "jsonl"`: `path`.
pub fn sink(s: &crate::config::Section, _: &[Option<crate::schema::Schema>]) -> Option<std::sync::Arc<dyn crate::component::SinkComponent>> {
    Some(std::sync::Arc::new(JsonlSink {
        path: s.req_local_path("path").map(std::path::PathBuf::from)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_operators::Position;

    fn lines(texts: &[&str]) -> Vec<Line> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| Line {
                pos: Position {
                    lt: i as u64,
                    source: 0,
                    partition: 0,
                    offset: i as u64,
                },
                seq: 0,
                input: 0,
                text: t.to_string(),
                meta: None,
            })
            .collect()
    }

    #[test]
    fn a_resumed_file_skips_what_it_already_holds_and_cuts_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut w = JsonlWriter::create_in_place(&path).unwrap();
        w.write(&lines(&["a", "b"])).unwrap();
        let at = w.checkpoint().unwrap();
        w.write(&lines(&["c", "d"])).unwrap();
        w.suspend().unwrap();
        drop(w);
        // a crash mid-line
        let mut f = File::options().append(true).open(&path).unwrap();
        f.write_all(b"{\"torn").unwrap();
        let SinkPosition::File { bytes } = at else { panic!() };
        let mut r = JsonlWriter::resume(&path, bytes).unwrap();
        r.write(&lines(&["c", "d", "e"])).unwrap();
        assert_eq!(r.checkpoint().unwrap(), SinkPosition::File { bytes: 10 });
        r.finish().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "a\nb\nc\nd\ne\n");

        // a different regenerated line is an error, not a silent duplicate
        let mut w = JsonlWriter::create_in_place(&path).unwrap();
        w.write(&lines(&["a"])).unwrap();
        let SinkPosition::File { bytes } = w.checkpoint().unwrap() else {
            panic!()
        };
        w.write(&lines(&["b"])).unwrap();
        w.suspend().unwrap();
        drop(w);
        let mut r = JsonlWriter::resume(&path, bytes).unwrap();
        let err = r.write(&lines(&["x"])).unwrap_err().to_string();
        assert!(err.contains("had: b") && err.contains("now: x"), "{err}");
    }
}
