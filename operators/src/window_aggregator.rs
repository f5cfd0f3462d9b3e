//! Keyed event-time window aggregation: the state of every open window and the rule for emitting it.
//!
//! A window `[start, end)` is emitted once, when the job watermark reaches `end + allowed_lateness`, with its
//! rows sorted by key. Records are added only to windows they are not late for; the caller routes late
//! records (they still carry their raw bytes there) using [`crate::window::lateness`].

use crate::aggregate::{Accumulator, AggregateSet, AggregateSpec};
use crate::event_order::Position;
use crate::value::{BuildKeyHasher, Key, KeyOf, Value};
use crate::window::{is_late, WindowSpec};
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One emitted window for one key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowRow {
    pub start: i64,
    pub end: i64,
    pub key: Key,
    pub carry: Vec<Value>,
    pub values: Vec<Value>,
}

/// One record as a window aggregator takes it: event time, position (for first/last ties and the carried
/// fields), arrival watermark (lateness), the values the aggregates read (indexed by their `input`) and where
/// the carried fields are (indices into `row`, cloned only when this record's become the window's).
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    pub ts: i64,
    pub pos: Position,
    pub awm: Option<i64>,
    pub values: &'a [Value],
    pub row: &'a [Value],
    pub carry: &'a [usize],
}

impl Record<'_> {
    fn carried(&self) -> Vec<Value> {
        self.carry.iter().map(|i| self.row[*i].clone()).collect()
    }
}

/// One open session of a key: `[start, end)`, `end` = its newest record's ts + gap.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Session {
    start: i64,
    end: i64,
    acc: Accumulator,
}

/// Open windows, by start time, then key; with session windows, open sessions per key and by end.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WindowAggregator {
    spec: WindowSpec,
    allowed_lateness_ms: i64,
    aggregates: AggregateSet,
    open: BTreeMap<i64, HashMap<Key, Accumulator, BuildKeyHasher>>,
    sessions: HashMap<Key, Vec<Session>, BuildKeyHasher>,
    /// `(end, key, start)` of every open session, for firing in order.
    session_ends: BTreeSet<(i64, Key, i64)>,
}

impl WindowAggregator {
    pub fn new(spec: WindowSpec, allowed_lateness_ms: i64, aggregates: Vec<AggregateSpec>) -> Self {
        Self {
            spec,
            allowed_lateness_ms,
            aggregates: AggregateSet::new(aggregates),
            open: BTreeMap::new(),
            sessions: HashMap::default(),
            session_ends: BTreeSet::new(),
        }
    }

    /// Whether the windows are sessions (which must fire interleaved with records: see
    /// [`WindowAggregator::fire`]).
    pub fn is_session(&self) -> bool {
        matches!(self.spec, WindowSpec::Session { .. })
    }

    /// Session windows: adds a record to the key's session it falls in (within `gap` of it), merging the
    /// sessions it joins, or opens one. A record late for its own session `[ts, ts + gap)` is not added.
    fn add_to_session(&mut self, key: &Key, at: Record<'_>) {
        let carry = at.carried();
        let Record {
            ts, pos, awm, values, ..
        } = at;
        let gap = self.spec.size_ms();
        let end = ts.saturating_add(gap);
        if is_late(end, self.allowed_lateness_ms, awm) {
            return;
        }
        let list = self.sessions.entry(key.clone()).or_default();
        // The sessions `[ts, ts + gap)` overlaps, earliest start first.
        let mut joined: Vec<Session> = Vec::new();
        let mut i = 0;
        while i < list.len() {
            if list[i].start < end && ts < list[i].end {
                joined.push(list.swap_remove(i));
            } else {
                i += 1;
            }
        }
        joined.sort_by_key(|s| s.start);
        let mut session = match joined.len() {
            0 => Session {
                start: ts,
                end,
                acc: Accumulator::new(&self.aggregates, carry, pos),
            },
            _ => {
                let mut it = joined.into_iter();
                let mut first = it.next().expect("one session");
                self.session_ends.remove(&(first.end, key.clone(), first.start));
                for later in it {
                    self.session_ends.remove(&(later.end, key.clone(), later.start));
                    first.end = first.end.max(later.end);
                    first.acc.merge(&self.aggregates, later.acc);
                }
                first
            }
        };
        session.start = session.start.min(ts);
        session.end = session.end.max(end);
        session.acc.add(&self.aggregates, ts, pos, values);
        self.session_ends.insert((session.end, key.clone(), session.start));
        list.push(session);
    }

