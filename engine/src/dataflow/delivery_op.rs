//! The delivery-alerts operator: location records keyed by order, run through the [`DeliveryRules`] on the
//! generic keyed-timer operator, alerts rendered as DESIGN §4 JSON.

use crate::dataflow::keyed_op::{keyed_timers, KeyedRecord};
use crate::dataflow::source_op::ChunkStream;
use crate::dataflow::{per_record, Line, RunContext, Time};
use crate::plan::DeliveryPlan;
use timely::dataflow::Stream;
use weir_operators::delivery::{DeliveryAlert, DeliveryState, LocationPing};
use weir_operators::{alert_id, Key, Value};

fn render(job: &str, key: &Key, a: &DeliveryAlert) -> String {
    let key_text = key.display();
    let mut m = serde_json::Map::new();
    m.insert("alert_id".into(), alert_id(job, a.kind, &key_text, a.event_time).into());
    m.insert("kind".into(), a.kind.into());
    m.insert("severity".into(), a.severity().into());
    m.insert("key".into(), key_text.clone().into());
    m.insert("event_time".into(), a.event_time.into());
    m.insert("job".into(), job.into());
    m.insert("order_id".into(), key_text.into());
    m.insert("deliverer_id".into(), a.deliverer_id.as_str().into());
    m.insert("lat".into(), Value::Float(a.lat).to_json());
    m.insert("lon".into(), Value::Float(a.lon).to_json());
    m.insert("picked_up_at".into(), a.picked_up_at.into());
    m.insert("deadline".into(), a.deadline.into());
    serde_json::Value::Object(m).to_string()
}

pub fn delivery_alerts<'s>(
    chunks: ChunkStream<'s>,
    name: String,
    plan: DeliveryPlan,
    job: String,
    ctx: RunContext,
) -> Stream<'s, Time, Vec<Line>> {
    let feed = plan.clone();
    let records = per_record(chunks, "DeliveryFeed", move |chunk, i| {
        let text = |f: usize| match chunk.value(i, f) {
            Value::Str(s) => s.clone(),
            other => other.to_string().into(),
        };
        let state = DeliveryState::parse(&text(feed.state))?;
        let key = Key::from(vec![chunk.value(i, feed.key).clone()]);
        Some(KeyedRecord {
            pos: chunk.position(i),
            route: key.route_hash(),
            key,
            record: LocationPing {
                ts: chunk.chunk.ts[i],
                state,
                deliverer_id: text(feed.deliverer),
                lat: chunk.value(i, feed.lat).as_f64().unwrap_or(f64::NAN),
                lon: chunk.value(i, feed.lon).as_f64().unwrap_or(f64::NAN),
            },
        })
    });
    keyed_timers(
        records,
        "DeliveryAlerts",
        name,
        plan.rules,
        {
            let ctx = ctx.clone();
            move |key, alert| {
                ctx.metrics.alert(alert.kind);
                render(&job, key, alert)
            }
        },
        ctx,
    )
}
