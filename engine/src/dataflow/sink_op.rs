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
//!
//! Files are written under a temporary name and renamed into place only when complete, so a reader never
//! sees a partial file under its final name — except JSONL files of a job with checkpoints, which are written
//! in place (a streaming job's alerts must be followable) and continued exactly on restore. Each writer says
//! where it stands for a checkpoint ([`LineWriter::checkpoint`], [`SinkPosition`]).

use crate::checkpoint::{Contribution, Participant};
use crate::dataflow::{acting_frontier, frontier_time, participant, snapshot, Line, RunContext, Stopping, Time};
use crate::record::{Record, RecordStream};
use std::io;
use std::sync::Arc;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Concatenate;
use timely::dataflow::{Scope, Stream};

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
pub fn take_ready<T>(
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
pub fn may_write(failed: &mut bool, stop: &Stopping, abort: impl FnOnce()) -> bool {
    if *failed {
        return false;
    }
    if stop.error().is_some() {
        abort();
        *failed = true;
        return false;
    }
    true
}

/// Where a sink stands in one activation, from its input's and the job's frontiers.
pub struct SinkFrontier {
    /// Its input's frontier (`None`: the input ended).
    pub raw: Option<Time>,
    /// The frontier to write up to ([`acting_frontier`]: never past a stop).
    pub upto: Option<Time>,
    /// Its own input has ended and so has every other stream: nothing can fail the job any more.
    pub ended: bool,
}

impl SinkFrontier {
    pub fn of(
        input: &timely::progress::frontier::MutableAntichain<Time>,
        job: &timely::progress::frontier::MutableAntichain<Time>,
        stop: &Stopping,
    ) -> Self {
        let raw = frontier_time(input);
        Self {
            raw,
            upto: acting_frontier(raw, stop),
            ended: raw.is_none() && frontier_time(job).is_none(),
        }
    }
}

/// What a sink operator needs of its writer besides writing: discarding what it has not published.
pub trait Discard {
    fn discard(&mut self);
}

impl Discard for Box<dyn LineWriter> {
    fn discard(&mut self) {
        self.abort()
    }
}

/// A sink operator: gathers its input on worker 0 and, there, runs `step` with the writer, the gathered
/// items, the frontier to write up to ([`acting_frontier`]: never past a stop), whether the input has ended,
/// and the checkpoint due (if any), for which it must hand in the writer's part. An
/// instance without a writer hands in empty parts. After a failure anywhere, the writer discards its output.
pub fn sink_operator<'s, D, W, L>(
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
            let mut part = participant(
                scope,
                &info,
                &crate::checkpoint::sink_state_name(&name),
                &ctx.checkpoints,
            );
            move |(input, frontier), (job, job_frontier), _| {
                input.for_each_stamp(|_, data| {
                    for d in data {
                        pending.append(d);
                    }
                });
                job.for_each_stamp(|_, _| {});
                let SinkFrontier { raw, upto: f, ended } = SinkFrontier::of(frontier, job_frontier, &ctx.stop);
                let due = part.due(raw);
                let Some(w) = writer.as_mut() else {
                    if let Some((epoch, _)) = due {
                        part.submit(epoch, Contribution::empty());
                    }
                    return;
                };
                if !may_write(&mut failed, &ctx.stop, || w.discard()) {
                    pending.clear();
                    return;
                }
                if let Err(e) = step(w, &mut pending, f, ended, due, &mut part) {
                    ctx.stop.fail(super::JobFailure::SinkWrite {
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
pub fn suspending(stop: &Stopping, part: &Participant, ended: bool) -> bool {
    ended && stop.aborted() && part.enabled()
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
            if suspending(&ctx.stop, part, ended) {
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

/// A destination for rendered lines (alerts, dead letters, rows as JSON).
pub trait LineWriter {
    fn write(&mut self, lines: &[Line]) -> io::Result<()>;
    /// Flushes and publishes the output under its final name.
    fn finish(&mut self) -> io::Result<()>;
    /// Discards unpublished output after a failure.
    fn abort(&mut self);
    /// Makes everything written so far durable and returns the position a checkpoint records, from which
    /// a restored run's writer resumes.
    fn checkpoint(&mut self) -> io::Result<SinkPosition> {
        Ok(SinkPosition::None)
    }
    /// The job stopped and will resume from a checkpoint: keep the output unfinished (flushed, not
    /// published under its final name).
    fn suspend(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where a line sink's output stood at a checkpoint.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SinkPosition {
    /// Nothing to resume (stdout).
    #[default]
    None,
    /// Bytes of a file written so far.
    File { bytes: u64 },
    /// Lines sent so far (the next line's sequence number) and, per partition, the next offset after what
    /// was acknowledged: a restored run reads the topic from there to learn what it already sent.
    Kafka {
        seq: u64,
        offsets: std::collections::BTreeMap<i32, i64>,
    },
    /// Rows of the output in a database table (committed, with the count in the same transaction).
    Rows { rows: u64 },
    /// As `Rows`, and the rows after them that a job stopping while its database was unreachable could not
    /// commit (each a JSON row): the restored run commits them first.
    RowsWaiting { rows: u64, waiting: Vec<String> },
}

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::JobFailure;
    use parking_lot::Mutex;
    use timely::dataflow::operators::Input;
    use weir_operators::Position;

    /// What the writer was asked to do, in order.
    #[derive(Clone, Debug, PartialEq)]
    enum Call {
        Write(Vec<String>),
        Finish,
        Abort,
    }

    /// A writer that records its calls.
    struct Recording(Arc<Mutex<Vec<Call>>>);

    impl LineWriter for Recording {
        fn write(&mut self, lines: &[Line]) -> io::Result<()> {
            if !lines.is_empty() {
                self.0
                    .lock()
                    .push(Call::Write(lines.iter().map(|l| l.text.clone()).collect()));
            }
            Ok(())
        }
        fn finish(&mut self) -> io::Result<()> {
            self.0.lock().push(Call::Finish);
            Ok(())
        }
        fn abort(&mut self) {
            self.0.lock().push(Call::Abort);
        }
    }

    fn line(lt: Time, offset: u64, seq: u32) -> Line {
        Line {
            pos: Position {
                lt,
                source: 0,
                partition: 0,
                offset,
            },
            seq,
            input: 0,
            text: format!("{lt}.{offset}.{seq}"),
            meta: None,
        }
    }

    /// Runs a line sink on `workers` workers; worker `w` sends `arrivals[w]` as (timely time, line); with
    /// `fail_at`, the job fails once the sink's input has passed that time. Returns the writer's calls.
    fn run(workers: usize, arrivals: Vec<Vec<(Time, Line)>>, fail_at: Option<Time>) -> Vec<Call> {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (recorded, ctx) = (calls.clone(), RunContext::default());
        timely::execute(timely::Config::process(workers), move |worker| {
            let ctx = ctx.clone();
            let index = worker.index();
            let writer: Option<Box<dyn LineWriter>> =
                (index == 0).then(|| Box::new(Recording(recorded.clone())) as Box<dyn LineWriter>);
            let (mut input, probe) = worker.dataflow::<Time, _, _>(|scope| {
                let (input, lines) = scope.new_input::<Vec<Line>>();
                let (probe, lines) = timely::dataflow::operators::Probe::probe(lines);
                let end = job_end(scope, std::iter::empty());
                line_sink(lines, &end, "out".into(), writer, ctx.clone());
                (input, probe)
            });
            let mut fail_at = fail_at;
            for (t, l) in arrivals.get(index).cloned().unwrap_or_default() {
                if let Some(at) = fail_at.filter(|at| t >= *at) {
                    input.advance_to(at);
                    worker.step_while(|| probe.less_than(&at));
                    ctx.stop.fail(JobFailure::Cluster("failed on purpose".into()));
                    fail_at = None;
                }
                input.advance_to(t);
                input.send(l);
            }
            input.close();
            worker.step_while(|| !probe.done());
            for _ in 0..10 {
                worker.step();
            }
        })
        .expect("timely runs");
        let out = std::mem::take(&mut *calls.lock());
        out
    }

    /// Lines at logical times spread over `workers`, each sent at a timely time at or below its own, out
    /// of order within a worker.
    fn arrivals(workers: usize) -> (Vec<Vec<(Time, Line)>>, Vec<String>) {
        let mut all = Vec::new();
        let mut per: Vec<Vec<(Time, Line)>> = vec![Vec::new(); workers];
        for i in 0..40u64 {
            let lt = (i * 7 % 23) as Time + 1;
            let l = line(lt, i, (i % 3) as u32);
            all.push(l.clone());
            per[(i as usize) % workers].push((lt.saturating_sub(i % 4), l));
        }
        for p in per.iter_mut() {
            p.sort_by_key(|(t, _)| *t);
        }
        all.sort();
        (per, all.into_iter().map(|l| l.text).collect())
    }

    /// Every line written, in the order written.
    fn written(calls: &[Call]) -> Vec<String> {
        calls
            .iter()
            .filter_map(|c| match c {
                Call::Write(l) => Some(l.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn lines_are_written_in_position_order_as_the_frontier_passes_then_finished_once() {
        for workers in [1, 3] {
            let (per, sorted) = arrivals(workers);
            let calls = run(workers, per, None);
            assert_eq!(calls.last(), Some(&Call::Finish), "{workers} workers: {calls:?}");
            let written = written(&calls);
            assert_eq!(written, sorted, "{workers} workers: written in one deterministic order");
            assert_eq!(calls.iter().filter(|c| **c == Call::Finish).count(), 1);
            assert!(!calls.contains(&Call::Abort));
        }
    }

    #[test]
    fn a_failure_anywhere_discards_the_output_and_never_finishes_it() {
        for workers in [1, 3] {
            let (per, sorted) = arrivals(workers);
            let calls = run(workers, per, Some(12));
            assert!(calls.contains(&Call::Abort), "{workers} workers: {calls:?}");
            assert!(!calls.contains(&Call::Finish), "{workers} workers: {calls:?}");
            let written = written(&calls);
            assert!(
                sorted.starts_with(&written) && written.len() < sorted.len(),
                "only a prefix below the failure was written: {written:?}"
            );
        }
    }
}
