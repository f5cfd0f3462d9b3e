//! Sinks of a job definition: `[sinks.NAME]` with `kind = "parquet" | "jsonl" | "stdout" | "webhook" |
//! "kafka"` and the streams it writes (`inputs`), any of the job's streams.
//!
//! Adding a kind is its component in `weir_engine::sink`, one function here
//! (`fn(&Section, &[Option<Schema>]) -> Option<Arc<dyn SinkComponent>>`) and one line in [`KINDS`].

use super::kafka_properties::kafka_properties;
use super::{stream_ref, Names, Resolved};
use crate::definition::section::Section;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use weir_engine::component::SinkComponent;
use weir_engine::connectors::jsonl::JsonlSink;
use weir_engine::connectors::kafka::sink::KafkaSinkSpec;
use weir_engine::connectors::parquet::ParquetSink;
use weir_engine::connectors::stdout::StdoutSink;
use weir_engine::connectors::webhook::{BodyTemplate, RootCertificates};
use weir_engine::plan::{PartitionBy, SinkPlan, StreamRef};
use weir_engine::schema::Schema;

/// Resolves a sink's `inputs` (`index_of` maps operators in file order to their planned index).
pub(super) fn resolve_inputs(s: &Section, names: &Names, index_of: &HashMap<usize, usize>) -> Vec<StreamRef> {
    let mut inputs = Vec::new();
    for n in s.str_list("inputs").unwrap_or_default() {
        match names.resolve(n) {
            Ok(Resolved::Node(super::Node::Table(_), super::Port::Main)) => s.problem(
                "inputs",
                format!("`{n}` is a table, not a stream: join a stream with it, or write `{n}.dead_letters`"),
            ),
            Ok(Resolved::Node(node, port)) => inputs.push(stream_ref(node, port, index_of)),
            Ok(Resolved::SinkFailures(i)) => inputs.push(StreamRef::SinkFailures(i)),
            Err(e) => s.problem("inputs", e),
        }
    }
    inputs
}

/// Plans one kind: its parameters (and its inputs' schemas, `None` where an input failed validation).
type PlanSink = fn(&Section, &[Option<Schema>]) -> Option<Arc<dyn SinkComponent>>;

/// Every sink kind.
const KINDS: &[(&str, PlanSink)] = &[
    ("parquet", parquet),
    ("jsonl", jsonl),
    ("stdout", stdout),
    ("webhook", webhook),
    ("kafka", kafka),
];

/// Plans one sink; `schemas` are its inputs' (`None` where the input failed validation). The job's
/// dead-letter sink (`exempt`) needs no `inputs`: it receives every dead-letter stream no other sink reads.
/// A sink with problems (all of them reported) is planned as stdout, so that the checks after it still see
/// every sink at its index.
pub(super) fn sink_plan(
    name: &str,
    s: &Section,
    inputs: Vec<StreamRef>,
    schemas: &[Option<Schema>],
    exempt: bool,
) -> SinkPlan {
    let component = sink_component(s, inputs.len(), schemas, exempt);
    SinkPlan {
        name: name.to_string(),
        component: component.unwrap_or_else(|| Arc::new(StdoutSink)),
        inputs,
    }
}

fn sink_component(
    s: &Section,
    inputs: usize,
    schemas: &[Option<Schema>],
    exempt: bool,
) -> Option<Arc<dyn SinkComponent>> {
    if !s.has("inputs") && !exempt {
        s.problem(
            "inputs",
            "is required: the streams this sink writes, e.g. inputs = [\"hourly\"]",
        );
    }
    let kind = s.req_str("kind")?;
    let Some((_, plan)) = KINDS.iter().find(|(k, _)| *k == kind) else {
        let allowed: Vec<&str> = KINDS.iter().map(|k| k.0).collect();
        s.problem(
            "kind",
            format!(
                "unknown sink kind \"{kind}\"; allowed: {}{}",
                allowed.join(", "),
                super::did_you_mean(kind, allowed.iter().copied())
            ),
        );
        return None;
    };
    let component = plan(s, schemas);
    s.finish("");
    if let Some(c) = &component {
        if c.reads_one_stream() && inputs > 1 {
            s.problem(
                "inputs",
                format!(
                    "a {kind} sink writes one stream (its columns are that stream's fields); merge streams of one \
                     schema with a `union` operator first"
                ),
            );
        }
    }
    component
}

/// `path`, required.
fn required_path(s: &Section) -> Option<PathBuf> {
    s.req_local_path("path").map(PathBuf::from)
}

