//! Where a partition resumes: a log of the chunks a source has stamped, and the choice of the one to restart
//! from for a checkpoint at logical time `T`.
//!
//! Every record of a partition before chunk `k` has a logical time at most the first logical time of chunk
//! `k` (logical time never decreases within a partition). So the last chunk whose first logical time is
//! below `T` is a safe restart point: every record at or after `T` is at or after it, and the records of it
//! (and after it) below `T` are recognised by their logical time and dropped on restore.

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a partition's reading restarts, with the prefix state a sequential read would have there.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    /// Byte offset in the file, or Kafka offset.
    pub position: u64,
    /// Lines before `position` (files; line numbers continue from here).
    pub line_base: u64,
    /// The largest valid event time before `position`.
    pub max_before: Option<i64>,
}

/// The chunks of one partition stamped since the last checkpoint, by their key (chunk index for files,
/// first offset for Kafka): their first logical time and resume point.
#[derive(Default)]
pub struct ResumeLog {
    entries: Mutex<BTreeMap<u64, (u64, ResumePoint)>>,
}

impl ResumeLog {
    /// Records that chunk `key` starts at `point` and its first record's logical time is `first_lt`.
    pub fn record(&self, key: u64, first_lt: u64, point: ResumePoint) {
        self.entries.lock().insert(key, (first_lt, point));
    }

    /// The resume point for a checkpoint at `at`, forgetting the chunks before it (later checkpoints are at
    /// later times and restart at or after it). `None` if nothing was logged (restart from the beginning).
    pub fn choose(&self, at: u64) -> Option<ResumePoint> {
        let mut e = self.entries.lock();
        let key = e
            .iter()
            .rev()
            .find(|(_, (lt, _))| *lt < at)
            .or_else(|| e.iter().next())
            .map(|(k, _)| *k)?;
        let point = e[&key].1.clone();
        *e = e.split_off(&key);
        Some(point)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u64) -> ResumePoint {
        ResumePoint {
            position: n,
            line_base: n,
            max_before: Some(n as i64),
        }
    }

    #[test]
    fn restarts_at_the_last_chunk_starting_below_the_cut() {
        let log = ResumeLog::default();
        log.record(0, 0, p(0));
        log.record(1, 10, p(100));
        log.record(2, 10, p(200));
        log.record(3, 25, p(300));
        assert_eq!(log.choose(10), Some(p(0)));
        assert_eq!(log.choose(11), Some(p(200)));
        assert_eq!(log.choose(30), Some(p(300)));
        // pruned: an earlier cut now gets the oldest remaining entry
        assert_eq!(log.choose(5), Some(p(300)));
        assert_eq!(ResumeLog::default().choose(5), None);
    }
}
