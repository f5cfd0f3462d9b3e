//! Sources of a job definition: `[sources.NAME]` with a source kind (`file`, `generator`, `kafka`, `mqtt`,
//! `http`), a schema and the event-time rules.

use crate::definition::JobSource;
use crate::definition::Section;
use weir_engine::config::did_you_mean;
use weir_engine::config::parse_schema;
use weir_engine::plan::SourcePlan;
use weir_engine::schema::{FieldType, Schema};

/// Plans one source; its schema comes back even when the rest failed, so that the operators reading it are
/// still checked (every problem at once).
pub(super) fn source_plan(name: &str, s: &Section, job: &JobSource) -> (Option<SourcePlan>, Option<Schema>) {
    let kind = s.req_str("kind");
    let format = s.str("format").unwrap_or("jsonl");
    if format != "jsonl" && format != "json" {
        s.problem(
            "format",
            format!("unsupported format \"{format}\"; allowed: jsonl (one JSON object per line or message)"),
        );
    }
    let ooo = s.duration_ms("max_out_of_orderness").unwrap_or(0);
    let max_future_ms = s.duration_ms("max_future");
    if max_future_ms.is_some_and(|f| f < ooo) {
        s.problem(
            "max_future",
            "must be at least max_out_of_orderness (a record that far ahead only moves the watermark to itself)",
        );
    }
    let max_record_bytes = s
        .count("max_record_bytes", 64)
        .unwrap_or(weir_engine::DEFAULT_MAX_RECORD_BYTES as u64) as usize;
    let event_time = s.str("event_time").unwrap_or("ts").to_string();
    let kinds = weir_engine::component::registry::sources(weir_engine::kinds::CONNECTORS);
    let planner = kind.and_then(|k| kinds.iter().find(|(name, _)| *name == k));
    let (source_kind, builtin) = match (kind, planner) {
        (Some(_), Some((_, parse))) => parse(s, &job.base_dir),
        (Some(other), None) => {
            let allowed: Vec<&str> = kinds.iter().map(|k| k.0).collect();
            s.problem(
                "kind",
                format!(
                    "unknown source kind \"{other}\"; allowed: {}{}",
                    allowed.join(", "),
                    did_you_mean(other, allowed.iter().copied())
                ),
            );
            (None, None)
        }
        (None, _) => (None, None),
    };
    let mut fields = parse_schema(s, builtin);
    if let (Some(fields), Some(component)) = (fields.as_mut(), source_kind.as_ref()) {
        for added in component.added_fields() {
            if fields.iter().any(|f| f.name == added.name) {
                s.problem(
                    "schema",
                    format!(
                        "field `{}` is declared and is also the field this source fills in itself (topic_field); \
                         leave it out of the schema or name another topic_field",
                        added.name
                    ),
                );
            } else {
                fields.push(added);
            }
        }
    }
    if planner.is_some() {
        // Unknown keys only make sense to report once the kind (and so its keys) is known.
        s.finish("");
    }
    let Some(fields) = fields else {
        return (None, None);
    };
    let schema = match fields.iter().position(|f| f.name == event_time) {
        Some(i) if matches!(fields[i].ty, FieldType::Int | FieldType::Timestamp) && !fields[i].nullable => {
            Schema { fields, event_time: i }
        }
        Some(_) => {
            s.problem(
                "event_time",
                format!(
                    "field `{event_time}` must be declared \"int\" or \"timestamp\" (epoch milliseconds, never null)"
                ),
            );
            return (None, None);
        }
        None => {
            s.problem(
                "event_time",
                format!(
                    "field `{event_time}` is not in the schema; declared: {}",
                    fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            );
            return (None, None);
        }
    };
    let plan = source_kind.map(|component| SourcePlan {
        name: name.to_string(),
        component,
        schema: schema.clone(),
        max_out_of_orderness_ms: ooo,
        max_record_bytes,
        max_future_ms,
    });
    (plan, Some(schema))
}
