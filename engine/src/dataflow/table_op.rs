//! A reference table inside the dataflow: a reader thread that polls the table, and an operator that turns
//! each read into differential updates of the table's `(key, row)` collection at their version times,
//! arranged by key for `join` to look up.
//!
//! The operator runs on every worker but only worker 0's instance reads (one file read, one database
//! connection, one Kafka consumer per job); its updates are broadcast, so every worker arranges the whole
//! table and joins look records up where they are (no exchange of the stream). Its
//! capability is the table's `known_until` watermark, so the arrangement's frontier says how far the table
//! is known. It lets go once the job's sources have ended on every process (it reads their streams for
//! their frontier only) and the table has been read completely at least once (the last read is then final:
//! records still waiting are looked up in it), or when the job fails. After a stop it also waits for this
//! process's joins to have looked up every record below the stop's watermark (the stop's final checkpoint
//! holds their results; with several processes a stop takes no final checkpoint).
//!
//! The table's history ([`TableHistory`]) is worker 0's checkpoint part; a restored run rebuilds the
//! collection from it before reading again, so a restore looks records up in the versions the crashed run
//! had read.

use crate::checkpoint::Contribution;
use crate::checkpoint::Participant;
use crate::dataflow::dead_letters::dead_letter;
use crate::dataflow::{participant, Gauges, JobFailure, RunContext, Stopping, Tallies, Time};
use crate::metrics::Metrics;
use crate::record::SharedBatch;
use crate::record::{Batch, RecordStream};
use crate::report::RateLimitedReport;
use crate::table::kind::{TablePlan, TableReader};
use crate::table::{Applied, TableHistory, TableRow, TableUpdate};
use differential_dataflow::operators::arrange::arrangement::arrange_core;
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::{ValBatcher, ValSpine};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::Concatenate;
use timely::dataflow::Scope;
use weir_operators::{Key, Position};

/// The arranged table: key → row, at version times.
pub type TableTrace = TraceAgent<ValSpine<Key, TableRow, Time, isize>>;

/// A table as joins read it on one worker.
#[derive(Clone)]
pub struct BuiltTable<'s> {
    pub arranged: Arranged<'s, TableTrace>,
    /// Rows the table could not read (`NAME.dead_letters`).
    pub dead_letters: RecordStream<'s>,
    /// What the table's history holds (worker 0's; for `GET /v1/tables/...`).
    pub history: Arc<Mutex<TableHistory>>,
}

/// `Position::source` of a table's dead letters: after every source's.
pub fn table_position_source(index: usize) -> u32 {
    u32::MAX - index as u32
}

/// How often the operator looks at its reader and at the joins that read it, at the least.
const CHECK_EVERY: Duration = Duration::from_millis(50);

/// The tally of table `table`'s join instances (of this process) that are done with it: each adds one when
/// its stream has ended, and after a stop the table's reader lets go once all have.
pub fn uses_ended(table: usize) -> crate::dataflow::context::TallyKey {
    ("table uses ended", table)
}

