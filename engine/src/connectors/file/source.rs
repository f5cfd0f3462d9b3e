//! Reading one JSONL file as chunks that several workers decode in parallel.
//!
//! The file is cut at fixed byte boundaries `k·C`; a line belongs to the chunk in which it *starts*. Worker
//! `w` of `W` reads chunks `w, w+W, w+2W, …` with positioned reads (`pread`), so no worker touches another's
//! chunks (apart from the tail of a line that crosses a boundary). Reads rather than a memory map: a file
//! truncated while mapped kills the process with SIGBUS, while a short read is an error that names the file.
//!
//! [`FileSource`] is the `kind = "file"` source component: one partition per file, each with its own
//! watermark, every worker decoding its share of every file's chunks.

use crate::chunk::RawBytes;
use crate::component::ChunkPartitions;
use crate::component::{PreparedSource, SourceBuildContext, SourceComponent, SourcePrepareContext};
use crate::dataflow::pace::{chunk_bytes_for, paced};
use crate::dataflow::source_op::ChunkReader;
use crate::error::{BuildError, RunError};
use crate::record::RecordStream;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct FileChunkReader {
    file: File,
    path: PathBuf,
    /// Where chunk 0 starts.
    base: u64,
    /// The file's length when it was opened: bytes appended later are not read.
    size: u64,
    chunk_bytes: u64,
    next: u64,
    stride: u64,
    bytes: u64,
    /// A line is buffered up to this many bytes; the rest of a longer one is skipped (it is a dead letter).
    max_line: usize,
}

/// How much more is read at a time to finish a line that crosses a chunk's end.
const TAIL_STEP: usize = 16 << 10;

impl FileChunkReader {
    /// Opens `path` for worker `worker` of `workers`.
    pub fn open(path: &Path, worker: usize, workers: usize, chunk_bytes: u64) -> io::Result<Self> {
        Self::open_at(path, 0, worker, workers, chunk_bytes)
    }

    /// Reads the file from byte `base` (the start of a line, e.g. a checkpoint's resume point) on. A file
    /// shorter than `base`, or one in which `base` is not the start of a line, has been replaced or
    /// truncated since the checkpoint: that is an error, not an empty read.
    pub fn open_at(path: &Path, base: u64, worker: usize, workers: usize, chunk_bytes: u64) -> io::Result<Self> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        let reader = Self {
            file,
            path: path.to_path_buf(),
            base,
            size,
            chunk_bytes,
            next: worker as u64,
            stride: workers as u64,
            bytes: 0,
            max_line: usize::MAX - 1,
        };
        if base > 0 {
            let mut before = [0u8];
            let at_line_start = base <= size && {
                reader.read_exact_at(&mut before, base - 1)?;
                before[0] == b'\n'
            };
            if !at_line_start {
                return Err(io::Error::other(format!(
                    "the checkpoint resumes this file at byte {base}, but it has {size} bytes{}: it was truncated or replaced since the checkpoint; put the original back, or run with --fresh to start over",
                    if base <= size { " and no line starts there" } else { "" }
                )));
            }
        }
        Ok(reader)
    }

    /// Buffers at most `max_line + 1` bytes of any line (enough to know it is too long): the rest of a longer
    /// line is read past in small steps, so a gigabyte without a newline costs no more memory than a chunk.
    pub fn with_max_line(mut self, max_line: usize) -> Self {
        self.max_line = max_line.min(usize::MAX - 1);
        self
    }

    /// Reads exactly `buf.len()` bytes at `offset`; a file that has shrunk since it was opened is an error
    /// naming it.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.read_exact_at(buf, offset).map_err(|e| {
            if e.kind() != io::ErrorKind::UnexpectedEof {
                return e;
            }
            let now = std::fs::metadata(&self.path).map_or("?".to_string(), |m| m.len().to_string());
            io::Error::other(format!(
                "`{}` shrank while being read: it had {} bytes, now {now} (truncated in place, e.g. by logrotate's copytruncate); weir reads a file only while it grows — rotate by renaming it",
                self.path.display(),
                self.size
            ))
        })
    }

    /// The lines starting in chunk `k`'s `[k·C, (k+1)·C)` and where they start in the file: a buffer, how many
    /// bytes at its start to skip, the file offset of the first line, and how many bytes of the last line
    /// were skipped (it is longer than `max_line`).
    fn read_chunk(&self, k: u64) -> io::Result<(u64, Vec<u8>, usize, u64)> {
        let lo = self.base + k * self.chunk_bytes;
        let hi = (lo + self.chunk_bytes).min(self.size);
        // A line starts at `lo` iff the byte before it ends one: read that byte too.
        let from = if lo == self.base { lo } else { lo - 1 };
        // Room for the tail of the line crossing `hi` too, so that finishing it does not reallocate.
        let mut buf = Vec::with_capacity((hi - from) as usize + TAIL_STEP);
        buf.resize((hi - from) as usize, 0);
        self.read_exact_at(&mut buf, from)?;
        let skip = if lo == self.base {
            0
        } else {
            match memchr::memchr(b'\n', &buf) {
                Some(i) => i + 1,
                None => return Ok((hi, Vec::new(), 0, 0)), // no line starts in this chunk
            }
        };
        if from + skip as u64 >= hi {
            return Ok((hi, Vec::new(), 0, 0));
        }
        // Finish the line that crosses `hi`, buffering at most `max_line + 1` bytes of it.
        let line_start = memchr::memrchr(b'\n', &buf[skip..]).map_or(skip, |i| skip + i + 1);
        let keep = line_start.saturating_add(self.max_line + 1);
        let mut end = hi;
        let mut dropped = 0u64;
        let mut scratch = Vec::new();
        while end < self.size && buf.last() != Some(&b'\n') {
            let step = TAIL_STEP.min((self.size - end) as usize);
            if buf.len() >= keep {
                // Past the limit: look for the line's end without keeping what comes before it.
                scratch.resize(step, 0);
                self.read_exact_at(&mut scratch, end)?;
                end += step as u64;
                match memchr::memchr(b'\n', &scratch) {
                    Some(i) => {
                        dropped += i as u64;
                        buf.push(b'\n');
                    }
                    None => dropped += step as u64,
                }
                continue;
            }
            let step = step.min(keep - buf.len());
            let at = buf.len();
            buf.resize(at + step, 0);
            self.read_exact_at(&mut buf[at..], end)?;
            end += step as u64;
            if let Some(i) = memchr::memchr(b'\n', &buf[at..]) {
                buf.truncate(at + i + 1);
            }
        }
        // A UTF-8 byte-order mark at the start of the file is not part of the first line.
        let skip = if from == 0 && lo == 0 && buf.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            skip
        };
        Ok((from + skip as u64, buf, skip, dropped))
    }
}

