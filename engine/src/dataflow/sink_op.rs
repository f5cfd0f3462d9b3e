//! Sink operators: gather a stream on worker 0 and write it in deterministic order.
//!
//! Items are released once the frontier has passed their logical time and written sorted — lines by
//! `(position, rank, input, text)` (input: which of the sink's inputs, in its `inputs` order), Parquet records
//! by `(position, rank, values)` — so output files are byte-identical for any worker count. Records are encoded
//! in parallel on the workers that hold them; only the writing happens on one.
//!
//! A file sink finishes (publishes its output under its final name) only once the whole job has ended — every
//! stream of the job graph, not only its own inputs ([`JobEnd`]) — so a job that fails in an operator the sink
//! does not read still publishes nothing.

use crate::checkpoint::{Contribution, Participant};
use crate::dataflow::dead_letters::dead_letter;
use crate::dataflow::{acting_frontier, frontier_time, participant, snapshot, Line, RunContext, Time};
use crate::record::{Batch, Record, RecordStream, SharedBatch};
use crate::sink::parquet::ParquetRowWriter;
use crate::sink::webhook::{WebhookConfig, WebhookDelivery};
use crate::sink::LineWriter;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Concatenate;
use timely::dataflow::{Scope, Stream};
use weir_operators::Position;

/// A stream without data whose frontier is the least of every stream of the job graph: it ends when the whole
/// job (sources and operators) has ended.
pub type JobEnd<'s> = Stream<'s, Time, Vec<()>>;

/// The [`JobEnd`] of `streams` (every stream built before the sinks, in the same order on every worker).
pub fn job_end<'s>(scope: Scope<'s, Time>, streams: impl IntoIterator<Item = RecordStream<'s>>) -> JobEnd<'s> {
    scope
        .concatenate(streams)
        .unary::<CapacityContainerBuilder<Vec<()>>, _, _, _>(Pipeline, "JobEnd", |_, _| {
            |input, _output| input.for_each_stamp(|_, _| {})
        })
}

/// Sorts `pending` into output order and takes the items whose logical time the frontier has passed (all of
/// them once the input has ended): everything before them has arrived, so the output order is fixed.
fn take_ready<T>(
    pending: &mut Vec<T>,
    frontier: Option<Time>,
    lt: impl Fn(&T) -> Time,
    order: impl FnMut(&T, &T) -> std::cmp::Ordering,
) -> Vec<T> {
    pending.sort_unstable_by(order);
    let cut = frontier.map_or(pending.len(), |t| pending.partition_point(|x| lt(x) < t));
    pending.drain(..cut).collect()
}

/// Whether a sink may keep writing: not after its own failure, nor after a failure anywhere in the job — then
/// its unpublished output is discarded (`abort`), so no partial file appears under a final name.
fn may_write(failed: &mut bool, ctx: &RunContext, abort: impl FnOnce()) -> bool {
    if *failed {
        return false;
    }
    if ctx.error().is_some() {
        abort();
        *failed = true;
        return false;
    }
    true
}

/// What a sink operator needs of its writer besides writing: discarding what it has not published.
trait Discard {
    fn discard(&mut self);
}

impl Discard for Box<dyn LineWriter> {
    fn discard(&mut self) {
        self.abort()
    }
}

impl Discard for ParquetRowWriter {
    fn discard(&mut self) {
        self.abort()
    }
}

/// A sink operator: gathers its input on worker 0 and, there, runs `step` with the writer, the gathered
/// items, the frontier to write up to ([`acting_frontier`]: never past a stop), whether the input has ended,
/// and the checkpoint due (if any), for which it must hand in the writer's part. An
/// instance without a writer hands in empty parts. After a failure anywhere, the writer discards its output.
fn sink_operator<'s, D, W, L>(
    stream: Stream<'s, Time, Vec<D>>,
    job_end: &JobEnd<'s>,
    name: String,
    writer: Option<W>,
    ctx: RunContext,
    mut step: L,
) where
    D: timely::ExchangeData,
    W: Discard + 'static,
    L: FnMut(&mut W, &mut Vec<D>, Option<Time>, bool, Option<(u64, Time)>, &mut Participant) -> std::io::Result<()>
        + 'static,
{
    let scope = stream.scope();
    let mut pending: Vec<D> = Vec::new();
    let mut writer = writer;
    let mut failed = false;
    stream.binary_frontier::<Vec<()>, CapacityContainerBuilder<Vec<()>>, _, _, _, _>(
        job_end.clone(),
        Exchange::new(|_: &D| 0),
        Pipeline,
        &format!("Sink({name})"),
        move |initial, info| {
            drop(initial);
            let mut part = participant(scope, &info, &crate::checkpoint::sink_state_name(&name), &ctx);
            move |(input, frontier), (job, job_frontier), _| {
                input.for_each_stamp(|_, data| {
                    for d in data {
                        pending.append(d);
                    }
                });
                job.for_each_stamp(|_, _| {});
                let raw = frontier_time(frontier);
                let f = acting_frontier(raw, &ctx);
                // Its own input has ended and so has every other stream: nothing can fail the job any more.
                let ended = raw.is_none() && frontier_time(job_frontier).is_none();
                let due = part.due(raw);
                let Some(w) = writer.as_mut() else {
                    if let Some((epoch, _)) = due {
                        part.submit(epoch, Contribution::empty());
                    }
                    return;
                };
                if !may_write(&mut failed, &ctx, || w.discard()) {
                    pending.clear();
                    return;
                }
                if let Err(e) = step(w, &mut pending, f, ended, due, &mut part) {
                    ctx.fail(super::JobFailure::SinkWrite {
                        sink: name.clone(),
                        cause: e.to_string(),
                    });
                    w.discard();
                    failed = true;
                }
            }
        },
    );
}

