//! Problems a long-running part of a job reports on stderr while it retries (a broker away, a table that
//! cannot be read): each at most once every 10 s, prefixed with who reports it.

use parking_lot::Mutex;
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

    /// Prints `message` now (news that ends a reported problem), and counts as the last print.
    pub fn force(&self, message: &str) {
        *self.last.lock() = Some(Instant::now());
        eprintln!("weir: {}: {message}", self.label);
    }
}
