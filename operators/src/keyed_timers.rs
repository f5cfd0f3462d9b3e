//! Keyed event-time processing with timers: per-key state, and timers that fire exactly by DESIGN §2.
//!
//! A timer at `T` fires after every record whose logical time is `< T` and before every record whose logical
//! time is `≥ T` — and before any record of its own key whose event time is `≥ T` (that record proves the key's
//! clock passed `T`: the first record after a silence never cancels the alert the silence earned); timers due
//! together fire in `(T, key, tag)` order. The driver calls [`KeyedTimers::record`]
//! for records in position order and [`KeyedTimers::advance`] when the job watermark moves; everything else —
//! what state to keep, which timers to set, what to emit — is a [`KeyedLogic`]. A timer set for a time that
//! has already passed fires right after the record that set it.
//!
//! Each key has at most one timer per `tag` (setting it again moves it), which is what "reset the silence
//! timer on every newer ping" needs without any bookkeeping in the logic.

use crate::value::{BuildKeyHasher, Key};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::{BTreeSet, HashMap};

/// Timer changes requested by a logic for the key it is handling.
#[derive(Debug, Default)]
pub struct TimerRequests {
    changes: SmallVec<[(u8, Option<i64>); 2]>,
    /// Added to every tag: a logic run as part of a [`crate::rules::RuleSet`] gets its own range of tags.
    base: u8,
}

impl TimerRequests {
    /// Sets (or moves) the key's timer `tag` to fire at event time `at`.
    pub fn set(&mut self, tag: u8, at: i64) {
        self.changes.push((self.base + tag, Some(at)));
    }
    /// Clears the key's timer `tag`.
    pub fn clear(&mut self, tag: u8) {
        self.changes.push((self.base + tag, None));
    }
    /// Runs `f` with the tags it sets offset by `base` (the tags it sees stay its own).
    pub fn offset<R>(&mut self, base: u8, f: impl FnOnce(&mut TimerRequests) -> R) -> R {
        let outer = std::mem::replace(&mut self.base, base);
        let r = f(self);
        self.base = outer;
        r
    }
}

/// The rules of one keyed, timer-driven operator.
pub trait KeyedLogic {
    type State: Default + Clone + Serialize + DeserializeOwned;
    type Record;
    type Output;
    /// Applies one record of the key.
    fn on_record(
        &self,
        key: &Key,
        state: &mut Self::State,
        record: &Self::Record,
        timers: &mut TimerRequests,
        out: &mut Vec<Self::Output>,
    );
    /// Handles the key's timer `tag`, due at `at`.
    fn on_timer(
        &self,
        key: &Key,
        state: &mut Self::State,
        tag: u8,
        at: i64,
        timers: &mut TimerRequests,
        out: &mut Vec<Self::Output>,
    );
    /// Whether the key's state can be forgotten once it has no timers left.
    fn is_finished(&self, state: &Self::State) -> bool;
    /// The record's event time, if it has one: the key's timers due at or before it fire before the record.
    fn event_time(&self, _record: &Self::Record) -> Option<i64> {
        None
    }
}

/// When an output was produced, for ordering it among the operator's other outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// By a timer due at this time, before the next record.
    Timer(i64),
    /// By the record being applied (or a timer it set in the past, right after it).
    Record,
}

/// One key's state and its pending timers `(tag, at)`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Slot<S> {
    state: S,
    timers: SmallVec<[(u8, i64); 3]>,
}

/// The state of every key and the pending timers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyedTimers<S> {
    keys: HashMap<Key, Slot<S>, BuildKeyHasher>,
    /// Pending timers in firing order.
    queue: BTreeSet<(i64, Key, u8)>,
}

impl<S> Default for KeyedTimers<S> {
    fn default() -> Self {
        Self {
            keys: HashMap::default(),
            queue: BTreeSet::new(),
        }
    }
}

