//! How the ends of source partitions reach every process: each source operator sends a record-less batch
//! ([`Batch::end_of_partition`]) as it lets go of a partition; [`partition_ends`] picks those out of every
//! source's stream, broadcasts them to every worker of every process, and one worker per process records
//! them in its [`RunContext`] ([`RunContext::report_final_watermark`]).
//!
//! The stream it returns carries no data, only progress: an operator that reads the recorded ends (the
//! `latest` view's expiry at the end of a bounded input) adds it to its input ([`ends_barrier`]), so its
//! frontier passes the time an end was sent only after that end has been recorded in its process — by then
//! on any process, whichever process read the partition.
//!
//! [`Batch::end_of_partition`]: crate::record::Batch::end_of_partition

use crate::dataflow::{RunContext, Time};
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
    ctx: &RunContext,
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
    let ctx = ctx.clone();
    scope
        .concatenate(ends)
        .broadcast()
        .unary::<CapacityContainerBuilder<Vec<()>>, _, _, _>(Pipeline, "RecordPartitionEnds", move |_, _| {
            move |input, _output| {
                input.for_each_stamp(|_, data| {
                    for (source, partition, watermark) in data.flat_map(|d| d.drain(..)) {
                        if records {
                            ctx.progress.report_final_watermark(source, partition, watermark);
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
