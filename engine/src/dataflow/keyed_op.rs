//! Keyed, timer-driven operators in the dataflow: records routed by key to a [`KeyedTimers`] driven by a
//! [`KeyedLogic`], applied in deterministic order as the job watermark advances, outputs rendered as lines.
//!
//! Outputs are ordered by the step that produced them: a timer's fire time (before any record at or after it),
//! or the record's position; within one step and key, in the order produced.

use crate::dataflow::{
    due_before, frontier_time, gather, hold_at_frontier, ordered_frontier, participant, restore_state, snapshot, Line,
    OutputHandle, Positioned, RunContext, Time,
};
use serde::{Deserialize, Serialize};
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
    pub route: u64,
    pub key: Key,
    pub record: R,
}

impl<R> Positioned for KeyedRecord<R> {
    fn position(&self) -> Position {
        self.pos
    }
}

/// Runs `logic` per key; `render` turns an output into a JSON line. `name` labels the operator in the
/// dataflow, `state_name` its state in checkpoints.
pub fn keyed_timers<'s, L, F>(
    records: Stream<'s, Time, Vec<KeyedRecord<L::Record>>>,
    name: &str,
    state_name: String,
    logic: L,
    render: F,
    ctx: RunContext,
) -> Stream<'s, Time, Vec<Line>>
where
    L: KeyedLogic + 'static,
    L::Record: ExchangeData,
    L::State: Send + 'static,
    F: Fn(&Key, &L::Output) -> String + 'static,
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
                            &render,
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
                step(&logic, &render, &mut timers, &mut buffer, &mut produced, f, c, output);
                hold_at_frontier(&mut cap, frontier, f);
            }
        },
    )
}

/// Applies the records below `f` and fires the timers due before it, emitting the outputs as lines.
#[allow(clippy::too_many_arguments)]
fn step<L, F>(
    logic: &L,
    render: &F,
    timers: &mut KeyedTimers<L::State>,
    buffer: &mut EventOrderBuffer<KeyedRecord<L::Record>>,
    produced: &mut Vec<(Cause, Key, L::Output)>,
    f: Option<Time>,
    c: &Capability<Time>,
    output: &mut OutputHandle<'_, Line>,
) where
    L: KeyedLogic,
    F: Fn(&Key, &L::Output) -> String,
{
    let mut lines: Vec<Line> = Vec::new();
    // Outputs in production order; `seq` ranks those of one step (record or timer time) and key.
    let emit = |pos: Option<Position>, produced: &mut Vec<(Cause, Key, L::Output)>, lines: &mut Vec<Line>| {
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
            lines.push(Line {
                pos: at,
                seq,
                text: render(&key, &out),
            });
            last = Some((at, key));
        }
    };
    for (pos, r) in buffer.drain_before(f) {
        timers.record(logic, &r.key, pos.lt as i64, &r.record, produced);
        emit(Some(pos), produced, &mut lines);
    }
    timers.advance(logic, due_before(f), produced);
    emit(None, produced, &mut lines);
    if !lines.is_empty() {
        output.session(c).give_iterator(lines.into_iter());
    }
}
