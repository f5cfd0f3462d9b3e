//! Named counts that operators of one process meet on — e.g. how many join instances are done with a table,
//! which the table's reader waits for before it lets go after a stop. Kinds choose their names; the run
//! only keeps the counts.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a tally counts: a kind's label and an index within it (e.g. `("table uses ended", 2)`).
pub type TallyKey = (&'static str, usize);

/// The run's tallies (per process).
#[derive(Clone, Default)]
pub struct Tallies {
    counts: Arc<Mutex<BTreeMap<TallyKey, usize>>>,
}

impl Tallies {
    /// Counts one more for `key`.
    pub fn add(&self, key: TallyKey) {
        *self.counts.lock().entry(key).or_default() += 1;
    }

    /// How many were counted for `key`.
    pub fn count(&self, key: TallyKey) -> usize {
        self.counts.lock().get(&key).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_kept_per_key_and_shared_by_clones() {
        let t = Tallies::default();
        let other = t.clone();
        t.add(("a", 1));
        other.add(("a", 1));
        t.add(("a", 2));
        assert_eq!((t.count(("a", 1)), t.count(("a", 2)), t.count(("b", 1))), (2, 1, 0));
    }
}
