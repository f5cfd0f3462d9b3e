//! Several keyed rules over one stream with one key, run as one [`KeyedLogic`]: a record is routed, ordered
//! and looked up once for all of them, and each rule sees exactly what it would see running alone.
//!
//! A [`RuleSetRecord`] says per rule which predicates the record matched (and whether the rule skips it: a
//! predicate failed on it, so it went to that rule's dead letters) and carries the fields every rule's
//! alerts copy, once. A key's state holds one state per rule; rule `i`'s timers use tags
//! `i · TAGS_PER_RULE + tag`, so the timer order of each rule — `(T, key, tag)` — is its order alone. Outputs
//! are tagged with the rule that raised them.
//!
//! ```
//! use weir_operators::rules::{Rule, RuleSet, RuleSetRecord};
//! use weir_operators::{Absence, Deadline, Key, KeyedTimers, Value};
//! let set = RuleSet {
//!     rules: vec![
//!         Rule::Deadline(Deadline { within_ms: 100, retention_ms: 1000, repeat: false, follow_up: true }),
//!         Rule::Absence(Absence { silence_ms: 50, retention_ms: 1000, follow_up: true }),
//!     ],
//! };
//! let key = Key::from(vec![Value::Str("o-1".into())]);
//! let mut timers = KeyedTimers::default();
//! let mut out = Vec::new();
//! // Opens both rules (bit 0: rule 0 opens, bit 2: rule 1 opens).
//! let first = RuleSetRecord { ts: 0, matched: 0b0101, skip: 0, fields: Default::default() };
//! timers.record(&set, &key, 0, &first, &mut out);
//! timers.advance(&set, Some(100), &mut out);
//! // The absence alert at 50, then the deadline's at 100.
//! let raised: Vec<(u8, i64)> = out.iter().map(|(_, _, (rule, a))| (*rule, a.event_time)).collect();
//! assert_eq!(raised, [(1, 50), (0, 100)]);
//! ```

use super::{Absence, AbsenceState, Deadline, DeadlineState, RuleAlert, RuleInput};
use crate::keyed_timers::{KeyedLogic, TimerRequests};
use crate::value::{Key, Values};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// Timer tags each rule of a set may use (its tags are offset by its index times this).
pub const TAGS_PER_RULE: u8 = 8;

/// One rule of a set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Rule {
    Deadline(Deadline),
    Absence(Absence),
}

/// One rule's state for one key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum RuleState {
    Deadline(DeadlineState),
    Absence(AbsenceState),
}

impl From<Deadline> for Rule {
    fn from(d: Deadline) -> Rule {
        Rule::Deadline(d)
    }
}

impl From<Absence> for Rule {
    fn from(a: Absence) -> Rule {
        Rule::Absence(a)
    }
}

impl Rule {
    fn fresh(&self) -> RuleState {
        match self {
            Rule::Deadline(_) => RuleState::Deadline(DeadlineState::default()),
            Rule::Absence(_) => RuleState::Absence(AbsenceState::default()),
        }
    }

    fn apply(&self, s: &mut RuleState, r: RuleInput<'_>, timers: &mut TimerRequests, out: &mut Vec<RuleAlert>) {
        match (self, s) {
            (Rule::Deadline(d), RuleState::Deadline(s)) => d.apply(s, r, timers, out),
            (Rule::Absence(a), RuleState::Absence(s)) => a.apply(s, r, timers, out),
            _ => unreachable!("a rule's state is of its kind"),
        }
    }

    fn fire(&self, s: &mut RuleState, tag: u8, at: i64, timers: &mut TimerRequests, out: &mut Vec<RuleAlert>) {
        match (self, s) {
            (Rule::Deadline(d), RuleState::Deadline(s)) => d.fire(s, tag, at, timers, out),
            (Rule::Absence(a), RuleState::Absence(s)) => a.fire(s, tag, at, timers, out),
            _ => unreachable!("a rule's state is of its kind"),
        }
    }

    fn is_finished(&self, s: &RuleState) -> bool {
        match (self, s) {
            (Rule::Deadline(d), RuleState::Deadline(s)) => d.is_finished(s),
            (Rule::Absence(a), RuleState::Absence(s)) => a.is_finished(s),
            _ => unreachable!("a rule's state is of its kind"),
        }
    }
}

/// Rules run together over one keyed stream (at most `256 / TAGS_PER_RULE` of them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
}

/// One record as the rules of a set see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleSetRecord {
    pub ts: i64,
    /// Bit `2i`: it matched rule `i`'s first predicate (`start`/`of`); bit `2i + 1`: its second
    /// (`done`/`until`).
    pub matched: u64,
    /// Bit `i`: rule `i` does not see the record (one of its predicates failed on it).
    pub skip: u32,
    /// The fields the rules' alerts copy (every rule's, once).
    pub fields: Values,
}

impl RuleSetRecord {
    /// The bits of `matched` for rule `rule`.
    pub fn matches(rule: usize, opens: bool, closes: bool) -> u64 {
        (opens as u64 | (closes as u64) << 1) << (2 * rule)
    }
}

/// One key's state: each rule's (empty until the key's first record).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RuleSetState(SmallVec<[RuleState; 2]>);

impl RuleSet {
    /// The most rules a set can hold (every rule needs its own range of timer tags).
    pub const MAX_RULES: usize = (u8::MAX / TAGS_PER_RULE) as usize;

    fn states<'s>(&self, s: &'s mut RuleSetState) -> &'s mut [RuleState] {
        if s.0.is_empty() {
            s.0.extend(self.rules.iter().map(Rule::fresh));
        }
        &mut s.0
    }
}

impl KeyedLogic for RuleSet {
    type State = RuleSetState;
    type Record = RuleSetRecord;
    /// The index of the rule that raised it, and the alert.
    type Output = (u8, RuleAlert);

