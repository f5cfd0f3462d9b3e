//! The timely-dataflow operators of a running job and the data that flows between them.
//!
//! Time in the dataflow is *logical time* (DESIGN §2): a record's arrival watermark clamped at 0, in epoch
//! milliseconds. Messages are sent at a timely time at or below the logical time of everything in them (a
//! chunk at its first line's), and every item carries its exact [`Position`]; operators act on an item only
//! once the frontier has passed its logical time, in position order. That makes results independent of
//! worker count, batching and thread timing while keeping progress tracking per chunk, not per record.

pub mod dead_letters;

pub mod keyed_op;
pub mod map;
pub mod ordered;
pub mod pace;
pub mod partition_ends;
pub mod render;
pub mod sink_op;
pub mod source_op;
pub mod table_op;

pub use crate::error::JobFailure;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use weir_operators::Position;

use crate::checkpoint::{Contribution, Coordinator, Participant};
use crate::metrics::Metrics;
use crate::metrics::PartitionPositions;
use crate::record::{Batch, Record, RecordStream};
use timely::communication::Pull;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::channels::Message;
use timely::dataflow::operators::generic::{InputHandleCore, Operator};
use timely::dataflow::Scope;
use timely::dataflow::Stream;
use weir_operators::EventOrderBuffer;
use weir_operators::{redistribute, KeyedState};

pub use crate::record::Time;

/// A record encoded for a line sink and where it stands in the deterministic order: the position of the
/// record or timer that produced it, its rank among that step's outputs, then which of the sink's inputs it
/// came from (outputs of two streams at one step are written in the order the sink lists them).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Line {
    pub pos: Position,
    pub seq: u32,
    /// The index of the sink input it came from.
    pub input: u32,
    pub text: String,
    /// For message sinks (Kafka): key, headers and tombstone, taken from the record's fields.
    pub meta: Option<Box<MessageMeta>>,
}

/// A message's key, headers and whether it is a tombstone (a changelog delete: no value).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MessageMeta {
    pub key: Option<String>,
    pub headers: Vec<(String, String)>,
    pub tombstone: bool,
}

/// A Kafka source's read positions: (source name, topic, positions).
type RegisteredPositions = (String, String, Arc<PartitionPositions>);

/// (source, partition) → final arrival watermark.
type FinalWatermarks = BTreeMap<(u32, u32), FinalWatermark>;

/// How one partition ended: the largest final arrival watermark its readers reported (`None`: no valid
/// record), and how many of its readers have reported out of how many there are.
#[derive(Clone, Copy, Debug, Default)]
struct FinalWatermark {
    watermark: Option<i64>,
    reports: usize,
    readers: usize,
}

/// What every operator of a run shares: counters, and the way to stop everything on a fatal error.
#[derive(Clone, Default)]
pub struct RunContext {
    pub metrics: Arc<Metrics>,
    abort: Arc<AtomicBool>,
    error: Arc<Mutex<Option<JobFailure>>>,
    /// Per (source, partition) that has ended: its final arrival watermark (`None`: no valid record).
    final_watermarks: Arc<Mutex<FinalWatermarks>>,
    /// Checkpoints, and the capability each source instance holds (the job watermark); installed by the
    /// runtime.
    checkpoints: Arc<std::sync::OnceLock<Arc<Coordinator>>>,
    /// Kafka sources' read positions: (source name, topic, positions).
    positions: Arc<Mutex<Vec<RegisteredPositions>>>,
    /// Source operators to wake when the job stops (one blocked on another worker's chunk would otherwise
    /// never look at the stop flag).
    wake_on_stop: Arc<Mutex<Vec<timely::scheduling::SyncActivator>>>,
    /// The job watermark when the job was stopped.
    stopped_at: Arc<StopMark>,
    /// Per table: this process's join instances whose stream has ended (after a stop the table lets go
    /// once all have).
    table_uses_ended: Arc<Mutex<BTreeMap<usize, usize>>>,
    /// Standing warnings by what they are about (e.g. `table \`zones\``), shown by `/healthz`.
    warnings: Arc<Mutex<BTreeMap<String, String>>>,
}

/// The job watermark when a stop was asked for (`u64::MAX`: none).
struct StopMark(std::sync::atomic::AtomicU64);

impl Default for StopMark {
    fn default() -> Self {
        Self(std::sync::atomic::AtomicU64::new(u64::MAX))
    }
}

impl RunContext {
    /// Sets (or, with `None`, clears) the standing warning about `about`; says a new one on stderr.
    pub fn set_warning(&self, about: &str, warning: Option<String>) {
        let mut all = self.warnings.lock();
        match warning {
            Some(w) => {
                if all.get(about) != Some(&w) {
                    eprintln!("weir: warning: {about}: {w}");
                    all.insert(about.to_string(), w);
                }
            }
            None => {
                all.remove(about);
            }
        }
    }

