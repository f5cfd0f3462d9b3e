//! `kind = "deadline"` and `kind = "absence"`: keyed rules over event time, run on the keyed-timer operator.
//!
//! The rule's two predicates (`start`/`done`, `of`/`until`) are evaluated where the records are; a record
//! either fails on goes to the operator's dead letters, every other record travels to its key's worker as a
//! [`RuleRecord`] (which predicates it matched, and the fields alerts copy from the key's newest record).
//! Alerts are records of the alert schema: the fixed fields, the rule's `fields`, and for a deadline its
//! start time and deadline under the names the job gives them.

use crate::component::{BuildContext, OperatorComponent, Outputs};
use crate::dataflow::alert_op::{alert_record, AlertHead};
use crate::dataflow::dead_letters::{failed_record, split_batches};
use crate::dataflow::keyed_op::{keyed_timers, KeyedRecord};
use crate::dataflow::transforms::failure;
use crate::dataflow::window_op::key_of;
use crate::expr::Typed;
use crate::plan::humanize_ms;
use crate::record::Record;
use crate::schema::{Field, FieldType, Schema};
use weir_operators::{Absence, Deadline, Key, KeyedLogic, Position, RuleAlert, RuleRecord, Value};

/// What both rules share: the key, the predicates, the alerts and their fields.
#[derive(Clone, Debug)]
pub struct RulePlan {
    pub key: Vec<usize>,
    /// `start` / `of` (`None`: every record).
    pub opens: Option<Typed>,
    /// `done` / `until` (`None`: no record).
    pub closes: Option<Typed>,
    pub alert_kind: String,
    pub severity: String,
    /// The follow-up alert's kind (`resolved` / `resumed`), if any; its severity is `info`.
    pub follow_up: Option<String>,
    /// Fields copied into each alert from the key's newest record, by input schema index, with their names.
    pub fields: Vec<(String, usize)>,
    pub retention_ms: i64,
}

/// A deadline rule: [`RulePlan`] plus its timing and the names of its time fields in alerts.
#[derive(Clone, Debug)]
pub struct DeadlinePlan {
    pub rule: RulePlan,
    pub within_ms: i64,
    pub repeat: bool,
    /// Alert field names for the start time and the deadline.
    pub start_field: String,
    pub deadline_field: String,
}

/// An absence rule: [`RulePlan`] plus its silence.
#[derive(Clone, Debug)]
pub struct AbsencePlan {
    pub rule: RulePlan,
    pub silence_ms: i64,
}

impl RulePlan {
    /// The alert schema: the fixed fields, the copied fields, then `extra`.
    pub fn schema(&self, input: &Schema, extra: impl IntoIterator<Item = Field>) -> Schema {
        let copied = self.fields.iter().map(|(_, i)| input.fields[*i].clone());
        Schema::alerts(copied.chain(extra))
    }

    /// The rule in words: `per KEY: ALERT (SEVERITY) WHEN[, then FOLLOW-UP (info) FOLLOW_WHEN]; …`.
    fn describe(&self, input: &Schema, when: String, follow_when: &str, extra: &str) -> String {
        let key: Vec<&str> = self.key.iter().map(|i| input.fields[*i].name.as_str()).collect();
        let fields: Vec<&str> = self.fields.iter().map(|(n, _)| n.as_str()).collect();
        let follow = match &self.follow_up {
            Some(f) => format!(", then `{f}` (info) {follow_when}"),
            None => String::new(),
        };
        format!(
            "per {}: `{}` ({}) {when}{follow}; alerts carry [{}] of the key's newest record{extra}; state kept {} \
             after it",
            key.join(", "),
            self.alert_kind,
            self.severity,
            fields.join(", "),
            humanize_ms(self.retention_ms)
        )
    }

    fn text(p: &Option<Typed>, default: &str) -> String {
        p.as_ref().map_or(default.to_string(), |t| t.text.clone())
    }

    /// Whether a predicate can fail on a record (and so the operator has dead letters).
    fn can_fail(&self) -> bool {
        self.opens.is_some() || self.closes.is_some()
    }
}

