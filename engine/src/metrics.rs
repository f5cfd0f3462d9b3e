//! Counters shared by all workers of a run: what came in, what went out, what was set aside.
//!
//! Updated once per chunk or per emitted batch (never per record on a hot path) and read by the progress
//! reporter and the run summary.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub bytes_read: AtomicU64,
    pub records_in: AtomicU64,
    pub dead_letters: AtomicU64,
    pub late: AtomicU64,
    pub window_rows: AtomicU64,
    pub alerts: AtomicU64,
    /// Total input bytes of bounded sources, when known (for progress bars).
    pub bytes_total: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
