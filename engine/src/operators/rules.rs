//! `kind = "deadline"` and `kind = "absence"`: keyed rules over event time, run on the keyed-timer operator.
//!
//! The rules of a job that read the same stream with the same key run as one [`RuleSet`] operator: each
//! record is routed, ordered and looked up once for all of them (see `build_rule_set`), and each rule
//! still has its own alert stream, dead letters and semantics. The rules' predicates (`start`/`done`,
//! `of`/`until`) are evaluated where the records are — each distinct predicate once per record; a record a
//! rule's predicate fails on goes to that rule's dead letters (the other rules still see it), every other
//! record travels to its key's worker as a [`RuleSetRecord`] (which predicates it matched, and the fields the
//! alerts copy from the key's newest record). Alerts are records of the alert schema: the fixed fields, the
//! rule's `fields`, and for a deadline its start time and deadline under the names the job gives them.

use crate::component::registry::OperatorInputs;
use crate::config::Section;
use crate::config::alerting::{alert_key_and_fields, alert_kind, severity};
use crate::expr::compile_predicate;
use std::sync::Arc;
use crate::component::{BuildContext, KeyedRule, OperatorComponent, Outputs, RuleMember, RulePlan};
use crate::dataflow::dead_letters::{failed_record, split_batches_to};
use crate::dataflow::keyed_op::key_of;
use crate::dataflow::keyed_op::{keyed_timers, KeyedRecord};
use crate::dataflow::map::failure;
use crate::expr::Typed;
use crate::record::{alert_record, AlertHead};
use crate::schema::{Field, FieldType, Schema};
use crate::words::humanize_ms;
use weir_operators::rules::RuleSetRecord;
use weir_operators::{Absence, Deadline, Key, Position, Rule, RuleAlert, RuleSet, Value};

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
    fn keyed_rule(&self) -> Option<&dyn KeyedRule> {
        Some(self)
    }
    fn build<'s>(&self, cx: BuildContext<'s, '_>) -> Outputs<'s> {
        let name = cx.name.to_string();
        build_rule_set(cx, &[(&name, self)]).remove(0)
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
    fn keyed_rule(&self) -> Option<&dyn KeyedRule> {
        Some(self)
    }
    fn build<'s>(&self, cx: BuildContext<'s, '_>) -> Outputs<'s> {
        let name = cx.name.to_string();
        build_rule_set(cx, &[(&name, self)]).remove(0)
    }
}

/// The alert field types a deadline adds (start time, deadline).
pub fn deadline_fields(start: &str, deadline: &str) -> [Field; 2] {
    [
        Field::new(start, FieldType::Timestamp),
        Field::new(deadline, FieldType::Timestamp),
    ]
}

impl KeyedRule for DeadlinePlan {
    fn build_set<'s>(&self, cx: BuildContext<'s, '_>, members: &[RuleMember<'_>]) -> Vec<Outputs<'s>> {
        build_rule_set(cx, members)
    }
    fn plan(&self) -> &RulePlan {
        &self.rule
    }
    fn rule(&self) -> Rule {
        Rule::Deadline(Deadline {
            within_ms: self.within_ms,
            retention_ms: self.rule.retention_ms,
            repeat: self.repeat,
            follow_up: self.rule.follow_up.is_some(),
        })
    }
    fn with_times(&self) -> bool {
        true
    }
}

impl KeyedRule for AbsencePlan {
    fn build_set<'s>(&self, cx: BuildContext<'s, '_>, members: &[RuleMember<'_>]) -> Vec<Outputs<'s>> {
        build_rule_set(cx, members)
    }
    fn plan(&self) -> &RulePlan {
        &self.rule
    }
    fn rule(&self) -> Rule {
        Rule::Absence(Absence {
            silence_ms: self.silence_ms,
            retention_ms: self.rule.retention_ms,
            follow_up: self.rule.follow_up.is_some(),
        })
    }
    fn with_times(&self) -> bool {
        false
    }
}

/// The index of the item of `list` that `same` picks, adding `item` if there is none.
fn intern<T: Clone>(list: &mut Vec<T>, item: &T, same: impl Fn(&T) -> bool) -> usize {
    list.iter().position(same).unwrap_or_else(|| {
        list.push(item.clone());
        list.len() - 1
    })
}

