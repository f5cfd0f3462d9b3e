//! Validating a loaded job definition and turning it into the engine's [`Plan`].
//!
//! Every section is read completely even after a problem, so one `weir check` lists everything to fix.

use crate::definition::section::{Problems, Section};
use crate::definition::{DefinitionError, JobSource};
use compact_str::CompactString;
use std::collections::{BTreeMap, HashSet};
use weir_engine::plan::{
    OperatorKind, OperatorPlan, PartitionBy, Plan, RowSchema, SinkKind, SinkPlan, SourceKind, SourcePlan, StreamRef,
    ThresholdPlan, WindowPlan,
};
use weir_engine::schema::{Field, FieldType, Schema};
use weir_engine::sink::kafka::KafkaSinkSpec;
use weir_engine::source::generator::{GeneratorSpec, Workload, DEFAULT_START_MS};
use weir_engine::source::kafka::{KafkaSourceSpec, StartPosition, DEFAULT_MAX_IN_FLIGHT};
use weir_operators::value::ValueType;
use weir_operators::{AggregateFn, AggregateSpec, WindowSpec};

const SOURCE_KINDS: &str = "file, generator";
const OPERATOR_KINDS: &str = "window, threshold_alert, delivery_alerts, latest";
const SINK_KINDS: &str = "parquet, jsonl, stdout, webhook";

/// Builds the plan of a loaded job definition, or every problem with it.
pub fn plan(source: &JobSource, table: &toml::Table) -> Result<Plan, DefinitionError> {
    let problems = Problems::default();
    let root = Section::new("", table, &problems);
    let empty = toml::Table::new();

    let job = root.table("job");
    if !root.has("job") {
        problems.add("job", "the [job] table is required (with at least `name`)");
    }
    let job = job.unwrap_or_else(|| Section::new("job", &empty, &problems));
    let job_name = job.req_str("name").unwrap_or("job").to_string();
    let workers = job.count("workers", 1).unwrap_or(1) as usize;
    let dead_letter_sink = job.str("dead_letters").map(str::to_string);
    let checkpoint = job.table("checkpoint").and_then(|c| {
        let dir = c.req_str("dir").map(std::path::PathBuf::from);
        let interval = c.duration_ms("interval").unwrap_or(10_000);
        if interval <= 0 {
            c.problem("interval", "must be positive, e.g. \"10s\"".to_string());
        }
        let keep = c.count("keep", 1).unwrap_or(3) as usize;
        c.finish("");
        Some(weir_engine::checkpoint::CheckpointConfig {
            dir: dir?,
            interval: std::time::Duration::from_millis(interval.max(1) as u64),
            keep,
        })
    });
    job.finish("");

    // Sources.
    let mut sources = Vec::new();
    if let Some(t) = named_tables(&root, "sources", &problems) {
        for (name, s) in t {
            if let Some(src) = source_plan(&name, &s, source) {
                sources.push(src);
            } else {
                // keep indices aligned with names for reference checks
                sources.push(SourcePlan {
                    name,
                    kind: SourceKind::File {
                        paths: Vec::new(),
                        rate: None,
                    },
                    schema: Schema::vibration(),
                    max_out_of_orderness_ms: 0,
                });
            }
        }
    }
    if sources.is_empty() && root.has("sources") {
        problems.add("sources", "define at least one source");
    } else if !root.has("sources") {
        problems.add(
            "sources",
            "the [sources.NAME] tables are required; a job needs at least one source",
        );
    }

    // Operators.
    let mut operators: Vec<OperatorPlan> = Vec::new();
    if let Some(t) = named_tables(&root, "operators", &problems) {
        for (name, s) in t {
            let declared_window = s.has("kind") && s.value("kind").and_then(|v| v.as_str()) == Some("window");
            if let Some(op) = operator_plan(&name, &s, &sources) {
                operators.push(op);
            } else if declared_window {
                operators.push(OperatorPlan {
                    name,
                    source: usize::MAX,
                    kind: OperatorKind::Window(placeholder_window()),
                });
            } else {
                operators.push(OperatorPlan {
                    name,
                    source: usize::MAX,
                    kind: OperatorKind::Threshold(ThresholdPlan {
                        key: vec![],
                        field: 0,
                        above: 0.0,
                        cooldown_ms: 0,
                        alert_kind: String::new(),
                        severity: String::new(),
                        fields: vec![],
                    }),
                });
            }
        }
    }

    // Sinks.
    let mut sinks: Vec<SinkPlan> = Vec::new();
    if let Some(t) = named_tables(&root, "sinks", &problems) {
        for (name, s) in t {
            sinks.push(sink_plan(&name, &s, &sources, &operators));
        }
    }
    if sinks.is_empty() {
        problems.add("sinks", "define at least one sink ([sinks.NAME] with kind, inputs, …)");
    }
    let serve = root.table("serve").map(|s| {
        let listen = s.str("listen").unwrap_or("127.0.0.1:7878").to_string();
        s.finish("");
        weir_engine::plan::ServePlan { listen }
    });
    root.finish("");

    check_names(&sources, &operators, &problems);
    route_dead_letters(&mut sinks, &sources, &operators, dead_letter_sink.as_deref(), &problems);
    for (i, op) in operators.iter().enumerate() {
        if !sinks.iter().any(|s| s.inputs.contains(&StreamRef::Output(i))) {
            problems.add(
                &format!("operators.{}", op.name),
                "its output is not read by any sink; add it to a sink's `inputs`",
            );
        }
    }

    if problems.is_empty() {
        Ok(Plan {
            job_name,
            workers,
            sources,
            operators,
            sinks,
            serve,
            checkpoint,
        })
    } else {
        Err(DefinitionError {
            file: source.name.clone(),
            problems: problems.into_vec(),
        })
    }
}

