//! The HTTP idempotency keys an ingest log remembers: each key's first answer (and the log end to wait for),
//! for `idempotency_window`, and at most `max_keys` of them — the oldest forgotten first — so the memory they
//! take is bounded whatever the request rate.

use super::frame::Answer;
use std::collections::{HashMap, VecDeque};

/// Keys in the order they were first answered.
pub(super) struct IdempotencyKeys {
    answers: HashMap<String, (Answer, u64)>,
    /// (first answered at, key), oldest first; an entry whose key was answered again later is stale.
    order: VecDeque<(i64, String)>,
    window_ms: i64,
    max_keys: usize,
}

impl IdempotencyKeys {
    pub fn new(window_ms: i64, max_keys: usize) -> Self {
        IdempotencyKeys {
            answers: HashMap::new(),
            order: VecDeque::new(),
            window_ms,
            max_keys: max_keys.max(1),
        }
    }

    /// The first answer to `key` and the log end to wait for, if it came within the window before `now`.
    pub fn get(&self, key: &str, now_ms: i64) -> Option<&(Answer, u64)> {
        self.answers
            .get(key)
            .filter(|(answer, _)| now_ms - answer.at_ms <= self.window_ms)
    }

    /// Remembers `key`'s answer (answered at `answer.at_ms`, which never decreases from one call to the next);
    /// forgets keys past the window, and the oldest beyond `max_keys`.
    pub fn insert(&mut self, key: String, answer: Answer, end: u64) {
        let at = answer.at_ms;
        self.order.push_back((at, key.clone()));
        self.answers.insert(key, (answer, end));
        self.forget(at);
    }

    /// Forgets the keys past the window at `now_ms`, and the oldest while there are more than `max_keys`.
    pub fn forget(&mut self, now_ms: i64) {
        while let Some((at, key)) = self.order.front() {
            let expired = now_ms - at > self.window_ms;
            if !expired && self.answers.len() <= self.max_keys {
                break;
            }
            // Only the entry of the key's latest answer removes it.
            if self.answers.get(key).is_some_and(|(a, _)| a.at_ms == *at) {
                self.answers.remove(key);
            }
            self.order.pop_front();
        }
    }

    /// Every remembered key with its answer.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Answer)> {
        self.answers.iter().map(|(k, (a, _))| (k, a))
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.answers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(at_ms: i64) -> Answer {
        Answer {
            first_offset: at_ms as u64,
            accepted: 1,
            at_ms,
        }
    }

    #[test]
    fn keys_expire_after_the_window_and_the_oldest_go_beyond_the_bound() {
        let mut keys = IdempotencyKeys::new(1_000, 3);
        keys.insert("a".into(), answer(0), 1);
        keys.insert("b".into(), answer(10), 2);
        assert_eq!(keys.get("a", 1_000).map(|(a, _)| a.first_offset), Some(0));
        assert!(keys.get("a", 1_001).is_none(), "past the window");
        keys.insert("c".into(), answer(20), 3);
        keys.insert("d".into(), answer(30), 4);
        assert_eq!(keys.len(), 3, "the oldest goes beyond the bound");
        assert!(keys.get("a", 30).is_none() && keys.get("b", 30).is_some());
        // A key answered again (after its window) is kept by its latest answer, not dropped by its first.
        keys.insert("b".into(), answer(1_500), 5);
        keys.forget(1_500);
        assert_eq!(keys.get("b", 1_500).map(|(_, end)| *end), Some(5));
        assert!(keys.get("c", 1_500).is_none() && keys.get("d", 1_500).is_none());
        assert_eq!(keys.len(), 1);
    }
}
