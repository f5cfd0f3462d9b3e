//! `kind = "alert"`: per key, an alert for each record where `when` is TRUE, suppressed for `cooldown` of
//! event time after the key's last alert ([`Cooldown`]), applied in deterministic order on the key's worker.
//!
//! The condition is evaluated where the records are (only matching records travel to their key's worker);
//! a record it fails on goes to the operator's dead letters.

use crate::component::registry::OperatorInputs;
use crate::config::Section;
use crate::config::alerting::{alert_key_and_fields, alert_kind, severity};
use crate::expr::compile_predicate;
use std::sync::Arc;
use crate::component::{BuildContext, OperatorComponent, Outputs};
use crate::dataflow::dead_letters::{failed_record, split_batches};
use crate::dataflow::keyed_op::key_of;
use crate::dataflow::map::failure;
use crate::dataflow::ordered::{ordered, OrderedLogic};
use crate::dataflow::{Positioned, RunContext, Time};
use crate::expr::Typed;
use crate::record::{alert_record, cmp_rows, AlertHead, Record, RecordStream};
use crate::schema::Schema;
use crate::words::{field_names, humanize_ms};
use serde::{Deserialize, Serialize};
use weir_operators::{Cooldown, Key, Position, Values};

/// `kind = "alert"`: per key, an alert for each record where `when` is TRUE, at most one per `cooldown` of
/// event time (an older, out-of-order record never re-alerts).
#[derive(Clone, Debug)]
pub struct AlertPlan {
    pub key: Vec<usize>,
    pub when: Typed,
    pub cooldown_ms: i64,
    pub alert_kind: String,
    pub severity: String,
    /// Fields copied into each alert, by input schema index, with their names.
    pub fields: Vec<(String, usize)>,
}

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

/// The alert operator: returns its alerts and the dead letters of records `when` failed on.
pub fn alert<'s>(
    input: RecordStream<'s>,
    name: String,
    plan: AlertPlan,
    schema: Schema,
    job: String,
    ctx: RunContext,
) -> (RecordStream<'s>, RecordStream<'s>) {
    // The condition where the records are: matching records travel as candidates, failures are dead letters.
    let (feed, source) = (plan.clone(), name.clone());
    let (candidates, failed) = split_batches(input, &name, move |batch, out, dead| {
        for (i, r) in batch.records.iter().enumerate() {
            match feed.when.holds(&r.values) {
                Ok(true) => out.push(Candidate {
                    pos: r.pos,
                    seq: r.seq,
                    ts: r.ts,
                    key: key_of(&r.values, &feed.key),
                    fields: feed.fields.iter().map(|(_, f)| r.values[*f].clone()).collect(),
                }),
                Ok(false) => {}
                Err(e) => dead.push(failed_record(&source, &schema, batch, i, &failure(&feed.when.text, e))),
            }
        }
    });
    let logic = AlertLogic {
        plan,
        job,
        ctx: ctx.clone(),
    };
    let alerts = ordered(candidates, "Alert", name, logic, ctx);
    (alerts, failed)
}

/// Alerts as an ordered operator: each candidate, in order, alerts if its key's cooldown admits it.
struct AlertLogic {
    plan: AlertPlan,
    job: String,
    ctx: RunContext,
}

impl OrderedLogic for AlertLogic {
    type Item = Candidate;
    type State = Cooldown;

    fn route(c: &Candidate) -> u64 {
        c.key.route_hash()
    }

    fn fresh(&self) -> Cooldown {
        Cooldown::new(self.plan.cooldown_ms)
    }

    fn step(
        &mut self,
        cooldown: &mut Cooldown,
        items: &mut dyn Iterator<Item = (Position, Candidate)>,
        _f: Option<Time>,
        out: &mut [Vec<Record>],
    ) {
        let alerts = &mut out[0];
        for (pos, r) in items {
            if cooldown.admit(&r.key, r.ts) {
                let key = r.key.display();
                let head = AlertHead {
                    job: &self.job,
                    kind: &self.plan.alert_kind,
                    severity: &self.plan.severity,
                    key: &key,
                    event_time: r.ts,
                };
                alerts.push(alert_record(pos, r.seq, head, r.fields));
                self.ctx.metrics.alert(&self.plan.alert_kind);
            }
        }
    }
}

impl OperatorComponent for AlertPlan {
    fn kind(&self) -> &'static str {
        "alert"
    }
    fn has_dead_letters(&self) -> bool {
        true
    }
    fn is_stateful(&self) -> bool {
        true
    }
    fn describe(&self, input: &Schema) -> String {
        format!(
            "alert `{}` ({}) by [{}] when `{}`, cooldown {}, fields [{}]",
            self.alert_kind,
            self.severity,
            field_names(input, &self.key),
            self.when.text,
            humanize_ms(self.cooldown_ms),
            self.fields
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
    fn build<'s>(&self, cx: BuildContext<'s, '_>) -> Outputs<'s> {
        let input = cx.inputs.into_iter().next().expect("one input");
        let job = cx.job_name.to_string();
        let (alerts, failed) = alert(
            input,
            cx.name.to_string(),
            self.clone(),
            cx.input_schema,
            job,
            cx.ctx.clone(),
        );
        Outputs::with_dead_letters(alerts, failed)
    }
}

/// `kind = "alert"`: `key`, `when`, `cooldown`, `alert`, `severity`, `fields`.
pub fn parse(s: &Section, inputs: &OperatorInputs) -> Option<(Arc<dyn OperatorComponent>, Schema)> {
    let schema = &inputs[0];
    let keyed = alert_key_and_fields(
        s,
        schema,
        "the fields alerts are suppressed per, e.g. key = [\"sensor_id\"]",
    );
    let when = s
        .req_str("when")
        .and_then(|text| match compile_predicate(text, schema) {
            Ok(t) => Some(t),
            Err(e) => {
                s.problem("when", e.to_string());
                None
            }
        });
    let cooldown = s.duration_ms("cooldown").unwrap_or(0);
    let alert_kind = alert_kind(s);
    let severity = severity(s);
    let (key, fields) = keyed?;
    let out = Schema::alerts(fields.iter().map(|(_, i)| schema.fields[*i].clone()));
    Some((
        Arc::new(AlertPlan {
            key,
            when: when?,
            cooldown_ms: cooldown.max(0),
            alert_kind: alert_kind?.to_string(),
            severity,
            fields,
        }),
        out,
    ))
}