impl ChunkReader for FileChunkReader {
    fn next_chunk(&mut self) -> io::Result<Option<(u64, RawBytes)>> {
        if self.base + self.next * self.chunk_bytes >= self.size {
            return Ok(None);
        }
        let k = self.next;
        let (start, bytes, skip, dropped) = self.read_chunk(k)?;
        self.bytes += (bytes.len() - skip) as u64 + dropped;
        self.next += self.stride;
        Ok(Some((
            k,
            RawBytes::Read {
                bytes,
                skip,
                start,
                dropped,
            },
        )))
    }

    fn next_index(&self) -> u64 {
        self.next
    }

    fn bytes_read(&self) -> u64 {
        self.bytes
    }
}

/// `kind = "file"`: one partition per file, in this order.
#[derive(Clone, Debug)]
pub struct FileSource {
    pub paths: Vec<PathBuf>,
    /// Replay at most this many lines per second per file.
    pub rate: Option<f64>,
}

impl SourceComponent for FileSource {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn describe(&self, workers: usize) -> String {
        let paths: Vec<String> = self.paths.iter().map(|p| p.display().to_string()).collect();
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        format!(
            "file {} ({} partition{}, each decoded in parallel by {workers} worker{})",
            paths.join(", "),
            paths.len(),
            plural(paths.len()),
            plural(workers)
        )
    }

    fn shape(&self) -> String {
        format!("file with {} partition(s)", self.paths.len())
    }

    fn instances_per_worker(&self) -> usize {
        self.paths.len()
    }

    fn preflight(&self, name: &str) -> Result<Option<u64>, RunError> {
        let mut total = 0;
        for path in &self.paths {
            let len = File::open(path).and_then(|f| {
                let m = f.metadata()?;
                if m.is_dir() {
                    Err(io::Error::other("it is a directory, not a file"))
                } else {
                    Ok(m.len())
                }
            });
            total += len.map_err(|cause| RunError::Input {
                source_name: name.to_string(),
                path: path.clone(),
                cause,
            })?;
        }
        Ok(Some(total))
    }

