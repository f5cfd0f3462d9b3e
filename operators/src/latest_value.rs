//! Latest value per key, safe against out-of-order records, with event-time expiry.
//!
//! The stored value of a key is the record with the greatest event time; on a tie, the one applied later
//! (records are applied in partition order, so "later in the partition" wins). An older record never
//! overwrites a newer one. A key whose value reached a terminal state (e.g. a delivered order) expires `ttl`
//! of event time after that value; optionally any key expires after `idle_ttl` without a newer value — so the
//! state of an endless stream stays bounded.

use crate::value::Key;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// When keys expire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expiry {
    /// After a terminal value.
    pub ttl_ms: Option<i64>,
    /// After any value, when no newer one arrives.
    pub idle_ttl_ms: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry<V> {
    ts: i64,
    value: V,
    expires_at: Option<i64>,
}

/// The latest value of every live key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LatestValues<V> {
    expiry: Expiry,
    entries: HashMap<Key, Entry<V>>,
    deadlines: BTreeSet<(i64, Key)>,
}

impl<V: Clone> LatestValues<V> {
    pub fn new(expiry: Expiry) -> Self {
        Self {
            expiry,
            entries: HashMap::new(),
            deadlines: BTreeSet::new(),
        }
    }

    /// Applies a record; returns whether the key's value changed (an upsert to publish).
    pub fn apply(&mut self, key: &Key, ts: i64, value: V, terminal: bool) -> bool {
        let ttl = if terminal {
            self.expiry.ttl_ms.or(self.expiry.idle_ttl_ms)
        } else {
            self.expiry.idle_ttl_ms
        };
        let expires_at = ttl.map(|t| ts.saturating_add(t));
        match self.entries.get_mut(key) {
            Some(e) if ts < e.ts => false,
            Some(e) => {
                if let Some(old) = e.expires_at {
                    self.deadlines.remove(&(old, key.clone()));
                }
                *e = Entry { ts, value, expires_at };
                if let Some(at) = expires_at {
                    self.deadlines.insert((at, key.clone()));
                }
                true
            }
            None => {
                self.entries.insert(key.clone(), Entry { ts, value, expires_at });
                if let Some(at) = expires_at {
                    self.deadlines.insert((at, key.clone()));
                }
                true
            }
        }
    }

    /// Removes the keys whose expiry is at or before `watermark`, in `(expiry, key)` order.
    pub fn expire(&mut self, watermark: i64) -> Vec<(i64, Key)> {
        let mut gone = Vec::new();
        while let Some((at, _)) = self.deadlines.first() {
            if *at > watermark {
                break;
            }
            let (at, key) = self.deadlines.pop_first().expect("a deadline");
            self.entries.remove(&key);
            gone.push((at, key));
        }
        gone
    }

    /// Removes `key` if its expiry is at or before `watermark`, giving the expiry.
    pub fn expire_key(&mut self, key: &Key, watermark: i64) -> Option<i64> {
        let at = self.entries.get(key)?.expires_at.filter(|at| *at <= watermark)?;
        self.entries.remove(key);
        self.deadlines.remove(&(at, key.clone()));
        Some(at)
    }

    /// Keeps only the keys `keep` accepts (see [`crate::keyed_state`]).
    pub fn retain_keys(&mut self, keep: &dyn Fn(&Key) -> bool) {
        self.entries.retain(|k, _| keep(k));
        self.deadlines.retain(|(_, k)| keep(k));
    }

    /// Adds another state's keys (disjoint from this one's).
    pub fn absorb(&mut self, other: Self) {
        self.entries.extend(other.entries);
        self.deadlines.extend(other.deadlines);
    }

    /// Every live key and its value.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &V)> {
        self.entries.iter().map(|(k, e)| (k, &e.value))
    }

    pub fn get(&self, key: &Key) -> Option<&V> {
        self.entries.get(key).map(|e| &e.value)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn k(s: &str) -> Key {
        Key::from(vec![Value::Str(s.into())])
    }

    #[test]
    fn keeps_the_newest_value_and_breaks_ties_by_order() {
        let mut v = LatestValues::new(Expiry {
            ttl_ms: None,
            idle_ttl_ms: None,
        });
        assert!(v.apply(&k("o"), 100, "a", false));
        assert!(!v.apply(&k("o"), 90, "older", false));
        assert_eq!(v.get(&k("o")), Some(&"a"));
        assert!(v.apply(&k("o"), 100, "tie, later", false));
        assert_eq!(v.get(&k("o")), Some(&"tie, later"));
        assert!(v.expire(i64::MAX).is_empty(), "no expiry configured");
    }

    #[test]
    fn terminal_values_expire_after_the_ttl_unless_superseded() {
        let mut v = LatestValues::new(Expiry {
            ttl_ms: Some(1_000),
            idle_ttl_ms: Some(10_000),
        });
        v.apply(&k("done"), 100, "delivered", true);
        v.apply(&k("busy"), 100, "en_route", false);
        v.apply(&k("back"), 100, "delivered", true);
        v.apply(&k("back"), 500, "en_route", false); // newer, not terminal: moves to the idle deadline
        assert!(v.expire(1_099).is_empty());
        assert_eq!(v.expire(1_100), vec![(1_100, k("done"))]);
        assert_eq!(v.len(), 2);
        assert_eq!(v.expire(10_500), vec![(10_100, k("busy")), (10_500, k("back"))]);
        assert!(v.is_empty());
    }

    #[test]
    fn one_key_expires_on_its_own() {
        let mut v = LatestValues::new(Expiry {
            ttl_ms: Some(1_000),
            idle_ttl_ms: None,
        });
        v.apply(&k("a"), 100, "delivered", true);
        v.apply(&k("b"), 100, "delivered", true);
        assert_eq!(v.expire_key(&k("a"), 1_099), None);
        assert_eq!(v.expire_key(&k("a"), 1_100), Some(1_100));
        assert_eq!(v.expire_key(&k("a"), 5_000), None, "already gone");
        assert_eq!(v.expire(i64::MAX), vec![(1_100, k("b"))]);
    }
}
