//! Deterministic application order: records are applied in `(logical time, source, partition, offset)` order.
//!
//! Records reach an operator from many workers in whatever interleaving the threads produce. The operator
//! parks them here and, once the job watermark (the timely frontier) has passed their logical time, takes
//! them out sorted by position. Every record with logical time below the frontier has arrived by then, so the
//! order — and with it every float sum, tie-break and suppression decision — is the same for any worker count,
//! batch size or timing.

use serde::{Deserialize, Serialize};

/// Where a record stands in the deterministic order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    /// Logical time: the record's arrival watermark clamped at 0.
    pub lt: u64,
    /// Index of the source in the job.
    pub source: u32,
    /// Partition within the source.
    pub partition: u32,
    /// Kafka offset, or 1-based line number for files.
    pub offset: u64,
}

/// Records waiting for the frontier to pass their logical time.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EventOrderBuffer<T> {
    pending: Vec<(Position, T)>,
}

impl<T> Default for EventOrderBuffer<T> {
    fn default() -> Self {
        Self { pending: Vec::new() }
    }
}

impl<T> EventOrderBuffer<T> {
    pub fn push(&mut self, pos: Position, item: T) {
        self.pending.push((pos, item));
    }

    pub fn extend(&mut self, items: impl IntoIterator<Item = (Position, T)>) {
        self.pending.extend(items);
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Drains every record with logical time below `frontier` (all of them when `None`, i.e. the input has
    /// ended), in position order. The buffer keeps its allocation for the records that stay.
    pub fn drain_before(&mut self, frontier: Option<u64>) -> std::vec::Drain<'_, (Position, T)> {
        self.drain_before_by(frontier, |_, _| std::cmp::Ordering::Equal)
    }

    /// [`EventOrderBuffer::drain_before`], ordering records at the same position by `tie`.
    pub fn drain_before_by(
        &mut self,
        frontier: Option<u64>,
        tie: impl Fn(&T, &T) -> std::cmp::Ordering,
    ) -> std::vec::Drain<'_, (Position, T)> {
        // Usually already in order (one worker's chunks are); otherwise a few sorted runs, which the
        // stable sort merges cheaply.
        let order = |a: &(Position, T), b: &(Position, T)| a.0.cmp(&b.0).then_with(|| tie(&a.1, &b.1));
        if !self.pending.is_sorted_by(|a, b| order(a, b).is_le()) {
            self.pending.sort_by(order);
        }
        let cut = match frontier {
            None => self.pending.len(),
            Some(f) => self.pending.partition_point(|(p, _)| p.lt < f),
        };
        self.pending.drain(..cut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(lt: u64, partition: u32, offset: u64) -> Position {
        Position {
            lt,
            source: 0,
            partition,
            offset,
        }
    }

    #[test]
    fn releases_in_position_order_below_the_frontier() {
        let mut b = EventOrderBuffer::default();
        b.push(pos(5, 1, 3), "c");
        b.push(pos(9, 0, 9), "late");
        b.push(pos(5, 0, 7), "b");
        b.push(pos(2, 1, 1), "a");
        let out: Vec<_> = b.drain_before(Some(9)).map(|(_, x)| x).collect();
        assert_eq!(out, vec!["a", "b", "c"]);
        assert_eq!(b.len(), 1);
        assert_eq!(b.drain_before(Some(9)).count(), 0);
        assert_eq!(b.drain_before(None).count(), 1);
        assert!(b.is_empty());
    }
}
