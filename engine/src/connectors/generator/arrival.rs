//! The generator's arrival queue: events wait, ordered by arrival time, until the generated clock reaches
//! them — how out-of-order arrival is simulated.

use super::{LATE_MAX_MS, LATE_MIN_MS};
use rand::Rng;
use rand_distr::{Distribution, Exp};
use rand_pcg::Pcg64Mcg;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// An event waiting for its arrival time.
struct Pending {
    arrival: i64,
    seq: u64,
    line: String,
}
impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.arrival, self.seq) == (o.arrival, o.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.arrival, self.seq).cmp(&(o.arrival, o.seq))
    }
}

/// Reorders events from event-time order into arrival order.
pub(super) struct ArrivalQueue {
    heap: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    jitter: Exp<f64>,
    jitter_cap: f64,
    late_frac: f64,
}

impl ArrivalQueue {
    pub(super) fn new(jitter_mean_ms: f64, late_frac: f64) -> Self {
        ArrivalQueue {
            heap: BinaryHeap::new(),
            seq: 0,
            jitter: Exp::new(1.0 / jitter_mean_ms.max(1e-9)).expect("positive rate"),
            jitter_cap: 10.0 * jitter_mean_ms,
            late_frac,
        }
    }
    pub(super) fn push(&mut self, rng: &mut Pcg64Mcg, ts: i64, line: String) {
        let delay = if rng.random::<f64>() < self.late_frac {
            rng.random_range(LATE_MIN_MS..LATE_MAX_MS)
        } else {
            self.jitter.sample(rng).min(self.jitter_cap)
        };
        self.seq += 1;
        self.heap.push(Reverse(Pending {
            arrival: ts + delay as i64,
            seq: self.seq,
            line,
        }));
    }
    /// The next event arriving before `bound` (everything, for `None`).
    pub(super) fn pop_before(&mut self, bound: Option<i64>) -> Option<String> {
        let top = self.heap.peek()?;
        if bound.is_some_and(|b| top.0.arrival >= b) {
            return None;
        }
        self.heap.pop().map(|p| p.0.line)
    }
}
