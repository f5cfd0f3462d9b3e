//! How the input ended: each partition's final arrival watermark as its readers let go of it, from which
//! operators that must not treat the end of input as +∞ (view expiry) take a watermark that is a function
//! of the input alone.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;

/// (source, partition) → how it ended.
type FinalWatermarks = BTreeMap<(u32, u32), FinalWatermark>;

/// How one partition ended: the largest final arrival watermark its readers reported (`None`: no valid
/// record), and how many of its readers have reported out of how many there are.
#[derive(Clone, Copy, Debug, Default)]
struct FinalWatermark {
    watermark: Option<i64>,
    reports: usize,
    readers: usize,
}

/// The ends of the run's partitions, as this process learns them.
#[derive(Clone, Default)]
pub struct Progress {
    final_watermarks: Arc<Mutex<FinalWatermarks>>,
}

impl Progress {
    /// Records the arrival watermark after the last record a worker decoded of a partition of `source` (max
    /// valid ts − max_out_of_orderness), sent by each source operator instance as it lets go of the
    /// partition and recorded by one worker per process ([`crate::dataflow::partition_ends`]). Several
    /// instances may report the same partition (files are decoded in parallel): the maximum wins.
    pub fn report_final_watermark(&self, source: u32, partition: u32, watermark: Option<i64>) {
        let mut m = self.final_watermarks.lock();
        let slot = m.entry((source, partition)).or_default();
        slot.reports += 1;
        slot.watermark = match (slot.watermark, watermark) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// Says how many source operator instances read `partition` of `source` (and so report its end): one
    /// per worker for files and generators, one for a Kafka partition. A partition has ended once all have.
    pub fn expect_final_reports(&self, source: u32, partition: u32, readers: usize) {
        self.final_watermarks
            .lock()
            .entry((source, partition))
            .or_default()
            .readers = readers;
    }

    /// The least final arrival watermark of the partitions that have ended so far: `None` while none has,
    /// `Some(None)` once one ended without a valid record. Past it the job watermark moves only because a
    /// partition ended — which depends on when it did — so what must not treat the end of input as +∞ (view
    /// expiry) acts on no later watermark than this.
    pub fn ended_watermark(&self) -> Option<Option<i64>> {
        let m = self.final_watermarks.lock();
        let mut finals = m
            .values()
            .filter(|f| f.reports > 0 && f.reports >= f.readers)
            .map(|f| f.watermark);
        let first = finals.next()?;
        Some(finals.fold(first, |a, b| a.zip(b).map(|(a, b)| a.min(b))))
    }

    /// The job watermark just before the end of input: the minimum over all `sources` and their partitions
    /// of the final arrival watermarks. A function of the input alone, so operators that must not treat the
    /// end of input as +∞ (view expiry) can still act on exactly the same watermark in every run. `None` if a
    /// partition had no valid record or a source has not ended.
    ///
    /// A partition counts once any of its readers reported (not all, as in [`Progress::ended_watermark`]):
    /// this is asked only once every input has ended, when all have.
    pub fn final_watermark(&self, sources: usize) -> Option<i64> {
        let m = self.final_watermarks.lock();
        let mut min: Option<i64> = None;
        for s in 0..sources as u32 {
            let mut any = false;
            for (_, f) in m.range((s, 0)..=(s, u32::MAX)) {
                if f.reports == 0 {
                    return None;
                }
                any = true;
                let w = f.watermark?;
                min = Some(min.map_or(w, |m| m.min(w)));
            }
            if !any {
                return None;
            }
        }
        min
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_ends_once_all_its_readers_reported_and_the_largest_report_wins() {
        let p = Progress::default();
        p.expect_final_reports(0, 0, 2);
        p.expect_final_reports(0, 1, 1);
        assert_eq!(p.ended_watermark(), None);
        p.report_final_watermark(0, 0, Some(50));
        assert_eq!(p.ended_watermark(), None, "one of two readers of (0, 0) reported");
        p.report_final_watermark(0, 1, Some(70));
        assert_eq!(p.ended_watermark(), Some(Some(70)));
        p.report_final_watermark(0, 0, Some(60));
        assert_eq!(p.ended_watermark(), Some(Some(60)));
        assert_eq!(p.final_watermark(1), Some(60));
        assert_eq!(p.final_watermark(2), None, "source 1 has not ended");
    }

    #[test]
    fn a_partition_without_a_valid_record_has_no_final_watermark() {
        let p = Progress::default();
        p.expect_final_reports(0, 0, 1);
        p.report_final_watermark(0, 0, None);
        assert_eq!(p.ended_watermark(), Some(None));
        assert_eq!(p.final_watermark(1), None);
    }
}