impl<S: Default + Clone + Serialize + DeserializeOwned> KeyedTimers<S> {
    /// Applies a record at logical time `lt`: first every timer due at or before `lt`, then the key's own
    /// timers due at or before the record's event time, then the record, then any timer it set at or before
    /// `lt`. The key's own early timers are caused by the record (they stand at its position, before its own
    /// outputs): which of them fire depends only on the key's records, so the order stays deterministic.
    pub fn record<L: KeyedLogic<State = S>>(
        &mut self,
        logic: &L,
        key: &Key,
        lt: i64,
        record: &L::Record,
        out: &mut Vec<(Cause, Key, L::Output)>,
    ) {
        self.fire_until(logic, Some(lt), Cause::Timer, out);
        if let Some(ts) = logic.event_time(record).filter(|ts| *ts > lt) {
            self.fire_key_until(logic, key, ts, out);
        }
        let mut requests = TimerRequests::default();
        let mut emitted = Vec::new();
        let slot = match self.keys.get_mut(key) {
            Some(s) => s,
            None => self.keys.entry(key.clone()).or_default(),
        };
        logic.on_record(key, &mut slot.state, record, &mut requests, &mut emitted);
        out.extend(emitted.into_iter().map(|o| (Cause::Record, key.clone(), o)));
        let forget = Self::apply(&mut self.queue, slot, key, requests, logic);
        if forget {
            self.keys.remove(key);
        }
        self.fire_until(logic, Some(lt), |_| Cause::Record, out);
    }

    /// Fires every timer due at or before `watermark` (all of them for `None`, the end of input).
    pub fn advance<L: KeyedLogic<State = S>>(
        &mut self,
        logic: &L,
        watermark: Option<i64>,
        out: &mut Vec<(Cause, Key, L::Output)>,
    ) {
        self.fire_until(logic, watermark, Cause::Timer, out);
    }

    fn fire_until<L: KeyedLogic<State = S>>(
        &mut self,
        logic: &L,
        until: Option<i64>,
        cause: impl Fn(i64) -> Cause,
        out: &mut Vec<(Cause, Key, L::Output)>,
    ) {
        while let Some((at, _, _)) = self.queue.first() {
            if until.is_some_and(|u| *at > u) {
                break;
            }
            let (at, key, tag) = self.queue.pop_first().expect("a timer is pending");
            let slot = self.keys.entry(key.clone()).or_default();
            slot.timers.retain(|(t, _)| *t != tag);
            let mut requests = TimerRequests::default();
            let mut emitted = Vec::new();
            logic.on_timer(&key, &mut slot.state, tag, at, &mut requests, &mut emitted);
            out.extend(emitted.into_iter().map(|o| (cause(at), key.clone(), o)));
            if Self::apply(&mut self.queue, slot, &key, requests, logic) {
                self.keys.remove(&key);
            }
        }
    }

    /// Fires `key`'s own timers due at or before `until`, in `(at, tag)` order, as caused by its record.
    fn fire_key_until<L: KeyedLogic<State = S>>(
        &mut self,
        logic: &L,
        key: &Key,
        until: i64,
        out: &mut Vec<(Cause, Key, L::Output)>,
    ) {
        loop {
            let Some(slot) = self.keys.get_mut(key) else {
                return;
            };
            let Some((tag, at)) = slot
                .timers
                .iter()
                .filter(|(_, at)| *at <= until)
                .min_by_key(|(tag, at)| (*at, *tag))
                .copied()
            else {
                return;
            };
            slot.timers.retain(|(t, _)| *t != tag);
            self.queue.remove(&(at, key.clone(), tag));
            let mut requests = TimerRequests::default();
            let mut emitted = Vec::new();
            logic.on_timer(key, &mut slot.state, tag, at, &mut requests, &mut emitted);
            out.extend(emitted.into_iter().map(|o| (Cause::Record, key.clone(), o)));
            if Self::apply(&mut self.queue, slot, key, requests, logic) {
                self.keys.remove(key);
            }
        }
    }

