//! The timely-dataflow operators of a running job and the data that flows between them.
//!
//! Time in the dataflow is *logical time* (DESIGN §2): a record's arrival watermark clamped at 0, in epoch
//! milliseconds. Messages are sent at a timely time at or below the logical time of everything in them (a
//! chunk at its first line's), and every item carries its exact [`Position`]; operators act on an item only
//! once the frontier has passed its logical time, in position order. That makes results independent of
//! worker count, batching and thread timing while keeping progress tracking per chunk, not per record.

pub mod context;
pub mod dead_letters;
pub mod ingest_source;

pub mod keyed_op;
pub mod map;
pub mod message_chunk;
pub mod ordered;
pub mod pace;
pub mod partition_ends;
pub mod render;
pub mod sink_op;
pub mod source_op;
pub mod source_step;
pub mod table_op;

pub use crate::error::JobFailure;
pub use context::{
    Appended, Checkpoints, Gauges, IngestEndpoint, IngestEndpoints, IngestReply, IngestRequest, Progress, RunContext,
    Stopping, Tallies,
};

use serde::{Deserialize, Serialize};
use weir_operators::Position;

use crate::checkpoint::{Contribution, Participant};
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
    stop: &Stopping,
) -> Option<Time> {
    acting_frontier(frontier_time(frontier), stop)
}

/// [`ordered_frontier`] of a frontier already read.
pub fn acting_frontier(raw: Option<Time>, stop: &Stopping) -> Option<Time> {
    match stop.stopped_at() {
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
    checkpoints: &Checkpoints,
) -> Participant {
    let worker = scope.worker();
    Participant::new(
        checkpoints.coordinator(),
        name,
        worker.index(),
        worker.sync_activator_for(info.address.to_vec()),
    )
}

/// This worker's share of a keyed state in the checkpoint the run resumed from: every old worker's part
/// merged, keeping the keys the exchange routes here. `None` on a fresh start; a part that cannot be decoded
/// fails the run.
pub fn restore_state<S>(part: &Participant, peers: usize, stop: &Stopping) -> Option<S>
where
    S: KeyedState + serde::de::DeserializeOwned,
{
    let mut states = Vec::new();
    for bytes in part.restored_states(peers) {
        match crate::checkpoint::decode::<S>(&bytes) {
            Ok(s) => states.push(s),
            Err(e) => {
                stop.fail(JobFailure::Restore {
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
