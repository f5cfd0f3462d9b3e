//! Keyed, timer-driven operators in the dataflow: records routed by key to a [`KeyedTimers`] driven by a
//! [`KeyedLogic`], applied in deterministic order as the job watermark advances, outputs made into records.
//!
//! Outputs are ordered by the step that produced them: a timer's fire time (before any record at or after it),
//! or the record's position; within one step and key, in the order produced.

use crate::dataflow::ordered::{ordered, OrderedLogic};
use crate::dataflow::{due_before, Positioned, RunContext, Time};
use crate::record::{Record, RecordStream};
use serde::{Deserialize, Serialize};
use timely::dataflow::Stream;
use timely::ExchangeData;
use weir_operators::{Cause, Key, KeyedLogic, KeyedTimers, Position};

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

/// Runs `logic` per key; `make` turns an output (at its position and rank) into a record. `name` labels the
/// operator in the dataflow, `state_name` its state in checkpoints.
pub fn keyed_timers<'s, L, F>(
    records: Stream<'s, Time, Vec<KeyedRecord<L::Record>>>,
    name: &str,
    state_name: String,
    logic: L,
    make: F,
    ctx: RunContext,
) -> RecordStream<'s>
where
    L: KeyedLogic + 'static,
    L::Record: ExchangeData,
    L::State: Send + 'static,
    F: Fn(Position, u32, &Key, &L::Output) -> Record + 'static,
{
    let driver = TimerLogic {
        logic,
        make,
        produced: Vec::new(),
    };
    ordered(records, name, state_name, driver, ctx)
}

/// A [`KeyedLogic`] as an ordered operator.
struct TimerLogic<L: KeyedLogic, F> {
    logic: L,
    make: F,
    produced: Vec<(Cause, Key, L::Output)>,
}

impl<L, F> OrderedLogic for TimerLogic<L, F>
where
    L: KeyedLogic + 'static,
    L::Record: ExchangeData,
    L::State: Send + 'static,
    L::Output: 'static,
    F: Fn(Position, u32, &Key, &L::Output) -> Record + 'static,
{
    type Item = KeyedRecord<L::Record>;
    type State = KeyedTimers<L::State>;

    fn route(r: &Self::Item) -> u64 {
        r.route
    }

    fn fresh(&self) -> Self::State {
        KeyedTimers::default()
    }

    fn step(
        &mut self,
        timers: &mut Self::State,
        items: &mut dyn Iterator<Item = (Position, Self::Item)>,
        f: Option<Time>,
    ) -> Vec<Record> {
        step(&self.logic, &self.make, timers, items, &mut self.produced, f)
    }
}

/// Applies the records below `f` and fires the timers due before it, returning the outputs as records.
fn step<L, F>(
    logic: &L,
    make: &F,
    timers: &mut KeyedTimers<L::State>,
    items: &mut dyn Iterator<Item = (Position, KeyedRecord<L::Record>)>,
    produced: &mut Vec<(Cause, Key, L::Output)>,
    f: Option<Time>,
) -> Vec<Record>
where
    L: KeyedLogic,
    F: Fn(Position, u32, &Key, &L::Output) -> Record,
{
    let mut lines: Vec<Record> = Vec::new();
    // Outputs in production order; `seq` ranks those of one step (record or timer time) and key.
    let emit = |pos: Option<Position>, produced: &mut Vec<(Cause, Key, L::Output)>, lines: &mut Vec<Record>| {
        let mut last: Option<(Position, Key)> = None;
        let mut seq = 0u32;
        for (cause, key, out) in produced.drain(..) {
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
            seq = match &last {
                Some((p, k)) if *p == at && *k == key => seq + 1,
                _ => 0,
            };
            lines.push(make(at, seq, &key, &out));
            last = Some((at, key));
        }
    };
    for (pos, r) in items {
        timers.record(logic, &r.key, pos.lt as i64, &r.record, produced);
        emit(Some(pos), produced, &mut lines);
    }
    timers.advance(logic, due_before(f), produced);
    emit(None, produced, &mut lines);
    lines
}