/// Builds table `index` on this worker, reading the frontier of `sources` (the job's source streams); after
/// a stop, `users` join instances of this process (joins reading it × workers) report their end through
/// [`uses_ended`].
pub fn table<'s>(
    scope: Scope<'s, Time>,
    plan: &TablePlan,
    index: usize,
    sources: &[RecordStream<'s>],
    users: usize,
    ctx: &RunContext,
) -> BuiltTable<'s> {
    let worker = scope.worker().index();
    let history = Arc::new(Mutex::new(TableHistory::new(&plan.key, plan.version)));
    let mut builder = OperatorBuilder::new(format!("Table({})", plan.name), scope);
    let info = builder.operator_info();
    let (updates_out, updates) = builder.new_output::<Vec<TableUpdate>>();
    let (dead_out, dead) = builder.new_output::<Vec<crate::record::SharedBatch>>();
    let mut updates_out = OutputBuilder::from(updates_out);
    let mut dead_out = OutputBuilder::from(dead_out);
    // Watched for its frontier only: connected to no output, so the table never waits for the sources.
    let mut ended =
        builder.new_input_connection(scope.concatenate(sources.iter().cloned()), Pipeline, std::iter::empty());
    let activator = scope.activator_for(info.address.clone());
    let reads = worker == 0;
    let part = reads.then(|| participant(scope, &info, &format!("tables.{}", plan.name), &ctx.checkpoints));
    let (plan2, ctx2, shared) = (plan.clone(), ctx.clone(), history.clone());
    let sync = scope.worker().sync_activator_for(info.address.to_vec());
    builder.build(move |caps| {
        let mut caps = reads.then_some(caps);
        let mut table = TableOperator::new(&plan2, index, users, part, shared, sync, &ctx2);
        move |frontiers| {
            ended.for_each_stamp(|_, _| {});
            let step = table.step(frontiers[0].is_empty(), caps.as_ref().map(|c| *c[1].time()));
            let Some(c) = caps.as_mut() else { return };
            let mut up = updates_out.activate();
            let mut dl = dead_out.activate();
            for mut updates in step.updates {
                up.session(&c[0]).give_container(&mut updates);
            }
            for letters in step.dead_letters {
                dl.session(&c[1]).give(letters);
            }
            drop((up, dl));
            if step.finished {
                caps = None;
                return;
            }
            if let Some(t) = step.known_until {
                for cap in c.iter_mut() {
                    if *cap.time() < t {
                        cap.downgrade(&t);
                    }
                }
            }
            activator.activate_after(CHECK_EVERY);
        }
    });
    // Every worker holds the whole table (reference tables are small next to the streams joined with
    // them), so a join looks records up where they are, without exchanging the stream.
    let arranged = arrange_core::<_, _, ValBatcher<Key, TableRow, Time, isize>, ValSpine<Key, TableRow, Time, isize>>(
        updates.broadcast(),
        Pipeline,
        &format!("Arrange({})", plan.name),
        ValBatcher::new,
    );
    BuiltTable {
        arranged,
        dead_letters: dead,
        history,
    }
}

/// The table operator on the worker that reads the table (worker 0; elsewhere it only lets go): sends the
/// restored history's updates, then each read's, and the read's dead letters; holds its capabilities at
/// what is known of the table.
struct TableOperator {
    name: String,
    index: usize,
    /// Join instances of this process reading the table.
    users: usize,
    /// This worker's checkpoint participant (the reading worker's only).
    part: Option<Participant>,
    history: Arc<Mutex<TableHistory>>,
    reader: Option<ReaderThread>,
    /// The restored history's updates, sent first.
    initial: Vec<TableUpdate>,
    restored_until: Option<i64>,
    /// Whether this operator has sent a complete read's updates (a restored history's count: they go out
    /// first). Not the shared history's `known_until`: the reader thread moves that before the read's
    /// updates reach this operator, and letting go in between would drop them.
    loaded: bool,
    stop: Stopping,
    tallies: Tallies,
    metrics: Arc<Metrics>,
}

/// What one [`TableOperator::step`] asks of the operator.
#[derive(Default)]
struct TableStep {
    /// Update batches to give at the updates' capability.
    updates: Vec<Vec<TableUpdate>>,
    /// Dead-letter batches to give at the dead letters' capability.
    dead_letters: Vec<SharedBatch>,
    /// Drop the capabilities: the table has let go.
    finished: bool,
    /// Else, move the capabilities up to this (the table is known until it).
    known_until: Option<Time>,
}

impl TableOperator {
    /// Restores the table's history (on the reading worker) and starts its reader thread.
    fn new(
        plan: &TablePlan,
        index: usize,
        users: usize,
        part: Option<Participant>,
        history: Arc<Mutex<TableHistory>>,
        wake: timely::scheduling::SyncActivator,
        ctx: &RunContext,
    ) -> Self {
        let mut reader = None;
        let mut initial = Vec::new();
        if let Some(p) = part.as_ref() {
            for bytes in p.restored_states(1).into_iter().take(1) {
                match crate::checkpoint::decode::<TableHistory>(&bytes) {
                    Ok(h) => *history.lock() = h.restored(&plan.key),
                    Err(e) => ctx.stop.fail(JobFailure::Restore {
                        name: plan.name.clone(),
                        cause: e.to_string(),
                    }),
                }
            }
            initial = history.lock().all_updates();
            match plan.component.open(&plan.schema) {
                Ok(r) => reader = Some(ReaderThread::start(plan, r, history.clone(), wake, ctx.gauges.clone())),
                Err(e) => ctx.stop.fail(JobFailure::Table {
                    table: plan.name.clone(),
                    cause: e.to_string(),
                }),
            }
        }
        let restored_until = Some(history.lock().known_until());
        Self {
            name: plan.name.clone(),
            index,
            users,
            part,
            loaded: restored_until.is_some_and(|t| t > 0),
            history,
            reader,
            initial,
            restored_until,
            stop: ctx.stop.clone(),
            tallies: ctx.tallies.clone(),
            metrics: ctx.metrics.clone(),
        }
    }