fn parquet(s: &Section, _: &[Option<Schema>]) -> Option<Arc<dyn SinkComponent>> {
    let path = required_path(s);
    let partition_by = match s.str("partition_by").unwrap_or("hour") {
        "hour" => Some(PartitionBy::Hour),
        "date" => Some(PartitionBy::Date),
        "none" => Some(PartitionBy::None),
        other => {
            s.problem(
                "partition_by",
                format!("unknown partitioning \"{other}\"; allowed: hour (date=YYYY-MM-DD/hour=HH), date, none"),
            );
            None
        }
    };
    let max_rows_per_file = s.count("max_rows_per_file", 1).unwrap_or(1_000_000) as usize;
    let row_group_rows = s.count("row_group_rows", 1).unwrap_or(128 * 1024) as usize;
    let max_file_age_ms = s.duration_ms("max_file_age");
    Some(Arc::new(ParquetSink {
        path: path?,
        partition_by: partition_by?,
        max_rows_per_file,
        max_file_age_ms,
        row_group_rows,
    }))
}

fn jsonl(s: &Section, _: &[Option<Schema>]) -> Option<Arc<dyn SinkComponent>> {
    Some(Arc::new(JsonlSink {
        path: required_path(s)?,
    }))
}

fn stdout(_: &Section, _: &[Option<Schema>]) -> Option<Arc<dyn SinkComponent>> {
    Some(Arc::new(StdoutSink))
}

fn webhook(s: &Section, schemas: &[Option<Schema>]) -> Option<Arc<dyn SinkComponent>> {
    Some(Arc::new(webhook_config(s, schemas)?))
}

fn kafka(s: &Section, schemas: &[Option<Schema>]) -> Option<Arc<dyn SinkComponent>> {
    let spec = kafka_sink_spec(s)?;
    check_message_fields(s, &spec, schemas);
    Some(Arc::new(spec))
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

/// `kind = "webhook"`: where and how to POST alerts: `url` (http:// or https://), `body` (a template of the
/// alert's fields, see [`weir_engine::connectors::webhook::BodyTemplate`]), `ca_file` (PEM roots for https).
fn webhook_config(s: &Section, schemas: &[Option<Schema>]) -> Option<weir_engine::connectors::webhook::WebhookConfig> {
    let url = s.req_str("url");
    let timeout = s.duration_ms("timeout").unwrap_or(2_000);
    let retries = s.count("retries", 0).unwrap_or(3) as u32;
    let backoff = s.duration_ms("backoff").unwrap_or(200);
    let concurrency = s.count("concurrency", 1).unwrap_or(1);
    let queue = s.count("queue", 1).unwrap_or(1000);
    let stop_grace = s.duration_ms("stop_grace").unwrap_or(5_000);
    if concurrency > 64 {
        s.problem("concurrency", format!("{concurrency}: at most 64 requests at a time"));
    }
    let mut headers = Vec::new();
    if let Some(h) = s.table("headers") {
        for (k, v) in h.entries() {
            match v.as_str() {
                Some(v) => headers.push((k.clone(), v.to_string())),
                None => h.problem(k, "expected a string header value"),
            }
        }
    }
    let body = s.str("body").and_then(|text| match BodyTemplate::parse(text) {
        Ok(t) => {
            // Every placeholder must be a field of every input's alerts (schemas unknown here are not checked).
            for schema in schemas.iter().flatten() {
                for f in t.fields().filter(|f| schema.index_of(f).is_none()) {
                    s.problem("body", format!("`{{{{{f}}}}}` is not a field of the alerts; they have {}, or write `{{{{alert}}}}` for the whole alert", schema.names()));
                }
            }
            Some(t)
        }
        Err(e) => {
            s.problem("body", e);
            None
        }
    });
    let ca = s.str("ca_file").and_then(|path| match std::fs::read(path) {
        Ok(pem) => RootCertificates::from_pem(&pem)
            .map_err(|e| s.problem("ca_file", format!("`{path}` {e}")))
            .ok(),
        Err(e) => {
            s.problem("ca_file", format!("cannot read `{path}`: {e}"));
            None
        }
    });
    let url = url?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        s.problem("url", format!("\"{url}\": write an http:// or https:// URL"));
        return None;
    }
    if ca.is_some() && !url.starts_with("https://") {
        s.problem("ca_file", "is for https:// endpoints; the url is http://");
    }
    Some(weir_engine::connectors::webhook::WebhookConfig {
        url: url.to_string(),
        headers,
        timeout: std::time::Duration::from_millis(timeout.max(1) as u64),
        retries,
        backoff: std::time::Duration::from_millis(backoff.max(0) as u64),
        concurrency: concurrency as usize,
        queue: queue as usize,
        stop_grace: std::time::Duration::from_millis(stop_grace.max(0) as u64),
        body,
        ca,
    })
}
