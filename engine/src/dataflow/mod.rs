//! The timely-dataflow operators of a running job and the data that flows between them.
//!
//! Time in the dataflow is *logical time* (DESIGN §2): a record's arrival watermark clamped at 0, in epoch
//! milliseconds. Messages are sent at a timely time at or below the logical time of everything in them (a
//! chunk at its first line's), and every item carries its exact [`Position`]; operators act on an item only
//! once the frontier has passed its logical time, in position order. That makes results independent of
//! worker count, batching and thread timing while keeping progress tracking per chunk, not per record.

pub mod dead_letters;
pub mod delivery_op;
pub mod keyed_op;
pub mod latest_op;
pub mod sink_op;
pub mod source_op;
pub mod threshold_op;
pub mod window_op;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use weir_operators::Position;

use crate::metrics::Metrics;

/// Logical time: epoch milliseconds.
pub type Time = u64;

/// A rendered output line (alert, dead letter, row as JSON) and where it stands in the deterministic order:
/// the position of the record or timer that produced it, then its rank among that step's outputs for one key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Line {
    pub pos: Position,
    pub seq: u32,
    pub text: String,
}

/// What every operator of a run shares: counters, and the way to stop everything on a fatal error.
#[derive(Clone, Default)]
pub struct RunContext {
    pub metrics: Arc<Metrics>,
    abort: Arc<AtomicBool>,
    error: Arc<Mutex<Option<String>>>,
}

impl RunContext {
    /// Records a fatal error (the first one wins) and asks every source to stop.
    pub fn fail(&self, message: String) {
        let mut e = self.error.lock();
        if e.is_none() {
            *e = Some(message);
        }
        self.abort.store(true, Ordering::SeqCst);
    }

    /// Asks every source to stop without an error (e.g. on SIGINT).
    pub fn stop(&self) {
        self.abort.store(true, Ordering::SeqCst);
    }

    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }

    pub fn error(&self) -> Option<String> {
        self.error.lock().clone()
    }
}

/// The frontier of a totally ordered input: `None` once the input has ended.
pub fn frontier_time(frontier: &timely::progress::frontier::MutableAntichain<Time>) -> Option<Time> {
    frontier.frontier().iter().min().copied()
}