    /// One activation: `sources_ended` once every source stream has; `dead_at` the dead letters'
    /// capability (`None`: already let go, or not the reading worker).
    fn step(&mut self, sources_ended: bool, dead_at: Option<Time>) -> TableStep {
        // Checkpoints go on after the table let go (a stop's final checkpoint waits for every part).
        if let Some(p) = self.part.as_mut() {
            if let Some((epoch, _)) = p.due(None) {
                p.submit(epoch, Contribution::of(&*self.history.lock()));
            }
        }
        let mut step = TableStep::default();
        let Some(at) = dead_at else { return step };
        if !self.initial.is_empty() {
            step.updates.push(std::mem::take(&mut self.initial));
        }
        let mut until = self.restored_until.take();
        if let Some(r) = self.reader.as_ref() {
            for applied in r.rx.try_iter() {
                let Applied {
                    updates,
                    dead,
                    late,
                    known_until,
                    ..
                } = applied;
                if !updates.is_empty() {
                    step.updates.push(updates);
                }
                if !dead.is_empty() {
                    let letters: Vec<_> = dead
                        .into_iter()
                        .map(|(origin, reason)| {
                            self.metrics.dead_letter(&self.name, &reason);
                            let pos = Position {
                                lt: at,
                                source: table_position_source(self.index),
                                partition: origin.partition,
                                offset: origin.offset,
                            };
                            dead_letter(&self.name, pos, 0, &reason, origin.raw.as_bytes())
                        })
                        .collect();
                    step.dead_letters.push(Arc::new(Batch::new(letters, None)));
                }
                if late > 0 {
                    self.metrics.late_table_versions(&self.name, late);
                }
                until = Some(known_until);
                self.loaded |= known_until > 0;
            }
        }
        // Let go once the sources have ended — but not before the table was known once (its initial
        // read complete), and after a stop not before the joins looked up what the stop keeps.
        let stop_done = self.stop.stopped_at().is_none() || self.tallies.count(uses_ended(self.index)) >= self.users;
        step.finished = self.stop.error().is_some() || (self.loaded && sources_ended && stop_done);
        if step.finished {
            if let Some(r) = self.reader.take() {
                r.stop();
            }
        }
        step.known_until = until.map(|t| t.max(0) as Time);
        step
    }
}

/// The thread that reads a table every `interval` and applies each read to its history.
struct ReaderThread {
    rx: Receiver<Applied>,
    stop: Arc<AtomicBool>,
}

impl ReaderThread {
    fn start(
        plan: &TablePlan,
        mut reader: Box<dyn TableReader>,
        history: Arc<Mutex<TableHistory>>,
        wake: timely::scheduling::SyncActivator,
        gauges: Gauges,
    ) -> ReaderThread {
        let (tx, rx): (Sender<Applied>, Receiver<Applied>) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let interval = plan.component.interval();
        let ooo = plan.max_out_of_orderness_ms;
        let about = format!("table `{}`", plan.name);
        let report = RateLimitedReport::new(about.clone());
        std::thread::Builder::new()
            .name(format!("table-{}", plan.name))
            .spawn(move || {
                while !stopping.load(Ordering::SeqCst) {
                    match reader.read() {
                        Ok(read) => {
                            let applied = history.lock().apply(read, ooo);
                            // A table whose rows are (mostly) unusable: said once, and shown by /healthz.
                            gauges.set_warning(&about, applied.warning());
                            if tx.send(applied).is_err() {
                                return;
                            }
                            let _ = wake.activate();
                        }
                        Err(e) => report.report(&format!(
                            "{e}; retrying every {} (records that need the table wait for it)",
                            crate::words::humanize_ms(interval.as_millis() as i64)
                        )),
                    }
                    let mut slept = Duration::ZERO;
                    while slept < interval && !stopping.load(Ordering::SeqCst) {
                        let step = (interval - slept).min(Duration::from_millis(50));
                        std::thread::sleep(step);
                        slept += step;
                    }
                }
            })
            .expect("spawn a table reader thread");
        ReaderThread { rx, stop }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Drop for ReaderThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