    /// The standing warnings, as `ABOUT: WARNING`.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().iter().map(|(a, w)| format!("{a}: {w}")).collect()
    }

    /// Records a fatal error (the first one wins) and asks every source to stop.
    pub fn fail(&self, failure: JobFailure) {
        let mut e = self.error.lock();
        if e.is_none() {
            *e = Some(failure);
        }
        drop(e);
        self.abort.store(true, Ordering::SeqCst);
        self.wake_sources();
    }

    /// The job watermark when the job was stopped (none before a stop, or if no source was live then).
    pub fn stopped_at(&self) -> Option<Time> {
        let at = self.stopped_at.0.load(Ordering::SeqCst);
        (at != u64::MAX && self.aborted()).then_some(at)
    }

    /// Registers an operator (a source, a sink with work in flight) to wake when the job stops.
    pub fn wake_on_stop(&self, activator: timely::scheduling::SyncActivator) {
        self.wake_on_stop.lock().push(activator);
    }

    fn wake_sources(&self) {
        for a in self.wake_on_stop.lock().iter() {
            let _ = a.activate();
        }
    }

    /// Asks every source to stop without an error (e.g. on SIGINT) — after noting the job watermark, which
    /// operators act up to and no further ([`ordered_frontier`]), and starting a final checkpoint when the
    /// job checkpoints, which operators and sinks complete as they stop.
    pub fn stop(&self) {
        if let Some(c) = self.checkpoints.get() {
            if let Some(at) = c.job_watermark() {
                self.stopped_at.0.store(at, Ordering::SeqCst);
            }
            c.maybe_start(true);
        }
        self.abort.store(true, Ordering::SeqCst);
        self.wake_sources();
    }

    /// Says that one join instance reading table `table` is done with it (its stream ended, and after a
    /// stop it has joined every record below the stop).
    pub fn end_table_use(&self, table: usize) {
        *self.table_uses_ended.lock().entry(table).or_default() += 1;
    }

    /// How many join instances are done with table `table`.
    pub fn table_uses_ended(&self, table: usize) -> usize {
        self.table_uses_ended.lock().get(&table).copied().unwrap_or(0)
    }

    /// Installs the run's checkpoint coordinator (once; later calls are ignored).
    pub fn install_checkpoints(&self, coordinator: Arc<Coordinator>) {
        let _ = self.checkpoints.set(coordinator);
    }

    /// Whether a coordinator was installed.
    pub fn checkpoints_installed(&self) -> bool {
        self.checkpoints.get().is_some()
    }

    /// The run's checkpoint coordinator (a disabled one before the runtime installed it).
    pub fn checkpoints(&self) -> Arc<Coordinator> {
        self.checkpoints
            .get_or_init(|| Arc::new(Coordinator::default()))
            .clone()
    }

    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }

    pub fn error(&self) -> Option<JobFailure> {
        self.error.lock().clone()
    }

    /// Records the arrival watermark after the last record a worker decoded of a partition of `source` (max
    /// valid ts − max_out_of_orderness), sent by each source operator instance as it lets go of the
    /// partition and recorded by one worker per process ([`partition_ends`]). Several instances may report
    /// the same partition (files are decoded in parallel): the maximum wins.
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

    /// Publishes what a source operator instance (`id`) holds the job watermark at; `None` once it has let go.
    pub fn publish_frontier(&self, id: (u32, u32, usize), at: Option<Time>) {
        self.checkpoints().publish_frontier(id, at);
    }

    /// The job watermark: the least time any source instance still holds (`None` when none holds one).
    pub fn job_watermark(&self) -> Option<Time> {
        self.checkpoints.get().and_then(|c| c.job_watermark())
    }

    /// Registers a Kafka source's partition positions for the metrics endpoint (and checkpoints).
    pub fn register_positions(&self, source: &str, topic: &str, positions: Arc<PartitionPositions>) {
        self.positions
            .lock()
            .push((source.to_string(), topic.to_string(), positions));
    }

    /// The Prometheus exposition of this run's metrics.
    pub fn render_metrics(&self) -> String {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut partitions = Vec::new();
        for (source, topic, p) in self.positions.lock().iter() {
            for (partition, next, lag) in p.snapshot() {
                partitions.push((source.clone(), topic.clone(), partition, next, lag));
            }
        }
        self.metrics.render(&crate::metrics::RunGauges {
            watermark_ms: self.job_watermark().map(|t| t as i64),
            now_ms,
            partitions,
        })
    }
}

/// A record that knows its place in the deterministic order.
pub trait Positioned {
    fn position(&self) -> Position;

