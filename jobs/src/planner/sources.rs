//! Sources of a job definition: `[sources.NAME]` with `kind = "file" | "generator" | "kafka"`, a schema and
//! the event-time rules.

use super::kafka_properties::kafka_properties;
use crate::definition::section::Section;
use crate::definition::JobSource;
use compact_str::CompactString;
use std::sync::Arc;
use weir_engine::component::SourceComponent;
use weir_engine::connectors::file::source::FileSource;
use weir_engine::connectors::generator::{GeneratorSpec, Workload, DEFAULT_START_MS};
use weir_engine::connectors::kafka::source::{KafkaSourceSpec, StartPosition, DEFAULT_MAX_IN_FLIGHT};
use weir_engine::plan::SourcePlan;
use weir_engine::schema::{Field, FieldType, Schema};

/// A planned source: its component (kind and parameters).
type Planned = Arc<dyn SourceComponent>;

/// Plans one kind's parameters, giving its component and, for kinds that have one, a built-in schema
/// (used when the section gives none).
type PlanSource = fn(&Section, &JobSource) -> (Option<Planned>, Option<Schema>);

/// Every source kind.
const KINDS: &[(&str, PlanSource)] = &[("file", file), ("generator", generator), ("kafka", kafka)];

fn file(s: &Section, job: &JobSource) -> (Option<Planned>, Option<Schema>) {
    // `path` (one partition) or `paths` (one partition per file, like a topic's partitions).
    let paths = match (s.has("path"), s.has("paths")) {
        (true, true) => {
            s.problem(
                "paths",
                "give either `path` (one file) or `paths` (one partition per file), not both",
            );
            None
        }
        (false, true) => s
            .str_list("paths")
            .filter(|p| {
                if p.is_empty() {
                    s.problem("paths", "list at least one file");
                }
                !p.is_empty()
            })
            .and_then(|ps| ps.into_iter().map(|p| s.local("paths", p)).collect::<Option<Vec<_>>>()),
        _ => s.req_local_path("path").map(|p| vec![p]),
    };
    let rate = replay_rate(s);
    let planned = paths.map(|ps| -> Planned {
        Arc::new(FileSource {
            paths: ps.iter().map(|p| job.base_dir.join(p)).collect(),
            rate,
        })
    });
    (planned, None)
}

fn generator(s: &Section, _: &JobSource) -> (Option<Planned>, Option<Schema>) {
    let g = generator_spec(s);
    let builtin = g.as_ref().map(|g| match g.workload {
        Workload::Vibration { .. } => Schema::vibration(),
        Workload::Locations { .. } => Schema::locations(),
    });
    (g.map(|g| -> Planned { Arc::new(g) }), builtin)
}

fn kafka(s: &Section, _: &JobSource) -> (Option<Planned>, Option<Schema>) {
    (kafka_source_spec(s).map(|k| -> Planned { Arc::new(k) }), None)
}

pub(super) fn parse_schema(s: &Section, builtin_default: Option<Schema>) -> Option<Vec<Field>> {
    match s.value("schema") {
        None => match builtin_default {
            Some(b) => Some(b.fields),
            None => {
                s.problem("schema", "is required: a table of FIELD = \"string\" | \"int\" | \"float\" | [\"enum\", \"values\"], or a built-in name (\"vibration\", \"locations\")");
                None
            }
        },
        Some(toml::Value::String(name)) => match name.as_str() {
            "vibration" => Some(Schema::vibration().fields),
            "locations" => Some(Schema::locations().fields),
            other => {
                s.problem(
                    "schema",
                    format!("unknown built-in schema \"{other}\"; allowed: vibration, locations, or a table of fields"),
                );
                None
            }
        },
        Some(toml::Value::Table(t)) => {
            let mut fields = Vec::new();
            let mut ok = true;
            for (name, ty) in t {
                let mut nullable = false;
                let ty = match ty {
                    toml::Value::String(t) => {
                        let base = match t.strip_suffix('?') {
                            Some(b) => {
                                nullable = true;
                                b
                            }
                            None => t.as_str(),
                        };
                        match FieldType::parse(base) {
                            Some(ty) => Some(ty),
                            None => {
                                s.problem(&format!("schema.{name}"), format!("unknown type \"{t}\"; allowed: string, int, float, bool, timestamp (add ? for a field that may be missing or null, e.g. \"float?\"), or a list of enum values"));
                                None
                            }
                        }
                    }
                    toml::Value::Array(vals) => {
                        let vs: Option<Vec<CompactString>> =
                            vals.iter().map(|v| v.as_str().map(CompactString::from)).collect();
                        match vs {
                            Some(v) if !v.is_empty() => Some(FieldType::Enum(v)),
                            _ => {
                                s.problem(&format!("schema.{name}"), "an enum is a non-empty list of strings");
                                None
                            }
                        }
                    }
                    _ => {
                        s.problem(
                            &format!("schema.{name}"),
                            "expected a type name (\"string\", \"int\", \"float\") or a list of enum values",
                        );
                        None
                    }
                };
                match ty {
                    Some(ty) => fields.push(Field {
                        name: name.clone(),
                        ty,
                        nullable,
                    }),
                    None => ok = false,
                }
            }
            ok.then_some(fields)
        }
        Some(_) => {
            s.problem("schema", "expected a table of fields or a built-in schema name");
            None
        }
    }
}

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
        .unwrap_or(weir_engine::decode::DEFAULT_MAX_RECORD_BYTES as u64) as usize;
    let event_time = s.str("event_time").unwrap_or("ts").to_string();
    let planner = kind.and_then(|k| KINDS.iter().find(|(name, _)| *name == k));
    let (source_kind, builtin) = match (kind, planner) {
        (Some(_), Some((_, plan))) => plan(s, job),
        (Some(other), None) => {
            let allowed: Vec<&str> = KINDS.iter().map(|k| k.0).collect();
            s.problem(
                "kind",
                format!(
                    "unknown source kind \"{other}\"; allowed: {}{}",
                    allowed.join(", "),
                    super::did_you_mean(other, allowed.iter().copied())
                ),
            );
            (None, None)
        }
        (None, _) => (None, None),
    };
    let fields = parse_schema(s, builtin);
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

