//! Keyed event-time window aggregation: the state of every open window and the rule for emitting it.
//!
//! A window `[start, end)` is emitted once, when the job watermark reaches `end + allowed_lateness`, with its
//! rows sorted by key. Records are added only to windows they are not late for; the caller routes late
//! records (they still carry their raw bytes there) using [`crate::window::lateness`].

use crate::aggregate::{Accumulator, AggregateSet, AggregateSpec};
use crate::value::{BuildKeyHasher, Key, Value};
use crate::window::{is_late, WindowSpec};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// One emitted window for one key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowRow {
    pub start: i64,
    pub end: i64,
    pub key: Key,
    pub carry: Vec<Value>,
    pub values: Vec<Value>,
}

/// Open windows, by start time, then key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WindowAggregator {
    spec: WindowSpec,
    allowed_lateness_ms: i64,
    aggregates: AggregateSet,
    open: BTreeMap<i64, HashMap<Key, Accumulator, BuildKeyHasher>>,
}

impl WindowAggregator {
    pub fn new(spec: WindowSpec, allowed_lateness_ms: i64, aggregates: Vec<AggregateSpec>) -> Self {
        Self {
            spec,
            allowed_lateness_ms,
            aggregates: AggregateSet::new(aggregates),
            open: BTreeMap::new(),
        }
    }

    /// Adds a record to every window of `ts` it is not late for, given its arrival watermark.
    /// `carry` is cloned only when the record opens a window for its key.
    pub fn add(&mut self, key: &Key, ts: i64, awm: Option<i64>, values: &[Value], carry: &[Value]) {
        let size = self.spec.size_ms();
        for start in self.spec.starts(ts) {
            if is_late(start + size, self.allowed_lateness_ms, awm) {
                continue;
            }
            let by_key = self.open.entry(start).or_default();
            let acc = match by_key.get_mut(key) {
                Some(acc) => acc,
                None => by_key
                    .entry(key.clone())
                    .or_insert_with(|| Accumulator::new(&self.aggregates, carry.to_vec())),
            };
            acc.add(&self.aggregates, ts, values);
        }
    }

    /// The time at which the earliest open window fires (`end + allowed_lateness`), if any is open.
    pub fn next_firing(&self) -> Option<i64> {
        self.open
            .keys()
            .next()
            .map(|s| s + self.spec.size_ms() + self.allowed_lateness_ms)
    }

    /// Emits and forgets every window with `end + allowed_lateness ≤ watermark` (all of them for `None`,
    /// the end of input), in order of start time, rows sorted by key.
    pub fn fire(&mut self, watermark: Option<i64>) -> Vec<WindowRow> {
        let mut rows = Vec::new();
        while let Some(fire_at) = self.next_firing() {
            if watermark.is_some_and(|w| fire_at > w) {
                break;
            }
            let (start, by_key) = self.open.pop_first().expect("a window is open");
            let mut keyed: Vec<_> = by_key.into_iter().collect();
            keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            for (key, acc) in keyed {
                let values = acc.finish(&self.aggregates);
                rows.push(WindowRow {
                    start,
                    end: start + self.spec.size_ms(),
                    key,
                    carry: acc.carry,
                    values,
                });
            }
        }
        rows
    }

    /// Keeps only the keys `keep` accepts (see [`crate::keyed_state`]).
    pub fn retain_keys(&mut self, keep: &dyn Fn(&Key) -> bool) {
        for by_key in self.open.values_mut() {
            by_key.retain(|k, _| keep(k));
        }
        self.open.retain(|_, by_key| !by_key.is_empty());
    }

    /// Adds another state's windows and keys (disjoint from this one's).
    pub fn absorb(&mut self, other: Self) {
        for (start, by_key) in other.open {
            self.open.entry(start).or_default().extend(by_key);
        }
    }

    /// Number of open (window, key) accumulators.
    pub fn open_count(&self) -> usize {
        self.open.values().map(|m| m.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::AggregateFn;
    use crate::value::ValueType;

    fn key(s: &str) -> Key {
        Key::from(vec![Value::Str(s.into())])
    }

    #[test]
    fn emits_each_window_once_when_the_watermark_passes_its_end() {
        let aggs = vec![
            AggregateSpec {
                name: "n".into(),
                func: AggregateFn::Count,
                input: None,
                input_type: None,
            },
            AggregateSpec {
                name: "mx".into(),
                func: AggregateFn::Max("x".into()),
                input: Some(0),
                input_type: Some(ValueType::Float),
            },
        ];
        let mut w = WindowAggregator::new(WindowSpec::Tumbling { size_ms: 100 }, 0, aggs);
        w.add(&key("b"), 10, None, &[Value::Float(1.0)], &[Value::Str("site".into())]);
        w.add(&key("a"), 50, Some(20), &[Value::Float(3.0)], &[]);
        w.add(&key("a"), 120, Some(30), &[Value::Float(2.0)], &[]);
        // late: window [0,100) closed for a record whose arrival watermark is 100
        w.add(&key("a"), 99, Some(100), &[Value::Float(9.0)], &[]);
        assert_eq!(w.next_firing(), Some(100));
        assert!(w.fire(Some(99)).is_empty());
        let rows = w.fire(Some(100));
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].key.clone(), rows[0].start, rows[0].end), (key("a"), 0, 100));
        assert_eq!(rows[0].values, vec![Value::Int(1), Value::Float(3.0)]);
        assert_eq!(rows[1].carry, vec![Value::Str("site".into())]);
        assert!(w.fire(Some(100)).is_empty());
        let rest = w.fire(None);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].start, 100);
        assert_eq!(w.open_count(), 0);
    }

    #[test]
    fn allowed_lateness_keeps_windows_open_longer() {
        let aggs = vec![AggregateSpec {
            name: "n".into(),
            func: AggregateFn::Count,
            input: None,
            input_type: None,
        }];
        let mut w = WindowAggregator::new(
            WindowSpec::Hopping {
                size_ms: 100,
                slide_ms: 50,
            },
            30,
            aggs,
        );
        // ts 60 → windows [0,100) and [50,150); awm 120 → [0,100) still open (100+30 > 120)
        w.add(&key("k"), 60, Some(120), &[], &[]);
        w.add(&key("k"), 60, Some(130), &[], &[]); // late for [0,100) only
        let rows = w.fire(None);
        assert_eq!(
            rows.iter().map(|r| (r.start, r.values[0].clone())).collect::<Vec<_>>(),
            vec![(0, Value::Int(1)), (50, Value::Int(2))]
        );
    }
}
