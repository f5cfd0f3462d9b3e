//! Two-phase window aggregation: each worker folds the records it holds into partial accumulators per
//! (window, key) and sends only those to the key's worker, which merges them and fires the windows.
//!
//! Used for tumbling and hopping windows whose aggregates are all *combinable* (every one but `stddev`):
//! their partial accumulators merge, in any grouping and order, to exactly what adding every record in
//! position order gives — float sums are exact and rounded once, ties between equal extremes and first/last
//! values go by position, the carried fields come from the record first in position order. So the rows are
//! bit-identical for any worker count, and the records themselves never cross workers: a worker sends at
//! most one partial per (window, key) per step instead of every record.
//!
//! **Time and checkpoints.** Records are folded only once the input frontier has passed their logical time
//! (the frontier at which they were folded is their step), so a checkpoint at `T` still sees exactly the
//! records below `T`: when a checkpoint at `T` is pending, the records below `T` are folded and every partial
//! is sent at a position below `T` before anything later is folded, and the partials of later records carry
//! a position at or after `T`. The merging operator applies partials in position order like every ordered
//! operator, so its checkpoint state is an ordinary window state; this operator keeps nothing across a cut
//! and hands in no state (it only acts on each cut). It holds its output one millisecond below its input
//! frontier, so a cut chosen later (at or above that frontier) always finds it able to send below the cut.
//!
//! ```
//! use weir_operators::{AggregateFn, AggregateSpec, Position, Value, WindowAggregator, WindowRecord, WindowSpec};
//! // Two workers' partials of one window, merged, equal one aggregator fed every record.
//! let count = AggregateSpec { name: "n".into(), func: AggregateFn::Count, input: None, input_type: None };
//! let spec = WindowSpec::tumbling(100);
//! let (mut a, mut b) = (WindowAggregator::new(spec, 0, vec![count.clone()]), WindowAggregator::new(spec, 0, vec![count.clone()]));
//! let key = weir_operators::Key::from(vec![Value::Str("s1".into())]);
//! let rec = |ts, offset| WindowRecord { ts, pos: Position { offset, ..Position::default() }, awm: None, values: &[], row: &[], carry: &[] };
//! a.add(&key, rec(10, 1));
//! b.add(&key, rec(20, 2));
//! let mut merged = WindowAggregator::new(spec, 0, vec![count]);
//! for (start, k, acc) in a.take_partials(None).into_iter().chain(b.take_partials(None)) {
//!     merged.merge_partial(start, k, acc);
//! }
//! assert_eq!(merged.fire(None)[0].values, vec![Value::Int(2)]);
//! ```

use crate::dataflow::dead_letters::failed_record;
use crate::dataflow::{acting_frontier, frontier_time, participant, Positioned, RunContext, Time};
use crate::operators::window::WindowPlan;
use crate::operators::window::{ms, LateLabels};
use crate::record::{Batch, Record, RecordStream, SharedBatch};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::Stream;
use weir_operators::aggregate::Accumulator;
use weir_operators::window::lateness;
use weir_operators::{AggregateSpec, Key, KeyOf, Position, WindowAggregator, WindowRecord};

/// One worker's partial accumulator of one window for one key, on its way to the key's worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WindowPartial {
    pub pos: Position,
    pub route: u64,
    pub start: i64,
    pub key: Key,
    pub acc: Accumulator,
}

impl Positioned for WindowPartial {
    fn position(&self) -> Position {
        self.pos
    }
    /// Partials merge in any order with the same result; this only makes the order itself repeatable.
    fn tie(&self, other: &Self) -> std::cmp::Ordering {
        self.start.cmp(&other.start).then_with(|| self.key.cmp(&other.key))
    }
}

/// A batch whose records are folded as the frontier passes them.
struct Pending {
    batch: SharedBatch,
    /// Record indices in logical-time order, when the batch is not already in that order.
    order: Option<Vec<u32>>,
    /// How many (in that order) are folded.
    next: usize,
}

impl Pending {
    fn new(batch: SharedBatch) -> Self {
        let lt = |i: &u32| batch.records[*i as usize].lt();
        let sorted = batch.records.is_sorted_by_key(|r| r.lt());
        let order = (!sorted).then(|| {
            let mut idx: Vec<u32> = (0..batch.records.len() as u32).collect();
            idx.sort_by_key(lt);
            idx
        });
        Pending { batch, order, next: 0 }
    }

    /// The index of each record below `limit` (all for `None`) not folded yet, in logical-time order.
    fn take_below(&mut self, limit: Option<Time>, mut f: impl FnMut(&Batch, usize)) {
        let n = self.batch.records.len();
        while self.next < n {
            let i = self.order.as_ref().map_or(self.next, |o| o[self.next] as usize);
            if limit.is_some_and(|l| self.batch.records[i].lt() >= l) {
                break;
            }
            f(&self.batch, i);
            self.next += 1;
        }
    }

    fn done(&self) -> bool {
        self.next == self.batch.records.len()
    }
}

