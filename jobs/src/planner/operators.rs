//! Operators of a job definition: `[operators.NAME]` with `kind` and `inputs`, each kind's parameters checked
//! against its input streams' schemas, and the schema of what it outputs.
//!
//! Adding a kind is one function here (`fn(&Section, &[Schema]) -> Option<(Planned, Schema)>`) and one
//! line in [`KINDS`].

use crate::definition::Section;
use std::collections::HashSet;
use std::sync::Arc;
use weir_engine::component::OperatorComponent;
use weir_engine::component::RulePlan;
use weir_engine::expr::{compile, compile_predicate};
use weir_engine::operators::latest::changelog_schema;
use weir_engine::operators::rules::{deadline_fields, AbsencePlan, DeadlinePlan};
use weir_engine::plan::{
    AlertPlan, DeriveColumn, DerivePlan, FilterPlan, JoinPlan, LatestPlan, TablePlan, UnionPlan, WindowPlan,
    DEFAULT_JOIN_HISTORY_MS,
};
use weir_engine::schema::{Field, FieldType, Schema};
use weir_operators::value::ValueType;
use weir_operators::{AggregateFn, AggregateSpec, WindowSpec};

/// Plans one kind: its parameters against the inputs' schemas, giving the kind and its output schema.
type PlanKind = fn(&Section, &Inputs) -> Option<(Planned, Schema)>;

/// What an operator reads: its input streams' schemas (it derefs to them) and, for a join, the table:
/// (index, name, plan if valid, schema if that much was valid).
pub(super) struct Inputs<'a> {
    pub schemas: Vec<Schema>,
    pub tables: Vec<(usize, &'a str, Option<&'a TablePlan>, Option<&'a Schema>)>,
}

impl std::ops::Deref for Inputs<'_> {
    type Target = [Schema];
    fn deref(&self) -> &[Schema] {
        &self.schemas
    }
}

/// A planned operator: its component (kind and parameters).
type Planned = Arc<dyn OperatorComponent>;

/// Every operator kind, with how many inputs it reads (`None`: one or more).
pub(super) const KINDS: &[(&str, Option<usize>, PlanKind)] = &[
    ("filter", Some(1), filter),
    ("derive", Some(1), derive),
    ("union", None, union),
    ("window", Some(1), window),
    ("alert", Some(1), alert),
    ("deadline", Some(1), deadline),
    ("absence", Some(1), absence),
    ("latest", Some(1), latest),
    ("join", Some(1), join),
];

/// Kinds of earlier versions, with what a job writes instead (a hint in the "unknown kind" problem).
pub(super) const RETIRED_KINDS: &[(&str, &str)] = &[
    (
        "threshold_alert",
        "`alert`: kind = \"alert\", when = \"ppv_mm_s > 25.0\"",
    ),
    (
        "delivery_alerts",
        "a `deadline` (delivery_delayed) and an `absence` (courier_silent): see config/delivery-alerts.toml",
    ),
];

/// The most hopping windows one record may belong to (`size / slide`): each is a state entry per key.
const MAX_WINDOWS_PER_RECORD: i64 = 1000;

/// The kind names, for "allowed: …" messages.
pub(super) fn kind_names() -> String {
    KINDS.iter().map(|k| k.0).collect::<Vec<_>>().join(", ")
}

/// A list of field names, or one name (`key = "order_id"`).
fn names<'a>(s: &Section<'a>, key: &str) -> Option<Vec<&'a str>> {
    match s.value(key) {
        Some(toml::Value::String(one)) => Some(vec![one.as_str()]),
        Some(_) => s.str_list(key),
        None => None,
    }
}