    /// Adds a record to every window of its event time it is not late for, given its arrival watermark.
    /// Its carried fields are cloned only when they become a window's.
    pub fn add(&mut self, key: &Key, record: Record<'_>) {
        self.add_at(KeyOf::of(key), record)
    }

    /// [`WindowAggregator::add`] with a borrowed key (the key is built only for a window's first record).
    pub fn add_at(&mut self, key: KeyOf<'_>, record: Record<'_>) {
        if self.is_session() {
            return self.add_to_session(&key.to_key(), record);
        }
        let Record {
            ts, pos, awm, values, ..
        } = record;
        for start in self.spec.starts(ts) {
            if is_late(self.spec.end_of(start), self.allowed_lateness_ms, awm) {
                continue;
            }
            let by_key = self.open.entry(start).or_default();
            let acc = match by_key.get_mut(&key) {
                Some(acc) => {
                    if pos < acc.carry_at() {
                        acc.set_carry(record.carried(), pos);
                    }
                    acc
                }
                None => by_key
                    .entry(key.to_key())
                    .or_insert_with(|| Accumulator::new(&self.aggregates, record.carried(), pos)),
            };
            acc.add(&self.aggregates, ts, pos, values);
        }
    }

    /// Whether partial states of these windows can be merged in any grouping with the result of adding every
    /// record in position order (tumbling and hopping windows of combinable aggregates): see
    /// [`WindowAggregator::take_partials`].
    pub fn combinable(&self) -> bool {
        !self.is_session() && self.aggregates.combinable()
    }

    /// Removes and returns the accumulators of every window with `end + allowed_lateness ≤ watermark` (all
    /// for `None`), to be merged into another aggregator with [`WindowAggregator::merge_partial`] — the
    /// pre-aggregation on each worker of a [`combinable`](WindowAggregator::combinable) window.
    pub fn take_partials(&mut self, watermark: Option<i64>) -> Vec<(i64, Key, Accumulator)> {
        let mut out = Vec::new();
        while let Some(fire_at) = self.next_firing() {
            if watermark.is_some_and(|w| fire_at > w) {
                break;
            }
            let (start, by_key) = self.open.pop_first().expect("a window is open");
            out.extend(by_key.into_iter().map(|(key, acc)| (start, key, acc)));
        }
        out
    }

    /// Merges a partial accumulator of window `start` for `key` (see [`WindowAggregator::take_partials`]).
    pub fn merge_partial(&mut self, start: i64, key: Key, acc: Accumulator) {
        let by_key = self.open.entry(start).or_default();
        match by_key.get_mut(&key) {
            Some(mine) => mine.merge(&self.aggregates, acc),
            None => {
                by_key.insert(key, acc);
            }
        }
    }

    /// The time at which the earliest open window fires (`end + allowed_lateness`), if any is open.
    pub fn next_firing(&self) -> Option<i64> {
        if self.is_session() {
            return self
                .session_ends
                .first()
                .map(|(end, _, _)| end.saturating_add(self.allowed_lateness_ms));
        }
        self.open
            .keys()
            .next()
            .map(|s| self.spec.end_of(*s).saturating_add(self.allowed_lateness_ms))
    }

    /// Emits and forgets every window with `end + allowed_lateness ≤ watermark` (all of them for `None`,
    /// the end of input), in order of start time, rows sorted by key; sessions in order of end, then key.
    ///
    /// A later record can join a session that is due (its own window is not late), so sessions must fire
    /// like timers: the caller fires `fire(Some(lt))` before applying a record at logical time `lt`.
    pub fn fire(&mut self, watermark: Option<i64>) -> Vec<WindowRow> {
        let mut rows = Vec::new();
        if self.is_session() {
            while let Some((end, _, _)) = self.session_ends.first() {
                if watermark.is_some_and(|w| end.saturating_add(self.allowed_lateness_ms) > w) {
                    break;
                }
                let (end, key, start) = self.session_ends.pop_first().expect("a session is open");
                let list = self.sessions.get_mut(&key).expect("the key has sessions");
                let i = list
                    .iter()
                    .position(|s| s.start == start && s.end == end)
                    .expect("the session");
                let session = list.swap_remove(i);
                if list.is_empty() {
                    self.sessions.remove(&key);
                }
                rows.push(WindowRow {
                    start,
                    end,
                    values: session.acc.finish(&self.aggregates),
                    carry: session.acc.carry,
                    key,
                });
            }
            return rows;
        }
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
                    end: self.spec.end_of(start),
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
        self.sessions.retain(|k, _| keep(k));
        self.session_ends.retain(|(_, k, _)| keep(k));
    }