    /// Applies a key's timer changes; whether the key is to be forgotten (its state is finished and no timer
    /// is left).
    fn apply<L: KeyedLogic<State = S>>(
        queue: &mut BTreeSet<(i64, Key, u8)>,
        slot: &mut Slot<S>,
        key: &Key,
        requests: TimerRequests,
        logic: &L,
    ) -> bool {
        for (tag, at) in requests.changes {
            if let Some(i) = slot.timers.iter().position(|(t, _)| *t == tag) {
                let (_, old) = slot.timers.remove(i);
                queue.remove(&(old, key.clone(), tag));
            }
            if let Some(at) = at {
                slot.timers.push((tag, at));
                queue.insert((at, key.clone(), tag));
            }
        }
        slot.timers.is_empty() && logic.is_finished(&slot.state)
    }

    /// Keeps only the keys `keep` accepts (see [`crate::keyed_state`]).
    pub fn retain_keys(&mut self, keep: &dyn Fn(&Key) -> bool) {
        self.keys.retain(|k, _| keep(k));
        self.queue.retain(|(_, k, _)| keep(k));
    }

    /// Adds another state's keys and timers (disjoint from this one's).
    pub fn absorb(&mut self, other: Self) {
        self.keys.extend(other.keys);
        self.queue.extend(other.queue);
    }

    /// Keys with live state.
    pub fn live_keys(&self) -> usize {
        self.keys.len()
    }

