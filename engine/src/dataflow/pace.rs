//! Replay at a given rate: a source option (`rate = N` records per second) for demos, load tests and the
//! crash harness, which needs a run to last long enough to be killed many times.

use crate::chunk::RawBytes;
use crate::dataflow::source_op::ChunkReader;
use std::time::{Duration, Instant};

/// The chunk size for a reader paced at `lines_per_second`: about a tenth of a second of lines (at ~128 bytes
/// a line), at least 4 KiB and at most `max`. A paced reader waits once per chunk, so a whole default chunk
/// at a slow rate meant bursts many seconds apart.
fn paced_chunk_bytes(lines_per_second: f64, max: u64) -> u64 {
    ((lines_per_second * 0.1 * 128.0) as u64).clamp(MIN_PACED_CHUNK, max.max(MIN_PACED_CHUNK))
}

/// The chunk size for a reader of at most `max` bytes a chunk, paced at `rate` lines per second if it has one.
pub fn chunk_bytes_for(rate: Option<f64>, max: u64) -> u64 {
    rate.map_or(max, |r| paced_chunk_bytes(r, max))
}

/// `reader`, paced at `rate` lines per second if there is one.
pub fn paced(reader: Box<dyn ChunkReader>, rate: Option<f64>) -> Box<dyn ChunkReader> {
    match rate {
        Some(rate) => Box::new(PacedReader::new(reader, rate)),
        None => reader,
    }
}

/// The smallest chunk a paced reader reads.
const MIN_PACED_CHUNK: u64 = 4096;

/// Keeps a count of records at or below `rate` per second since it started: the reader waits until
/// [`Pacer::due`] before reading more (by being scheduled again then, not by sleeping).
#[derive(Debug)]
pub struct Pacer {
    rate: f64,
    started: Instant,
    records: u64,
}

impl Pacer {
    pub fn new(rate: f64) -> Self {
        Self {
            rate: rate.max(1e-9),
            started: Instant::now(),
            records: 0,
        }
    }

    /// Accounts for `n` more records, without waiting.
    pub fn account(&mut self, n: u64) {
        self.records += n;
    }

    /// When the records accounted so far are due.
    pub fn due(&self) -> Instant {
        self.started + Duration::from_secs_f64(self.records as f64 / self.rate)
    }
}

/// A chunk reader that hands out lines at most at a given rate: each chunk once the lines before it are due.
struct PacedReader {
    inner: Box<dyn ChunkReader>,
    pacer: Pacer,
}

impl PacedReader {
    fn new(inner: Box<dyn ChunkReader>, lines_per_second: f64) -> Self {
        Self {
            inner,
            pacer: Pacer::new(lines_per_second),
        }
    }
}

impl ChunkReader for PacedReader {
    fn next_chunk(&mut self) -> std::io::Result<Option<(u64, RawBytes)>> {
        let chunk = self.inner.next_chunk()?;
        if let Some((_, bytes)) = &chunk {
            self.pacer.account(memchr::memchr_iter(b'\n', bytes).count() as u64);
        }
        Ok(chunk)
    }

    fn ready_at(&self) -> Option<Instant> {
        Some(self.pacer.due())
    }

    fn next_index(&self) -> u64 {
        self.inner.next_index()
    }

    fn bytes_read(&self) -> u64 {
        self.inner.bytes_read()
    }
}

/// `rate`: replay at most this many records per second (a positive number).
pub fn rate_option(s: &crate::config::Section) -> Option<f64> {
    let rate = s.float("rate")?;
    if rate.is_finite() && rate > 0.0 {
        Some(rate)
    } else {
        s.problem("rate", "must be a positive number of records per second");
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_rate() {
        let mut p = Pacer::new(1000.0);
        let t = p.started;
        for _ in 0..10 {
            p.account(10);
        }
        assert_eq!(p.due() - t, Duration::from_millis(100));
    }

    #[test]
    fn paced_chunks_hold_a_tenth_of_a_second() {
        assert_eq!(paced_chunk_bytes(50.0, 1 << 17), 4096);
        assert_eq!(paced_chunk_bytes(10_000.0, 1 << 17), 128_000);
        assert_eq!(paced_chunk_bytes(1e6, 1 << 17), 1 << 17);
        assert_eq!(paced_chunk_bytes(1e6, 100), 4096);
    }
}
