//! Threshold alerts with per-key suppression (DESIGN §4, `vibration_exceeded`).
//!
//! In record order, a value above the limit alerts iff the key has not alerted yet or `ts ≥ t_last +
//! cooldown`, where `t_last` is the event time of the key's most recent alert — so an older, out-of-order
//! reading never re-alerts.

use crate::value::Key;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ThresholdAlerter {
    limit: f64,
    cooldown_ms: i64,
    last_alert: HashMap<Key, i64>,
}

impl ThresholdAlerter {
    pub fn new(limit: f64, cooldown_ms: i64) -> Self {
        Self {
            limit,
            cooldown_ms,
            last_alert: HashMap::new(),
        }
    }

    /// Applies one reading; returns whether it raises an alert.
    pub fn observe(&mut self, key: &Key, ts: i64, value: f64) -> bool {
        if value <= self.limit || value.is_nan() {
            return false;
        }
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
    fn suppresses_within_cooldown_and_ignores_older_readings() {
        let k = Key::from(vec![Value::Str("vib-1".into())]);
        let mut a = ThresholdAlerter::new(25.0, 600_000);
        assert!(!a.observe(&k, 0, 25.0), "the limit itself does not alert");
        assert!(a.observe(&k, 1_000, 30.0));
        assert!(!a.observe(&k, 2_000, 40.0), "within 10 min");
        assert!(!a.observe(&k, 500, 99.0), "older, out-of-order reading");
        assert!(a.observe(&k, 601_000, 26.0), "exactly t_last + 10 min");
        let other = Key::from(vec![Value::Str("vib-2".into())]);
        assert!(a.observe(&other, 601_000, 26.0));
        assert_eq!(a.keys(), 2);
    }
}