    fn on_record(
        &self,
        _: &Key,
        state: &mut RuleSetState,
        r: &RuleSetRecord,
        timers: &mut TimerRequests,
        out: &mut Vec<(u8, RuleAlert)>,
    ) {
        let mut raised = Vec::new();
        for (i, (rule, s)) in self.rules.iter().zip(self.states(state)).enumerate() {
            if r.skip & (1 << i) != 0 {
                continue;
            }
            let input = RuleInput {
                ts: r.ts,
                opens: r.matched & (1 << (2 * i)) != 0,
                closes: r.matched & (1 << (2 * i + 1)) != 0,
                fields: &r.fields,
            };
            timers.offset(i as u8 * TAGS_PER_RULE, |t| rule.apply(s, input, t, &mut raised));
            out.extend(raised.drain(..).map(|a| (i as u8, a)));
        }
    }

    fn on_timer(
        &self,
        _: &Key,
        state: &mut RuleSetState,
        tag: u8,
        at: i64,
        timers: &mut TimerRequests,
        out: &mut Vec<(u8, RuleAlert)>,
    ) {
        let i = tag / TAGS_PER_RULE;
        let Some(rule) = self.rules.get(i as usize) else { return };
        let s = &mut self.states(state)[i as usize];
        let mut raised = Vec::new();
        timers.offset(i * TAGS_PER_RULE, |t| {
            rule.fire(s, tag % TAGS_PER_RULE, at, t, &mut raised)
        });
        out.extend(raised.into_iter().map(|a| (i, a)));
    }

    /// Forgotten once every rule is done with the key.
    fn is_finished(&self, state: &RuleSetState) -> bool {
        state.0.is_empty() || self.rules.iter().zip(&state.0).all(|(rule, s)| rule.is_finished(s))
    }

    fn event_time(&self, r: &RuleSetRecord) -> Option<i64> {
        Some(r.ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyed_timers::{Cause, KeyedTimers};
    use crate::value::Value;

    const MIN: i64 = 60_000;

    /// (logical time, key, ts, per rule: (opens, closes)).
    type Step = (i64, Key, i64, [(bool, bool); 3]);

    /// A deterministic stream of steps with out-of-order records, gaps and keys coming back after their
    /// retention.
    fn stream() -> Vec<Step> {
        let mut rng = crate::test_rng::Xorshift::new(0x9e37_79b9_7f4a_7c15);
        let mut rand = move |n: u64| rng.below(n);
        let mut out = Vec::new();
        let mut lt = 0i64;
        for _ in 0..4000 {
            lt += rand(40) as i64 * 1000;
            let key = Key::from(vec![Value::Str(format!("k{}", rand(25)).into())]);
            let ts = lt + 30_000 - rand(90) as i64 * 1000;
            let flags = [0, 1, 2].map(|_| (rand(3) == 0, rand(9) == 0));
            out.push((lt, key, ts, flags));
        }
        out
    }

    fn rules() -> Vec<Rule> {
        vec![
            Rule::Deadline(Deadline {
                within_ms: 10 * MIN,
                retention_ms: 30 * MIN,
                repeat: false,
                follow_up: true,
            }),
            Rule::Absence(Absence {
                silence_ms: 3 * MIN,
                retention_ms: 20 * MIN,
                follow_up: true,
            }),
            Rule::Deadline(Deadline {
                within_ms: 2 * MIN,
                retention_ms: 40 * MIN,
                repeat: true,
                follow_up: false,
            }),
        ]
    }

    type Raised = (Cause, Key, RuleAlert);

    /// What `rule` raises in a set of its own.
    fn alone(rule: &Rule, i: usize) -> Vec<Raised> {
        let set = RuleSet {
            rules: vec![rule.clone()],
        };
        let mut t: KeyedTimers<RuleSetState> = KeyedTimers::default();
        let mut out = Vec::new();
        for (lt, key, ts, flags) in stream() {
            let (opens, closes) = flags[i];
            let r = RuleSetRecord {
                ts,
                matched: RuleSetRecord::matches(0, opens, closes),
                skip: 0,
                fields: [Value::Int(ts)].into_iter().collect(),
            };
            t.record(&set, &key, lt, &r, &mut out);
        }
        t.advance(&set, None, &mut out);
        out.into_iter().map(|(c, k, (_, a))| (c, k, a)).collect()
    }

    /// Each rule of a set raises exactly what it raises in a set of its own (its tags offset, its state next
    /// to the others'), in the same order and with the same causes, and the set forgets every key by the end.
    #[test]
    fn each_rule_of_a_set_raises_what_it_raises_alone() {
        let set = RuleSet { rules: rules() };
        let mut t: KeyedTimers<RuleSetState> = KeyedTimers::default();
        let mut out = Vec::new();
        for (lt, key, ts, flags) in stream() {
            let matched = flags
                .iter()
                .enumerate()
                .fold(0, |m, (i, (o, c))| m | RuleSetRecord::matches(i, *o, *c));
            let r = RuleSetRecord {
                ts,
                matched,
                skip: 0,
                fields: [Value::Int(ts)].into_iter().collect(),
            };
            t.record(&set, &key, lt, &r, &mut out);
        }
        t.advance(&set, None, &mut out);
        assert_eq!(t.live_keys(), 0);
        for (i, rule) in rules().iter().enumerate() {
            let together: Vec<Raised> = out
                .iter()
                .filter(|(_, _, (r, _))| *r as usize == i)
                .map(|(c, k, (_, a))| (*c, k.clone(), a.clone()))
                .collect();
            let single = alone(rule, i);
            assert!(single.len() > 20, "rule {i} raises something");
            assert_eq!(together, single, "rule {i}");
        }
    }
}
