//! Window assignment: which `[start, end)` windows an event time falls in, and when a record is late.

use serde::{Deserialize, Serialize};

/// The shape of an event-time window. Windows are aligned to the epoch (offset 0), like Flink's and Kafka
/// Streams' defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowSpec {
    /// Fixed-size, non-overlapping windows.
    Tumbling { size_ms: i64 },
    /// Fixed-size windows starting every `slide_ms`; a record belongs to `size / slide` of them.
    Hopping { size_ms: i64, slide_ms: i64 },
    /// Per key, records less than `gap_ms` apart form one session `[first ts, last ts + gap)`.
    Session { gap_ms: i64 },
}

impl WindowSpec {
    /// The window's size (a session's gap: the smallest session a single record opens).
    pub fn size_ms(&self) -> i64 {
        match *self {
            WindowSpec::Tumbling { size_ms } | WindowSpec::Hopping { size_ms, .. } => size_ms,
            WindowSpec::Session { gap_ms } => gap_ms,
        }
    }

    fn slide_ms(&self) -> i64 {
        match *self {
            WindowSpec::Tumbling { size_ms } | WindowSpec::Session { gap_ms: size_ms } => size_ms,
            WindowSpec::Hopping { slide_ms, .. } => slide_ms,
        }
    }

    /// The start times of the windows containing `ts`, in increasing order (a session: the one it opens,
    /// `ts` itself).
    pub fn starts(&self, ts: i64) -> impl Iterator<Item = i64> {
        let (size, slide) = (self.size_ms(), self.slide_ms());
        let (first, n) = match self {
            WindowSpec::Session { .. } => (ts, 1),
            // A time so close to i64::MIN that its window would start before it has none (the caller
            // dead-letters the record).
            _ => match ts.checked_sub(ts.rem_euclid(slide)) {
                None => (0, 0),
                Some(last) => {
                    // Smallest aligned start s with s + size > ts, and how many starts from it to `last`:
                    // counted, not divided out (this runs for every record, twice), nor compared after
                    // adding (near i64::MAX the next start would overflow).
                    let (mut first, mut n) = (last, 1);
                    while first.checked_sub(slide).is_some_and(|f| f.saturating_add(size) > ts) {
                        first -= slide;
                        n += 1;
                    }
                    (first, n)
                }
            },
        };
        (0..n).map(move |i| first + i * slide)
    }

    /// The latest window start strictly below `limit`.
    pub fn last_start_below(&self, limit: i64) -> i64 {
        let slide = self.slide_ms();
        let t = limit.saturating_sub(1);
        t - t.rem_euclid(slide)
    }
}

/// Whether a window ending at `end` is already closed for a record whose arrival watermark is `awm`:
/// `end + allowed_lateness ≤ awm` (DESIGN §2).
pub fn is_late(end: i64, allowed_lateness_ms: i64, awm: Option<i64>) -> bool {
    match awm {
        Some(w) => end.saturating_add(allowed_lateness_ms) <= w,
        None => false,
    }
}

/// Which of a record's windows it is late for: `(late for at least one, late for all)`; `(false, true)`
/// means it is in no window at all (an event time no window start can precede).
pub fn lateness(spec: &WindowSpec, allowed_lateness_ms: i64, ts: i64, awm: Option<i64>) -> (bool, bool) {
    let (mut any, mut all) = (false, true);
    for start in spec.starts(ts) {
        let late = is_late(start.saturating_add(spec.size_ms()), allowed_lateness_ms, awm);
        any |= late;
        all &= late;
    }
    (any, all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tumbling_assigns_one_aligned_window() {
        let w = WindowSpec::Tumbling { size_ms: 3_600_000 };
        assert_eq!(w.starts(3_600_000).collect::<Vec<_>>(), vec![3_600_000]);
        assert_eq!(w.starts(7_199_999).collect::<Vec<_>>(), vec![3_600_000]);
        assert_eq!(w.starts(-1).collect::<Vec<_>>(), vec![-3_600_000]);
        assert_eq!(w.last_start_below(7_200_000), 3_600_000);
    }

    #[test]
    fn hopping_assigns_every_covering_window() {
        let w = WindowSpec::Hopping {
            size_ms: 10,
            slide_ms: 5,
        };
        assert_eq!(w.starts(12).collect::<Vec<_>>(), vec![5, 10]);
        assert_eq!(w.starts(10).collect::<Vec<_>>(), vec![5, 10]);
        assert_eq!(w.starts(9).collect::<Vec<_>>(), vec![0, 5]);
        let w = WindowSpec::Hopping {
            size_ms: 10,
            slide_ms: 3,
        };
        // windows [3,13) [6,16) [9,19) [12,22) contain 12
        assert_eq!(w.starts(12).collect::<Vec<_>>(), vec![3, 6, 9, 12]);
    }

    #[test]
    fn extreme_event_times_get_their_windows_without_overflow() {
        let w = WindowSpec::Tumbling { size_ms: 3_600_000 };
        assert_eq!(w.starts(i64::MAX).count(), 1);
        assert_eq!(w.starts(i64::MIN).count(), 0, "its window would start before i64::MIN");
        let h = WindowSpec::Hopping {
            size_ms: 3_600_000,
            slide_ms: 600_000,
        };
        assert_eq!(
            h.starts(i64::MAX).count(),
            1,
            "windows ending past i64::MAX are not representable"
        );
        for ts in [i64::MIN, i64::MIN + 1, i64::MIN + 3_600_000, i64::MAX - 1, -1, 0] {
            for s in h.starts(ts) {
                assert!(s <= ts && s.saturating_add(3_600_000) > ts, "{s} does not hold {ts}");
            }
        }
        assert_eq!(lateness(&h, 0, i64::MAX, None), (false, false));
        assert_eq!(lateness(&h, 0, i64::MAX, Some(i64::MAX)), (true, true));
    }

    #[test]
    fn lateness_is_end_plus_allowed_at_or_below_watermark() {
        assert!(!is_late(100, 0, None));
        assert!(!is_late(100, 0, Some(99)));
        assert!(is_late(100, 0, Some(100)));
        assert!(!is_late(100, 10, Some(105)));
        assert!(is_late(100, 10, Some(110)));
    }
}
