//! Orders the chunks of one partition that several workers decode in parallel.
//!
//! Each worker decodes its own chunks (chunk `k` goes to worker `k mod W`) and publishes each chunk's line
//! count and maximum valid event time here. A chunk can be stamped — given its line base and the event-time
//! maximum before it — as soon as every earlier chunk has been published. The sequencer also answers the
//! lower bound every worker needs to downgrade its timely capability: no record of chunk `k` or later can have
//! an arrival watermark below `max(known maxima of chunks < k) − max_out_of_orderness`.
//!
//! A partition is read by the workers of one process, so this is shared memory guarded by a mutex; it is
//! touched once per chunk (about a megabyte of input), never per record.

use crate::checkpoint::{ResumeLog, ResumePoint};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use timely::scheduling::SyncActivator;
use weir_operators::logical_time;

/// What decoding a chunk revealed about it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ChunkSummary {
    pub lines: u64,
    pub max_ts: Option<i64>,
    /// Where the chunk starts in its file (0 for generated input).
    pub byte_start: u64,
    /// With `max_future`: every valid record's event time, in order (which of them count towards the
    /// watermark depends on the maximum before the chunk).
    pub event_times: Option<Arc<[i64]>>,
}

/// Where a chunk stands in its partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkPrefix {
    pub line_base: u64,
    pub max_before: Option<i64>,
}

#[derive(Default)]
struct State {
    /// Chunks `0..contiguous` are all published.
    contiguous: u64,
    lines_before_contiguous: u64,
    max_before_contiguous: Option<i64>,
    /// Published chunks at or after `contiguous`.
    ahead: BTreeMap<u64, ChunkSummary>,
    /// Prefixes computed but not yet taken.
    ready: BTreeMap<u64, ChunkPrefix>,
    waiters: Vec<SyncActivator>,
}

/// The shared sequencing state of one partition.
#[derive(Default)]
pub struct ChunkSequencer {
    state: Mutex<State>,
    /// With checkpoints: every chunk's resume point, and the partition's `max_out_of_orderness`.
    log: Option<(Arc<ResumeLog>, i64)>,
    /// With `max_future`: the rule that passes over records too far ahead of the watermark.
    future: Option<FutureBound>,
}

/// `max_future`: a record whose event time is more than `max_future_ms` ahead of the arrival watermark
/// before it (the largest event time counted so far minus `max_out_of_orderness_ms`) does not count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FutureBound {
    pub max_out_of_orderness_ms: i64,
    pub max_future_ms: i64,
}

impl FutureBound {
    /// Whether a record at `ts` is too far ahead of the watermark that the maximum `max_before` gives.
    pub fn too_far_ahead(&self, max_before: Option<i64>, ts: i64) -> Option<i64> {
        let w = max_before?.saturating_sub(self.max_out_of_orderness_ms);
        (ts > w.saturating_add(self.max_future_ms)).then_some(w)
    }

    /// The maximum after `event_times`, counting only the records not too far ahead.
    pub fn fold(&self, mut max: Option<i64>, event_times: &[i64]) -> Option<i64> {
        for &t in event_times {
            if self.too_far_ahead(max, t).is_none() {
                max = max_opt(max, Some(t));
            }
        }
        max
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

impl ChunkSequencer {
    /// A partition read from `start` (a checkpoint's resume point, or the beginning), logging every chunk's
    /// resume point to `log` when checkpoints are on.
    pub fn new(start: &ResumePoint, log: Option<(Arc<ResumeLog>, i64)>) -> Self {
        Self {
            state: Mutex::new(State {
                lines_before_contiguous: start.line_base,
                max_before_contiguous: start.max_before,
                ..Default::default()
            }),
            log,
            future: None,
        }
    }

    /// Applies `max_future` to the maxima this sequencer hands out.
    pub fn with_future_bound(mut self, future: Option<FutureBound>) -> Self {
        self.future = future;
        self
    }

    /// Registers a worker's operator to be woken whenever a chunk is published.
    pub fn register(&self, activator: SyncActivator) {
        self.state.lock().waiters.push(activator);
    }

    /// Publishes chunk `k`'s summary and wakes the waiting workers.
    pub fn publish(&self, k: u64, summary: ChunkSummary) {
        let mut s = self.state.lock();
        s.ahead.insert(k, summary);
        let before = s.contiguous;
        while let Some(sum) = {
            let c = s.contiguous;
            s.ahead.remove(&c)
        } {
            let prefix = ChunkPrefix {
                line_base: s.lines_before_contiguous,
                max_before: s.max_before_contiguous,
            };
            let c = s.contiguous;
            if let Some((log, ooo)) = &self.log {
                let point = ResumePoint {
                    position: sum.byte_start,
                    line_base: prefix.line_base,
                    max_before: prefix.max_before,
                };
                log.record(
                    c,
                    logical_time(prefix.max_before.map(|m| m.saturating_sub(*ooo))),
                    point,
                );
            }
            s.ready.insert(c, prefix);
            s.lines_before_contiguous += sum.lines;
            s.max_before_contiguous = match (&self.future, &sum.event_times) {
                (Some(f), Some(times)) => f.fold(s.max_before_contiguous, times),
                _ => max_opt(s.max_before_contiguous, sum.max_ts),
            };
            s.contiguous += 1;
        }
        if s.contiguous != before {
            for w in &s.waiters {
                let _ = w.activate();
            }
        }
    }

    /// Takes chunk `k`'s prefix once every earlier chunk is published.
    pub fn take_prefix(&self, k: u64) -> Option<ChunkPrefix> {
        self.state.lock().ready.remove(&k)
    }

    /// The largest event time known to come before chunk `k` (a lower bound of its true prefix maximum).
    pub fn known_max_before(&self, k: u64) -> Option<i64> {
        let s = self.state.lock();
        let mut m = if k >= s.contiguous {
            s.max_before_contiguous
        } else {
            None
        };
        if k < s.contiguous {
            // Only reached for chunks already stamped or ready; their prefix is exact.
            if let Some(p) = s.ready.get(&k) {
                m = p.max_before;
            }
        }
        if self.future.is_none() {
            // (With `max_future`, a later chunk's maximum may not count: only the exact prefix is a bound.)
            for (_, sum) in s.ahead.range(..k) {
                m = max_opt(m, sum.max_ts);
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_follow_publication_in_any_order() {
        let q = ChunkSequencer::default();
        q.publish(
            1,
            ChunkSummary {
                lines: 5,
                max_ts: Some(50),
                ..Default::default()
            },
        );
        assert_eq!(q.take_prefix(1), None);
        assert_eq!(q.known_max_before(2), Some(50));
        assert_eq!(q.known_max_before(1), None);
        q.publish(
            0,
            ChunkSummary {
                lines: 3,
                max_ts: Some(70),
                ..Default::default()
            },
        );
        assert_eq!(
            q.take_prefix(0),
            Some(ChunkPrefix {
                line_base: 0,
                max_before: None
            })
        );
        assert_eq!(
            q.take_prefix(1),
            Some(ChunkPrefix {
                line_base: 3,
                max_before: Some(70)
            })
        );
        assert_eq!(q.known_max_before(2), Some(70));
        q.publish(
            2,
            ChunkSummary {
                lines: 1,
                max_ts: None,
                ..Default::default()
            },
        );
        assert_eq!(
            q.take_prefix(2),
            Some(ChunkPrefix {
                line_base: 8,
                max_before: Some(70)
            })
        );
    }
}