/// Builds the rules `members` (operators reading `cx`'s input with one key, `cx` being the first's) as one
/// operator; returns each member's outputs, in `members` order. Its state is checkpointed under the first
/// member's name.
pub fn build_rule_set<'s>(cx: BuildContext<'s, '_>, members: &[RuleMember<'_>]) -> Vec<Outputs<'s>> {
    assert!(!members.is_empty() && members.len() <= RuleSet::MAX_RULES);
    let input = cx.inputs.into_iter().next().expect("one input");
    let plans: Vec<&RulePlan> = members.iter().map(|(_, m)| m.plan()).collect();
    let names: Vec<String> = members.iter().map(|(n, _)| n.to_string()).collect();
    // Each distinct predicate once, and each copied field once; per member, where its own are among them.
    let mut predicates: Vec<Typed> = Vec::new();
    let uses: Vec<(Option<usize>, Option<usize>)> = plans
        .iter()
        .map(|p| {
            let mut index_of = |t: &Option<Typed>| t.as_ref().map(|t| intern(&mut predicates, t, |q| q.text == t.text));
            (index_of(&p.opens), index_of(&p.closes))
        })
        .collect();
    let mut copied: Vec<usize> = Vec::new();
    let picks: Vec<Vec<usize>> = plans
        .iter()
        .map(|p| {
            p.fields
                .iter()
                .map(|(_, f)| intern(&mut copied, f, |c| c == f))
                .collect()
        })
        .collect();
    let key_fields = plans[0].key.clone();
    let (feed_names, schema, n) = (names.clone(), cx.input_schema.clone(), members.len());
    let everyone_skips = (1u32 << n) - 1;
    let mut results: Vec<Result<bool, String>> = vec![Ok(false); predicates.len()];
    let label = format!("RuleInputs({})", names.join(", "));
    let (records, failed) = split_batches_to(input, &label, n, move |batch, out, dead| {
        for (i, r) in batch.records.iter().enumerate() {
            for (result, p) in results.iter_mut().zip(&predicates) {
                *result = p.holds(&r.values).map_err(|e| failure(&p.text, e));
            }
            let holds = |p: Option<usize>, default: bool| match p {
                None => Ok(default),
                Some(p) => results[p].clone(),
            };
            let (mut matched, mut skip) = (0u64, 0u32);
            for (m, (opens, closes)) in uses.iter().enumerate() {
                match (holds(*opens, true), holds(*closes, false)) {
                    (Ok(o), Ok(c)) => matched |= RuleSetRecord::matches(m, o, c),
                    (Err(e), _) | (_, Err(e)) => {
                        dead[m].push(failed_record(&feed_names[m], &schema, batch, i, &e));
                        skip |= 1 << m;
                    }
                }
            }
            if skip == everyone_skips {
                continue;
            }
            let key = key_of(&r.values, &key_fields);
            out.push(KeyedRecord {
                pos: r.pos,
                seq: r.seq,
                route: key.route_hash(),
                key,
                record: RuleSetRecord {
                    ts: r.ts,
                    matched,
                    skip,
                    fields: copied.iter().map(|f| r.values[*f].clone()).collect(),
                },
            });
        }
    });
    let heads: Vec<(RulePlan, bool, Vec<usize>)> = members
        .iter()
        .zip(picks)
        .map(|((_, m), picks)| (m.plan().clone(), m.with_times(), picks))
        .collect();
    let (job, ctx) = (cx.job_name.to_string(), cx.ctx.clone());
    let make = move |pos: Position, seq: u32, key: &Key, (rule, a): &(u8, RuleAlert)| {
        let (plan, with_times, picks) = &heads[*rule as usize];
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
        let fields = picks.iter().map(|i| a.fields[*i].clone());
        alert_record(pos, seq, head, fields.chain(times.into_iter().flatten()))
    };
    let logic = RuleSet {
        rules: members.iter().map(|(_, m)| m.rule()).collect(),
    };
    let port = |(rule, _): &(u8, RuleAlert)| *rule as usize;
    let alerts = keyed_timers(records, "Rules", names, logic, (n, port), make, cx.ctx.clone());
    alerts
        .into_iter()
        .zip(failed)
        .zip(&plans)
        .map(|((main, dead), plan)| Outputs {
            main,
            late: None,
            dead_letters: plan.can_fail().then_some(dead),
        })
        .collect()
}

