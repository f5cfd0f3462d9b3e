//! The options of the Kafka kinds: `[sources.NAME]`, `[sinks.NAME]` and `[tables.NAME]` with
//! `kind = "kafka"`, and the `properties` they all pass to librdkafka.

use super::client::check_property;
use super::sink::KafkaSinkSpec;
use super::spec::{KafkaSourceSpec, StartPosition, DEFAULT_MAX_IN_FLIGHT};
use super::table::KafkaTable;
use crate::component::{SinkComponent, SourceComponent, TableComponent};
use crate::config::Section;
use crate::dataflow::pace::rate_option;
use crate::schema::Schema;
use crate::table::kind::read_interval;
use std::path::Path;
use std::sync::Arc;

/// `kind = "kafka"` source.
pub fn source(s: &Section, _: &Path) -> (Option<Arc<dyn SourceComponent>>, Option<Schema>) {
    (kafka_source_spec(s).map(|k| -> Arc<dyn SourceComponent> { Arc::new(k) }), None)
}

/// `kind = "kafka"` sink.
pub fn sink(s: &Section, schemas: &[Option<Schema>]) -> Option<Arc<dyn SinkComponent>> {
    let spec = kafka_sink_spec(s)?;
    check_message_fields(s, &spec, schemas);
    Some(Arc::new(spec))
}

/// `kind = "kafka"` table.
pub fn table(s: &Section, _: &Path, key: &[usize]) -> Option<Arc<dyn TableComponent>> {
    let brokers = s.req_str("brokers");
    let topic = s.req_str("topic");
    let interval = read_interval(s, 1_000);
    let properties = kafka_properties(s);
    Some(Arc::new(KafkaTable {
        brokers: brokers?.to_string(),
        topic: topic?.to_string(),
        interval,
        properties,
        key: key.to_vec(),
    }))
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
    let idle_timeout = s.duration("idle_timeout");
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
        rate: rate_option(s),
    })
}

/// A Kafka sink's `key` and `headers` fields exist in every input's schema.
fn check_message_fields(s: &Section, spec: &KafkaSinkSpec, schemas: &[Option<Schema>]) {
    let mut wanted: Vec<(String, &str)> = Vec::new();
    if let Some(k) = &spec.key {
        wanted.push(("key".into(), k));
    }
    for (h, f) in spec.headers.iter().flatten() {
        wanted.push((format!("headers.{h}"), f));
    }
    for schema in schemas.iter().flatten() {
        for (path, field) in &wanted {
            if schema.index_of(field).is_none() {
                s.problem(
                    path,
                    format!(
                        "field `{field}` is not in an input's schema; available: {}",
                        schema.names()
                    ),
                );
            }
        }
    }
}

fn kafka_sink_spec(s: &Section) -> Option<KafkaSinkSpec> {
    let brokers = s.req_str("brokers");
    let topic = s.req_str("topic");
    let compact = s.bool("compact").unwrap_or(false);
    let partitions = s.count("partitions", 1).unwrap_or(1) as u32;
    let timeout = s.duration_ms("delivery_timeout").unwrap_or(120_000);
    let properties = kafka_properties(s);
    let key = s.str("key").map(str::to_string);
    let headers = s.has("headers").then(|| s.string_map("headers"));
    Some(KafkaSinkSpec {
        brokers: brokers?.to_string(),
        topic: topic?.to_string(),
        compact,
        partitions,
        delivery_timeout: std::time::Duration::from_millis(timeout.max(1) as u64),
        properties,
        key,
        headers,
    })
}

/// The `properties` of Kafka sources, sinks and tables: librdkafka settings passed through as written, checked by
/// librdkafka's own configuration parser when the job is planned, so that a misspelt name or a value librdkafka
/// refuses is a definition problem naming the key, not a failure when the job starts.
fn kafka_properties(s: &Section) -> Vec<(String, String)> {
    let properties = s.string_map("properties");
    if let Some(table) = s.table("properties") {
        for (key, value) in &properties {
            if let Err(why) = check_property(key, value) {
                table.problem(key, format!("librdkafka refuses it: {why}"));
            }
        }
    }
    properties
}
