//! Splitting and merging keyed operator state, for restoring a checkpoint at another worker count.
//!
//! Every stateful operator keeps its state per key, and a key lives on exactly one worker (the one its route
//! hash sends it to). A checkpoint holds one state per old worker; on restore each new worker merges all of
//! them ([`KeyedState::absorb`]) and keeps only the keys routed to it ([`KeyedState::retain_keys`]). Keys
//! never occur in two parts, so merging is a disjoint union.

use crate::cooldown::Cooldown;
use crate::keyed_timers::KeyedTimers;
use crate::latest_value::LatestValues;
use crate::value::Key;
use crate::window_aggregator::WindowAggregator;

/// Keyed operator state that can be split by key and merged.
pub trait KeyedState {
    /// Drops every key for which `keep` is false.
    fn retain_keys(&mut self, keep: &dyn Fn(&Key) -> bool);
    /// Adds the keys of `other` (disjoint from this state's).
    fn absorb(&mut self, other: Self);
}

impl KeyedState for WindowAggregator {
    fn retain_keys(&mut self, keep: &dyn Fn(&Key) -> bool) {
        self.retain_keys(keep)
    }
    fn absorb(&mut self, other: Self) {
        self.absorb(other)
    }
}

impl KeyedState for Cooldown {
    fn retain_keys(&mut self, keep: &dyn Fn(&Key) -> bool) {
        self.retain_keys(keep)
    }
    fn absorb(&mut self, other: Self) {
        self.absorb(other)
    }
}

impl<V: Clone> KeyedState for LatestValues<V> {
    fn retain_keys(&mut self, keep: &dyn Fn(&Key) -> bool) {
        self.retain_keys(keep)
    }
    fn absorb(&mut self, other: Self) {
        self.absorb(other)
    }
}

impl<S: Default + Clone + serde::Serialize + serde::de::DeserializeOwned> KeyedState for KeyedTimers<S> {
    fn retain_keys(&mut self, keep: &dyn Fn(&Key) -> bool) {
        self.retain_keys(keep)
    }
    fn absorb(&mut self, other: Self) {
        self.absorb(other)
    }
}

/// Merges the states of all old workers and keeps the keys this worker owns now.
pub fn redistribute<S: KeyedState>(parts: Vec<S>, keep: &dyn Fn(&Key) -> bool) -> Option<S> {
    let mut it = parts.into_iter();
    let mut merged = it.next()?;
    for p in it {
        merged.absorb(p);
    }
    merged.retain_keys(keep);
    Some(merged)
}
