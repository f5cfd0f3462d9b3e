//! The threshold-alert operator in the dataflow: routes readings by key and applies them to a
//! [`ThresholdAlerter`] in deterministic order, emitting alert JSON lines.

use crate::dataflow::source_op::ChunkStream;
use crate::dataflow::window_op::key_of;
use crate::dataflow::{
    frontier_time, gather, hold_at_frontier, ordered_frontier, participant, per_record, restore_state, snapshot, Line,
    OutputHandle, Positioned, RunContext, Time,
};
use crate::plan::ThresholdPlan;
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;
use weir_operators::{alert_id, Alert, EventOrderBuffer, Key, Position, ThresholdAlerter, Values};

/// A reading on its way to its key's worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reading {
    pub pos: Position,
    pub ts: i64,
    pub key: Key,
    pub value: f64,
    pub fields: Values,
}

impl Positioned for Reading {
    fn position(&self) -> Position {
        self.pos
    }
}

pub fn threshold<'s>(
    chunks: ChunkStream<'s>,
    name: String,
    plan: ThresholdPlan,
    job: String,
    ctx: RunContext,
) -> Stream<'s, Time, Vec<Line>> {
    let feed_plan = plan.clone();
    // Only readings above the limit can alert; the rest never leave the worker that decoded them.
    let readings = per_record(chunks, "ThresholdFeed", move |chunk, i| {
        let value = chunk.value(i, feed_plan.field).as_f64().unwrap_or(f64::NAN);
        (value > feed_plan.above).then(|| Reading {
            pos: chunk.position(i),
            ts: chunk.chunk.ts[i],
            key: key_of(chunk, i, &feed_plan.key),
            value,
            fields: feed_plan
                .fields
                .iter()
                .map(|(_, f)| chunk.value(i, *f).clone())
                .collect(),
        })
    });
    let scope = readings.scope();
    readings.unary_frontier(
        Exchange::new(|r: &Reading| r.key.route_hash()),
        "ThresholdAlert",
        move |initial, info| {
            let mut cap = Some(initial);
            let mut buffer: EventOrderBuffer<Reading> = EventOrderBuffer::default();
            let mut part = participant(scope, &info, &name, &ctx);
            let mut alerter = restore_state(&part, scope.peers(), &ctx)
                .unwrap_or_else(|| ThresholdAlerter::new(plan.above, plan.cooldown_ms));
            move |(input, frontier), output| {
                gather(input, &mut buffer);
                if let Some((epoch, at)) = part.due(frontier_time(frontier)) {
                    if let Some(c) = cap.as_ref() {
                        apply(&plan, &job, &ctx, &mut alerter, &mut buffer, Some(at), c, output);
                    }
                    part.submit(epoch, snapshot(&alerter));
                }
                let f = ordered_frontier(frontier, &ctx);
                let Some(c) = cap.as_ref() else { return };
                apply(&plan, &job, &ctx, &mut alerter, &mut buffer, f, c, output);
                hold_at_frontier(&mut cap, frontier, f);
            }
        },
    )
}

/// Applies the readings below `f`, emitting an alert line for each that alerts.
#[allow(clippy::too_many_arguments)]
fn apply(
    plan: &ThresholdPlan,
    job: &str,
    ctx: &RunContext,
    alerter: &mut ThresholdAlerter,
    buffer: &mut EventOrderBuffer<Reading>,
    f: Option<Time>,
    c: &Capability<Time>,
    output: &mut OutputHandle<'_, Line>,
) {
    let mut session = output.session(c);
    for (pos, r) in buffer.drain_before(f) {
        if alerter.observe(&r.key, r.ts, r.value) {
            let key = r.key.display();
            let alert = Alert {
                alert_id: alert_id(job, &plan.alert_kind, &key, r.ts),
                kind: plan.alert_kind.clone(),
                severity: plan.severity.clone(),
                key,
                event_time: r.ts,
                job: job.to_string(),
                fields: plan.fields.iter().map(|(n, _)| n.clone()).zip(r.fields).collect(),
            };
            session.give(Line {
                pos,
                seq: 0,
                text: alert.to_json(),
            });
            ctx.metrics.alert(&plan.alert_kind);
        }
    }
}
