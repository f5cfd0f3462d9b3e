//! Per-key alert suppression: in record order, a record whose condition holds alerts iff its key has not
//! alerted yet or `ts ≥ t_last + cooldown`, where `t_last` is the event time of the key's most recent alert —
//! so an older, out-of-order record never re-alerts.

use crate::value::Key;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Cooldown {
    cooldown_ms: i64,
    last_alert: HashMap<Key, i64>,
}

impl Cooldown {
    pub fn new(cooldown_ms: i64) -> Self {
        Self {
            cooldown_ms,
            last_alert: HashMap::new(),
        }
    }

    /// Applies one record whose condition holds; returns whether it raises an alert.
    pub fn admit(&mut self, key: &Key, ts: i64) -> bool {
        match self.last_alert.get_mut(key) {
            Some(last) if ts < last.saturating_add(self.cooldown_ms) => false,
            Some(last) => {
                *last = ts;
                true
            }
            None => {
                self.last_alert.insert(key.clone(), ts);
                true
            }
        }
    }

    /// Keeps only the keys `keep` accepts (see [`crate::keyed_state`]).
    pub fn retain_keys(&mut self, keep: &dyn Fn(&Key) -> bool) {
        self.last_alert.retain(|k, _| keep(k));
    }

    /// Adds another state's keys (disjoint from this one's).
    pub fn absorb(&mut self, other: Self) {
        self.last_alert.extend(other.last_alert);
    }

    pub fn keys(&self) -> usize {
        self.last_alert.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn suppresses_within_cooldown_and_ignores_older_records() {
        let k = Key::from(vec![Value::Str("vib-1".into())]);
        let mut a = Cooldown::new(600_000);
        assert!(a.admit(&k, 1_000));
        assert!(!a.admit(&k, 2_000), "within 10 min");
        assert!(!a.admit(&k, 500), "older, out-of-order record");
        assert!(a.admit(&k, 601_000), "exactly t_last + 10 min");
        let other = Key::from(vec![Value::Str("vib-2".into())]);
        assert!(a.admit(&other, 601_000));
        assert_eq!(a.keys(), 2);
    }
}
