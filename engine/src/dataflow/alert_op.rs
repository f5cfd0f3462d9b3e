//! `kind = "alert"`: per key, an alert for each record where `when` is TRUE, suppressed for `cooldown` of
//! event time after the key's last alert ([`Cooldown`]), applied in deterministic order on the key's worker.
//!
//! The condition is evaluated where the records are (only matching records travel to their key's worker);
//! a record it fails on goes to the operator's dead letters.

use crate::dataflow::transforms::{failure, map_batches, Mapped};
use crate::dataflow::window_op::key_of;
use crate::dataflow::{
    drain_ordered, frontier_time, gather, hold_at_frontier, ordered_frontier, participant, per_record, restore_state,
    snapshot, OutputHandle, Positioned, RunContext, Time,
};
use crate::plan::AlertPlan;
use crate::record::{cmp_rows, Batch, Record, RecordStream, Row, SharedBatch};
use crate::schema::Schema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use weir_operators::{alert_id, Cooldown, EventOrderBuffer, Key, Position, Value, Values};

/// A matching record on its way to its key's worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Candidate {
    pub pos: Position,
    pub seq: u32,
    pub ts: i64,
    pub key: Key,
    pub fields: Values,
}

impl Positioned for Candidate {
    fn position(&self) -> Position {
        self.pos
    }
    fn tie(&self, other: &Self) -> std::cmp::Ordering {
        self.seq
            .cmp(&other.seq)
            .then_with(|| self.key.cmp(&other.key))
            .then_with(|| cmp_rows(&self.fields, &other.fields))
    }
}

/// The fixed fields of an alert (its id is derived from them).
pub struct AlertHead<'a> {
    pub job: &'a str,
    pub kind: &'a str,
    pub severity: &'a str,
    pub key: &'a str,
    pub event_time: i64,
}

/// An alert as a record of [`Schema::alerts`] at `pos` (rank `seq`): the fixed fields, then the rule's
/// `fields`.
pub fn alert_record(pos: Position, seq: u32, head: AlertHead, fields: impl IntoIterator<Item = Value>) -> Record {
    let AlertHead {
        job,
        kind,
        severity,
        key,
        event_time,
    } = head;
    let mut values: Row = [
        Value::Str(alert_id(job, kind, key, event_time).into()),
        Value::Str(kind.into()),
        Value::Str(severity.into()),
        Value::Str(key.into()),
        Value::Int(event_time),
        Value::Str(job.into()),
    ]
    .into_iter()
    .collect();
    values.extend(fields);
    Record::derived(pos, seq, event_time, values)
}

/// The alert operator: returns its alerts and the dead letters of records `when` failed on.
pub fn alert<'s>(
    input: RecordStream<'s>,
    name: String,
    plan: AlertPlan,
    schema: Schema,
    job: String,
    ctx: RunContext,
) -> (RecordStream<'s>, RecordStream<'s>) {
    let when = plan.when.clone();
    // First the condition, where the records are: matching records go on, failures become dead letters.
    let (matching, failed) = map_batches(input, &name, schema, move |batch| {
        let mut keep = Vec::new();
        let mut errors = Vec::new();
        for (i, r) in batch.records.iter().enumerate() {
            match when.holds(&r.values) {
                Ok(true) => keep.push(r.clone()),
                Ok(false) => {}
                Err(e) => errors.push((i, failure(&when.text, e))),
            }
        }
        Mapped::New(keep, errors)
    });
    let feed = plan.clone();
    let candidates = per_record(matching, "AlertFeed", move |_, r| {
        Some(Candidate {
            pos: r.pos,
            seq: r.seq,
            ts: r.ts,
            key: key_of(&r.values, &feed.key),
            fields: feed.fields.iter().map(|(_, f)| r.values[*f].clone()).collect(),
        })
    });
    let scope = candidates.scope();
    let alerts = candidates.unary_frontier(
        Exchange::new(|c: &Candidate| c.key.route_hash()),
        "Alert",
        move |initial, info| {
            let mut cap = Some(initial);
            let mut buffer: EventOrderBuffer<Candidate> = EventOrderBuffer::default();
            let mut part = participant(scope, &info, &name, &ctx);
            let mut cooldown =
                restore_state(&part, scope.peers(), &ctx).unwrap_or_else(|| Cooldown::new(plan.cooldown_ms));
            move |(input, frontier), output| {
                gather(input, &mut buffer);
                if let Some((epoch, at)) = part.due(frontier_time(frontier)) {
                    if let Some(c) = cap.as_ref() {
                        apply(&plan, &job, &ctx, &mut cooldown, &mut buffer, Some(at), c, output);
                    }
                    part.submit(epoch, snapshot(&cooldown));
                }
                let f = ordered_frontier(frontier, &ctx);
                let Some(c) = cap.as_ref() else { return };
                apply(&plan, &job, &ctx, &mut cooldown, &mut buffer, f, c, output);
                hold_at_frontier(&mut cap, frontier, f);
            }
        },
    );
    (alerts, failed)
}

/// Applies the candidates below `f`, emitting an alert for each that the cooldown admits.
#[allow(clippy::too_many_arguments)]
fn apply(
    plan: &AlertPlan,
    job: &str,
    ctx: &RunContext,
    cooldown: &mut Cooldown,
    buffer: &mut EventOrderBuffer<Candidate>,
    f: Option<Time>,
    c: &Capability<Time>,
    output: &mut OutputHandle<'_, SharedBatch>,
) {
    let mut alerts = Vec::new();
    for (pos, r) in drain_ordered(buffer, f) {
        if cooldown.admit(&r.key, r.ts) {
            let key = r.key.display();
            let head = AlertHead {
                job,
                kind: &plan.alert_kind,
                severity: &plan.severity,
                key: &key,
                event_time: r.ts,
            };
            alerts.push(alert_record(pos, r.seq, head, r.fields));
            ctx.metrics.alert(&plan.alert_kind);
        }
    }
    if !alerts.is_empty() {
        output.session(c).give(Arc::new(Batch::new(alerts, None)));
    }
}
