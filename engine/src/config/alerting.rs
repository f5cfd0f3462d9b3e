//! The options every alerting kind reads (`alert`, `deadline`, `absence`): the alert's kind, its severity,
//! its key and the fields its alerts copy.

use super::{did_you_mean, fields_of, name_list, Section};
use crate::schema::Schema;

/// Fields by name and input schema index.
pub type NamedFields = Vec<(String, usize)>;

/// An alerting operator's `alert`: the kind its alerts carry (required).
/// The severities an alert may have: PagerDuty's event severities, which alert routers map onto.
pub const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];

/// An alerting operator's `severity` (default `warning`); a misspelt one is a problem, not a silently
/// misrouted alert.
pub fn severity(s: &Section) -> String {
    let severity = s.str("severity").unwrap_or("warning");
    if !SEVERITIES.contains(&severity) {
        s.problem(
            "severity",
            format!(
                "\"{severity}\" is not a severity{}; allowed: {}",
                did_you_mean(severity, SEVERITIES),
                SEVERITIES.join(", ")
            ),
        );
    }
    severity.to_string()
}

pub fn alert_kind<'a>(s: &Section<'a>) -> Option<&'a str> {
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
pub fn alert_key_and_fields(s: &Section, schema: &Schema, key_hint: &str) -> Option<(Vec<usize>, NamedFields)> {
    if !s.has("key") {
        s.problem("key", format!("is required: {key_hint}"));
    }
    let key = name_list(s, "key").and_then(|k| fields_of(s, "key", &k, schema));
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
