//! Keyed, timer-driven operators in the dataflow: records routed by key to a [`KeyedTimers`] driven by a
//! [`KeyedLogic`], applied in deterministic order as the job watermark advances, outputs made into records.
//!
//! Outputs are ordered by the step that produced them: a timer's fire time (before any record at or after it),
//! or the record's position; within one step and key, in the order produced.

use crate::dataflow::{
    drain_ordered, due_before, frontier_time, gather, hold_at_frontier, ordered_frontier, participant, restore_state,
    snapshot, OutputHandle, Positioned, RunContext, Time,
};
use crate::record::{Batch, Record, RecordStream, SharedBatch};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;
use timely::ExchangeData;
use weir_operators::{Cause, EventOrderBuffer, Key, KeyedLogic, KeyedTimers, Position};

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
    let scope = records.scope();
    records.unary_frontier(
        Exchange::new(|r: &KeyedRecord<L::Record>| r.route),
        name,
        move |initial, info| {
            let mut cap = Some(initial);
            let mut buffer: EventOrderBuffer<KeyedRecord<L::Record>> = EventOrderBuffer::default();
            let mut part = participant(scope, &info, &state_name, &ctx);
            let mut timers: KeyedTimers<L::State> = restore_state(&part, scope.peers(), &ctx).unwrap_or_default();
            let mut produced: Vec<(Cause, Key, L::Output)> = Vec::new();
            move |(input, frontier), output| {
                gather(input, &mut buffer);
                if let Some((epoch, at)) = part.due(frontier_time(frontier)) {
                    if let Some(c) = cap.as_ref() {
                        step(
                            &logic,
                            &make,
                            &mut timers,
                            &mut buffer,
                            &mut produced,
                            Some(at),
                            c,
                            output,
                        );
                    }
                    part.submit(epoch, snapshot(&timers));
                }
                let f = ordered_frontier(frontier, &ctx);
                let Some(c) = cap.as_ref() else { return };
                step(&logic, &make, &mut timers, &mut buffer, &mut produced, f, c, output);
                hold_at_frontier(&mut cap, frontier, f);
            }
        },
    )
}

/// Applies the records below `f` and fires the timers due before it, emitting the outputs as records.
#[allow(clippy::too_many_arguments)]
fn step<L, F>(
    logic: &L,
    make: &F,
    timers: &mut KeyedTimers<L::State>,
    buffer: &mut EventOrderBuffer<KeyedRecord<L::Record>>,
    produced: &mut Vec<(Cause, Key, L::Output)>,
    f: Option<Time>,
    c: &Capability<Time>,
    output: &mut OutputHandle<'_, SharedBatch>,
) where
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
    for (pos, r) in drain_ordered(buffer, f) {
        timers.record(logic, &r.key, pos.lt as i64, &r.record, produced);
        emit(Some(pos), produced, &mut lines);
    }
    timers.advance(logic, due_before(f), produced);
    emit(None, produced, &mut lines);
    if !lines.is_empty() {
        output.session(c).give(Arc::new(Batch::new(lines, None)));
    }
}
