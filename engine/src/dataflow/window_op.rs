//! The keyed window operator in the dataflow: decides lateness where the raw bytes still are, routes records
//! by key, and applies them to a [`WindowAggregator`] in deterministic order as the frontier advances.

use crate::chunk::StampedChunk;
use crate::dataflow::dead_letters::render;
use crate::dataflow::source_op::ChunkStream;
use crate::dataflow::{
    due_before, frontier_time, gather, hold_at_frontier, ordered_frontier, participant, restore_state, snapshot, Line,
    OutputHandle, Positioned, RunContext, Time,
};
use crate::metrics::Metrics;
use crate::plan::WindowPlan;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;
use weir_operators::window::lateness;
use weir_operators::{EventOrderBuffer, Key, Position, Values, WindowAggregator, WindowRow};

/// A record on its way to its key's worker: its key fields, then the fields aggregates read, then the
/// carried fields, in one inline list (no allocation per record).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WindowInput {
    pub pos: Position,
    pub awm: Option<i64>,
    pub ts: i64,
    pub route: u64,
    pub fields: Values,
}

impl Positioned for WindowInput {
    fn position(&self) -> Position {
        self.pos
    }
}

/// An emitted window row and when it fired (its order: fire time, then window start, then key).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FiredRow {
    pub fired_at: Time,
    pub row: WindowRow,
}

/// Builds the key of record `i` from the given schema fields.
pub fn key_of(chunk: &StampedChunk, i: usize, fields: &[usize]) -> Key {
    fields.iter().map(|f| chunk.value(i, *f).clone()).collect()
}

/// Splits a source's records into window inputs (keyed, to be exchanged) and late records (dead letters).
fn feed<'s>(
    chunks: ChunkStream<'s>,
    plan: Arc<WindowPlan>,
    source_name: String,
    ctx: RunContext,
) -> (Stream<'s, Time, Vec<WindowInput>>, Stream<'s, Time, Vec<Line>>) {
    let mut builder = OperatorBuilder::new("WindowFeed".to_string(), chunks.scope());
    let mut input = builder.new_input(chunks, Pipeline);
    let (records_out, records) = builder.new_output::<Vec<WindowInput>>();
    let (late_out, late) = builder.new_output::<Vec<Line>>();
    let mut records_out = timely::dataflow::operators::generic::OutputBuilder::from(records_out);
    let mut late_out = timely::dataflow::operators::generic::OutputBuilder::from(late_out);
    builder.build(move |_| {
        move |_frontiers| {
            let mut records_handle = records_out.activate();
            let mut late_handle = late_out.activate();
            input.for_each_time(|cap, data| {
                let rcap = cap.retain(0);
                let lcap = cap.retain(1);
                let mut rs = records_handle.session(&rcap);
                let mut ls = late_handle.session(&lcap);
                let mut late_count = 0;
                for chunk in data.flat_map(|d| d.drain(..)) {
                    for i in 0..chunk.chunk.len() {
                        let ts = chunk.chunk.ts[i];
                        let awm = chunk.awm(i);
                        let (any_late, all_late) = lateness(&plan.window, plan.allowed_lateness_ms, ts, awm);
                        let pos = chunk.position(i);
                        if any_late {
                            late_count += 1;
                            ls.give(render(&source_name, pos, "late", chunk.raw(chunk.chunk.range[i])));
                        }
                        if !all_late {
                            let fields: Values = plan
                                .key
                                .iter()
                                .chain(&plan.values)
                                .chain(&plan.carry)
                                .map(|f| chunk.value(i, *f).clone())
                                .collect();
                            let route = Key::route_hash_of(&fields[..plan.key.len()]);
                            rs.give(WindowInput {
                                pos,
                                awm,
                                ts,
                                route,
                                fields,
                            });
                        }
                    }
                }
                ctx.metrics.late_records(&source_name, late_count);
            });
        }
    });
    (records, late)
}

/// The window operator (named `name` in checkpoints): returns its rows and its late records.
pub fn window<'s>(
    chunks: ChunkStream<'s>,
    name: String,
    plan: WindowPlan,
    source_name: String,
    ctx: RunContext,
) -> (Stream<'s, Time, Vec<FiredRow>>, Stream<'s, Time, Vec<Line>>) {
    let plan = Arc::new(plan);
    let (records, late) = feed(chunks, plan.clone(), source_name, ctx.clone());
    let scope = records.scope();
    let rows = records.unary_frontier(
        Exchange::new(|r: &WindowInput| r.route),
        "Window",
        move |initial, info| {
            let mut cap = Some(initial);
            let mut buffer: EventOrderBuffer<WindowInput> = EventOrderBuffer::default();
            let mut part = participant(scope, &info, &name, &ctx);
            let fresh = || WindowAggregator::new(plan.window, plan.allowed_lateness_ms, plan.aggregates.clone());
            let mut agg: WindowAggregator = restore_state(&part, scope.peers(), &ctx).unwrap_or_else(fresh);
            let (nk, nv) = (plan.key.len(), plan.values.len());
            // Applies the records below `f` and emits the windows due before it.
            let metrics = ctx.metrics.clone();
            let step = move |agg: &mut WindowAggregator,
                             buffer: &mut EventOrderBuffer<WindowInput>,
                             f: Option<Time>,
                             c: &Capability<Time>,
                             output: &mut OutputHandle<'_, FiredRow>| {
                for (_, r) in buffer.drain_before(f) {
                    let key: Key = r.fields[..nk].iter().cloned().collect();
                    agg.add(&key, r.ts, r.awm, &r.fields[nk..nk + nv], &r.fields[nk + nv..]);
                }
                let fired = agg.fire(due_before(f));
                if !fired.is_empty() {
                    Metrics::add(&metrics.window_rows, fired.len() as u64);
                    let mut session = output.session(c);
                    for row in fired {
                        let fired_at = (row.end + plan.allowed_lateness_ms).max(0) as Time;
                        session.give(FiredRow {
                            fired_at: fired_at.max(*c.time()),
                            row,
                        });
                    }
                }
            };
            move |(input, frontier), output| {
                gather(input, &mut buffer);
                if let Some((epoch, at)) = part.due(frontier_time(frontier)) {
                    if let Some(c) = cap.as_ref() {
                        step(&mut agg, &mut buffer, Some(at), c, output);
                    }
                    part.submit(epoch, snapshot(&agg));
                }
                let f = ordered_frontier(frontier, &ctx);
                let Some(c) = cap.as_ref() else { return };
                step(&mut agg, &mut buffer, f, c, output);
                hold_at_frontier(&mut cap, frontier, f);
            }
        },
    );
    (rows, late)
}