/// `start`: "earliest", "latest", or a time to start from (epoch ms, or RFC 3339 like "2026-11-21T08:00:00Z").
fn start_position(s: &Section) -> Option<StartPosition> {
    let Some(v) = s.value("start") else {
        return Some(StartPosition::Earliest);
    };
    let parsed = match v {
        toml::Value::String(t) if t == "earliest" => Some(StartPosition::Earliest),
        toml::Value::String(t) if t == "latest" => Some(StartPosition::Latest),
        toml::Value::String(t) => t
            .parse::<i64>()
            .ok()
            .or_else(|| {
                humantime::parse_rfc3339_weak(t).ok().map(|st| {
                    st.duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64)
                })
            })
            .map(StartPosition::Timestamp),
        toml::Value::Integer(ms) => Some(StartPosition::Timestamp(*ms)),
        _ => None,
    };
    if parsed.is_none() {
        s.problem(
            "start",
            "expected \"earliest\", \"latest\", epoch milliseconds or an RFC 3339 time like \"2026-11-21T08:00:00Z\"",
        );
    }
    parsed
}

fn kafka_source_spec(s: &Section) -> Option<KafkaSourceSpec> {
    let brokers = s.req_str("brokers");
    let topic = s.req_str("topic");
    let start = start_position(s);
    let idle_timeout = s
        .duration_ms("idle_timeout")
        .map(|ms| std::time::Duration::from_millis(ms as u64));
    let stop_at_end = s.bool("stop_at_end").unwrap_or(false);
    let properties = kafka_properties(s);
    let max_in_flight = s.count("max_in_flight", 1).unwrap_or(DEFAULT_MAX_IN_FLIGHT);
    Some(KafkaSourceSpec {
        brokers: brokers?.to_string(),
        topic: topic?.to_string(),
        start: start?,
        idle_timeout,
        stop_at_end,
        properties,
        max_in_flight,
        rate: replay_rate(s),
    })
}

/// `rate`: replay at most this many records per second (a positive number).
fn replay_rate(s: &Section) -> Option<f64> {
    let rate = s.float("rate")?;
    if rate.is_finite() && rate > 0.0 {
        Some(rate)
    } else {
        s.problem("rate", "must be a positive number of records per second");
        None
    }
}

fn generator_spec(s: &Section) -> Option<GeneratorSpec> {
    let workload = s.req_str("workload");
    let duration = s.duration_ms("duration").unwrap_or(3 * 3_600_000);
    let count = s.count("count", 1);
    let seed = s.count("seed", 0).unwrap_or(7);
    let rate = replay_rate(s);
    let jitter = s.duration_ms("jitter_mean").unwrap_or(1500) as f64;
    let late = s.float("late_fraction").unwrap_or(0.0005);
    let bad = s.float("malformed_fraction").unwrap_or(0.0001);
    let start = s.int("start_ms").unwrap_or(DEFAULT_START_MS);
    for (k, v) in [("late_fraction", late), ("malformed_fraction", bad)] {
        if !(0.0..=1.0).contains(&v) {
            s.problem(k, format!("must be between 0 and 1, found {v}"));
        }
    }
    let (sensors, hz, blasts) = (s.count("sensors", 1), s.float("hz"), s.float("blasts_per_hour"));
    let (orders, deliverers, ping, budget) = (
        s.count("orders", 1),
        s.count("deliverers", 1),
        s.duration_ms("ping_interval"),
        s.duration_ms("budget"),
    );
    let workload = match workload {
        Some("vibration") => Workload::Vibration {
            sensors: sensors.unwrap_or(120) as u32,
            hz: hz.unwrap_or(1.0),
            blasts_per_hour: blasts.unwrap_or(2.0),
        },
        Some("locations") => Workload::Locations {
            orders: orders.unwrap_or(2000),
            deliverers: deliverers.unwrap_or(150) as u32,
            ping_s: ping.unwrap_or(15_000) as f64 / 1000.0,
            budget_min: budget.unwrap_or(30 * 60_000) as f64 / 60_000.0,
        },
        Some(other) => {
            s.problem(
                "workload",
                format!("unknown workload \"{other}\"; allowed: vibration, locations"),
            );
            return None;
        }
        None => return None,
    };
    if let Workload::Vibration { hz, .. } = workload {
        if hz <= 0.0 {
            s.problem("hz", "must be positive");
        }
    }
    Some(GeneratorSpec {
        workload,
        seed,
        start_ms: start,
        duration_ms: duration,
        count,
        jitter_mean_ms: jitter,
        late_frac: late,
        bad_frac: bad,
        rate,
    })
}
