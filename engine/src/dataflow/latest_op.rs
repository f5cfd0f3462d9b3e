//! The `latest` operator: a live view of the newest record per key ([`LatestValues`]) published to the shared
//! [`ViewStore`] and as a changelog (`upsert` on every change, `delete` when a key expires).
//!
//! Expiries are timers: a key expiring at `T` is removed after every record with logical time `< T` and before
//! every record with logical time `≥ T`. The end of a bounded input is not treated as +∞ (the final view is
//! what readers query afterwards): keys expire up to the job watermark just before the end, which the sources
//! report — the same in every run, however the frontier happened to advance.

use crate::dataflow::keyed_op::KeyedRecord;
use crate::dataflow::source_op::ChunkStream;
use crate::dataflow::{
    due_before, frontier_time, gather, hold_at_frontier, ordered_frontier, participant, per_record, restore_state,
    snapshot, Line, RunContext, Time,
};
use crate::plan::LatestPlan;
use crate::views::{View, ViewStore};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;
use weir_operators::{EventOrderBuffer, Key, LatestValues, Position, Value};

/// One record's candidate value.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Candidate {
    pub ts: i64,
    pub terminal: bool,
    pub values: Vec<Value>,
}

fn upsert_line(view: &str, key: &str, fields: &[String], values: &[Value], pos: Position) -> Line {
    let mut m = serde_json::Map::new();
    m.insert("view".into(), view.into());
    m.insert("key".into(), key.into());
    m.insert("op".into(), "upsert".into());
    for (n, v) in fields.iter().zip(values) {
        m.insert(n.clone(), v.to_json());
    }
    Line {
        pos,
        seq: 0,
        text: serde_json::Value::Object(m).to_string(),
    }
}

fn delete_line(view: &str, key: &str, at: i64) -> Line {
    let text = serde_json::json!({"view": view, "key": key, "op": "delete"}).to_string();
    Line {
        pos: Position {
            lt: at.max(0) as Time,
            source: 0,
            partition: 0,
            offset: 0,
        },
        seq: 0,
        text,
    }
}

/// `instance` numbers this operator on this worker for the store's progress tracking.
pub fn latest<'s>(
    chunks: ChunkStream<'s>,
    name: String,
    plan: LatestPlan,
    store: Arc<ViewStore>,
    instance: usize,
    sources: usize,
    ctx: RunContext,
) -> Stream<'s, Time, Vec<Line>> {
    let feed = plan.clone();
    let records = per_record(chunks, "LatestFeed", move |chunk, i| {
        let key = Key::from(vec![chunk.value(i, feed.key).clone()]);
        let terminal = feed
            .terminal
            .as_ref()
            .is_some_and(|(f, values)| match chunk.value(i, *f) {
                Value::Str(s) => values.iter().any(|v| v == s.as_str()),
                other => values.iter().any(|v| *v == other.to_string()),
            });
        let values = (0..chunk.chunk.columns.len())
            .map(|f| chunk.value(i, f).clone())
            .collect();
        Some(KeyedRecord {
            pos: chunk.position(i),
            route: key.route_hash(),
            key,
            record: Candidate {
                ts: chunk.chunk.ts[i],
                terminal,
                values,
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
                            output.session(c).give_iterator(lines.into_iter());
                        }
                    }
                    part.submit(epoch, snapshot(&state));
                }
                let f = ordered_frontier(frontier, &ctx);
                let Some(c) = cap.as_ref() else { return };
                let lines = apply(&name, &view, &mut state, &mut buffer, f, sources, &ctx);
                store.progress(instance, f);
                if !lines.is_empty() {
                    output.session(c).give_iterator(lines.into_iter());
                }
                hold_at_frontier(&mut cap, frontier, f);
            }
        },
    )
}

/// Applies the records below `f` and expires the keys due before it; returns the changelog lines.
fn apply(
    name: &str,
    view: &View,
    state: &mut LatestValues<Arc<Vec<Value>>>,
    buffer: &mut EventOrderBuffer<KeyedRecord<Candidate>>,
    f: Option<Time>,
    sources: usize,
    ctx: &RunContext,
) -> Vec<Line> {
    let mut lines = Vec::new();
    let expire = |state: &mut LatestValues<Arc<Vec<Value>>>, upto: i64, lines: &mut Vec<Line>| {
        for (at, key) in state.expire(upto) {
            let k = key.display();
            view.remove(&k);
            lines.push(delete_line(name, &k, at));
        }
    };
    for (pos, r) in buffer.drain_before(f) {
        expire(state, pos.lt as i64, &mut lines);
        let values = Arc::new(r.record.values);
        if state.apply(&r.key, r.record.ts, values.clone(), r.record.terminal) {
            let k = r.key.display();
            lines.push(upsert_line(name, &k, &view.fields, &values, pos));
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
