//! Arrival watermarks: the per-partition event-time clock of DESIGN §2.
//!
//! The arrival watermark of a record is `max(ts of the valid records before it in its partition) −
//! max_out_of_orderness`, or −∞ for the first. It depends only on the partition's contents, never on timing,
//! which is what makes every later decision (lateness, window firing, timers) deterministic.

use serde::{Deserialize, Serialize};

/// An arrival watermark in epoch milliseconds; `None` is −∞ (nothing valid seen yet).
pub type ArrivalWatermark = Option<i64>;

/// The logical time of a record with arrival watermark `awm`: the watermark clamped at 0 (−∞ → 0).
pub fn logical_time(awm: ArrivalWatermark) -> u64 {
    match awm {
        Some(w) if w > 0 => w as u64,
        _ => 0,
    }
}

/// Tracks the running maximum of valid event times in one partition.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WatermarkTracker {
    max_ts: Option<i64>,
    max_out_of_orderness_ms: i64,
}

impl WatermarkTracker {
    pub fn new(max_out_of_orderness_ms: i64) -> Self {
        Self {
            max_ts: None,
            max_out_of_orderness_ms,
        }
    }

    /// Starts from a known maximum (e.g. the prefix of the chunks before this one).
    pub fn with_max(max_out_of_orderness_ms: i64, max_ts: Option<i64>) -> Self {
        Self {
            max_ts,
            max_out_of_orderness_ms,
        }
    }

    /// The arrival watermark of the next record.
    pub fn arrival_watermark(&self) -> ArrivalWatermark {
        self.max_ts.map(|m| m.saturating_sub(self.max_out_of_orderness_ms))
    }

    /// Records a valid record's event time.
    pub fn observe(&mut self, ts: i64) {
        self.max_ts = Some(self.max_ts.map_or(ts, |m| m.max(ts)));
    }

    pub fn max_ts(&self) -> Option<i64> {
        self.max_ts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_watermark_is_running_max_minus_bound() {
        let mut w = WatermarkTracker::new(30_000);
        assert_eq!(w.arrival_watermark(), None);
        assert_eq!(logical_time(w.arrival_watermark()), 0);
        w.observe(100_000);
        assert_eq!(w.arrival_watermark(), Some(70_000));
        w.observe(90_000); // out of order: the max does not move back
        assert_eq!(w.arrival_watermark(), Some(70_000));
        w.observe(130_000);
        assert_eq!(w.arrival_watermark(), Some(100_000));
        assert_eq!(logical_time(Some(-5)), 0);
        assert_eq!(logical_time(Some(5)), 5);
    }
}
