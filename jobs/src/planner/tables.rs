//! Tables of a job definition: `[tables.NAME]` with `kind = "file" | "kafka" | "postgres"`, a `key`, a
//! schema and an optional `version` field — reference data that `join` operators look records up in.
//!
//! Adding a kind is its component in `weir_engine::table`, one function here and one line in [`KINDS`].

use super::kafka_properties::kafka_properties;
use super::sources::parse_schema;
use crate::definition::section::Section;
use crate::definition::JobSource;
use std::sync::Arc;
use std::time::Duration;
use weir_engine::component::TableComponent;
use weir_engine::connectors::file::table::{FileFormat, FileTable};
use weir_engine::connectors::kafka::table::KafkaTable;
use weir_engine::connectors::postgres::PostgresTable;
use weir_engine::plan::TablePlan;
use weir_engine::schema::{FieldType, Schema, NO_EVENT_TIME};

/// Plans one kind's parameters (`key`: the key field's index).
type PlanTable = fn(&Section, &JobSource, usize) -> Option<Arc<dyn TableComponent>>;

/// Every table kind.
const KINDS: &[(&str, PlanTable)] = &[("file", file), ("kafka", kafka), ("postgres", postgres)];

fn interval(s: &Section, default_ms: i64) -> Duration {
    let ms = s.duration_ms("interval").unwrap_or(default_ms);
    if ms <= 0 {
        s.problem("interval", "must be positive, e.g. \"10s\"");
    }
    Duration::from_millis(ms.max(1) as u64)
}

fn file(s: &Section, job: &JobSource, _key: usize) -> Option<Arc<dyn TableComponent>> {
    let path = job.base_dir.join(s.req_local_path("path")?);
    let by_extension = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        "csv"
    } else {
        "jsonl"
    };
    let format = match s.str("format").unwrap_or(by_extension) {
        "jsonl" | "json" => FileFormat::Jsonl,
        "csv" => FileFormat::Csv,
        other => {
            s.problem(
                "format",
                format!(
                    "unsupported format \"{other}\"; allowed: jsonl, csv (the default follows the file's extension)"
                ),
            );
            return None;
        }
    };
    let interval = interval(s, 1_000);
    Some(Arc::new(FileTable { path, format, interval }))
}

fn kafka(s: &Section, _: &JobSource, key: usize) -> Option<Arc<dyn TableComponent>> {
    let brokers = s.req_str("brokers");
    let topic = s.req_str("topic");
    let interval = interval(s, 1_000);
    let properties = kafka_properties(s);
    Some(Arc::new(KafkaTable {
        brokers: brokers?.to_string(),
        topic: topic?.to_string(),
        interval,
        properties,
        key,
    }))
}

fn postgres(s: &Section, _: &JobSource, key: usize) -> Option<Arc<dyn TableComponent>> {
    let url = s.req_str("url");
    let query = match (s.str("table"), s.str("query")) {
        (Some(_), Some(_)) => {
            s.problem("query", "give either `table` (all its rows) or `query`, not both");
            None
        }
        (Some(t), None) => {
            let quoted: Vec<String> = t
                .split('.')
                .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
                .collect();
            Some(format!("SELECT * FROM {}", quoted.join(".")))
        }
        (None, Some(q)) => Some(q.to_string()),
        (None, None) => {
            s.problem(
                "table",
                "is required (or `query`): the PostgreSQL table to poll, e.g. table = \"vehicles\"",
            );
            None
        }
    };
    let interval = interval(s, 10_000);
    let deleted = s.str("deleted").map(str::to_string);
    Some(Arc::new(PostgresTable {
        url: url?.to_string(),
        query: query?,
        interval,
        deleted,
        key,
    }))
}

/// Plans one table; its schema comes back even when the rest failed (joins reading it are still checked).
pub(super) fn table_plan(name: &str, s: &Section, job: &JobSource) -> (Option<TablePlan>, Option<Schema>) {
    let kind = s.req_str("kind");
    let planner = kind.and_then(|k| KINDS.iter().find(|(n, _)| *n == k));
    if let (Some(k), None) = (kind, planner) {
        let allowed: Vec<&str> = KINDS.iter().map(|k| k.0).collect();
        s.problem(
            "kind",
            format!("unknown table kind \"{k}\"; allowed: {}", allowed.join(", ")),
        );
    }
    let ooo = s.duration_ms("max_out_of_orderness").unwrap_or(0);
    if ooo < 0 {
        s.problem("max_out_of_orderness", "cannot be negative");
    }
    let fields = parse_schema(s, None);
    let key_name = s.req_str("key");
    let version_name = s.str("version");
    let Some(fields) = fields else {
        return (None, None);
    };
    let field_list = || fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ");
    let key = key_name.and_then(|k| match fields.iter().position(|f| f.name == k) {
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
    let component = planner.and_then(|(_, plan)| plan(s, job, key.unwrap_or(0)));
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
        }),
        _ => None,
    };
    (plan, Some(schema))
}
