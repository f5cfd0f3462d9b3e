//! Tables of a job definition: `[tables.NAME]` with `kind = "file" | "kafka" | "postgres"`, a `key` (a
//! field, or a list of fields for a key of several), a schema and an optional `version` field — reference
//! data that `join` operators look records up in.
//!
//! Adding a kind is its component in `weir_engine::table`, one function here and one line in [`KINDS`].

use crate::definition::JobSource;
use crate::definition::Section;
use weir_engine::config::parse_schema;
use weir_engine::plan::TablePlan;
use weir_engine::schema::{FieldType, Schema, NO_EVENT_TIME};

/// Plans one table; its schema comes back even when the rest failed (joins reading it are still checked).
pub(super) fn table_plan(name: &str, s: &Section, job: &JobSource) -> (Option<TablePlan>, Option<Schema>) {
    let kind = s.req_str("kind");
    let kinds = weir_engine::component::registry::tables(weir_engine::kinds::CONNECTORS);
    let planner = kind.and_then(|k| kinds.iter().find(|(n, _)| *n == k));
    if let (Some(k), None) = (kind, planner) {
        let allowed: Vec<&str> = kinds.iter().map(|k| k.0).collect();
        s.problem(
            "kind",
            format!("unknown table kind \"{k}\"; allowed: {}", allowed.join(", ")),
        );
    }
    let ooo = s.duration_ms("max_out_of_orderness").unwrap_or(0);
    let lookup_latest = match s.str("lookup").unwrap_or("event_time") {
        "event_time" => false,
        "latest" => true,
        other => {
            s.problem(
                "lookup",
                format!("unknown lookup \"{other}\"; allowed: event_time (as of each record's event time: deterministic), latest (the newest version read, never waiting: depends on timing)"),
            );
            false
        }
    };
    if ooo < 0 {
        s.problem("max_out_of_orderness", "cannot be negative");
    }
    let fields = parse_schema(s, None);
    let key_names = match s.value("key") {
        None => {
            s.problem(
                "key",
                "is required: the field (or list of fields) that identifies a row",
            );
            None
        }
        Some(_) => match s.str_list("key") {
            Some(k) if k.is_empty() => {
                s.problem("key", "names no field: give the field (or fields) that identify a row");
                None
            }
            k => k,
        },
    };
    let version_name = s.str("version");
    let Some(fields) = fields else {
        return (None, None);
    };
    let field_list = || fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ");
    let key_field = |k: &str| match fields.iter().position(|f| f.name == k) {
        Some(i) if matches!(fields[i].ty, FieldType::Sketch | FieldType::Float) => {
            s.problem(
                "key",
                format!("`{k}` is a {}; a key is a string, int or bool field", fields[i].ty),
            );
            None
        }
        Some(i) => Some(i),
        None => {
            s.problem(
                "key",
                format!("field `{k}` is not in the schema; declared: {}", field_list()),
            );
            None
        }
    };
    let key: Option<Vec<usize>> = key_names.and_then(|names| {
        let found: Vec<Option<usize>> = names.iter().map(|k| key_field(k)).collect();
        let key: Vec<usize> = found.iter().flatten().copied().collect();
        if let Some(twice) = names.iter().enumerate().find(|(i, k)| names[..*i].contains(k)) {
            s.problem("key", format!("field `{}` is named twice", twice.1));
            return None;
        }
        (key.len() == names.len()).then_some(key)
    });
    let version = match version_name {
        None => Some(None),
        Some(v) => match fields.iter().position(|f| f.name == v) {
            Some(i) if matches!(fields[i].ty, FieldType::Int | FieldType::Timestamp) => Some(Some(i)),
            Some(_) => {
                s.problem(
                    "version",
                    format!("field `{v}` must be declared \"int\" or \"timestamp\" (the version's time, epoch ms)"),
                );
                None
            }
            None => {
                s.problem(
                    "version",
                    format!("field `{v}` is not in the schema; declared: {}", field_list()),
                );
                None
            }
        },
    };
    let schema = Schema {
        event_time: version.flatten().unwrap_or(NO_EVENT_TIME),
        fields,
    };
    // The kind's keys are read even when `key` is wrong, so they are not reported as unknown.
    let component = planner.and_then(|(_, parse)| parse(s, &job.base_dir, key.as_deref().unwrap_or(&[0])));
    if planner.is_some() {
        s.finish("");
    }
    let plan = match (component, key, version) {
        (Some(component), Some(key), Some(version)) => Some(TablePlan {
            name: name.to_string(),
            component,
            schema: schema.clone(),
            key,
            version,
            max_out_of_orderness_ms: ooo.max(0),
            lookup_latest,
        }),
        _ => None,
    };
    (plan, Some(schema))
}
