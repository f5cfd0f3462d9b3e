//! How the ends of source partitions reach every process: each source operator sends a record-less batch
//! ([`Batch::end_of_partition`]) as it lets go of a partition; [`partition_ends`] picks those out of every
//! source's stream, broadcasts them to every worker of every process, and one worker per process records
//! them in its [`Progress`] ([`Progress::report_final_watermark`]).
//!
//! The stream it returns carries no data, only progress: an operator that reads the recorded ends (the
//! `latest` view's expiry at the end of a bounded input) adds it to its input ([`ends_barrier`]), so its
//! frontier passes the time an end was sent only after that end has been recorded in its process — by then
//! on any process, whichever process read the partition.
//!
//! [`Batch::end_of_partition`]: crate::record::Batch::end_of_partition

use crate::dataflow::{Progress, Time};
use crate::record::{PartitionEnd, RecordStream};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::Concatenate;
use timely::dataflow::{Scope, Stream};

/// A stream with no data whose frontier follows the recording of partition ends.
pub type EndsStream<'s> = Stream<'s, Time, Vec<()>>;

/// Broadcasts the partition ends of `sources` and records them on this worker when `records` (one worker
/// per process does).
pub fn partition_ends<'s>(
    scope: Scope<'s, Time>,
    sources: &[RecordStream<'s>],
    records: bool,
    progress: &Progress,
) -> EndsStream<'s> {
    let ends: Vec<Stream<'s, Time, Vec<PartitionEnd>>> = sources
        .iter()
        .map(|s| {
            s.clone().unary(Pipeline, "PartitionEnds", |_, _| {
                move |input, output| {
                    input.for_each_stamp(|cap, data| {
                        let mut session = output.session(&cap);
                        for batch in data.flat_map(|d| d.iter()) {
                            if let Some(end) = batch.ended {
                                session.give(end);
                            }
                        }
                    });
                }
            })
        })
        .collect();
    let progress = progress.clone();
    scope
        .concatenate(ends)
        .broadcast()
        .unary::<CapacityContainerBuilder<Vec<()>>, _, _, _>(Pipeline, "RecordPartitionEnds", move |_, _| {
            move |input, _output| {
                input.for_each_stamp(|_, data| {
                    for (source, partition, watermark) in data.flat_map(|d| d.drain(..)) {
                        if records {
                            progress.report_final_watermark(source, partition, watermark);
                        }
                    }
                });
            }
        })
}

/// `ends` as an empty stream of `D`, to concatenate with an operator's input.
pub fn ends_barrier<'s, D: Clone + 'static>(ends: &EndsStream<'s>) -> Stream<'s, Time, Vec<D>> {
    ends.clone()
        .unary::<CapacityContainerBuilder<Vec<D>>, _, _, _>(Pipeline, "EndsBarrier", |_, _| {
            |input, _output| input.for_each_stamp(|_, _| {})
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Batch, SharedBatch};
    use std::sync::Arc;
    use timely::dataflow::operators::{Input, Probe};

    /// Partition `w`'s final watermark: later partitions end lower, so the least ended watermark tells
    /// which partitions have ended.
    fn final_of(w: usize) -> i64 {
        1000 - w as i64
    }

    /// Each of `workers` workers ends partition `w` of source 0 at timely time `10 (w + 1)`; an operator
    /// behind the barrier checks, at every frontier it sees, that every end sent before it is recorded.
    fn run(workers: usize) -> Progress {
        let progress = Progress::default();
        for w in 0..workers {
            progress.expect_final_reports(0, w as u32, 1);
        }
        let shared = progress.clone();
        timely::execute(timely::Config::process(workers), move |worker| {
            let progress = shared.clone();
            let index = worker.index();
            let (mut input, probe) = worker.dataflow::<Time, _, _>(|scope| {
                let (input, batches) = scope.new_input::<Vec<SharedBatch>>();
                let ends = partition_ends(scope, &[batches], index == 0, &progress);
                let checked = progress.clone();
                let barrier: Stream<'_, Time, Vec<u8>> = ends_barrier(&ends);
                let watched = barrier.unary_frontier::<CapacityContainerBuilder<Vec<u8>>, _, _, _>(
                    Pipeline,
                    "Watch",
                    move |_, _| {
                        move |(input, frontier), _| {
                            input.for_each_stamp(|_, _| {});
                            let f = frontier.frontier().iter().min().copied().unwrap_or(Time::MAX);
                            // The last partition whose end was sent before `f`.
                            let Some(last) = (0..workers).rev().find(|w| 10 * (*w as Time + 1) < f) else {
                                return;
                            };
                            match checked.ended_watermark() {
                                Some(Some(x)) => assert!(x <= final_of(last), "frontier {f} ran ahead: {x}"),
                                other => panic!("frontier {f} passed partition {last}'s end, recorded {other:?}"),
                            }
                        }
                    },
                );
                (input, watched.probe().0)
            });
            let at = 10 * (index as Time + 1);
            input.advance_to(at);
            input.send(Arc::new(Batch::end_of_partition((
                0,
                index as u32,
                Some(final_of(index)),
            ))));
            input.close();
            worker.step_while(|| !probe.done());
        })
        .expect("timely runs");
        progress
    }

    #[test]
    fn an_end_is_recorded_before_the_barrier_passes_its_time_once_per_process() {
        for workers in [1, 3] {
            let progress = run(workers);
            assert_eq!(
                progress.final_watermark(1),
                Some(final_of(workers - 1)),
                "{workers} workers"
            );
            assert_eq!(progress.ended_watermark(), Some(Some(final_of(workers - 1))));
        }
    }
}