    /// Pending timers.
    pub fn pending_timers(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    /// Counts records; a timer 10 after each record emits the count; finished after 3 records.
    struct Counter;
    impl KeyedLogic for Counter {
        type State = u32;
        type Record = i64;
        type Output = String;
        fn on_record(&self, _: &Key, s: &mut u32, ts: &i64, timers: &mut TimerRequests, out: &mut Vec<String>) {
            *s += 1;
            out.push(format!("rec {ts}"));
            timers.set(0, ts + 10);
        }
        fn on_timer(&self, key: &Key, s: &mut u32, tag: u8, at: i64, _: &mut TimerRequests, out: &mut Vec<String>) {
            out.push(format!("timer {} {tag} @{at} n={s}", key.display()));
        }
        fn is_finished(&self, s: &u32) -> bool {
            *s >= 3
        }
    }

    fn k(s: &str) -> Key {
        Key::from(vec![Value::Str(s.into())])
    }

    /// [`Counter`] whose records say their event time (DESIGN §2, review B18).
    struct Clocked;
    impl KeyedLogic for Clocked {
        type State = u32;
        type Record = i64;
        type Output = String;
        fn on_record(&self, k: &Key, s: &mut u32, ts: &i64, t: &mut TimerRequests, out: &mut Vec<String>) {
            Counter.on_record(k, s, ts, t, out)
        }
        fn on_timer(&self, k: &Key, s: &mut u32, tag: u8, at: i64, t: &mut TimerRequests, out: &mut Vec<String>) {
            Counter.on_timer(k, s, tag, at, t, out)
        }
        fn is_finished(&self, _: &u32) -> bool {
            false
        }
        fn event_time(&self, ts: &i64) -> Option<i64> {
            Some(*ts)
        }
    }

    /// The first record of a key after a silence comes at the pre-gap watermark, yet its event time is past
    /// the key's timer: the timer fires first (caused by the record), the other key's timer waits for time.
    #[test]
    fn a_record_fires_its_own_keys_timers_due_by_its_event_time_first() {
        let mut t: KeyedTimers<u32> = KeyedTimers::default();
        let mut out = Vec::new();
        t.record(&Clocked, &k("a"), 0, &100, &mut out); // a@110
        t.record(&Clocked, &k("b"), 0, &100, &mut out); // b@110
                                                        // a's record at event time 500 still has logical time 10: a@110 fires before it, b@110 does not.
        t.record(&Clocked, &k("a"), 10, &500, &mut out);
        let texts: Vec<&str> = out.iter().map(|(_, _, s)| s.as_str()).collect();
        assert_eq!(texts, ["rec 100", "rec 100", "timer a 0 @110 n=1", "rec 500"]);
        assert_eq!(out[2].0, Cause::Record);
        assert_eq!(t.pending_timers(), 2, "b@110 and the new a@510");
        // Without an event time (the default), a record only fires timers by logical time.
        let mut plain: KeyedTimers<u32> = KeyedTimers::default();
        let mut out = Vec::new();
        plain.record(&Counter, &k("a"), 0, &100, &mut out);
        plain.record(&Counter, &k("a"), 10, &500, &mut out);
        let texts: Vec<&str> = out.iter().map(|(_, _, s)| s.as_str()).collect();
        assert_eq!(texts, ["rec 100", "rec 500"]);
    }

    #[test]
    fn timers_fire_between_records_by_logical_time() {
        let mut t: KeyedTimers<u32> = KeyedTimers::default();
        let mut out = Vec::new();
        t.record(&Counter, &k("a"), 0, &100, &mut out); // timer a@110
        t.record(&Counter, &k("b"), 5, &105, &mut out); // timer b@115
        t.record(&Counter, &k("a"), 109, &104, &mut out); // moves a's timer to 114
        assert_eq!(t.pending_timers(), 2);
        // a record at logical time 114: a@114 fires before it, b@115 does not
        t.record(&Counter, &k("c"), 114, &200, &mut out);
        let texts: Vec<&str> = out.iter().map(|(_, _, s)| s.as_str()).collect();
        assert_eq!(
            texts,
            ["rec 100", "rec 105", "rec 104", "timer a 0 @114 n=2", "rec 200"]
        );
        assert_eq!(out[3].0, Cause::Timer(114));
        assert_eq!(out[3].1, k("a"));
        out.clear();
        t.advance(&Counter, Some(115), &mut out);
        assert_eq!(
            out.iter().map(|(_, _, s)| s.as_str()).collect::<Vec<_>>(),
            ["timer b 0 @115 n=1"]
        );
        out.clear();
        t.advance(&Counter, None, &mut out);
        assert_eq!(
            out.iter().map(|(_, _, s)| s.as_str()).collect::<Vec<_>>(),
            ["timer c 0 @210 n=1"]
        );
    }

    #[test]
    fn past_timers_fire_right_after_their_record_and_ties_go_by_key() {
        let mut t: KeyedTimers<u32> = KeyedTimers::default();
        let mut out = Vec::new();
        t.record(&Counter, &k("z"), 0, &50, &mut out); // z@60
        t.record(&Counter, &k("y"), 0, &50, &mut out); // y@60
        t.advance(&Counter, Some(60), &mut out);
        let texts: Vec<&str> = out.iter().map(|(_, _, s)| s.as_str()).collect();
        assert_eq!(texts[2..], ["timer y 0 @60 n=1", "timer z 0 @60 n=1"]);
        out.clear();
        // a record at logical time 500 whose own timer (at 40) is already in the past
        t.record(&Counter, &k("x"), 500, &30, &mut out);
        assert_eq!(
            out.iter().map(|(c, _, s)| (*c, s.as_str())).collect::<Vec<_>>(),
            [(Cause::Record, "rec 30"), (Cause::Record, "timer x 0 @40 n=1")]
        );
    }

    #[test]
    fn finished_keys_without_timers_are_forgotten() {
        let mut t: KeyedTimers<u32> = KeyedTimers::default();
        let mut out = Vec::new();
        for (i, ts) in [1, 2, 3].iter().enumerate() {
            t.record(&Counter, &k("a"), i as i64, ts, &mut out);
        }
        assert_eq!(t.live_keys(), 1, "a timer is still pending");
        t.advance(&Counter, None, &mut out);
        assert_eq!(t.live_keys(), 0);
    }
}