/// What `deadline` and `absence` share: `key`, the two predicates (under `opens`/`closes`), `alert`,
/// `severity`, the follow-up (under `follow_up`), `fields` and `retention` (at least `min_retention_ms`).
fn rule_plan(
    s: &Section,
    schema: &Schema,
    opens: &str,
    closes: &str,
    follow_up: &str,
    span_ms: i64,
) -> Option<RulePlan> {
    let keyed = alert_key_and_fields(s, schema, "the fields the rule watches per, e.g. key = [\"order_id\"]");
    let predicate = |k: &str| match s.str(k) {
        None => Some(None),
        Some(text) => match compile_predicate(text, schema) {
            Ok(t) => Some(Some(t)),
            Err(e) => {
                s.problem(k, e.to_string());
                None
            }
        },
    };
    let (opens, closes) = (predicate(opens), predicate(closes));
    let alert_kind = alert_kind(s);
    let severity = severity(s);
    let follow_up = s.str(follow_up).map(str::to_string);
    let retention_ms = s.duration_ms("retention").unwrap_or(24 * 3_600_000);
    if retention_ms < span_ms {
        s.problem(
            "retention",
            format!(
                "must be at least the rule's own span ({}): a key's state is forgotten that long after its newest record",
                humanize_ms(span_ms)
            ),
        );
    }
    let (key, fields) = keyed?;
    Some(RulePlan {
        key,
        opens: opens?,
        closes: closes?,
        alert_kind: alert_kind?.to_string(),
        severity,
        follow_up,
        fields,
        retention_ms,
    })
}

/// `kind = "deadline"`: per key, `alert` `within` after the first record where `start` holds, unless one
/// where `done` holds came first; `resolved` when `done` follows the alert.
pub fn parse_deadline(s: &Section, inputs: &OperatorInputs) -> Option<(Arc<dyn OperatorComponent>, Schema)> {
    let schema = &inputs[0];
    if !s.has("start") {
        s.problem(
            "start",
            "is required: the condition that starts the clock, e.g. start = \"state = 'picked_up'\"",
        );
    }
    let within_ms = s.duration_ms("within");
    if !s.has("within") {
        s.problem(
            "within",
            "is required: how long after the start the alert fires, e.g. within = \"30m\"",
        );
    }
    let repeat = s.bool("repeat").unwrap_or(false);
    let start_field = s.str("start_field").unwrap_or("started_at").to_string();
    let deadline_field = s.str("deadline_field").unwrap_or("deadline").to_string();
    let rule = rule_plan(s, schema, "start", "done", "resolved", within_ms.unwrap_or(0))?;
    let out = rule.schema(schema, deadline_fields(&start_field, &deadline_field));
    let taken: Vec<&str> = out.fields.iter().map(|f| f.name.as_str()).collect();
    for (k, n) in [("start_field", &start_field), ("deadline_field", &deadline_field)] {
        if taken.iter().filter(|t| **t == n.as_str()).count() > 1 {
            s.problem(
                k,
                format!("`{n}` is already a field of the alert ({})", taken.join(", ")),
            );
            return None;
        }
    }
    let plan = DeadlinePlan {
        rule,
        within_ms: within_ms?,
        repeat,
        start_field,
        deadline_field,
    };
    Some((Arc::new(plan), out))
}

/// `kind = "absence"`: per key, `alert` `silence` after the newest record where `of` holds, unless one
/// where `until` holds was applied; `resumed` on the next newer such record.
pub fn parse_absence(s: &Section, inputs: &OperatorInputs) -> Option<(Arc<dyn OperatorComponent>, Schema)> {
    let schema = &inputs[0];
    let silence_ms = s.duration_ms("silence");
    if !s.has("silence") {
        s.problem(
            "silence",
            "is required: how long a key may stay quiet, e.g. silence = \"5m\"",
        );
    }
    let rule = rule_plan(s, schema, "of", "until", "resumed", silence_ms.unwrap_or(0))?;
    let out = rule.schema(schema, []);
    let plan = AbsencePlan {
        rule,
        silence_ms: silence_ms?,
    };
    Some((Arc::new(plan), out))
}
