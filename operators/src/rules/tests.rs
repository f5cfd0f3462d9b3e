//! Boundary cases of the keyed rules, in logical time: records applied at hand-placed logical times, timers
//! fired by the keyed-timer rules. Each rule runs as a set of one, as the engine runs it.

use super::*;
use crate::keyed_timers::{Cause, KeyedTimers};
use crate::value::{Key, Value};

const MIN: i64 = 60_000;

/// (logical time, key, ts, opens, closes)
type Step = (i64, &'static str, i64, bool, bool);

/// A record whose copied field is its own event time.
fn rec(ts: i64, opens: bool, closes: bool) -> RuleSetRecord {
    RuleSetRecord {
        ts,
        matched: RuleSetRecord::matches(0, opens, closes),
        skip: 0,
        fields: [Value::Int(ts)].into_iter().collect(),
    }
}

fn alone(rule: impl Into<Rule>) -> RuleSet {
    RuleSet {
        rules: vec![rule.into()],
    }
}

/// Runs the steps, then the end of input; gives (follow-up?, key, event time, fields' ts, cause).
fn run(rule: impl Into<Rule>, steps: &[Step]) -> Vec<(bool, String, i64, i64, Cause)> {
    let set = alone(rule);
    let mut t: KeyedTimers<RuleSetState> = KeyedTimers::default();
    let mut out = Vec::new();
    for (lt, key, ts, opens, closes) in steps {
        let key = Key::from(vec![Value::Str((*key).into())]);
        t.record(&set, &key, *lt, &rec(*ts, *opens, *closes), &mut out);
    }
    t.advance(&set, None, &mut out);
    assert_eq!(t.live_keys(), 0, "every key expires at the end of input");
    out.into_iter()
        .map(|(cause, key, (_, a))| {
            let newest = match a.fields[0] {
                Value::Int(v) => v,
                _ => unreachable!(),
            };
            (a.follow_up, key.display(), a.event_time, newest, cause)
        })
        .collect()
}

fn deadline(repeat: bool) -> Deadline {
    Deadline {
        within_ms: 10 * MIN,
        retention_ms: 60 * MIN,
        repeat,
        follow_up: true,
    }
}

fn absence() -> Absence {
    Absence {
        silence_ms: 5 * MIN,
        retention_ms: 60 * MIN,
        follow_up: true,
    }
}

#[test]
fn a_deadline_fires_before_a_record_at_its_logical_time_and_not_before_one_just_below() {
    // start at 0 → due at 10 min. `done` at logical time (and event time) 10 min − 1 ms is applied first: no
    // alert.
    let on_time = run(
        deadline(false),
        &[(0, "a", 0, true, false), (10 * MIN - 1, "a", 10 * MIN - 1, false, true)],
    );
    assert_eq!(on_time, vec![]);
    // `done` at exactly logical time 10 min: the timer fires first, then `done` resolves.
    let late = run(
        deadline(false),
        &[(0, "a", 0, true, false), (10 * MIN, "a", 11 * MIN, false, true)],
    );
    assert_eq!(
        late,
        vec![
            (false, "a".into(), 10 * MIN, 0, Cause::Timer(10 * MIN)),
            (true, "a".into(), 11 * MIN, 11 * MIN, Cause::Record),
        ]
    );
}

/// DESIGN §2, review B18: a record of the key whose event time is at or past the timer proves the key's clock
/// passed it, whatever its logical time: the timer fires first (caused by that record), then the record.
#[test]
fn the_first_record_after_a_silence_does_not_cancel_the_alert_the_silence_earned() {
    // A lone sensor: pings at 0 and 1 min, then silent until 12 min; its partition's watermark (the logical
    // time of the returning ping) is still 1 min.
    let silent = run(
        absence(),
        &[
            (0, "s", 0, true, false),
            (0, "s", MIN, true, false),
            (MIN, "s", 12 * MIN, true, false),
        ],
    );
    assert_eq!(
        silent,
        vec![
            (false, "s".into(), 6 * MIN, MIN, Cause::Record),
            (true, "s".into(), 12 * MIN, 12 * MIN, Cause::Record),
            (false, "s".into(), 17 * MIN, 12 * MIN, Cause::Timer(17 * MIN)),
        ]
    );
    // A `done` at the deadline's event time but an earlier logical time is late, as at a later logical time.
    let late = run(
        deadline(false),
        &[(0, "a", 0, true, false), (10 * MIN - 1, "a", 10 * MIN, false, true)],
    );
    assert_eq!(
        late,
        vec![
            (false, "a".into(), 10 * MIN, 0, Cause::Record),
            (true, "a".into(), 10 * MIN, 10 * MIN, Cause::Record),
        ]
    );
}

#[test]
fn a_deadline_uses_the_first_start_and_done_is_final_unless_repeating() {
    let steps = [
        (0, "m", 0, true, false),
        (MIN, "m", MIN, true, false), // a second start does not move the deadline
        (2 * MIN, "m", 2 * MIN, false, true),
        (3 * MIN, "m", 3 * MIN, true, false), // after done: a new cycle only with repeat
    ];
    assert_eq!(run(deadline(false), &steps), vec![]);
    assert_eq!(
        run(deadline(true), &steps),
        vec![(false, "m".into(), 13 * MIN, 3 * MIN, Cause::Timer(13 * MIN))]
    );
}

#[test]
fn a_deadline_alert_carries_the_start_and_the_deadline_and_the_newest_fields() {
    let mut t: KeyedTimers<RuleSetState> = KeyedTimers::default();
    let mut out = Vec::new();
    let key = Key::from(vec![Value::Str("o".into())]);
    let logic = alone(deadline(false));
    t.record(&logic, &key, 0, &rec(2 * MIN, true, false), &mut out);
    t.record(&logic, &key, 0, &rec(5 * MIN, false, false), &mut out);
    t.record(&logic, &key, 0, &rec(4 * MIN, false, false), &mut out); // older: not the newest
    t.advance(&logic, Some(12 * MIN), &mut out);
    let a = &out[0].2 .1;
    assert_eq!(
        (a.started_at, a.deadline, a.event_time),
        (Some(2 * MIN), Some(12 * MIN), 12 * MIN)
    );
    assert_eq!(a.fields[0], Value::Int(5 * MIN));
}

#[test]
fn an_older_record_never_moves_an_absence_timer() {
    let got = run(
        absence(),
        &[
            (0, "s", 10 * MIN, true, false),        // silent at 15 min
            (MIN, "s", 9 * MIN, true, false),       // older: the timer stays at 15 min
            (16 * MIN, "s", 20 * MIN, true, false), // after the timer: resumed
        ],
    );
    assert_eq!(
        got,
        vec![
            (false, "s".into(), 15 * MIN, 10 * MIN, Cause::Timer(15 * MIN)),
            (true, "s".into(), 20 * MIN, 20 * MIN, Cause::Record),
            // the watch starts again with the resumed record; at the end of input it fires once more
            (false, "s".into(), 25 * MIN, 20 * MIN, Cause::Timer(25 * MIN)),
        ]
    );
}

#[test]
fn until_applied_before_the_timer_ends_the_watch() {
    // `until` at logical time 15 min − 1 ms: applied before the timer at 15 min, so nothing fires.
    let got = run(
        absence(),
        &[
            (0, "s", 10 * MIN, true, false),
            (15 * MIN - 1, "s", 12 * MIN, false, true),
        ],
    );
    assert_eq!(got, vec![]);
    // at exactly 15 min, the timer fires first.
    let got = run(
        absence(),
        &[(0, "s", 10 * MIN, true, false), (15 * MIN, "s", 12 * MIN, false, true)],
    );
    assert_eq!(
        got,
        vec![(false, "s".into(), 15 * MIN, 10 * MIN, Cause::Timer(15 * MIN))]
    );
}

#[test]
fn retention_forgets_a_key_and_a_later_record_starts_it_afresh() {
    let logic = Deadline {
        within_ms: 10 * MIN,
        retention_ms: 30 * MIN,
        repeat: false,
        follow_up: true,
    };
    // done at 1 min; retention expires at 31 min; a start at logical time 40 min is a fresh key.
    let got = run(
        logic,
        &[
            (0, "k", 0, true, false),
            (MIN, "k", MIN, false, true),
            (40 * MIN, "k", 40 * MIN, true, false),
        ],
    );
    assert_eq!(
        got,
        vec![(false, "k".into(), 50 * MIN, 40 * MIN, Cause::Timer(50 * MIN))]
    );
}

#[test]
fn timers_due_together_fire_in_key_order() {
    let got = run(
        absence(),
        &[
            (0, "b", 0, true, false),
            (0, "c", 0, true, false),
            (0, "a", 0, true, false),
        ],
    );
    let keys: Vec<&str> = got.iter().map(|(_, k, ..)| k.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c"]);
    assert!(got.iter().all(|g| g.2 == 5 * MIN));
}