/// Whether a sink that checkpoints is stopping (SIGTERM): it keeps its output unfinished for the next run.
fn suspending(ctx: &RunContext, part: &Participant, ended: bool) -> bool {
    ended && ctx.aborted() && part.enabled()
}

/// Writes lines; `writer` is `Some` on worker 0 only.
pub fn line_sink<'s>(
    stream: Stream<'s, Time, Vec<Line>>,
    job_end: &JobEnd<'s>,
    name: String,
    writer: Option<Box<dyn LineWriter>>,
    ctx: RunContext,
) {
    let run = ctx.clone();
    let label = name.clone();
    sink_operator(
        stream,
        job_end,
        label,
        writer,
        run,
        move |w, pending, f, ended, due, part| {
            let mut write = |w: &mut Box<dyn LineWriter>, upto: Option<Time>| -> std::io::Result<()> {
                let ready = take_ready(pending, upto, |l| l.pos.lt, Ord::cmp);
                w.write(&ready)?;
                ctx.metrics.records_written(&name, ready.len() as u64);
                Ok(())
            };
            if let Some((epoch, at)) = due {
                write(w, Some(at))?;
                let position = w.checkpoint()?;
                part.submit(epoch, snapshot(&position));
            }
            if suspending(&ctx, part, ended) {
                return w.suspend();
            }
            write(w, f)?;
            if ended {
                w.finish()?;
            }
            Ok(())
        },
    );
}

/// The records of a stream as exchangeable records (for a sink that gathers them on one worker).
pub fn unbatched<'s>(records: RecordStream<'s>) -> Stream<'s, Time, Vec<Record>> {
    use timely::dataflow::channels::pact::Pipeline;
    records.unary(Pipeline, "Unbatch", |_, _| {
        |input, output| {
            input.for_each_stamp(|cap, data| {
                let mut session = output.session(&cap);
                for batch in data.flat_map(|d| d.drain(..)) {
                    match Arc::try_unwrap(batch) {
                        Ok(b) => session.give_iterator(b.records.into_iter()),
                        Err(shared) => session.give_iterator(shared.records.iter().cloned()),
                    }
                }
            });
        }
    })
}

/// Writes records to Parquet; `writer` is `Some` on worker 0 only.
pub fn parquet_sink<'s>(
    stream: Stream<'s, Time, Vec<Record>>,
    job_end: &JobEnd<'s>,
    name: String,
    writer: Option<ParquetRowWriter>,
    ctx: RunContext,
) {
    let run = ctx.clone();
    let label = name.clone();
    sink_operator(
        stream,
        job_end,
        label,
        writer,
        run,
        move |w, pending, f, ended, due, part| {
            let mut write = |w: &mut ParquetRowWriter, upto: Option<Time>| -> std::io::Result<()> {
                let ready = take_ready(pending, upto, Record::lt, Record::order);
                let n = ready.len() as u64;
                w.write(ready)?;
                w.close_ready(upto)?;
                ctx.metrics.records_written(&name, n);
                Ok(())
            };
            if let Some((epoch, at)) = due {
                write(w, Some(at))?;
                let (state, commits) = w.checkpoint();
                part.submit(
                    epoch,
                    Contribution {
                        commits,
                        ..Contribution::of(&state)
                    },
                );
            }
            if suspending(&ctx, part, ended) {
                return Ok(()); // its rows stay in the final checkpoint
            }
            write(w, f)?;
            if ended {
                // Without checkpoints a stopped job publishes the rows it has, partitions complete or not.
                w.close_ready(None)?;
                w.publish_staged()?;
            }
            Ok(())
        },
    );
}