/// Resolves field names against a schema, reporting unknown ones.
pub(super) fn fields_of(s: &Section, key: &str, names: &[&str], schema: &Schema) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    let mut ok = true;
    for n in names {
        match schema.index_of(n) {
            Some(i) => out.push(i),
            None => {
                s.problem(
                    key,
                    format!(
                        "field `{n}` is not in the input's schema; available: {}",
                        schema.names()
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn filter(s: &Section, inputs: &Inputs) -> Option<(Planned, Schema)> {
    let text = s.req_str("where")?;
    match compile_predicate(text, &inputs[0]) {
        Ok(predicate) => Some((Arc::new(FilterPlan { predicate }), inputs[0].clone())),
        Err(e) => {
            s.problem("where", e.to_string());
            None
        }
    }
}

fn derive(s: &Section, inputs: &Inputs) -> Option<(Planned, Schema)> {
    let input = &inputs[0];
    let drop = s.str_list("drop").unwrap_or_default();
    let computed = s.table("fields");
    if computed.is_none() && drop.is_empty() {
        s.problem(
            "fields",
            "is required: a table of NAME = \"EXPRESSION\", e.g. fields = { speed_kmh = \"speed_ms * 3.6\" }",
        );
        return None;
    }
    let mut ok = true;
    let event_time = input.event_time_name();
    for d in &drop {
        if input.index_of(d).is_none() {
            s.problem(
                "drop",
                format!("field `{d}` is not in the input's schema; available: {}", input.names()),
            );
            ok = false;
        } else if *d == event_time && !event_time.is_empty() {
            s.problem(
                "drop",
                format!("`{d}` is the stream's event time and cannot be dropped"),
            );
            ok = false;
        }
    }
    // The input's fields (minus dropped ones, replaced ones in place), then the new ones in file order.
    let mut columns: Vec<(Field, DeriveColumn)> = input
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| !drop.contains(&f.name.as_str()))
        .map(|(i, f)| (f.clone(), DeriveColumn::Keep(i)))
        .collect();
    if let Some(t) = &computed {
        for (name, v) in t.entries() {
            let Some(text) = v.as_str() else {
                t.problem(name, "expected an expression string, e.g. \"ppv_mm_s * 2\"");
                ok = false;
                continue;
            };
            if name == event_time && !event_time.is_empty() {
                t.problem(
                    name,
                    format!("`{name}` is the stream's event time and cannot be replaced"),
                );
                ok = false;
                continue;
            }
            let typed = match compile(text, input) {
                Ok(t) => t,
                Err(e) => {
                    t.problem(name, e.to_string());
                    ok = false;
                    continue;
                }
            };
            let Some(ty) = typed.ty else {
                t.problem(
                    name,
                    format!("`{text}` is always NULL: give it a type, e.g. CAST(NULL AS DOUBLE)"),
                );
                ok = false;
                continue;
            };
            let field = Field {
                name: name.clone(),
                ty: FieldType::of(ty),
                nullable: typed.nullable,
            };
            match columns.iter().position(|(f, _)| f.name == *name) {
                Some(i) => columns[i] = (field, DeriveColumn::Compute(typed)),
                None => columns.push((field, DeriveColumn::Compute(typed))),
            }
        }
    }
    if !ok {
        return None;
    }
    let event_time = columns
        .iter()
        .position(|(f, _)| f.name == event_time)
        .unwrap_or(weir_engine::schema::NO_EVENT_TIME);
    let (fields, columns): (Vec<Field>, Vec<DeriveColumn>) = columns.into_iter().unzip();
    let names = fields.iter().map(|f| f.name.clone()).collect();
    Some((Arc::new(DerivePlan { columns, names }), Schema { fields, event_time }))
}

fn union(s: &Section, inputs: &Inputs) -> Option<(Planned, Schema)> {
    let first = &inputs[0];
    let mut out = first.clone();
    for (i, other) in inputs.iter().enumerate().skip(1) {
        if !first.union_compatible(other) {
            s.problem(
                "inputs",
                format!(
                    "a union merges streams of one schema, but input {} has ({other}) and input 1 has ({first}); \
                     to write streams of different schemas to one place, list them in a sink's `inputs` instead \
                     (every sink kind but Parquet reads several)",
                    i + 1
                ),
            );
            return None;
        }
        for (f, o) in out.fields.iter_mut().zip(&other.fields) {
            f.nullable |= o.nullable;
        }
    }
    Some((Arc::new(UnionPlan), out))
}

fn window_spec(s: &Section) -> Option<WindowSpec> {
    let Some(w) = s.table("window") else {
        if !s.has("window") {
            s.problem(
                "window",
                "is required, e.g. window = { kind = \"tumbling\", size = \"1h\" }",
            );
        }
        return None;
    };
    let kind = w.req_str("kind");
    let positive = |key: &str| -> Option<i64> {
        let v = w.duration_ms(key)?;
        if v <= 0 {
            w.problem(key, "must be longer than 0");
            return None;
        }
        Some(v)
    };
    let spec = match kind? {
        "tumbling" | "hopping" => {
            let size = positive("size");
            if !w.has("size") {
                w.problem("size", "is required, e.g. \"1h\"");
            }
            let size = size?;
            if kind == Some("tumbling") {
                Some(WindowSpec::Tumbling { size_ms: size })
            } else {
                match positive("slide") {
                    Some(sl) if sl <= size && size / sl > MAX_WINDOWS_PER_RECORD => {
                        w.problem(
                            "slide",
                            format!(
                                "a record would be in {} windows (size / slide); at most {MAX_WINDOWS_PER_RECORD} are \
                                 allowed: make the slide longer",
                                size / sl
                            ),
                        );
                        None
                    }
                    Some(sl) if sl <= size => Some(WindowSpec::Hopping {
                        size_ms: size,
                        slide_ms: sl,
                    }),
                    Some(_) => {
                        w.problem("slide", "must be at most the window size");
                        None
                    }
                    None => {
                        if !w.has("slide") {
                            w.problem("slide", "is required for hopping windows, e.g. \"5m\"");
                        }
                        None
                    }
                }
            }
        }
        "session" => {
            let gap = positive("gap");
            if !w.has("gap") {
                w.problem("gap", "is required for session windows, e.g. \"5m\"");
            }
            gap.map(|gap_ms| WindowSpec::Session { gap_ms })
        }
        other => {
            w.problem(
                "kind",
                format!("unknown window kind \"{other}\"; allowed: tumbling, hopping, session"),
            );
            None
        }
    };
    w.finish("");
    spec
}

fn window(s: &Section, inputs: &Inputs) -> Option<(Planned, Schema)> {
    let schema = &inputs[0];
    let window = window_spec(s);
    let lateness = s.duration_ms("allowed_lateness").unwrap_or(0);
    if lateness < 0 {
        s.problem("allowed_lateness", "must not be negative");
    }
    let key_names = names(s, "key");
    if !s.has("key") {
        s.problem("key", "is required: the fields to group by, e.g. key = [\"sensor_id\"]");
    }
    let carry_names = s.str_list("carry").unwrap_or_default();
    let aggs = s.table("aggregates");
    if !s.has("aggregates") {
        s.problem(
            "aggregates",
            "is required: a table of OUTPUT_COLUMN = \"FUNCTION(FIELD)\", e.g. readings = \"count\"",
        );
    }
    let key = fields_of(s, "key", &key_names?, schema);
    let carry = fields_of(s, "carry", &carry_names, schema);
    let emit_empty = s.bool("emit_empty").unwrap_or(false);
    if emit_empty {
        if key.as_ref().is_some_and(|k| !k.is_empty()) {
            s.problem(
                "emit_empty",
                "is for windows without key (key = []): with a key, no one can say which keys an empty window has",
            );
        }
        if matches!(window, Some(WindowSpec::Session { .. })) {
            s.problem(
                "emit_empty",
                "is for tumbling and hopping windows: a session exists only with records",
            );
        }
    }
    let mut values: Vec<usize> = Vec::new();
    let mut aggregates = Vec::new();
    let mut agg_fields = Vec::new();
    let mut ok = true;
    if let Some(a) = &aggs {
        for (col, expr) in a.entries() {
            let Some(expr) = expr.as_str() else {
                a.problem(col, "expected an aggregate expression string such as \"max(ppv_mm_s)\"");
                ok = false;
                continue;
            };
            let func = match AggregateFn::parse(expr) {
                Ok(f) => f,
                Err(e) => {
                    a.problem(col, e.to_string());
                    ok = false;
                    continue;
                }
            };
            let (input, input_type, nullable) = match func.field() {
                None => (None, None, false),
                Some(f) => match schema.index_of(f) {
                    Some(i) => {
                        let field = &schema.fields[i];
                        let ty = field.ty.value_type();
                        if let Err(want) = func.accepts(ty) {
                            a.problem(col, format!("`{expr}` needs {want}, but `{f}` is a {ty}"));
                            ok = false;
                        }
                        let pos = values.iter().position(|v| *v == i).unwrap_or_else(|| {
                            values.push(i);
                            values.len() - 1
                        });
                        (Some(pos), Some(ty), field.nullable)
                    }
                    None => {
                        a.problem(
                            col,
                            format!(
                                "field `{f}` is not in the input's schema; available: {}",
                                schema.names()
                            ),
                        );
                        ok = false;
                        continue;
                    }
                },
            };
            let out_type = func.output_type(input_type);
            let counts = func.is_count();
            agg_fields.push(Field {
                name: col.clone(),
                ty: FieldType::of(out_type),
                // An empty window's row has NULL for everything but its counts.
                nullable: (nullable || emit_empty) && !counts && out_type != ValueType::Sketch,
            });
            aggregates.push(AggregateSpec {
                name: col.clone(),
                func,
                input,
                input_type,
            });
        }
        if aggregates.is_empty() && ok {
            a.problem("", "define at least one aggregate");
            ok = false;
        }
    }
    let (key, carry, window) = (key?, carry?, window?);
    if !ok || aggs.is_none() {
        return None;
    }
    let mut fields = vec![
        Field::new("window_start", FieldType::Timestamp),
        Field::new("window_end", FieldType::Timestamp),
    ];
    fields.extend(key.iter().map(|i| schema.fields[*i].clone()));
    fields.extend(carry.iter().map(|i| Field {
        // An empty window carries nothing.
        nullable: schema.fields[*i].nullable || emit_empty,
        ..schema.fields[*i].clone()
    }));
    fields.extend(agg_fields);
    let mut seen = HashSet::new();
    for f in &fields {
        if !seen.insert(f.name.clone()) {
            s.problem(
                "aggregates",
                format!(
                    "output column `{}` appears twice (columns are window_start, window_end, the key, carry and \
                     aggregate names)",
                    f.name
                ),
            );
            return None;
        }
    }
    Some((
        Arc::new(WindowPlan {
            window,
            allowed_lateness_ms: lateness.max(0),
            key,
            carry,
            values,
            aggregates,
            max_open_windows: s
                .count("max_open_windows", 1)
                .map_or(weir_engine::plan::DEFAULT_MAX_OPEN_WINDOWS, |n| n as usize),
            emit_empty,
        }),
        Schema { fields, event_time: 0 },
    ))
}

fn alert(s: &Section, inputs: &Inputs) -> Option<(Planned, Schema)> {
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

/// Fields by name and input schema index.
type NamedFields = Vec<(String, usize)>;

/// An alerting operator's `alert`: the kind its alerts carry (required).
/// The severities an alert may have: PagerDuty's event severities, which alert routers map onto.
const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];

/// An alerting operator's `severity` (default `warning`); a misspelt one is a problem, not a silently
/// misrouted alert.
fn severity(s: &Section) -> String {
    let severity = s.str("severity").unwrap_or("warning");
    if !SEVERITIES.contains(&severity) {
        s.problem(
            "severity",
            format!(
                "\"{severity}\" is not a severity{}; allowed: {}",
                super::did_you_mean(severity, SEVERITIES),
                SEVERITIES.join(", ")
            ),
        );
    }
    severity.to_string()
}

fn alert_kind<'a>(s: &Section<'a>) -> Option<&'a str> {
    if !s.has("alert") {
        s.problem(
            "alert",
            "is required: the kind of alert to raise (its `kind` field), e.g. alert = \"sensor_silent\"",
        );
    }
    s.str("alert")
}

/// An alerting operator's `key` (required; `key_hint` says what it is for) and the `fields` its alerts
/// copy (default: the key fields), resolved against `schema` — every problem of both reported.
fn alert_key_and_fields(s: &Section, schema: &Schema, key_hint: &str) -> Option<(Vec<usize>, NamedFields)> {
    if !s.has("key") {
        s.problem("key", format!("is required: {key_hint}"));
    }
    let key = names(s, "key").and_then(|k| fields_of(s, "key", &k, schema));
    let listed = s.str_list("fields");
    let field_names: Vec<&str> = match (listed, &key) {
        (Some(n), _) => n,
        (None, Some(key)) => key.iter().map(|i| schema.fields[*i].name.as_str()).collect(),
        (None, None) => return None,
    };
    let idx = fields_of(s, "fields", &field_names, schema);
    let fixed = Schema::alerts([]);
    if let Some(n) = field_names.iter().find(|n| fixed.index_of(n).is_some()) {
        s.problem(
            "fields",
            format!("`{n}` is one of the alert's own fields (alert_id, kind, severity, key, event_time, job)"),
        );
        return None;
    }
    let fields = field_names.iter().map(|n| n.to_string()).zip(idx?).collect();
    Some((key?, fields))
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
                weir_engine::plan::humanize_ms(span_ms)
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
fn deadline(s: &Section, inputs: &Inputs) -> Option<(Planned, Schema)> {
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
fn absence(s: &Section, inputs: &Inputs) -> Option<(Planned, Schema)> {
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

/// `kind = "latest"`: the newest record per key, served over HTTP and published as a changelog.
fn latest(s: &Section, inputs: &Inputs) -> Option<(Planned, Schema)> {
    let schema = &inputs[0];
    let key = s.req_str("key");
    let ttl_ms = s.duration_ms("ttl");
    let idle_ttl_ms = s.duration_ms("idle_ttl");
    let terminal = s.table("terminal").map(|t| {
        let field = t.req_str("field");
        let values = t.str_list("values");
        if !t.has("values") {
            t.problem(
                "values",
                "is required: the values of the field that end a key's life, e.g. [\"delivered\"]",
            );
        }
        t.finish("");
        (field, values)
    });
    if ttl_ms.is_some() && terminal.is_none() {
        s.problem(
            "ttl",
            "applies to keys in a terminal state: add terminal = { field = \"state\", values = [\"delivered\"] }",
        );
    }
    let key = fields_of(s, "key", &[key?], schema)?[0];
    let terminal = match terminal {
        Some((Some(f), Some(values))) => Some((
            fields_of(s, "terminal", &[f], schema)?[0],
            values.iter().map(|v| v.to_string()).collect(),
        )),
        Some(_) => return None,
        None => None,
    };
    Some((
        Arc::new(LatestPlan {
            key,
            key_field: schema.fields[key].clone(),
            terminal,
            expiry: weir_operators::Expiry { ttl_ms, idle_ttl_ms },
            fields: schema.fields.iter().map(|f| f.name.clone()).collect(),
        }),
        changelog_schema(schema),
    ))
}

/// `kind = "join"`: `inputs = [STREAM, TABLE]`, `on = "FIELD"` (or `{ stream = "a", table = "b" }`, where
/// `b` is the table's key), `fields` to add (`"NAME"` or `"NAME AS ALIAS"`; default every field but the
/// key), `mode = "left" | "inner"`, `history`.
fn join(s: &Section, inputs: &Inputs) -> Option<(Planned, Schema)> {
    let schema = &inputs[0];
    let (table, table_name, plan, table_schema) = match inputs.tables.as_slice() {
        [one] => *one,
        [] => {
            s.problem(
                "inputs",
                "a join reads a stream and a table: inputs = [\"STREAM\", \"TABLE\"] with a [tables.TABLE]",
            );
            return None;
        }
        _ => {
            s.problem("inputs", "a join reads one table; chain two joins for two tables");
            return None;
        }
    };
    let inner = match s.str("mode").unwrap_or("left") {
        "left" => false,
        "inner" => true,
        other => {
            s.problem("mode", format!("unknown mode \"{other}\"; allowed: left, inner"));
            false
        }
    };
    let history_ms = s.duration_ms("history").unwrap_or(DEFAULT_JOIN_HISTORY_MS);
    if history_ms < 0 {
        s.problem("history", "cannot be negative");
    }
    let (stream_on, table_on) = match s.value("on") {
        Some(toml::Value::String(f)) => (Some(f.as_str()), Some(f.as_str())),
        Some(toml::Value::Table(_)) => {
            let t = s.table("on")?;
            let pair = (t.req_str("stream"), t.req_str("table"));
            t.finish("");
            pair
        }
        Some(_) => {
            s.problem(
                "on",
                "expected a field name, or { stream = \"FIELD\", table = \"KEY\" }",
            );
            (None, None)
        }
        None => {
            s.problem(
                "on",
                "is required: the stream's field to look up, e.g. on = \"vehicle_id\"",
            );
            (None, None)
        }
    };
    let field_list: Vec<String> = match s.value("fields") {
        None => Vec::new(),
        Some(_) => s.str_list("fields")?.iter().map(|f| f.to_string()).collect(),
    };
    let (plan, table_schema) = (plan?, table_schema?);
    let on = fields_of(s, "on", &[stream_on?], schema)?[0];
    let key_field = &table_schema.fields[plan.key];
    if table_on? != key_field.name {
        s.problem(
            "on",
            format!(
                "a join looks rows up by the table's key: write {{ stream = \"{}\", table = \"{}\" }}",
                stream_on?, key_field.name
            ),
        );
        return None;
    }
    let on_type = schema.fields[on].ty.value_type();
    if on_type != key_field.ty.value_type() {
        s.problem(
            "on",
            format!(
                "`{}` is {} but table `{table_name}`'s key `{}` is {}; cast it with a derive first",
                schema.fields[on].name,
                on_type.name(),
                key_field.name,
                key_field.ty.value_type().name()
            ),
        );
        return None;
    }
    let wanted: Vec<(String, String)> = if field_list.is_empty() {
        table_schema
            .fields
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != plan.key)
            .map(|(_, f)| (f.name.clone(), f.name.clone()))
            .collect()
    } else {
        field_list
            .iter()
            .map(|f| {
                let parts: Vec<&str> = f.split_whitespace().collect();
                match parts.as_slice() {
                    [name, as_, alias] if as_.eq_ignore_ascii_case("as") => (name.to_string(), alias.to_string()),
                    _ => (f.trim().to_string(), f.trim().to_string()),
                }
            })
            .collect()
    };
    let mut fields = Vec::new();
    let mut out = schema.fields.clone();
    let mut ok = true;
    for (name, alias) in wanted {
        let Some(i) = table_schema.index_of(&name) else {
            s.problem(
                "fields",
                format!(
                    "table `{table_name}` has no field `{name}`; it has: {}",
                    table_schema.names()
                ),
            );
            ok = false;
            continue;
        };
        if out.iter().any(|f| f.name == alias) {
            s.problem(
                "fields",
                format!("the stream already has a field `{alias}`: add it under another name, \"{name} AS {table_name}_{name}\""),
            );
            ok = false;
            continue;
        }
        let f = &table_schema.fields[i];
        out.push(Field {
            name: alias.clone(),
            ty: f.ty.clone(),
            nullable: f.nullable || !inner,
        });
        fields.push((alias, i));
    }
    if !ok {
        return None;
    }
    let output = Schema {
        fields: out,
        event_time: schema.event_time,
    };
    Some((
        Arc::new(JoinPlan {
            table,
            table_name: table_name.to_string(),
            on,
            fields,
            inner,
            history_ms: history_ms.max(0),
        }),
        output,
    ))
}