impl OperatorComponent for DeadlinePlan {
    fn kind(&self) -> &'static str {
        "deadline"
    }
    fn has_dead_letters(&self) -> bool {
        self.rule.can_fail()
    }
    fn is_stateful(&self) -> bool {
        true
    }
    fn describe(&self, input: &Schema) -> String {
        let r = &self.rule;
        let when = format!(
            "{} after the first record where `{}`{}{}",
            humanize_ms(self.within_ms),
            RulePlan::text(&r.opens, "TRUE"),
            r.closes
                .as_ref()
                .map_or(String::new(), |c| format!(" unless one where `{}` came first", c.text)),
            if self.repeat {
                " (a new deadline for each start after done)"
            } else {
                ""
            },
        );
        let extra = format!(
            " and the start and deadline as `{}`, `{}`",
            self.start_field, self.deadline_field
        );
        r.describe(input, when, "when it comes after the alert", &extra)
    }
    fn build<'s>(&self, cx: BuildContext<'s, '_>) -> Outputs<'s> {
        let logic = Deadline {
            within_ms: self.within_ms,
            retention_ms: self.rule.retention_ms,
            repeat: self.repeat,
            follow_up: self.rule.follow_up.is_some(),
        };
        build_rule(cx, &self.rule, logic, true)
    }
}

impl OperatorComponent for AbsencePlan {
    fn kind(&self) -> &'static str {
        "absence"
    }
    fn has_dead_letters(&self) -> bool {
        self.rule.can_fail()
    }
    fn is_stateful(&self) -> bool {
        true
    }
    fn describe(&self, input: &Schema) -> String {
        let r = &self.rule;
        let when = format!(
            "{} after the key's newest record{}{}",
            humanize_ms(self.silence_ms),
            r.opens
                .as_ref()
                .map_or(String::new(), |o| format!(" where `{}`", o.text)),
            r.closes
                .as_ref()
                .map_or(String::new(), |c| format!(" unless one where `{}` was applied", c.text)),
        );
        r.describe(input, when, "on the next newer such record", "")
    }
    fn build<'s>(&self, cx: BuildContext<'s, '_>) -> Outputs<'s> {
        let logic = Absence {
            silence_ms: self.silence_ms,
            retention_ms: self.rule.retention_ms,
            follow_up: self.rule.follow_up.is_some(),
        };
        build_rule(cx, &self.rule, logic, false)
    }
}

/// The alert field types a deadline adds (start time, deadline).
pub fn deadline_fields(start: &str, deadline: &str) -> [Field; 2] {
    [
        Field::new(start, FieldType::Timestamp),
        Field::new(deadline, FieldType::Timestamp),
    ]
}

fn build_rule<'s, L>(cx: BuildContext<'s, '_>, plan: &RulePlan, logic: L, with_times: bool) -> Outputs<'s>
where
    L: KeyedLogic<Record = RuleRecord, Output = RuleAlert> + 'static,
    L::State: Send + 'static,
{
    let input = cx.inputs.into_iter().next().expect("one input");
    let name = cx.name.to_string();
    // The predicates where the records are: a record either fails on is a dead letter, the others travel.
    let (feed, source, schema) = (plan.clone(), name.clone(), cx.input_schema);
    let (records, failed) = split_batches(input, &name, move |batch, out, dead| {
        let eval = |p: &Option<Typed>, default: bool, r: &Record| match p {
            None => Ok(default),
            Some(t) => t.holds(&r.values).map_err(|e| failure(&t.text, e)),
        };
        for (i, r) in batch.records.iter().enumerate() {
            let (opens, closes) = match (eval(&feed.opens, true, r), eval(&feed.closes, false, r)) {
                (Ok(o), Ok(c)) => (o, c),
                (Err(e), _) | (_, Err(e)) => {
                    dead.push(failed_record(&source, &schema, batch, i, &e));
                    continue;
                }
            };
            let key = key_of(&r.values, &feed.key);
            out.push(KeyedRecord {
                pos: r.pos,
                seq: r.seq,
                route: key.route_hash(),
                key,
                record: RuleRecord {
                    ts: r.ts,
                    opens,
                    closes,
                    fields: feed.fields.iter().map(|(_, f)| r.values[*f].clone()).collect(),
                },
            });
        }
    });
    let (job, plan, ctx) = (cx.plan.job_name.clone(), plan.clone(), cx.ctx.clone());
    let make = move |pos: Position, seq: u32, key: &Key, a: &RuleAlert| {
        let kind = match (&plan.follow_up, a.follow_up) {
            (Some(f), true) => f.as_str(),
            _ => plan.alert_kind.as_str(),
        };
        ctx.metrics.alert(kind);
        let key_text = key.display();
        let head = AlertHead {
            job: &job,
            kind,
            severity: if a.follow_up { "info" } else { &plan.severity },
            key: &key_text,
            event_time: a.event_time,
        };
        let times = with_times.then(|| [a.started_at, a.deadline].map(|t| t.map_or(Value::Null, Value::Int)));
        alert_record(
            pos,
            seq,
            head,
            a.fields.iter().cloned().chain(times.into_iter().flatten()),
        )
    };
    let alerts = keyed_timers(records, "Rule", name, logic, make, cx.ctx.clone());
    Outputs::with_dead_letters(alerts, failed)
}