    /// Orders two items at the same position (records an operator derived, e.g. window rows of two keys,
    /// can share one): by their rank, then by content, so the order never depends on arrival.
    fn tie(&self, _other: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

/// Moves every record that has arrived on `input` into `buffer`, to be applied once the frontier passes it.
pub fn gather<D, P>(input: &mut InputHandleCore<Time, Vec<D>, P>, buffer: &mut EventOrderBuffer<D>)
where
    D: Positioned,
    P: Pull<Message<Time, Vec<D>>>,
{
    input.for_each_stamp(|_, data| {
        for r in data.flat_map(|d| d.drain(..)) {
            buffer.push_by(r.position(), r, D::tie);
        }
    });
}

/// Drains the items of `buffer` below `f` in the deterministic order (position, then [`Positioned::tie`]).
pub fn drain_ordered<D: Positioned>(
    buffer: &mut EventOrderBuffer<D>,
    f: Option<Time>,
) -> impl Iterator<Item = (Position, D)> + '_ {
    buffer.drain_before_by(f, D::tie)
}

/// Runs `f` on every record of a stream, on the worker that holds it, keeping what it returns (the first step
/// of most operators: pick fields, key, position).
pub fn per_record<'s, T, F>(records: RecordStream<'s>, name: &str, mut f: F) -> Stream<'s, Time, Vec<T>>
where
    T: Clone + 'static,
    F: FnMut(&Batch, &Record) -> Option<T> + 'static,
{
    records.unary(Pipeline, name, move |_, _| {
        move |input, output| {
            input.for_each_stamp(|cap, data| {
                let mut session = output.session(&cap);
                for batch in data.flat_map(|d| d.drain(..)) {
                    for r in &batch.records {
                        if let Some(item) = f(&batch, r) {
                            session.give(item);
                        }
                    }
                }
            });
        }
    })
}

/// The frontier an ordered operator (or sink) acts on: its input frontier (`None` once the input has ended:
/// apply and fire everything) — but never past the job watermark at which the job was *stopped*. A stopped
/// source lets go of its capability without emitting what it had not read yet, so progress past that point
/// is not real: acting on it would apply a window or timer to part of its records. Up to it, everything has
/// arrived, so the windows and timers due before it are complete; later ones are not emitted half-full.
pub fn ordered_frontier(
    frontier: &timely::progress::frontier::MutableAntichain<Time>,
    ctx: &RunContext,
) -> Option<Time> {
    acting_frontier(frontier_time(frontier), ctx)
}

/// [`ordered_frontier`] of a frontier already read.
pub fn acting_frontier(raw: Option<Time>, ctx: &RunContext) -> Option<Time> {
    match ctx.stopped_at() {
        Some(s) => Some(raw.map_or(s, |f| f.min(s))),
        None => raw,
    }
}

/// The frontier of a totally ordered input: `None` once the input has ended.
pub fn frontier_time(frontier: &timely::progress::frontier::MutableAntichain<Time>) -> Option<Time> {
    frontier.frontier().iter().min().copied()
}

/// What an ordered operator at frontier `f` fires: timers and windows due *before* `f` (all for `None`).
///
/// Due-before rather than due-at keeps the cut of a checkpoint at `f` exact: everything emitted by then has
/// a position below `f`. (A timer at `f` still fires before any record at `f`: applying a record first fires
/// the timers due at or before its logical time.)
pub fn due_before(f: Option<Time>) -> Option<i64> {
    f.map(|t| t as i64 - 1)
}

/// The checkpoint participant of an operator instance named `name` (its operator is woken when a
/// checkpoint starts).
pub fn participant(
    scope: Scope<'_, Time>,
    info: &timely::dataflow::operators::generic::OperatorInfo,
    name: &str,
    ctx: &RunContext,
) -> Participant {
    let worker = scope.worker();
    Participant::new(
        ctx.checkpoints(),
        name,
        worker.index(),
        worker.sync_activator_for(info.address.to_vec()),
    )
}

/// This worker's share of a keyed state in the checkpoint the run resumed from: every old worker's part
/// merged, keeping the keys the exchange routes here. `None` on a fresh start; a part that cannot be decoded
/// fails the run.
pub fn restore_state<S>(part: &Participant, peers: usize, ctx: &RunContext) -> Option<S>
where
    S: KeyedState + serde::de::DeserializeOwned,
{
    let mut states = Vec::new();
    for bytes in part.restored_states(peers) {
        match crate::checkpoint::decode::<S>(&bytes) {
            Ok(s) => states.push(s),
            Err(e) => {
                ctx.fail(JobFailure::Restore {
                    name: part.name().to_string(),
                    cause: e.to_string(),
                });
                return None;
            }
        }
    }
    let worker = part.worker() as u64;
    let peers = peers.max(1) as u64;
    redistribute(states, &|k: &weir_operators::Key| k.route_hash() % peers == worker)
}

/// A participant's part holding a copy of `state` (encoded by the checkpoint writer thread).
pub fn snapshot<S: Serialize + Clone + Send + 'static>(state: &S) -> Contribution {
    Contribution::of(state)
}