/// Stands in for a window operator that failed validation, so references to it still resolve.
fn placeholder_window() -> WindowPlan {
    WindowPlan {
        window: WindowSpec::Tumbling { size_ms: 1 },
        allowed_lateness_ms: 0,
        key: vec![],
        carry: vec![],
        values: vec![],
        aggregates: vec![],
        row_schema: RowSchema { columns: vec![] },
    }
}

/// The `[NAME.x]` sub-tables of a top-level table, in file order.
fn named_tables<'a>(root: &Section<'a>, key: &str, problems: &'a Problems) -> Option<Vec<(String, Section<'a>)>> {
    let t = root.table(key)?;
    let mut out = Vec::new();
    for (name, v) in t.entries() {
        match v {
            toml::Value::Table(inner) => {
                out.push((name.clone(), Section::new(format!("{key}.{name}"), inner, problems)))
            }
            _ => problems.add(&format!("{key}.{name}"), format!("expected a table [{key}.{name}]")),
        }
    }
    Some(out)
}

fn parse_schema(s: &Section, builtin_default: Option<Schema>) -> Option<Vec<Field>> {
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
                let ty = match ty {
                    toml::Value::String(t) => {
                        match t.as_str() {
                            "string" => Some(FieldType::String),
                            "int" | "integer" => Some(FieldType::Int),
                            "float" | "number" => Some(FieldType::Float),
                            other => {
                                s.problem(&format!("schema.{name}"), format!("unknown type \"{other}\"; allowed: string, int, float, or a list of enum values"));
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
                    Some(ty) => fields.push(Field { name: name.clone(), ty }),
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

fn source_plan(name: &str, s: &Section, job: &JobSource) -> Option<SourcePlan> {
    let kind = s.req_str("kind");
    let format = s.str("format").unwrap_or("jsonl");
    if format != "jsonl" && format != "json" {
        s.problem(
            "format",
            format!("unsupported format \"{format}\"; allowed: jsonl (one JSON object per line or message)"),
        );
    }
    let ooo = s.duration_ms("max_out_of_orderness").unwrap_or(0);
    let event_time = s.str("event_time").unwrap_or("ts").to_string();
    let (source_kind, builtin) = match kind {
        Some("file") => {
            // `path` (one partition) or `paths` (one partition per file, like a topic's partitions).
            let paths = match (s.has("path"), s.has("paths")) {
                (true, true) => {
                    s.problem(
                        "paths",
                        "give either `path` (one file) or `paths` (one partition per file), not both",
                    );
                    None
                }
                (false, true) => s.str_list("paths").filter(|p| {
                    if p.is_empty() {
                        s.problem("paths", "list at least one file");
                    }
                    !p.is_empty()
                }),
                _ => s.req_str("path").map(|p| vec![p]),
            };
            let rate = replay_rate(s);
            (
                paths.map(|ps| SourceKind::File {
                    paths: ps.iter().map(|p| job.base_dir.join(p)).collect(),
                    rate,
                }),
                None,
            )
        }
        Some("generator") => {
            let g = generator_spec(s);
            let builtin = g.as_ref().map(|g| match g.workload {
                Workload::Vibration { .. } => Schema::vibration(),
                Workload::Locations { .. } => Schema::locations(),
            });
            (g.map(SourceKind::Generator), builtin)
        }
        Some("kafka") => (kafka_source_spec(s).map(SourceKind::Kafka), None),
        Some(other) => {
            s.problem(
                "kind",
                format!("unknown source kind \"{other}\"; allowed: {SOURCE_KINDS}"),
            );
            (None, None)
        }
        None => (None, None),
    };
    let fields = parse_schema(s, builtin);
    if matches!(kind, Some("file" | "generator" | "kafka")) {
        s.finish("");
    }
    let fields = fields?;
    let schema = match fields.iter().position(|f| f.name == event_time) {
        Some(i) if fields[i].ty == FieldType::Int => Schema { fields, event_time: i },
        Some(_) => {
            s.problem(
                "event_time",
                format!("field `{event_time}` must be declared \"int\" (epoch milliseconds)"),
            );
            return None;
        }
        None => {
            s.problem(
                "event_time",
                format!(
                    "field `{event_time}` is not in the schema; declared: {}",
                    fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            );
            return None;
        }
    };
    Some(SourcePlan {
        name: name.to_string(),
        kind: source_kind?,
        schema,
        max_out_of_orderness_ms: ooo,
    })
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
    let properties = s.string_map("properties");
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

fn kafka_sink_spec(s: &Section) -> Option<KafkaSinkSpec> {
    let brokers = s.req_str("brokers");
    let topic = s.req_str("topic");
    let compact = s.bool("compact").unwrap_or(false);
    let partitions = s.count("partitions", 1).unwrap_or(1) as u32;
    let timeout = s.duration_ms("delivery_timeout").unwrap_or(120_000);
    let properties = s.string_map("properties");
    Some(KafkaSinkSpec {
        brokers: brokers?.to_string(),
        topic: topic?.to_string(),
        compact,
        partitions,
        delivery_timeout: std::time::Duration::from_millis(timeout.max(1) as u64),
        properties,
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
    let rate = s.float("rate");
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

/// Resolves field names against a schema, reporting unknown ones.
fn fields_of(s: &Section, key: &str, names: &[&str], schema: &Schema) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    let mut ok = true;
    for n in names {
        match schema.index_of(n) {
            Some(i) => out.push(i),
            None => {
                s.problem(
                    key,
                    format!(
                        "field `{n}` is not in the input's schema; declared: {}",
                        schema
                            .fields
                            .iter()
                            .map(|f| f.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn operator_plan(name: &str, s: &Section, sources: &[SourcePlan]) -> Option<OperatorPlan> {
    let kind = s.req_str("kind");
    let inputs = s.str_list("inputs");
    if !s.has("inputs") {
        s.problem(
            "inputs",
            "is required: the source this operator reads, e.g. inputs = [\"vibration\"]",
        );
    }
    let source = inputs.and_then(|inputs| match inputs.as_slice() {
        [one] => match sources.iter().position(|src| src.name == *one) {
            Some(i) => Some(i),
            None => {
                s.problem(
                    "inputs",
                    format!(
                        "no source named `{one}`; sources: {}",
                        sources.iter().map(|x| x.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                );
                None
            }
        },
        _ => {
            s.problem("inputs", "an operator reads exactly one source in this version");
            None
        }
    });
    let schema = source.map(|i| sources[i].schema.clone());
    let op = match kind {
        Some("window") => window_plan(s, schema.as_ref()).map(OperatorKind::Window),
        Some("threshold_alert") => threshold_plan(s, schema.as_ref()).map(OperatorKind::Threshold),
        Some("delivery_alerts") => delivery_plan(s, schema.as_ref()).map(OperatorKind::DeliveryAlerts),
        Some("latest") => latest_plan(s, schema.as_ref()).map(OperatorKind::Latest),
        Some(other) => {
            s.problem(
                "kind",
                format!("unknown operator kind \"{other}\"; allowed: {OPERATOR_KINDS}"),
            );
            None
        }
        None => None,
    };
    if matches!(kind, Some("window" | "threshold_alert" | "delivery_alerts" | "latest")) {
        s.finish("");
    }
    Some(OperatorPlan {
        name: name.to_string(),
        source: source?,
        kind: op?,
    })
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
    let size = w.duration_ms("size");
    if !w.has("size") {
        w.problem("size", "is required, e.g. \"1h\"");
    }
    let slide = w.duration_ms("slide");
    w.finish("");
    let size = size.filter(|s| *s > 0).or_else(|| {
        if w.has("size") {
            w.problem("size", "must be longer than 0");
        }
        None
    })?;
    match kind? {
        "tumbling" => Some(WindowSpec::Tumbling { size_ms: size }),
        "hopping" => match slide {
            Some(sl) if sl > 0 && sl <= size => Some(WindowSpec::Hopping {
                size_ms: size,
                slide_ms: sl,
            }),
            Some(_) => {
                w.problem("slide", "must be longer than 0 and at most the window size");
                None
            }
            None => {
                w.problem("slide", "is required for hopping windows, e.g. \"5m\"");
                None
            }
        },
        "session" => {
            w.problem(
                "kind",
                "session windows are not available in this version; allowed: tumbling, hopping",
            );
            None
        }
        other => {
            w.problem(
                "kind",
                format!("unknown window kind \"{other}\"; allowed: tumbling, hopping"),
            );
            None
        }
    }
}

fn window_plan(s: &Section, schema: Option<&Schema>) -> Option<WindowPlan> {
    let window = window_spec(s);
    let lateness = s.duration_ms("allowed_lateness").unwrap_or(0);
    let key_names = s.str_list("key");
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
    let schema = schema?;
    let key = fields_of(s, "key", &key_names?, schema);
    let carry = fields_of(s, "carry", &carry_names, schema);
    let mut values: Vec<usize> = Vec::new();
    let mut aggregates = Vec::new();
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
            let (input, input_type) = match func.field() {
                None => (None, None),
                Some(f) => match schema.index_of(f) {
                    Some(i) => {
                        let ty = schema.fields[i].ty.value_type();
                        if func.needs_number() && ty == ValueType::Str {
                            a.problem(col, format!("`{expr}` needs a numeric field, but `{f}` is a string"));
                            ok = false;
                        }
                        let pos = values.iter().position(|v| *v == i).unwrap_or_else(|| {
                            values.push(i);
                            values.len() - 1
                        });
                        (Some(pos), Some(ty))
                    }
                    None => {
                        a.problem(col, format!("field `{f}` is not in the input's schema"));
                        ok = false;
                        continue;
                    }
                },
            };
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
    let mut columns: Vec<(String, ValueType)> = Vec::new();
    for i in key.iter().chain(&carry) {
        columns.push((schema.fields[*i].name.clone(), schema.fields[*i].ty.value_type()));
    }
    for a in &aggregates {
        columns.push((a.name.clone(), a.func.output_type(a.input_type)));
    }
    let mut seen = HashSet::from(["window_start".to_string(), "window_end".to_string()]);
    for (c, _) in &columns {
        if !seen.insert(c.clone()) {
            s.problem("aggregates", format!("output column `{c}` appears twice (columns are window_start, window_end, the key, carry and aggregate names)"));
            return None;
        }
    }
    Some(WindowPlan {
        window,
        allowed_lateness_ms: lateness,
        key,
        carry,
        values,
        aggregates,
        row_schema: RowSchema { columns },
    })
}

fn threshold_plan(s: &Section, schema: Option<&Schema>) -> Option<ThresholdPlan> {
    let key_names = s.str_list("key");
    if !s.has("key") {
        s.problem(
            "key",
            "is required: the fields alerts are suppressed per, e.g. key = [\"sensor_id\"]",
        );
    }
    let field = s.req_str("field");
    let above = s.float("above");
    if !s.has("above") {
        s.problem("above", "is required: the limit a reading must exceed to alert");
    }
    let cooldown = s.duration_ms("cooldown").unwrap_or(0);
    let alert_kind = s.req_str("alert");
    let severity = s.str("severity").unwrap_or("warning").to_string();
    let field_names = s.str_list("fields");
    let schema = schema?;
    let key = fields_of(s, "key", &key_names?, schema)?;
    let field_name = field?;
    let fi = fields_of(s, "field", &[field_name], schema)?[0];
    if schema.fields[fi].ty.value_type() == ValueType::Str {
        s.problem("field", format!("`{field_name}` must be numeric"));
        return None;
    }
    let names: Vec<&str> = match field_names {
        Some(n) => n,
        None => key
            .iter()
            .map(|i| schema.fields[*i].name.as_str())
            .chain([field_name])
            .collect(),
    };
    let idx = fields_of(s, "fields", &names, schema)?;
    Some(ThresholdPlan {
        key,
        field: fi,
        above: above?,
        cooldown_ms: cooldown,
        alert_kind: alert_kind?.to_string(),
        severity,
        fields: names.iter().map(|n| n.to_string()).zip(idx).collect(),
    })
}

/// Resolves a stream name: `OP`, `OP.late`, `SOURCE.dead_letters`.
fn resolve(name: &str, sources: &[SourcePlan], operators: &[OperatorPlan]) -> Result<StreamRef, String> {
    if let Some(op) = operators.iter().position(|o| o.name == name) {
        return Ok(StreamRef::Output(op));
    }
    if let Some((base, port)) = name.rsplit_once('.') {
        match port {
            "late" => {
                if let Some(i) = operators.iter().position(|o| o.name == base) {
                    return match operators[i].kind {
                        OperatorKind::Window(_) => Ok(StreamRef::Late(i)),
                        _ => Err(format!("`{base}` is not a window operator, so it has no late output")),
                    };
                }
            }
            "dead_letters" => {
                if let Some(i) = sources.iter().position(|s| s.name == base) {
                    return Ok(StreamRef::DeadLetters(i));
                }
            }
            _ => {}
        }
    }
    if sources.iter().any(|s| s.name == name) {
        return Err(format!(
            "`{name}` is a source; sinks read operators (`OP`, `OP.late`) and `{name}.dead_letters`"
        ));
    }
    let mut known: Vec<String> = operators.iter().map(|o| o.name.clone()).collect();
    known.extend(
        operators
            .iter()
            .filter(|o| matches!(o.kind, OperatorKind::Window(_)))
            .map(|o| format!("{}.late", o.name)),
    );
    known.extend(sources.iter().map(|s| format!("{}.dead_letters", s.name)));
    Err(format!("no stream named `{name}`; available: {}", known.join(", ")))
}

fn sink_plan(name: &str, s: &Section, sources: &[SourcePlan], operators: &[OperatorPlan]) -> SinkPlan {
    let kind = s.req_str("kind");
    let input_names = s.str_list("inputs").unwrap_or_default();
    let mut inputs = Vec::new();
    for n in &input_names {
        match resolve(n, sources, operators) {
            Ok(r) => inputs.push(r),
            Err(e) => s.problem("inputs", e),
        }
    }
    let path = s.str("path");
    let partition_by = s.str("partition_by");
    let max_rows = s.count("max_rows_per_file", 1).unwrap_or(1_000_000) as usize;
    let row_group = s.count("row_group_rows", 1).unwrap_or(128 * 1024) as usize;
    let max_file_age = s.duration_ms("max_file_age");
    let needs_path = |s: &Section| {
        if path.is_none() && !s.has("path") {
            s.problem("path", "is required");
        }
        path.unwrap_or("").into()
    };
    let sink_kind = match kind {
        Some("parquet") => {
            let pb = match partition_by.unwrap_or("hour") {
                "hour" => PartitionBy::Hour,
                "date" => PartitionBy::Date,
                "none" => PartitionBy::None,
                other => {
                    s.problem(
                        "partition_by",
                        format!(
                            "unknown partitioning \"{other}\"; allowed: hour (date=YYYY-MM-DD/hour=HH), date, none"
                        ),
                    );
                    PartitionBy::Hour
                }
            };
            match inputs.as_slice() {
                [StreamRef::Output(i)] if matches!(operators[*i].kind, OperatorKind::Window(_)) => {}
                [] => {}
                _ => s.problem("inputs", "a parquet sink reads exactly one window operator's rows"),
            }
            SinkKind::Parquet {
                path: needs_path(s),
                partition_by: pb,
                max_rows_per_file: max_rows,
                max_file_age_ms: max_file_age,
                row_group_rows: row_group,
            }
        }
        Some("jsonl") => SinkKind::Jsonl { path: needs_path(s) },
        Some("stdout") => SinkKind::Stdout,
        Some("webhook") => {
            match webhook_config(s) {
                Some(c) => {
                    let alerts_only = inputs.iter().all(|r| match r {
                        StreamRef::Output(i) => matches!(
                            operators[*i].kind,
                            OperatorKind::Threshold(_) | OperatorKind::DeliveryAlerts(_)
                        ),
                        _ => false,
                    });
                    if !alerts_only {
                        s.problem("inputs", "a webhook sink posts alerts: its inputs must be threshold_alert or delivery_alerts operators");
                    }
                    SinkKind::Webhook(c)
                }
                None => SinkKind::Stdout,
            }
        }
        Some("kafka") => kafka_sink_spec(s).map_or(SinkKind::Stdout, SinkKind::Kafka),
        Some(other) => {
            s.problem("kind", format!("unknown sink kind \"{other}\"; allowed: {SINK_KINDS}"));
            SinkKind::Stdout
        }
        None => SinkKind::Stdout,
    };
    if !s.has("inputs") && name != "dead_letters" {
        s.problem(
            "inputs",
            "is required: the streams this sink writes, e.g. inputs = [\"hourly\"]",
        );
    }
    if matches!(kind, Some("parquet" | "jsonl" | "stdout" | "webhook" | "kafka")) {
        s.finish("");
    }
    SinkPlan {
        name: name.to_string(),
        kind: sink_kind,
        inputs,
    }
}

fn check_names(sources: &[SourcePlan], operators: &[OperatorPlan], problems: &Problems) {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (kind, name) in sources
        .iter()
        .map(|s| ("sources", s.name.as_str()))
        .chain(operators.iter().map(|o| ("operators", o.name.as_str())))
    {
        if let Some(prev) = seen.insert(name, kind) {
            problems.add(
                &format!("{kind}.{name}"),
                format!("the name is already used by {prev}.{name}; source and operator names must be unique"),
            );
        }
    }
}

/// Sends every dead-letter and late stream no sink reads to the job's dead-letter sink.
fn route_dead_letters(
    sinks: &mut [SinkPlan],
    sources: &[SourcePlan],
    operators: &[OperatorPlan],
    explicit: Option<&str>,
    problems: &Problems,
) {
    let target = explicit.unwrap_or("dead_letters");
    let mut unrouted = Vec::new();
    for i in 0..sources.len() {
        unrouted.push(StreamRef::DeadLetters(i));
    }
    for (i, o) in operators.iter().enumerate() {
        if matches!(o.kind, OperatorKind::Window(_)) {
            unrouted.push(StreamRef::Late(i));
        }
    }
    for (i, s) in sinks.iter().enumerate() {
        if matches!(s.kind, SinkKind::Webhook(_)) {
            unrouted.push(StreamRef::SinkFailures(i));
        }
    }
    unrouted.retain(|r| !sinks.iter().any(|s| s.inputs.contains(r)));
    if unrouted.is_empty() {
        return;
    }
    match sinks.iter_mut().find(|s| s.name == target) {
        Some(s) if matches!(s.kind, SinkKind::Parquet { .. }) => {
            problems.add(
                &format!("sinks.{target}"),
                "the dead-letter sink must be jsonl or stdout",
            );
        }
        Some(s) => s.inputs.extend(unrouted),
        None => problems.add(
            if explicit.is_some() {
                "job.dead_letters"
            } else {
                "sinks"
            },
            format!(
                "malformed and late records need somewhere to go: add a jsonl sink named `{target}`{}",
                if explicit.is_some() {
                    ""
                } else {
                    " or set [job] dead_letters = \"SINK\""
                }
            ),
        ),
    }
}

/// `kind = "delivery_alerts"`: the DESIGN §4 delivery rules per order.
fn delivery_plan(s: &Section, schema: Option<&Schema>) -> Option<weir_engine::plan::DeliveryPlan> {
    let key = s.str("key").unwrap_or("order_id");
    let state = s.str("state_field").unwrap_or("state");
    let deliverer = s.str("deliverer_field").unwrap_or("deliverer_id");
    let lat = s.str("lat_field").unwrap_or("lat");
    let lon = s.str("lon_field").unwrap_or("lon");
    let budget_ms = s.duration_ms("budget").unwrap_or(30 * 60_000);
    let silence_ms = s.duration_ms("silence").unwrap_or(5 * 60_000);
    let retention_ms = s.duration_ms("retention").unwrap_or(24 * 3_600_000);
    let schema = schema?;
    let idx = fields_of(s, "key", &[key], schema);
    let st = fields_of(s, "state_field", &[state], schema);
    let dl = fields_of(s, "deliverer_field", &[deliverer], schema);
    let la = fields_of(s, "lat_field", &[lat], schema);
    let lo = fields_of(s, "lon_field", &[lon], schema);
    let (idx, st, dl, la, lo) = (idx?[0], st?[0], dl?[0], la?[0], lo?[0]);
    for (k, f) in [("lat_field", la), ("lon_field", lo)] {
        if schema.fields[f].ty.value_type() == ValueType::Str {
            s.problem(k, format!("`{}` must be numeric", schema.fields[f].name));
            return None;
        }
    }
    Some(weir_engine::plan::DeliveryPlan {
        key: idx,
        state: st,
        deliverer: dl,
        lat: la,
        lon: lo,
        rules: weir_operators::delivery::DeliveryRules {
            budget_ms,
            silence_ms,
            retention_ms,
        },
    })
}

/// `kind = "latest"`: the newest record per key, served over HTTP and published as a changelog.
fn latest_plan(s: &Section, schema: Option<&Schema>) -> Option<weir_engine::plan::LatestPlan> {
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
    let schema = schema?;
    let key = fields_of(s, "key", &[key?], schema)?[0];
    let terminal = match terminal {
        Some((Some(f), Some(values))) => Some((
            fields_of(s, "terminal", &[f], schema)?[0],
            values.iter().map(|v| v.to_string()).collect(),
        )),
        Some(_) => return None,
        None => None,
    };
    Some(weir_engine::plan::LatestPlan {
        key,
        terminal,
        expiry: weir_operators::Expiry { ttl_ms, idle_ttl_ms },
    })
}

/// `kind = "webhook"`: where and how to POST alerts.
fn webhook_config(s: &Section) -> Option<weir_engine::sink::webhook::WebhookConfig> {
    let url = s.req_str("url");
    let timeout = s.duration_ms("timeout").unwrap_or(2_000);
    let retries = s.count("retries", 0).unwrap_or(3) as u32;
    let backoff = s.duration_ms("backoff").unwrap_or(200);
    let mut headers = Vec::new();
    if let Some(h) = s.table("headers") {
        for (k, v) in h.entries() {
            match v.as_str() {
                Some(v) => headers.push((k.clone(), v.to_string())),
                None => h.problem(k, "expected a string header value"),
            }
        }
    }
    let url = url?;
    if !url.starts_with("http://") {
        s.problem("url", format!("\"{url}\": only http:// URLs are supported in this build (put a TLS-terminating proxy in front for https)"));
        return None;
    }
    Some(weir_engine::sink::webhook::WebhookConfig {
        url: url.to_string(),
        headers,
        timeout: std::time::Duration::from_millis(timeout.max(1) as u64),
        retries,
        backoff: std::time::Duration::from_millis(backoff.max(0) as u64),
    })
}
