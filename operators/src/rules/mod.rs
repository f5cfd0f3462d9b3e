//! Keyed rules over event time: [`Deadline`] ("alert when a started thing is not done within a duration")
//! and [`Absence`] ("alert when a key goes quiet"), each a [`KeyedLogic`](crate::KeyedLogic) run by the
//! timer rules of [`crate::keyed_timers`].
//!
//! A rule sees each record of a key as a [`RuleInput`]: its event time, which of the rule's two predicates
//! it matched (evaluated upstream, where the record was) and the fields its alerts copy. Both rules copy
//! those fields from the key's *newest* record (greatest event time; ties: the later applied) and forget a
//! key `retention` of event time after its newest record — a record arriving after that starts the key
//! afresh — so state stays bounded on an endless stream.
//!
//! Timers that follow the newest record (retention, an absence's silence) are moved lazily: a timer stays
//! where it was set, and when it fires it is set again at the newest record's time + the span if that is
//! later. It fires at exactly the time an eagerly moved timer would, without a timer-queue update per record.
//!
//! Several rules over one stream with one key run together as a [`RuleSet`]: one record per input record,
//! one state per key holding every rule's, each rule exactly as it would run alone.

mod absence;
mod deadline;
mod set;

pub use absence::{Absence, AbsenceState};
pub use deadline::{Deadline, DeadlineState};
pub use set::{Rule, RuleSet, RuleSetRecord, RuleSetState, RuleState, TAGS_PER_RULE};

use crate::keyed_timers::TimerRequests;
use crate::value::{Value, Values};
use serde::{Deserialize, Serialize};

/// The timer tag of retention (rules use tags below it for their own timers).
const EXPIRE: u8 = 7;

/// One record as a rule reads it (the fields of a [`RuleSetRecord`] serve every rule of the set).
#[derive(Clone, Copy, Debug)]
pub struct RuleInput<'a> {
    pub ts: i64,
    pub opens: bool,
    pub closes: bool,
    pub fields: &'a [Value],
}

/// What a rule raised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleAlert {
    /// The rule's alert (`false`) or its follow-up (`resolved`, `resumed`).
    pub follow_up: bool,
    pub event_time: i64,
    /// From the key's newest record.
    pub fields: Values,
    /// A deadline's start time and deadline.
    pub started_at: Option<i64>,
    pub deadline: Option<i64>,
}

/// What every rule keeps of a key: its newest record's fields and whether retention has expired it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Newest {
    ts: Option<i64>,
    fields: Values,
    /// When the retention timer is set for (it may be earlier than `ts + retention`, see the module doc).
    expire_at: Option<i64>,
    expired: bool,
}

impl Newest {
    /// Takes the record's fields if it is the newest so far (or ties with it), moving the retention timer.
    fn observe(&mut self, r: RuleInput<'_>, retention_ms: i64, timers: &mut TimerRequests) {
        if self.ts.is_none_or(|t| r.ts >= t) {
            self.ts = Some(r.ts);
            if self.fields.len() == r.fields.len() {
                self.fields
                    .iter_mut()
                    .zip(r.fields)
                    .for_each(|(to, from)| to.clone_from(from));
            } else {
                self.fields = r.fields.iter().cloned().collect();
            }
            if self.expire_at.is_none() {
                let at = r.ts.saturating_add(retention_ms);
                self.expire_at = Some(at);
                timers.set(EXPIRE, at);
            }
        }
    }

    /// The retention timer fired at `at`: expires the key, or sets the timer again if a newer record came.
    fn on_expire(&mut self, at: i64, retention_ms: i64, timers: &mut TimerRequests) {
        let due = self.ts.map_or(at, |t| t.saturating_add(retention_ms));
        if due > at {
            self.expire_at = Some(due);
            timers.set(EXPIRE, due);
        } else {
            self.expire_at = None;
            self.expired = true;
        }
    }

    /// An alert at `event_time` with the newest fields.
    fn alert(&self, follow_up: bool, event_time: i64) -> RuleAlert {
        RuleAlert {
            follow_up,
            event_time,
            fields: self.fields.clone(),
            started_at: None,
            deadline: None,
        }
    }
}

#[cfg(test)]
mod tests;
