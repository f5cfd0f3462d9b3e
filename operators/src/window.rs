//! Window assignment: which `[start, end)` windows an event time falls in, and when a record is late.
//!
//! Tumbling and hopping windows are aligned to the epoch unless an [`Alignment`] says otherwise: an
//! `offset` (windows start `offset` after the epoch's boundaries: a week `offset = 4d` starts on Monday, the
//! epoch being a Thursday) and a `time_zone` (boundaries in that zone's local time — a day from local
//! midnight to local midnight, 23 or 25 hours long on the days daylight saving starts or ends).

use chrono::{NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Where tumbling and hopping windows start (the default: at multiples of the slide after the epoch, UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Alignment {
    /// Windows start this long after the (local) epoch's boundaries.
    #[serde(default)]
    pub offset_ms: i64,
    /// Boundaries in this zone's local time (IANA name), not UTC.
    #[serde(default)]
    pub zone: Option<Tz>,
}

impl Alignment {
    pub fn is_epoch(&self) -> bool {
        self.offset_ms == 0 && self.zone.is_none()
    }

    /// `ts` as "local milliseconds": its wall-clock time in the zone, minus the offset.
    fn local(&self, ts: i64) -> i64 {
        let zone_ms = match self.zone {
            Some(z) => z.offset_from_utc_datetime(&naive(ts)).fix().local_minus_utc() as i64 * 1000,
            None => 0,
        };
        ts.saturating_add(zone_ms).saturating_sub(self.offset_ms)
    }

    /// The instant of local milliseconds `local`: the earliest one where the wall clock shows it twice
    /// (clocks set back), and the end of the gap where it never shows (clocks set forward).
    fn instant(&self, local: i64) -> i64 {
        let wall = local.saturating_add(self.offset_ms);
        let Some(zone) = self.zone else { return wall };
        let mut probe = naive(wall);
        for _ in 0..=96 {
            if let Some(t) = zone.from_local_datetime(&probe).earliest() {
                // In a gap, the first instant after it.
                return t.timestamp_millis();
            }
            probe += chrono::Duration::minutes(15);
        }
        wall
    }
}

/// Milliseconds since the epoch as a naive UTC date-time (clamped to what chrono represents).
fn naive(ms: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp_millis(ms.clamp(-8_000_000_000_000_000, 8_000_000_000_000_000))
        .unwrap_or_default()
        .naive_utc()
}

/// The shape of an event-time window. (New shapes are new variants at the end: checkpoints hold a window's
/// spec, `bincode`-encoded, so an existing variant never changes.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowSpec {
    /// Fixed-size, non-overlapping windows aligned to the epoch.
    Tumbling { size_ms: i64 },
    /// Fixed-size windows starting every `slide_ms` from the epoch; a record belongs to `size / slide` of them.
    Hopping { size_ms: i64, slide_ms: i64 },
    /// Per key, records less than `gap_ms` apart form one session `[first ts, last ts + gap)`.
    Session { gap_ms: i64 },
    /// Tumbling (`slide_ms == size_ms`) or hopping windows with an offset or in a time zone.
    Aligned {
        size_ms: i64,
        slide_ms: i64,
        align: Alignment,
    },
}

impl WindowSpec {
    /// A tumbling window aligned to the epoch.
    pub fn tumbling(size_ms: i64) -> WindowSpec {
        WindowSpec::Tumbling { size_ms }
    }

    /// A hopping window aligned to the epoch.
    pub fn hopping(size_ms: i64, slide_ms: i64) -> WindowSpec {
        WindowSpec::Hopping { size_ms, slide_ms }
    }

    /// A tumbling or hopping window with `align` (the plain variant when it is the epoch's).
    pub fn aligned(self, align: Alignment) -> WindowSpec {
        match self {
            _ if align.is_epoch() => self,
            WindowSpec::Tumbling { size_ms } => WindowSpec::Aligned {
                size_ms,
                slide_ms: size_ms,
                align,
            },
            WindowSpec::Hopping { size_ms, slide_ms } | WindowSpec::Aligned { size_ms, slide_ms, .. } => {
                WindowSpec::Aligned {
                    size_ms,
                    slide_ms,
                    align,
                }
            }
            WindowSpec::Session { .. } => self,
        }
    }

    /// The window's nominal size (a session's gap: the smallest session a single record opens); a window
    /// in a time zone may be an hour longer or shorter (see [`Self::end_of`]).
    pub fn size_ms(&self) -> i64 {
        match *self {
            WindowSpec::Tumbling { size_ms }
            | WindowSpec::Hopping { size_ms, .. }
            | WindowSpec::Aligned { size_ms, .. } => size_ms,
            WindowSpec::Session { gap_ms } => gap_ms,
        }
    }

    /// The distance between two windows' starts (in local time for a window in a time zone).
    pub fn slide_ms(&self) -> i64 {
        match *self {
            WindowSpec::Tumbling { size_ms } | WindowSpec::Session { gap_ms: size_ms } => size_ms,
            WindowSpec::Hopping { slide_ms, .. } | WindowSpec::Aligned { slide_ms, .. } => slide_ms,
        }
    }

    /// How windows are aligned (the epoch's, but for [`WindowSpec::Aligned`]).
    pub fn alignment(&self) -> Alignment {
        match *self {
            WindowSpec::Aligned { align, .. } => align,
            _ => Alignment::default(),
        }
    }

    /// The end of the window starting at `start`.
    pub fn end_of(&self, start: i64) -> i64 {
        let align = self.alignment();
        if align.is_epoch() {
            return start.saturating_add(self.size_ms());
        }
        align.instant(align.local(start).saturating_add(self.size_ms()))
    }

    /// The start times of the windows containing `ts`, in increasing order (a session: the one it opens,
    /// `ts` itself).
    pub fn starts(&self, ts: i64) -> impl Iterator<Item = i64> {
        let align = self.alignment();
        let local = if align.is_epoch() { ts } else { align.local(ts) };
        let (size, slide) = (self.size_ms(), self.slide_ms());
        let (first, n) = match self {
            WindowSpec::Session { .. } => (ts, 1),
            // A time so close to i64::MIN that its window would start before it has none (the caller
            // dead-letters the record).
            _ => match local.checked_sub(local.rem_euclid(slide)) {
                None => (0, 0),
                Some(last) => {
                    // Smallest aligned start s with s + size > ts, and how many starts from it to `last`:
                    // counted, not divided out (this runs for every record, twice), nor compared after
                    // adding (near i64::MAX the next start would overflow).
                    let (mut first, mut n) = (last, 1);
                    while first.checked_sub(slide).is_some_and(|f| f.saturating_add(size) > local) {
                        first -= slide;
                        n += 1;
                    }
                    (first, n)
                }
            },
        };
        let to_instant = !align.is_epoch() && !matches!(self, WindowSpec::Session { .. });
        (0..n).map(move |i| {
            let start = first + i * slide;
            if to_instant {
                align.instant(start)
            } else {
                start
            }
        })
    }

    /// The latest window start strictly below `limit`.
    pub fn last_start_below(&self, limit: i64) -> i64 {
        let slide = self.slide_ms();
        let align = self.alignment();
        if align.is_epoch() || matches!(self, WindowSpec::Session { .. }) {
            let t = limit.saturating_sub(1);
            return t - t.rem_euclid(slide);
        }
        let t = align.local(limit.saturating_sub(1));
        let start = align.instant(t - t.rem_euclid(slide));
        if start < limit {
            start
        } else {
            align.instant(t - t.rem_euclid(slide) - slide)
        }
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
        let late = is_late(spec.end_of(start), allowed_lateness_ms, awm);
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
        let w = WindowSpec::tumbling(3_600_000);
        assert_eq!(w.starts(3_600_000).collect::<Vec<_>>(), vec![3_600_000]);
        assert_eq!(w.starts(7_199_999).collect::<Vec<_>>(), vec![3_600_000]);
        assert_eq!(w.starts(-1).collect::<Vec<_>>(), vec![-3_600_000]);
        assert_eq!(w.last_start_below(7_200_000), 3_600_000);
    }

    #[test]
    fn hopping_assigns_every_covering_window() {
        let w = WindowSpec::hopping(10, 5);
        assert_eq!(w.starts(12).collect::<Vec<_>>(), vec![5, 10]);
        assert_eq!(w.starts(10).collect::<Vec<_>>(), vec![5, 10]);
        assert_eq!(w.starts(9).collect::<Vec<_>>(), vec![0, 5]);
        let w = WindowSpec::hopping(10, 3);
        // windows [3,13) [6,16) [9,19) [12,22) contain 12
        assert_eq!(w.starts(12).collect::<Vec<_>>(), vec![3, 6, 9, 12]);
    }

    #[test]
    fn extreme_event_times_get_their_windows_without_overflow() {
        let w = WindowSpec::tumbling(3_600_000);
        assert_eq!(w.starts(i64::MAX).count(), 1);
        assert_eq!(w.starts(i64::MIN).count(), 0, "its window would start before i64::MIN");
        let h = WindowSpec::hopping(3_600_000, 600_000);
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

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;

    /// Epoch milliseconds of a UTC time.
    fn utc(y: i32, m: u32, d: u32, h: u32) -> i64 {
        chrono::NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    fn aligned(size_ms: i64, offset_ms: i64, zone: Option<&str>) -> WindowSpec {
        WindowSpec::tumbling(size_ms).aligned(Alignment {
            offset_ms,
            zone: zone.map(|z| z.parse().unwrap()),
        })
    }

    #[test]
    fn an_offset_of_four_days_starts_weeks_on_monday() {
        let week = aligned(7 * DAY, 4 * DAY, None);
        // Wednesday 2026-12-09 12:00 UTC is in the week from Monday 2026-12-07.
        let start = week.starts(utc(2026, 12, 9, 12)).collect::<Vec<_>>();
        assert_eq!(start, vec![utc(2026, 12, 7, 0)]);
        assert_eq!(week.end_of(start[0]), utc(2026, 12, 14, 0));
        // A negative offset is the same alignment from the other side.
        assert_eq!(
            aligned(7 * DAY, -3 * DAY, None).starts(utc(2026, 12, 9, 12)).next(),
            Some(start[0])
        );
    }

    #[test]
    fn days_in_a_time_zone_run_from_local_midnight_and_last_23_or_25_hours_across_daylight_saving() {
        let day = aligned(DAY, 0, Some("Europe/Berlin"));
        // Winter (UTC+1): a day from 23:00 UTC the day before.
        assert_eq!(
            day.starts(utc(2026, 1, 15, 12)).collect::<Vec<_>>(),
            vec![utc(2026, 1, 14, 23)]
        );
        // 2026-03-29: clocks go from 02:00 to 03:00, a 23-hour day.
        let spring = day.starts(utc(2026, 3, 29, 12)).next().unwrap();
        assert_eq!(spring, utc(2026, 3, 28, 23));
        assert_eq!(day.end_of(spring) - spring, 23 * HOUR);
        // 2026-10-25: clocks go from 03:00 back to 02:00, a 25-hour day.
        let autumn = day.starts(utc(2026, 10, 25, 12)).next().unwrap();
        assert_eq!(autumn, utc(2026, 10, 24, 22));
        assert_eq!(day.end_of(autumn) - autumn, 25 * HOUR);
        // Every instant of those days is in exactly its day.
        for ts in (autumn..day.end_of(autumn)).step_by(600_000) {
            assert_eq!(day.starts(ts).collect::<Vec<_>>(), vec![autumn], "{ts}");
        }
        assert_eq!(day.last_start_below(day.end_of(autumn)), autumn);
    }

    #[test]
    fn hours_in_a_half_hour_zone_start_at_half_past_utc() {
        let hour = aligned(HOUR, 0, Some("Asia/Kolkata"));
        assert_eq!(
            hour.starts(utc(2026, 5, 1, 10)).collect::<Vec<_>>(),
            vec![utc(2026, 5, 1, 9) + HOUR / 2]
        );
        let hopping = WindowSpec::hopping(2 * HOUR, HOUR).aligned(Alignment {
            offset_ms: 0,
            zone: Some("Asia/Kolkata".parse().unwrap()),
        });
        let starts = hopping.starts(utc(2026, 5, 1, 10)).collect::<Vec<_>>();
        assert_eq!(
            starts,
            vec![utc(2026, 5, 1, 8) + HOUR / 2, utc(2026, 5, 1, 9) + HOUR / 2]
        );
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