    fn prepare(&self, cx: SourcePrepareContext) -> Result<Arc<dyn PreparedSource>, RunError> {
        Ok(Arc::new(PreparedFiles {
            source: self.clone(),
            partitions: ChunkPartitions::new(&cx, self.paths.len(), true),
        }))
    }
}

struct PreparedFiles {
    source: FileSource,
    partitions: ChunkPartitions,
}

impl PreparedSource for PreparedFiles {
    fn build<'s>(&self, cx: SourceBuildContext<'s, '_>) -> Result<RecordStream<'s>, BuildError> {
        // Each partition is read by one process, decoded in parallel by that process's workers.
        let (process, processes) = cx.process;
        let workers = cx.worker.1 / processes;
        let worker = cx.worker.0 % workers;
        let name = &cx.source.name;
        let mut readers: Vec<Box<dyn ChunkReader>> = Vec::new();
        for (p, path) in self.source.paths.iter().enumerate() {
            if crate::component::partition_owner(p, processes) != process {
                readers.push(Box::new(crate::dataflow::source_op::NoChunks));
                continue;
            }
            let base = cx.restored.map_or(0, |c| c.resume_point(name, p as u32).position);
            let rate = self.source.rate.map(|r| r / workers as f64);
            let chunk_bytes = chunk_bytes_for(rate, cx.options.chunk_bytes);
            let reader = FileChunkReader::open_at(path, base, worker, workers, chunk_bytes)
                .map_err(|cause| BuildError::Input {
                    source_name: name.clone(),
                    path: path.clone(),
                    cause,
                })?
                .with_max_line(cx.source.max_record_bytes);
            readers.push(paced(Box::new(reader), rate));
        }
        Ok(self.partitions.build(&cx, readers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn chunks_partition_lines_exactly_for_any_chunk_size() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let mut expect = Vec::new();
        for i in 0..200 {
            let line = format!("line-{i}-{}", "x".repeat(i % 17));
            writeln!(f, "{line}").unwrap();
            expect.push(line);
        }
        write!(f, "no-newline-at-end").unwrap();
        expect.push("no-newline-at-end".into());
        f.flush().unwrap();
        for chunk in [1u64, 7, 16, 64, 1000, 1 << 20] {
            for workers in [1usize, 3] {
                let mut got: Vec<(u64, String)> = Vec::new();
                for w in 0..workers {
                    let mut r = FileChunkReader::open(f.path(), w, workers, chunk).unwrap();
                    while let Some((k, bytes)) = r.next_chunk().unwrap() {
                        for l in String::from_utf8(bytes.to_vec()).unwrap().lines() {
                            got.push((k, l.to_string()));
                        }
                    }
                }
                got.sort_by_key(|(k, _)| *k);
                let lines: Vec<String> = got.into_iter().map(|(_, l)| l).collect();
                assert_eq!(lines, expect, "chunk={chunk} workers={workers}");
            }
        }
    }

    /// Review B7: a line far longer than the limit is buffered only up to it (`limit + 1` bytes), whatever
    /// the chunk size; the lines around it are read whole and the skipped bytes are counted.
    #[test]
    fn an_overlong_line_is_buffered_only_up_to_the_limit() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let long = 3 << 20;
        writeln!(f, "first").unwrap();
        writeln!(f, "{}", "a".repeat(long)).unwrap();
        writeln!(f, "last").unwrap();
        f.flush().unwrap();
        let limit = 1000;
        for chunk in [64u64, 4096, 1 << 20] {
            let mut r = FileChunkReader::open(f.path(), 0, 1, chunk)
                .unwrap()
                .with_max_line(limit);
            let (mut lines, mut dropped, mut biggest) = (Vec::new(), 0, 0);
            while let Some((_, bytes)) = r.next_chunk().unwrap() {
                biggest = biggest.max(bytes.len());
                dropped += bytes.dropped();
                lines.extend(bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| l.len()));
            }
            // What the chunk itself holds of the line, or the limit + 1 if that is more; the rest skipped.
            let kept = (chunk as usize - 6).max(limit + 1);
            assert_eq!(lines, [5, kept, 4], "chunk={chunk}");
            assert_eq!(dropped, (long - kept) as u64, "chunk={chunk}");
            assert!(
                biggest <= chunk as usize + limit + 2,
                "chunk={chunk}: a buffer of {biggest} bytes"
            );
            assert_eq!(r.bytes_read(), f.as_file().metadata().unwrap().len());
        }
    }
}
