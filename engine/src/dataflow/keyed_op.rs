//! Keyed, timer-driven operators in the dataflow: records routed by key to a [`KeyedTimers`] driven by a
//! [`KeyedLogic`], applied in deterministic order as the job watermark advances, outputs made into records.
//!
//! Outputs are ordered by the step that produced them: a timer's fire time (before any record at or after it),
//! or the record's position; within one step, key and output port, in the order produced. A logic that runs
//! several rules at once sends each rule's outputs to its own port.

use crate::dataflow::ordered::{ordered_ports, OrderedLogic};
use crate::dataflow::{due_before, Positioned, RunContext, Time};
use crate::record::{Record, RecordStream};
use serde::{Deserialize, Serialize};
use timely::dataflow::Stream;
use timely::ExchangeData;
use weir_operators::{Cause, Key, KeyedLogic, KeyedTimers, Position, Value};

/// A record on its way to its key's worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyedRecord<R> {
    pub pos: Position,
    pub seq: u32,
    pub route: u64,
    pub key: Key,
    pub record: R,
}

impl<R> Positioned for KeyedRecord<R> {
    fn position(&self) -> Position {
        self.pos
    }
    fn tie(&self, other: &Self) -> std::cmp::Ordering {
        self.seq.cmp(&other.seq).then_with(|| self.key.cmp(&other.key))
    }
}

/// Runs `logic` per key; `make` turns an output (at its position and rank) into a record and `port` says which
/// of the `ports` output streams it goes to. `name` labels the operator in the dataflow; its state is
/// checkpointed under `state_names[0]`, and the other names (operators it runs for as well) hand in empty parts.
pub fn keyed_timers<'s, L, F, P>(
    records: Stream<'s, Time, Vec<KeyedRecord<L::Record>>>,
    name: &str,
    state_names: Vec<String>,
    logic: L,
    (ports, port): (usize, P),
    make: F,
    ctx: RunContext,
) -> Vec<RecordStream<'s>>
where
    L: KeyedLogic + 'static,
    L::Record: ExchangeData,
    L::State: Send + 'static,
    F: Fn(Position, u32, &Key, &L::Output) -> Record + 'static,
    P: Fn(&L::Output) -> usize + 'static,
{
    let driver = TimerLogic {
        logic,
        make,
        port,
        ports,
        produced: Vec::new(),
    };
    ordered_ports(records, name, state_names, driver, ctx)
}

/// A [`KeyedLogic`] as an ordered operator.
struct TimerLogic<L: KeyedLogic, F, P> {
    logic: L,
    make: F,
    port: P,
    ports: usize,
    produced: Vec<(Cause, Key, L::Output)>,
}

impl<L, F, P> OrderedLogic for TimerLogic<L, F, P>
where
    L: KeyedLogic + 'static,
    L::Record: ExchangeData,
    L::State: Send + 'static,
    L::Output: 'static,
    F: Fn(Position, u32, &Key, &L::Output) -> Record + 'static,
    P: Fn(&L::Output) -> usize + 'static,
{
    type Item = KeyedRecord<L::Record>;
    type State = KeyedTimers<L::State>;

    fn route(r: &Self::Item) -> u64 {
        r.route
    }

    fn fresh(&self) -> Self::State {
        KeyedTimers::default()
    }

    fn ports(&self) -> usize {
        self.ports
    }

    fn step(
        &mut self,
        timers: &mut Self::State,
        items: &mut dyn Iterator<Item = (Position, Self::Item)>,
        f: Option<Time>,
        out: &mut [Vec<Record>],
    ) {
        let emit =
            |pos, produced: &mut Vec<_>, out: &mut [Vec<Record>]| emit(&self.make, &self.port, pos, produced, out);
        for (pos, r) in items {
            timers.record(&self.logic, &r.key, pos.lt as i64, &r.record, &mut self.produced);
            emit(Some(pos), &mut self.produced, out);
        }
        timers.advance(&self.logic, due_before(f), &mut self.produced);
        emit(None, &mut self.produced, out);
    }
}

/// Makes the records of `produced` (caused by the record at `pos`, or by timers) on their ports, ranking the
/// outputs of one step, key and port.
fn emit<O, F, P>(
    make: &F,
    port: &P,
    pos: Option<Position>,
    produced: &mut Vec<(Cause, Key, O)>,
    out: &mut [Vec<Record>],
) where
    F: Fn(Position, u32, &Key, &O) -> Record,
    P: Fn(&O) -> usize,
{
    if produced.is_empty() {
        return;
    }
    // Per port: the step and key of its last output, and that output's rank.
    let mut last: Vec<Option<(Position, Key, u32)>> = vec![None; out.len()];
    for (cause, key, o) in produced.drain(..) {
        let at = match (cause, pos) {
            (Cause::Timer(t), _) => Position {
                lt: t.max(0) as Time,
                source: 0,
                partition: 0,
                offset: 0,
            },
            (Cause::Record, Some(p)) => p,
            (Cause::Record, None) => unreachable!("only records cause record outputs"),
        };
        let port = port(&o);
        let seq = match &last[port] {
            Some((p, k, seq)) if *p == at && *k == key => seq + 1,
            _ => 0,
        };
        out[port].push(make(at, seq, &key, &o));
        last[port] = Some((at, key, seq));
    }
}

/// The key of a record from the given schema fields.
pub fn key_of(values: &[Value], fields: &[usize]) -> Key {
    fields.iter().map(|f| values[*f].clone()).collect()
}
