//! Planner unit tests: graphs that plan, and every kind of graph mistake reported with its key path.

use super::plan;
use crate::definition::{DefinitionError, JobSource};
use weir_engine::plan::StreamRef;
use weir_engine::schema::FieldType;

fn planned(toml_text: &str) -> Result<weir_engine::plan::Plan, DefinitionError> {
    let source = JobSource {
        name: "job.toml".into(),
        base_dir: ".".into(),
        text: toml_text.to_string(),
    };
    let table: toml::Table = toml_text.parse().expect("valid TOML");
    plan(&source, &table)
}

fn problems(toml_text: &str) -> String {
    match planned(toml_text) {
        Ok(_) => panic!("expected problems"),
        Err(e) => e.to_string(),
    }
}

const HEAD: &str = r#"
[job]
name = "t"
[sources.pings]
kind = "file"
path = "in.jsonl"
schema = "locations"
[sinks.dead_letters]
kind = "jsonl"
path = "dead.jsonl"
"#;

#[test]
fn a_graph_of_transforms_and_windows_plans_in_dependency_order() {
    let job = format!(
        r#"{HEAD}
[operators.daily]
kind = "window"
inputs = ["quarter"]
window = {{ kind = "tumbling", size = "1d" }}
key = ["deliverer_id"]
aggregates = {{ pings = "sum(pings)", fastest = "max(top_kmh)" }}
[operators.quarter]
kind = "window"
inputs = ["fast"]
window = {{ kind = "tumbling", size = "15m" }}
key = ["deliverer_id"]
aggregates = {{ pings = "count", top_kmh = "max(kmh)" }}
[operators.fast]
kind = "derive"
inputs = ["moving"]
fields = {{ kmh = "lat * 0 + 3.6" }}
[operators.moving]
kind = "filter"
inputs = ["pings"]
where = "state = 'en_route'"
[sinks.out]
kind = "jsonl"
path = "out.jsonl"
inputs = ["daily"]
[sinks.raw]
kind = "parquet"
path = "raw"
inputs = ["pings"]
"#
    );
    let plan = planned(&job).unwrap();
    let order: Vec<&str> = plan.operators.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(order, vec!["moving", "fast", "quarter", "daily"]);
    assert_eq!(plan.operators[1].schema.fields.last().unwrap().name, "kmh");
    assert_eq!(plan.operators[1].schema.fields.last().unwrap().ty, FieldType::Float);
    assert_eq!(plan.operators[3].component.kind(), "window");
    assert_eq!(plan.operators[3].inputs, vec![StreamRef::Output(2)]);
    assert_eq!(plan.sinks[2].inputs, vec![StreamRef::Source(0)]);
    // The dead-letter sink needs no inputs and receives every unread dead-letter stream.
    let dead = &plan.sinks[0].inputs;
    for r in [
        StreamRef::SourceDeadLetters(0),
        StreamRef::OperatorDeadLetters(0),
        StreamRef::OperatorDeadLetters(1),
        StreamRef::Late(2),
        StreamRef::Late(3),
    ] {
        assert!(dead.contains(&r), "{r:?} not routed: {dead:?}");
    }
}

#[test]
fn cycles_dangling_names_and_type_errors_are_reported_together() {
    let job = format!(
        r#"{HEAD}
[operators.a]
kind = "filter"
inputs = ["b"]
where = "lat > 1"
[operators.b]
kind = "filter"
inputs = ["a"]
where = "lat > 1"
[operators.c]
kind = "filter"
inputs = ["nowhere"]
where = "lat > 1"
[operators.d]
kind = "filter"
inputs = ["pings"]
where = "'a' > 1"
[operators.e]
kind = "filter"
inputs = ["pings"]
where = "speed > 1"
[sinks.out]
kind = "jsonl"
path = "o.jsonl"
inputs = ["a", "c", "d", "e"]
"#
    );
    let p = problems(&job);
    assert!(
        p.contains("the operators form a cycle: a reads b reads a") || p.contains("b reads a reads b"),
        "{p}"
    );
    assert!(
        p.contains("operators.c.inputs: no stream named `nowhere`; available: pings"),
        "{p}"
    );
    assert!(
        p.contains("operators.d.where: `'a' > 1`: a comparison cannot compare a string with an int"),
        "{p}"
    );
    assert!(
        p.contains("operators.e.where: `speed > 1`: unknown field `speed`; available: order_id, deliverer_id, state, ts, lat, lon"),
        "{p}"
    );
}