/// POSTs lines to a webhook in deterministic order from delivery threads (the worker never waits on the
/// endpoint); returns the records that could not be delivered, as dead letters (source = the sink's name).
/// `config` is `Some` on worker 0 only.
///
/// **Checkpoints never wait on the endpoint** (review B2). The output capability follows the input frontier,
/// not the oldest unanswered alert, and a checkpoint at `T` holds the alerts below `T` not answered yet as
/// this sink's state: a restored run submits them again first (delivery stays at least once). So every alert
/// below `T` is exactly one of: answered before the cut, a dead letter below `T` in `NAME.failed`, or pending in
/// the checkpoint. A dead letter of an alert below the last cut is stamped at that cut's time (its partition
/// and offset still name the alert's), so it never lands below a cut that holds its alert as pending.
///
/// Alerts still unanswered `stop_grace` after a stop become dead letters.
pub fn webhook_sink<'s>(
    stream: Stream<'s, Time, Vec<Line>>,
    name: String,
    config: Option<WebhookConfig>,
    restored: Vec<Line>,
    ctx: RunContext,
) -> RecordStream<'s> {
    let scope = stream.scope();
    stream.unary_frontier(
        Exchange::new(|_: &Line| 0),
        &format!("Sink({name})"),
        move |initial, info| {
            let mut cap = Some(initial);
            let activator = scope.activator_for(info.address.clone());
            let mut part = participant(scope, &info, &crate::checkpoint::sink_state_name(&name), &ctx);
            let mut delivery = config.and_then(|c| {
                ctx.wake_on_stop(scope.worker().sync_activator_for(info.address.to_vec()));
                let wake = scope.worker().sync_activator_for(info.address.to_vec());
                WebhookDelivery::start(c, wake)
                    .map_err(|e| {
                        ctx.fail(super::JobFailure::SinkWrite {
                            sink: name.clone(),
                            cause: format!("starting the delivery threads: {e}"),
                        })
                    })
                    .ok()
            });
            let mut pending: Vec<Line> = Vec::new();
            // The alerts a checkpoint held as pending go first.
            let mut waiting: VecDeque<Line> = restored.into();
            let mut in_flight: BTreeMap<u64, Line> = BTreeMap::new();
            let mut next_id = 0u64;
            let mut stop_deadline: Option<Instant> = None;
            // The time of the last checkpoint cut: alerts below it that fail are dead letters at it.
            let mut last_cut: Time = 0;
            move |(input, frontier), output| {
                input.for_each_stamp(|_, data| {
                    for d in data {
                        pending.append(d);
                    }
                });
                let raw = frontier_time(frontier);
                let f = acting_frontier(raw, &ctx);
                let Some(c) = cap.as_mut() else { return };
                if let Some((epoch, at)) = part.due(raw) {
                    last_cut = last_cut.max(at);
                    // Every alert below the cut not answered yet, wherever it waits.
                    let unanswered: Vec<Line> = in_flight
                        .values()
                        .chain(waiting.iter())
                        .chain(pending.iter())
                        .filter(|l| l.pos.lt < at)
                        .cloned()
                        .collect();
                    part.submit(epoch, snapshot(&unanswered));
                }
                if let Some(d) = delivery.as_mut() {
                    waiting.extend(take_ready(&mut pending, f, |l| l.pos.lt, Ord::cmp));
                    let mut failed = Vec::new();
                    let mut fail = |line: Line, reason: &str| {
                        ctx.metrics.dead_letter(&name, reason);
                        let pos = Position {
                            lt: line.pos.lt.max(last_cut),
                            ..line.pos
                        };
                        let mut letter = dead_letter(&name, line.pos, line.seq, reason, line.text.as_bytes());
                        letter.pos = pos;
                        failed.push(letter);
                    };
                    for (id, result) in d.answered() {
                        let Some(line) = in_flight.remove(&id) else { continue };
                        match result {
                            Ok(()) => ctx.metrics.records_written(&name, 1),
                            Err(reason) => fail(line, &reason),
                        }
                    }
                    while let Some(line) = waiting.pop_front() {
                        match d.try_submit(next_id, line.text.clone()) {
                            Ok(()) => {
                                in_flight.insert(next_id, line);
                                next_id += 1;
                            }
                            Err(_) => {
                                waiting.push_front(line);
                                break;
                            }
                        }
                    }
                    let unanswered = !(in_flight.is_empty() && waiting.is_empty());
                    if unanswered && (ctx.aborted() || ctx.error().is_some()) {
                        let grace = if ctx.error().is_some() {
                            Duration::ZERO
                        } else {
                            d.stop_grace()
                        };
                        let deadline = *stop_deadline.get_or_insert_with(|| Instant::now() + grace);
                        let now = Instant::now();
                        if now >= deadline {
                            d.give_up();
                            let reason = d.stop_reason();
                            for line in std::mem::take(&mut in_flight).into_values().chain(waiting.drain(..)) {
                                fail(line, &reason);
                            }
                        } else {
                            activator.activate_after(deadline - now);
                        }
                    }
                    if !failed.is_empty() {
                        let batch: SharedBatch = Arc::new(Batch::new(failed, None));
                        output.session(&*c).give(batch);
                    }
                }
                let unanswered = !(in_flight.is_empty() && waiting.is_empty() && pending.is_empty());
                match raw {
                    Some(t) => c.downgrade(&t.max(*c.time())),
                    // The input ended: the capability stays until every alert is answered.
                    None if unanswered => {}
                    None => {
                        cap = None;
                        delivery = None;
                    }
                }
            }
        },
    )
}