/// The per-worker pre-aggregation of a combinable window: returns the partials (to be exchanged by key and
/// merged) and the late records. A worker holding more than `max_open_windows` partials fails the job, as
/// the merge does: the partials of a runaway key are state like any other.
pub fn pre_aggregate<'s>(
    input: RecordStream<'s>,
    plan: Arc<WindowPlan>,
    operator: String,
    labels: LateLabels,
    ctx: RunContext,
) -> (Stream<'s, Time, Vec<WindowPartial>>, RecordStream<'s>) {
    let scope = input.scope();
    let mut builder = OperatorBuilder::new("WindowPreAggregate".to_string(), scope);
    let info = builder.operator_info();
    let mut input = builder.new_input(input, Pipeline);
    let (partials_out, partials) = builder.new_output::<Vec<WindowPartial>>();
    let (late_out, late) = builder.new_output::<Vec<SharedBatch>>();
    let mut partials_out = OutputBuilder::from(partials_out);
    let mut late_out = OutputBuilder::from(late_out);
    builder.build(move |caps| {
        let mut caps = Some(caps);
        // The aggregates read the record's own values (inputs as schema indices): nothing is copied per record.
        let by_schema: Vec<AggregateSpec> = plan
            .aggregates
            .iter()
            .map(|a| AggregateSpec {
                input: a.input.map(|i| plan.values[i]),
                ..a.clone()
            })
            .collect();
        let mut agg = WindowAggregator::new(plan.window, plan.allowed_lateness_ms, by_schema);
        let mut pending: Vec<Pending> = Vec::new();
        // The least logical time of any record folded since the last full flush (at a checkpoint cut).
        let mut floor: Time = 0;
        // The epoch of the last checkpoint cut flushed for, and its time.
        // Acts on checkpoint cuts but hands in no state (see the module doc).
        let mut part = participant(scope, &info, "window pre-aggregation", &ctx.checkpoints);
        // The time of the last cut acted on.
        let mut last_cut: Option<Time> = None;
        // The operator's name, until the open-window limit is hit (the job then fails, once).
        let mut guard = Some(operator);
        move |frontiers| {
            input.for_each_stamp(|_, data| {
                for batch in data.flat_map(|d| d.drain(..)) {
                    if !batch.records.is_empty() {
                        pending.push(Pending::new(batch));
                    }
                }
            });
            let Some(c) = caps.as_mut() else {
                pending.clear();
                return;
            };
            // The frontier before the pending checkpoint: a cut decided after this read is at or above it.
            let raw = frontier_time(&frontiers[0]);
            let f = acting_frontier(raw, &ctx.stop);
            let cut = part.due(f);
            let mut late: Vec<Record> = Vec::new();
            let mut out: Vec<WindowPartial> = Vec::new();
            let at_cap = *c[0].time();
            let mut fold = |limit: Option<Time>, agg: &mut WindowAggregator, late: &mut Vec<Record>| {
                for p in pending.iter_mut() {
                    p.take_below(limit, |batch, i| {
                        let r = &batch.records[i];
                        let (any_late, all_late) = lateness(&plan.window, plan.allowed_lateness_ms, r.ts, r.awm);
                        if all_late && !any_late {
                            let reason = "event time out of range: no window can hold it";
                            late.push(failed_record(labels.of(r), &labels.input_schema, batch, i, reason));
                            return;
                        }
                        if any_late {
                            late.push(failed_record(labels.of(r), &labels.input_schema, batch, i, "late"));
                        }
                        if all_late {
                            return;
                        }
                        agg.add_at(
                            KeyOf::new(&r.values, &plan.key),
                            WindowRecord {
                                ts: r.ts,
                                pos: r.pos,
                                awm: r.awm,
                                values: &r.values,
                                row: &r.values,
                                carry: &plan.carry,
                            },
                        );
                    });
                }
                pending.retain(|p| !p.done());
            };
            let send = |parts: Vec<(i64, Key, Accumulator)>, lt: Time, out: &mut Vec<WindowPartial>| {
                let pos = Position {
                    lt,
                    ..Position::default()
                };
                out.extend(parts.into_iter().map(|(start, key, acc)| WindowPartial {
                    pos,
                    route: key.route_hash(),
                    start,
                    key,
                    acc,
                }));
            };
            if let Some((epoch, at)) = cut {
                // Everything below the cut, and nothing at or after it, reaches the merge below the cut.
                fold(Some(at), &mut agg, &mut late);
                send(agg.take_partials(None), floor.max(at_cap), &mut out);
                floor = at;
                part.pass(epoch);
                last_cut = Some(at);
            }
            fold(f, &mut agg, &mut late);
            if agg.open_count() > plan.max_open_windows {
                if let Some(operator) = guard.take() {
                    ctx.stop.fail(crate::dataflow::JobFailure::TooManyWindows {
                        operator,
                        limit: plan.max_open_windows,
                    });
                }
            }
            let due = f.map(ms);
            send(agg.take_partials(due), floor.max(at_cap), &mut out);
            if !late.is_empty() {
                ctx.metrics.late_records(&labels.input, late.len() as u64);
                late_out
                    .activate()
                    .session(&c[1])
                    .give(Arc::new(Batch::new(late, None)));
            }
            if !out.is_empty() {
                partials_out.activate().session(&c[0]).give_container(&mut out);
            }
            match (raw, f) {
                (None, _) | (_, None) => caps = None,
                (Some(_), Some(f)) => {
                    // One below the frontier (a later cut may be at it), or at it once a cut there is done.
                    let hold = if last_cut == Some(f) { f } else { f.saturating_sub(1) };
                    for cap in c.iter_mut() {
                        if hold > *cap.time() {
                            cap.downgrade(&hold);
                        }
                    }
                }
            }
        }
    });
    (partials, late)
}
