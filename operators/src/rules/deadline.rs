//! `deadline`: per key, the first record matching `start` sets a timer at its event time + `within`; a
//! record matching `done` applied before the timer fires cancels it; otherwise the timer raises the alert
//! (event time = the deadline). A `done` applied after the alert raises the follow-up (`resolved`, event time
//! = the `done` record's). A record matching both applies `start` first.
//!
//! Without `repeat` a key has one deadline in its lifetime: `done` is final (a `start` after it arms
//! nothing), as for a delivery. With `repeat`, `done` ends the current cycle and the next `start` arms a new
//! one, as for a machine's work cycles.

use super::{Newest, RuleAlert, RuleInput, EXPIRE};
use crate::keyed_timers::TimerRequests;
use serde::{Deserialize, Serialize};

const DUE: u8 = 0;

/// The parameters of a deadline rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deadline {
    pub within_ms: i64,
    pub retention_ms: i64,
    pub repeat: bool,
    /// Whether to raise the follow-up (`resolved`).
    pub follow_up: bool,
}

/// What a deadline rule remembers of one key.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DeadlineState {
    newest: Newest,
    /// The armed (or alerted) cycle's start time.
    started_at: Option<i64>,
    done: bool,
    alerted: bool,
}

impl Deadline {
    fn raise(&self, follow_up: bool, event_time: i64, s: &DeadlineState) -> RuleAlert {
        RuleAlert {
            started_at: s.started_at,
            deadline: s.started_at.map(|t| t.saturating_add(self.within_ms)),
            ..s.newest.alert(follow_up, event_time)
        }
    }

    /// Applies one record of a key.
    pub fn apply(&self, s: &mut DeadlineState, r: RuleInput<'_>, timers: &mut TimerRequests, out: &mut Vec<RuleAlert>) {
        if s.newest.expired {
            *s = DeadlineState::default();
        }
        s.newest.observe(r, self.retention_ms, timers);
        if r.opens && s.started_at.is_none() && !s.done {
            s.started_at = Some(r.ts);
            timers.set(DUE, r.ts.saturating_add(self.within_ms));
        }
        if r.closes && !s.done {
            if s.alerted && self.follow_up {
                out.push(self.raise(true, r.ts, s));
            }
            timers.clear(DUE);
            if self.repeat {
                s.started_at = None;
                s.alerted = false;
            } else {
                s.done = true;
            }
        }
    }

    /// Handles the key's timer `tag`, due at `at`.
    pub fn fire(&self, s: &mut DeadlineState, tag: u8, at: i64, timers: &mut TimerRequests, out: &mut Vec<RuleAlert>) {
        match tag {
            DUE if !s.done && !s.alerted => {
                s.alerted = true;
                out.push(self.raise(false, at, s));
            }
            EXPIRE => s.newest.on_expire(at, self.retention_ms, timers),
            _ => {}
        }
    }

    /// Whether the key's state can be forgotten (once it has no timers left).
    pub fn is_finished(&self, s: &DeadlineState) -> bool {
        s.newest.expired
    }
}