    /// Adds another state's windows and keys (disjoint from this one's).
    pub fn absorb(&mut self, other: Self) {
        for (start, by_key) in other.open {
            self.open.entry(start).or_default().extend(by_key);
        }
        self.sessions.extend(other.sessions);
        self.session_ends.extend(other.session_ends);
    }

    /// Number of open (window, key) accumulators.
    pub fn open_count(&self) -> usize {
        self.open.values().map(|m| m.len()).sum::<usize>() + self.session_ends.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::AggregateFn;
    use crate::value::ValueType;

    fn rec<'a>(ts: i64, awm: Option<i64>, values: &'a [Value], carry: &'a [Value]) -> Record<'a> {
        const ALL: [usize; 4] = [0, 1, 2, 3];
        Record {
            ts,
            pos: Position::default(),
            awm,
            values,
            row: carry,
            carry: &ALL[..carry.len()],
        }
    }

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
        let mut w = WindowAggregator::new(WindowSpec::tumbling(100), 0, aggs);
        w.add(
            &key("b"),
            rec(10, None, &[Value::Float(1.0)], &[Value::Str("site".into())]),
        );
        w.add(&key("a"), rec(50, Some(20), &[Value::Float(3.0)], &[]));
        w.add(&key("a"), rec(120, Some(30), &[Value::Float(2.0)], &[]));
        // late: window [0,100) closed for a record whose arrival watermark is 100
        w.add(&key("a"), rec(99, Some(100), &[Value::Float(9.0)], &[]));
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
    fn sessions_merge_within_the_gap_and_fire_after_their_last_record() {
        let aggs = vec![
            AggregateSpec {
                name: "n".into(),
                func: AggregateFn::Count,
                input: None,
                input_type: None,
            },
            AggregateSpec {
                name: "sum".into(),
                func: AggregateFn::Sum("x".into()),
                input: Some(0),
                input_type: Some(ValueType::Int),
            },
        ];
        let mut w = WindowAggregator::new(WindowSpec::Session { gap_ms: 10 }, 0, aggs);
        let k = key("k");
        w.add(&k, rec(0, None, &[Value::Int(1)], &[]));
        w.add(&k, rec(25, None, &[Value::Int(10)], &[])); // its own session: 0 + 10 ≤ 25
        w.add(&k, rec(9, None, &[Value::Int(2)], &[])); // joins [0, 10) → [0, 19)
        w.add(&k, rec(17, None, &[Value::Int(4)], &[])); // bridges [0, 19) and [25, 35) → [0, 35)
        assert_eq!(w.open_count(), 1);
        w.add(&key("other"), rec(100, Some(50), &[Value::Int(1)], &[]));
        // late: its own session [5, 15) closed before its arrival watermark 15
        w.add(&key("late"), rec(5, Some(15), &[Value::Int(1)], &[]));
        assert_eq!(w.next_firing(), Some(35));
        assert!(w.fire(Some(34)).is_empty());
        let rows = w.fire(Some(35));
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].start, rows[0].end), (0, 35));
        assert_eq!(rows[0].values, vec![Value::Int(4), Value::Int(17)]);
        let rest = w.fire(None);
        assert_eq!((rest.len(), rest[0].start, rest[0].end), (1, 100, 110));
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
        let mut w = WindowAggregator::new(WindowSpec::hopping(100, 50), 30, aggs);
        // ts 60 → windows [0,100) and [50,150); awm 120 → [0,100) still open (100+30 > 120)
        w.add(&key("k"), rec(60, Some(120), &[], &[]));
        w.add(&key("k"), rec(60, Some(130), &[], &[])); // late for [0,100) only
        let rows = w.fire(None);
        assert_eq!(
            rows.iter().map(|r| (r.start, r.values[0].clone())).collect::<Vec<_>>(),
            vec![(0, Value::Int(1)), (50, Value::Int(2))]
        );
    }
}
