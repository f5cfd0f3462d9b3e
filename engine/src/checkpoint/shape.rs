//! The state-relevant shape of a job, stored in every checkpoint and compared on restore.
//!
//! Everything that decides what operator state means or where a partition stands is part of the shape:
//! source names, schemas, event-time rules and partitioning; operator names, kinds, keys, windows,
//! aggregates and rules; sink names and kinds. Paths, brokers, intervals, worker counts and the HTTP
//! listener are not: changing them is a compatible change.

use crate::plan::{Plan, SinkKind, SourceKind};
use std::collections::BTreeMap;

/// The job's shape: one description per component, keyed by its path in the job definition.
pub fn job_shape(plan: &Plan) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for s in &plan.sources {
        let kind = match &s.kind {
            SourceKind::File { paths, .. } => format!("file with {} partition(s)", paths.len()),
            SourceKind::Generator(g) => format!("generator {g:?}"),
            SourceKind::Kafka(k) => format!("kafka topic `{}`", k.topic),
        };
        m.insert(
            format!("sources.{}", s.name),
            format!(
                "{kind}; schema {:?}; max_out_of_orderness {} ms",
                s.schema, s.max_out_of_orderness_ms
            ),
        );
    }
    for o in &plan.operators {
        m.insert(
            format!("operators.{}", o.name),
            format!("reads `{}`; {:?}", plan.sources[o.source].name, o.kind),
        );
    }
    for k in &plan.sinks {
        let kind = match &k.kind {
            SinkKind::Parquet { .. } => "parquet",
            SinkKind::Jsonl { .. } => "jsonl",
            SinkKind::Stdout => "stdout",
            SinkKind::Webhook(_) => "webhook",
            SinkKind::Kafka(_) => "kafka",
        };
        m.insert(format!("sinks.{}", k.name), format!("{kind}; inputs {:?}", k.inputs));
    }
    m
}

/// What changed between a checkpoint's shape and the job's, one line per component; empty if compatible.
pub fn differences(stored: &BTreeMap<String, String>, now: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in stored {
        match now.get(k) {
            None => out.push(format!("`{k}` was removed (it was: {v})")),
            Some(n) if n != v => out.push(format!("`{k}` changed\n      was: {v}\n      now: {n}")),
            Some(_) => {}
        }
    }
    for (k, v) in now {
        if !stored.contains_key(k) {
            out.push(format!("`{k}` was added ({v})"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_changed_added_and_removed_components() {
        let a: BTreeMap<String, String> =
            [("operators.w".into(), "1h".into()), ("sinks.x".into(), "jsonl".into())].into();
        let b: BTreeMap<String, String> =
            [("operators.w".into(), "30m".into()), ("sinks.y".into(), "jsonl".into())].into();
        let d = differences(&a, &b);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d[0].contains("`operators.w` changed") && d[0].contains("1h") && d[0].contains("30m"));
        assert!(d[1].contains("`sinks.x` was removed"));
        assert!(d[2].contains("`sinks.y` was added"));
        assert!(differences(&a, &a).is_empty());
    }
}
