//! The state-relevant shape of a job, stored in every checkpoint and compared on restore.
//!
//! Everything that decides what operator state means or where a partition stands is part of the shape,
//! described per node by name in words (field names, not indices or Rust types): source names, schemas,
//! event-time rules and partitioning; operator inputs, kinds, keys, windows, aggregates, predicates and
//! rules; sink kinds and inputs. Paths, brokers, intervals, worker counts and the HTTP listener are not:
//! changing them is a compatible change.

use crate::plan::Plan;
use std::collections::BTreeMap;

/// The job's shape: one description per component, keyed by its path in the job definition.
pub fn job_shape(plan: &Plan) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for s in &plan.sources {
        let kind = s.component.shape();
        m.insert(
            format!("sources.{}", s.name),
            format!(
                "{kind}; schema {}; max_out_of_orderness {} ms",
                s.schema, s.max_out_of_orderness_ms
            ),
        );
    }
    for t in &plan.tables {
        let version = t
            .version
            .map_or("none".to_string(), |v| t.schema.fields[v].name.clone());
        m.insert(
            format!("tables.{}", t.name),
            format!(
                "{}; key {}; version {version}; schema {}; max_out_of_orderness {} ms",
                t.component.kind(),
                t.schema.fields[t.key].name,
                t.schema,
                t.max_out_of_orderness_ms
            ),
        );
    }
    for (i, o) in plan.operators.iter().enumerate() {
        m.insert(format!("operators.{}", o.name), plan.describe_operator(i));
    }
    for k in &plan.sinks {
        let inputs: Vec<String> = k.inputs.iter().map(|r| plan.stream_name(*r)).collect();
        m.insert(
            format!("sinks.{}", k.name),
            format!("{}; inputs {}", k.component.kind(), inputs.join(", ")),
        );
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
