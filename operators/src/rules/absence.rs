//! `absence`: per key, a timer at the newest event time of the records matching `of` + `silence` (an older
//! record never moves it); when it fires the alert is raised (event time = the timer's), unless a record
//! matching `until` was applied before — `until` ends the watch for the key. The follow-up (`resumed`) is
//! raised by the next newer matching record after an alert (event time = its own), which also starts the
//! watch again. A record matching both applies `of` first.

use super::{Newest, RuleAlert, RuleInput, EXPIRE};
use crate::keyed_timers::TimerRequests;
use serde::{Deserialize, Serialize};

const SILENT: u8 = 0;

/// The parameters of an absence rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Absence {
    pub silence_ms: i64,
    pub retention_ms: i64,
    /// Whether to raise the follow-up (`resumed`).
    pub follow_up: bool,
}

/// What an absence rule remembers of one key.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AbsenceState {
    newest: Newest,
    /// The newest event time among the records matching `of`.
    latest: Option<i64>,
    /// When the silence timer is set for (it may be earlier than `latest + silence`: it is moved lazily).
    due: Option<i64>,
    silent: bool,
    until: bool,
}

impl Absence {
    /// Applies one record of a key.
    pub fn apply(&self, s: &mut AbsenceState, r: RuleInput<'_>, timers: &mut TimerRequests, out: &mut Vec<RuleAlert>) {
        if s.newest.expired {
            *s = AbsenceState::default();
        }
        s.newest.observe(r, self.retention_ms, timers);
        if r.opens && s.latest.is_none_or(|l| r.ts > l) {
            s.latest = Some(r.ts);
            if s.silent {
                s.silent = false;
                if self.follow_up {
                    out.push(s.newest.alert(true, r.ts));
                }
            }
            if !s.until && s.due.is_none() {
                let at = r.ts.saturating_add(self.silence_ms);
                s.due = Some(at);
                timers.set(SILENT, at);
            }
        }
        if r.closes && !s.until {
            s.until = true;
            s.due = None;
            timers.clear(SILENT);
        }
    }

    /// Handles the key's timer `tag`, due at `at`.
    pub fn fire(&self, s: &mut AbsenceState, tag: u8, at: i64, timers: &mut TimerRequests, out: &mut Vec<RuleAlert>) {
        match tag {
            SILENT => {
                s.due = None;
                let due = s.latest.map_or(at, |l| l.saturating_add(self.silence_ms));
                if due > at {
                    s.due = Some(due);
                    timers.set(SILENT, due);
                } else if !s.until && !s.silent {
                    s.silent = true;
                    out.push(s.newest.alert(false, at));
                }
            }
            EXPIRE => s.newest.on_expire(at, self.retention_ms, timers),
            _ => {}
        }
    }

    /// Whether the key's state can be forgotten (once it has no timers left).
    pub fn is_finished(&self, s: &AbsenceState) -> bool {
        s.newest.expired
    }
}