#[test]
fn unions_need_one_schema_and_sketches_are_not_numbers() {
    let job = format!(
        r#"{HEAD}
[sources.vib]
kind = "file"
path = "v.jsonl"
schema = "vibration"
[operators.both]
kind = "union"
inputs = ["pings", "vib"]
[operators.hourly]
kind = "window"
inputs = ["vib"]
window = {{ kind = "tumbling", size = "1h" }}
key = ["sensor_id"]
aggregates = {{ ppv = "sketch(ppv_mm_s)" }}
[operators.loud]
kind = "filter"
inputs = ["hourly"]
where = "ppv > 1"
[operators.bad_sum]
kind = "window"
inputs = ["hourly"]
window = {{ kind = "tumbling", size = "1d" }}
key = ["sensor_id"]
aggregates = {{ total = "sum(ppv)" }}
[sinks.out]
kind = "jsonl"
path = "o.jsonl"
inputs = ["both", "loud", "bad_sum"]
"#
    );
    let p = problems(&job);
    assert!(
        p.contains("operators.both.inputs: a union merges streams of one schema")
            && p.contains("list them in a sink's `inputs` instead"),
        "{p}"
    );
    assert!(
        p.contains("operators.loud.where: `ppv > 1`: a comparison cannot compare a sketch"),
        "{p}"
    );
    assert!(
        p.contains("operators.bad_sum.aggregates.total: `sum(ppv)` needs a number, but `ppv` is a sketch"),
        "{p}"
    );
}

#[test]
fn a_daily_window_needs_the_hourly_lateness() {
    let job = format!(
        r#"{HEAD}
[operators.hourly]
kind = "window"
inputs = ["pings"]
window = {{ kind = "tumbling", size = "1h" }}
allowed_lateness = "5m"
key = ["order_id"]
aggregates = {{ n = "count" }}
[operators.daily]
kind = "window"
inputs = ["hourly"]
window = {{ kind = "tumbling", size = "1d" }}
key = ["order_id"]
aggregates = {{ n = "sum(n)" }}
[sinks.out]
kind = "jsonl"
path = "o.jsonl"
inputs = ["daily"]
"#
    );
    let p = problems(&job);
    assert!(
        p.contains("operators.daily.allowed_lateness: it reads window rows emitted with allowed_lateness 300000 ms"),
        "{p}"
    );
}

#[test]
fn a_named_dead_letter_sink_needs_no_inputs_and_old_kinds_get_a_hint() {
    let ok = r#"
[job]
name = "t"
dead_letters = "dead"
[sources.pings]
kind = "file"
path = "in.jsonl"
schema = "locations"
[sinks.dead]
kind = "jsonl"
path = "dead.jsonl"
[sinks.raw]
kind = "jsonl"
path = "raw.jsonl"
inputs = ["pings"]
"#;
    let plan = planned(ok).unwrap();
    assert_eq!(plan.sinks[0].inputs, vec![StreamRef::SourceDeadLetters(0)]);
    let job = format!(
        r#"{HEAD}
[operators.x]
kind = "threshold_alert"
inputs = ["pings"]
[sinks.out]
kind = "jsonl"
path = "o.jsonl"
inputs = ["x"]
"#
    );
    let p = problems(&job);
    assert!(p.contains("threshold_alert became `alert`"), "{p}");
}

#[test]
fn kafka_properties_are_checked_by_librdkafka_and_named() {
    let job = r#"
[job]
name = "t"
dead_letters = "dead"
[sources.pings]
kind = "kafka"
brokers = "127.0.0.1:9092"
topic = "locations"
schema = "locations"
properties = { "fetch.wait.max.msec" = "5", "queued.min.messages" = 5 }
[sinks.out]
kind = "kafka"
inputs = ["pings"]
brokers = "127.0.0.1:9092"
topic = "out"
properties = { "linger.ms" = "soon" }
[sinks.dead]
kind = "jsonl"
path = "dead.jsonl"
"#;
    let err = problems(job);
    assert!(
        err.contains(
            "sources.pings.properties.fetch.wait.max.msec: librdkafka refuses it: No such configuration property"
        ),
        "{err}"
    );
    assert!(
        err.contains("sinks.out.properties.linger.ms: librdkafka refuses it: Invalid value"),
        "{err}"
    );
    assert!(
        !err.contains("queued.min.messages"),
        "a valid setting is no problem: {err}"
    );
    planned(&job.replace(".msec", ".ms").replace("\"soon\"", "\"5\"")).expect("valid properties plan");
}
