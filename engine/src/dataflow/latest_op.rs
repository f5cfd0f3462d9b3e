//! The `latest` operator: a live view of the newest record per key ([`LatestValues`]) published to the shared
//! [`ViewStore`] and as a changelog (`upsert` on every change, `delete` when a key expires).
//!
//! Expiries are timers: a key expiring at `T` is removed after every record with logical time `< T` and before
//! every record with logical time `≥ T`. The end of a bounded input is not treated as +∞ (the final view is
//! what readers query afterwards): keys expire up to the job watermark just before the end, which the sources
//! report — the same in every run, however the frontier happened to advance.

use crate::dataflow::keyed_op::KeyedRecord;
use crate::dataflow::{
    drain_ordered, due_before, frontier_time, gather, hold_at_frontier, ordered_frontier, participant, per_record,
    restore_state, snapshot, RunContext, Time,
};
use crate::plan::LatestPlan;
use crate::record::{Batch, Record, RecordStream, Row};
use crate::schema::{Field, FieldType, Schema};
use crate::views::{View, ViewStore};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use weir_operators::{EventOrderBuffer, Key, LatestValues, Position, Value};

/// One record's candidate value.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Candidate {
    pub ts: i64,
    pub terminal: bool,
    pub values: Vec<Value>,
}

/// The changelog's schema: `view`, `key`, `op` (`upsert` or `delete`), then the input's fields (NULL in a
/// delete).
pub fn changelog_schema(input: &Schema) -> Schema {
    let mut fields = vec![
        Field::new("view", FieldType::String),
        Field::new("key", FieldType::String),
        Field::new("op", FieldType::Enum(vec!["upsert".into(), "delete".into()])),
    ];
    fields.extend(input.fields.iter().map(|f| Field {
        nullable: true,
        ..f.clone()
    }));
    Schema {
        fields,
        event_time: input.event_time + 3,
    }
}

fn upsert(view: &str, key: &str, values: &[Value], pos: Position, ts: i64) -> Record {
    let mut row: Row = [
        Value::Str(view.into()),
        Value::Str(key.into()),
        Value::Str("upsert".into()),
    ]
    .into_iter()
    .collect();
    row.extend(values.iter().cloned());
    Record::derived(pos, 0, ts, row)
}

fn delete(view: &str, key: &str, at: i64, fields: usize) -> Record {
    let mut row: Row = [
        Value::Str(view.into()),
        Value::Str(key.into()),
        Value::Str("delete".into()),
    ]
    .into_iter()
    .collect();
    row.extend((0..fields).map(|_| Value::Null));
    let pos = Position {
        lt: at.max(0) as Time,
        source: 0,
        partition: 0,
        offset: 0,
    };
    Record::derived(pos, 0, at, row)
}

/// `instance` numbers this operator on this worker for the store's progress tracking.
pub fn latest<'s>(
    input: RecordStream<'s>,
    name: String,
    plan: LatestPlan,
    store: Arc<ViewStore>,
    instance: usize,
    sources: usize,
    ctx: RunContext,
) -> RecordStream<'s> {
    let feed = plan.clone();
    let records = per_record(input, "LatestFeed", move |_, r| {
        let key = Key::from(vec![r.values[feed.key].clone()]);
        let terminal = feed.terminal.as_ref().is_some_and(|(f, values)| match &r.values[*f] {
            Value::Str(s) => values.iter().any(|v| v == s.as_str()),
            other => values.iter().any(|v| *v == other.to_string()),
        });
        Some(KeyedRecord {
            pos: r.pos,
            seq: r.seq,
            route: key.route_hash(),
            key,
            record: Candidate {
                ts: r.ts,
                terminal,
                values: r.values.to_vec(),
            },
        })
    });
    let view: Arc<View> = store.views[&name].clone();
    let scope = records.scope();
    records.unary_frontier(
        Exchange::new(|r: &KeyedRecord<Candidate>| r.route),
        &format!("Latest({name})"),
        move |initial, info| {
            let mut cap = Some(initial);
            let mut buffer: EventOrderBuffer<KeyedRecord<Candidate>> = EventOrderBuffer::default();
            let mut part = participant(scope, &info, &name, &ctx);
            let mut state: LatestValues<Arc<Vec<Value>>> =
                restore_state(&part, scope.peers(), &ctx).unwrap_or_else(|| LatestValues::new(plan.expiry.clone()));
            for (k, v) in state.iter() {
                view.upsert(&k.display(), v.clone());
            }
            move |(input, frontier), output| {
                gather(input, &mut buffer);
                if let Some((epoch, at)) = part.due(frontier_time(frontier)) {
                    if let Some(c) = cap.as_ref() {
                        let lines = apply(&name, &view, &mut state, &mut buffer, Some(at), sources, &ctx);
                        if !lines.is_empty() {
                            output.session(c).give(Arc::new(Batch::new(lines, None)));
                        }
                    }
                    part.submit(epoch, snapshot(&state));
                }
                let f = ordered_frontier(frontier, &ctx);
                let Some(c) = cap.as_ref() else { return };
                let lines = apply(&name, &view, &mut state, &mut buffer, f, sources, &ctx);
                store.progress(instance, f);
                if !lines.is_empty() {
                    output.session(c).give(Arc::new(Batch::new(lines, None)));
                }
                hold_at_frontier(&mut cap, frontier, f);
            }
        },
    )
}

/// Applies the records below `f` and expires the keys due before it; returns the changelog records.
fn apply(
    name: &str,
    view: &View,
    state: &mut LatestValues<Arc<Vec<Value>>>,
    buffer: &mut EventOrderBuffer<KeyedRecord<Candidate>>,
    f: Option<Time>,
    sources: usize,
    ctx: &RunContext,
) -> Vec<Record> {
    let mut lines = Vec::new();
    let nfields = view.fields.len();
    let expire = |state: &mut LatestValues<Arc<Vec<Value>>>, upto: i64, lines: &mut Vec<Record>| {
        for (at, key) in state.expire(upto) {
            let k = key.display();
            view.remove(&k);
            lines.push(delete(name, &k, at, nfields));
        }
    };
    for (pos, r) in drain_ordered(buffer, f) {
        expire(state, pos.lt as i64, &mut lines);
        let values = Arc::new(r.record.values);
        if state.apply(&r.key, r.record.ts, values.clone(), r.record.terminal) {
            let k = r.key.display();
            lines.push(upsert(name, &k, &values, pos, r.record.ts));
            view.upsert(&k, values);
        }
    }
    match due_before(f) {
        Some(t) => expire(state, t, &mut lines),
        None => {
            if let Some(w) = ctx.final_watermark(sources) {
                expire(state, w, &mut lines);
            }
        }
    }
    lines
}
