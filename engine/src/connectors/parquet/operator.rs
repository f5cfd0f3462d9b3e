//! The Parquet sink's writers: one per worker, each writing the file groups routed to it.
//!
//! Records are exchanged by file group ([`route`]), so every worker of every process encodes and writes its
//! share of the files; each writer releases records in deterministic order as the frontier passes them and
//! hands its open rows to checkpoints. A Parquet writer publishes its own files (through its checkpoint
//! parts, or itself at the end of input). A Delta table's writers instead tell the table's committer (see
//! `committer`) which files they staged for each checkpoint and at the end, in [`WriterNote`]s on their
//! output; each writer keeps a capability at its input frontier until it has said everything.

use super::writer::{route, ParquetRowWriter, ParquetState, StagedFile};
use crate::checkpoint::{decode, sink_state_name, Contribution};
use crate::dataflow::sink_op::{may_write, suspending, take_ready, JobEnd, SinkFrontier};
use crate::dataflow::{participant, JobFailure, RunContext, Time};
use crate::record::Record;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

/// What a Delta table's writer tells its committer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WriterNote {
    pub worker: usize,
    /// `Some(E)`: the files staged for checkpoint E (possibly none); `None`: the rest, at the end of input.
    pub epoch: Option<u64>,
    pub files: Vec<StagedFile>,
}

/// Writes records to Parquet on every worker; with `delta`, returns the notes for the table's committer
/// (the stream is empty otherwise).
pub fn parquet_writers<'s>(
    stream: Stream<'s, Time, Vec<Record>>,
    job_end: &JobEnd<'s>,
    name: String,
    mut writer: ParquetRowWriter,
    delta: bool,
    ctx: RunContext,
) -> Stream<'s, Time, Vec<WriterNote>> {
    let scope = stream.scope();
    let (worker, peers) = (scope.index(), scope.peers());
    let grouping = writer.grouping();
    let mut pending: Vec<Record> = Vec::new();
    let mut failed = false;
    let mut finished = false;
    stream.binary_frontier::<Vec<()>, CapacityContainerBuilder<Vec<WriterNote>>, _, _, _, _>(
        job_end.clone(),
        Exchange::new(move |r: &Record| route(grouping.group_of(r))),
        Pipeline,
        &format!("ParquetWriters({name})"),
        move |initial, info| {
            let mut cap = Some(initial);
            let mut part = participant(scope, &info, &sink_state_name(&name), &ctx.checkpoints);
            if part.enabled() {
                let mut states = Vec::new();
                for bytes in part.restored_states(peers) {
                    match decode::<ParquetState>(&bytes) {
                        Ok(s) => states.push(s),
                        Err(cause) => ctx.stop.fail(JobFailure::Restore {
                            name: name.clone(),
                            cause,
                        }),
                    }
                }
                writer.two_phase(Some(ParquetState::merged(states, worker, peers)));
            }
            move |(input, frontier), (job, job_frontier), output| {
                input.for_each_stamp(|_, data| {
                    for d in data {
                        pending.append(d);
                    }
                });
                job.for_each_stamp(|_, _| {});
                let SinkFrontier { raw, upto: f, ended } = SinkFrontier::of(frontier, job_frontier, &ctx.stop);
                let due = part.due(raw);
                let mut notes = Vec::new();
                if may_write(&mut failed, &ctx.stop, || writer.abort()) {
                    let mut write = |w: &mut ParquetRowWriter, upto: Option<Time>| -> std::io::Result<()> {
                        let ready = take_ready(&mut pending, upto, Record::lt, Record::order);
                        let n = ready.len() as u64;
                        w.write(ready)?;
                        w.close_ready(upto)?;
                        ctx.metrics.records_written(&name, n);
                        Ok(())
                    };
                    let mut step = || -> std::io::Result<()> {
                        if let Some((epoch, at)) = due {
                            write(&mut writer, Some(at))?;
                            let staged = writer.take_staged();
                            let commits = if delta {
                                notes.push(WriterNote {
                                    worker,
                                    epoch: Some(epoch),
                                    files: staged,
                                });
                                Vec::new()
                            } else {
                                staged.into_iter().map(|f| (f.tmp, f.path)).collect::<Vec<(PathBuf, PathBuf)>>()
                            };
                            part.submit(
                                epoch,
                                Contribution {
                                    commits,
                                    ..Contribution::of(writer.state())
                                },
                            );
                        }
                        if suspending(&ctx.stop, &part, ended) {
                            finished = true;
                            return Ok(()); // its rows stay in the final checkpoint
                        }
                        write(&mut writer, f)?;
                        if ended && !finished {
                            // Without checkpoints a stopped job publishes the rows it has, partitions complete
                            // or not.
                            writer.close_ready(None)?;
                            let staged = writer.take_staged();
                            if delta {
                                notes.push(WriterNote {
                                    worker,
                                    epoch: None,
                                    files: staged,
                                });
                            } else {
                                writer.publish(staged)?;
                            }
                            finished = true;
                        }
                        Ok(())
                    };
                    if let Err(e) = step() {
                        ctx.stop.fail(JobFailure::SinkWrite {
                            sink: name.clone(),
                            cause: e.to_string(),
                        });
                        writer.abort();
                        failed = true;
                        notes.clear();
                    }
                } else {
                    pending.clear();
                }
                if let (false, Some(c)) = (notes.is_empty(), cap.as_ref()) {
                    output.session(c).give_iterator(notes.into_iter());
                }
                match raw {
                    Some(t) => {
                        if let Some(c) = cap.as_mut().filter(|c| *c.time() < t) {
                            c.downgrade(&t);
                        }
                    }
                    None if ended || failed => cap = None,
                    None => {}
                }
            }
        },
    )
}
