//! The delivery-alerts operator: location records keyed by order, run through the [`DeliveryRules`] on the
//! generic keyed-timer operator, alerts as records of the alert schema with the delivery fields.

use crate::component::{BuildContext, OperatorComponent, Outputs};
use crate::dataflow::alert_op::{alert_record, AlertHead};
use crate::dataflow::keyed_op::{keyed_timers, KeyedRecord};
use crate::dataflow::{per_record, RunContext};
use crate::plan::humanize_ms;
use crate::plan::DeliveryPlan;
use crate::record::RecordStream;
use crate::schema::{Field, FieldType, Schema};
use weir_operators::delivery::{DeliveryState, LocationPing};
use weir_operators::{Key, Value};

/// The schema of delivery alerts.
pub fn delivery_alert_schema() -> Schema {
    Schema::alerts([
        Field::new("order_id", FieldType::String),
        Field::new("deliverer_id", FieldType::String),
        Field::new("lat", FieldType::Float),
        Field::new("lon", FieldType::Float),
        Field::nullable("picked_up_at", FieldType::Timestamp),
        Field::nullable("deadline", FieldType::Timestamp),
    ])
}

pub fn delivery_alerts<'s>(
    input: RecordStream<'s>,
    name: String,
    plan: DeliveryPlan,
    job: String,
    ctx: RunContext,
) -> RecordStream<'s> {
    let feed = plan.clone();
    let records = per_record(input, "DeliveryFeed", move |_, r| {
        let text = |f: usize| match &r.values[f] {
            Value::Str(s) => s.clone(),
            other => other.to_string().into(),
        };
        let state = DeliveryState::parse(&text(feed.state))?;
        let key = Key::from(vec![r.values[feed.key].clone()]);
        Some(KeyedRecord {
            pos: r.pos,
            seq: r.seq,
            route: key.route_hash(),
            key,
            record: LocationPing {
                ts: r.ts,
                state,
                deliverer_id: text(feed.deliverer),
                lat: r.values[feed.lat].as_f64().unwrap_or(f64::NAN),
                lon: r.values[feed.lon].as_f64().unwrap_or(f64::NAN),
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
            move |pos, seq, key, a| {
                ctx.metrics.alert(a.kind);
                let key_text = key.display();
                let head = AlertHead {
                    job: &job,
                    kind: a.kind,
                    severity: a.severity(),
                    key: &key_text,
                    event_time: a.event_time,
                };
                alert_record(
                    pos,
                    seq,
                    head,
                    [
                        Value::Str(key_text.as_str().into()),
                        Value::Str(a.deliverer_id.as_str().into()),
                        Value::Float(a.lat),
                        Value::Float(a.lon),
                        a.picked_up_at.map_or(Value::Null, Value::Int),
                        a.deadline.map_or(Value::Null, Value::Int),
                    ],
                )
            }
        },
        ctx,
    )
}

impl OperatorComponent for DeliveryPlan {
    fn kind(&self) -> &'static str {
        "delivery_alerts"
    }
    fn is_stateful(&self) -> bool {
        true
    }
    fn describe(&self, input: &Schema) -> String {
        let f = |i: usize| input.fields[i].name.as_str();
        format!(
            "delivery_alerts by {} (state {}, deliverer {}, lat {}, lon {}): delayed {} after pickup, silent after \
             {} without a newer ping, state kept {}",
            f(self.key),
            f(self.state),
            f(self.deliverer),
            f(self.lat),
            f(self.lon),
            humanize_ms(self.rules.budget_ms),
            humanize_ms(self.rules.silence_ms),
            humanize_ms(self.rules.retention_ms)
        )
    }
    fn build<'s>(&self, cx: BuildContext<'s, '_>) -> Outputs<'s> {
        let input = cx.inputs.into_iter().next().expect("one input");
        let job = cx.plan.job_name.clone();
        Outputs::main(delivery_alerts(
            input,
            cx.name.to_string(),
            self.clone(),
            job,
            cx.ctx.clone(),
        ))
    }
}
