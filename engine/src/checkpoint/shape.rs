//! The state-relevant shape of a job, stored in every checkpoint and compared on restore: here, how two
//! shapes differ; the shape itself is made by the plan (`Plan::shape`), which knows the components.
//!
//! Everything that decides what operator state means or where a partition stands is part of the shape,
//! described per node by name in words (field names, not indices or Rust types): source names, schemas,
//! event-time rules and partitioning; operator inputs, kinds, keys, windows, aggregates, predicates and
//! rules; sink kinds and inputs, and sink options that decide a layout (a Parquet sink's `partition_by`, as
//! `sinks.NAME.partition_by`). Paths, brokers, intervals, worker counts and the HTTP listener are not:
//! changing them is a compatible change. (The job's name is checked on restore too, from the checkpoint's own
//! `job` field.)
//!
//! A detail key `X.option` that the checkpoint lacks while it has `X` unchanged was written by a weir that did
//! not record that option yet: it is compatible (that first restore cannot check it).

use std::collections::BTreeMap;

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
        // A detail of a component the checkpoint has unchanged: recorded only since a later weir.
        let older_detail = k
            .rsplit_once('.')
            .is_some_and(|(parent, _)| parent.contains('.') && stored.get(parent) == now.get(parent));
        if !stored.contains_key(k) && !older_detail {
            out.push(format!("`{k}` was added ({v})"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Review B12: `partition_by` is a detail of its sink; a checkpoint from before it was recorded still fits.
    #[test]
    fn a_detail_is_compared_when_recorded_and_accepted_when_older_weirs_did_not_record_it() {
        let sink = ("sinks.rollups".to_string(), "parquet; inputs hourly".to_string());
        let with = |layout: &str| -> BTreeMap<String, String> {
            [sink.clone(), ("sinks.rollups.partition_by".into(), layout.into())].into()
        };
        let before: BTreeMap<String, String> = [sink.clone()].into();
        assert!(differences(&with("hour"), &with("hour")).is_empty());
        let changed = differences(&with("hour"), &with("date"));
        assert_eq!(changed.len(), 1);
        assert!(
            changed[0].contains("`sinks.rollups.partition_by` changed"),
            "{changed:?}"
        );
        assert!(differences(&before, &with("date")).is_empty(), "older checkpoint");
        // A new sink's details are part of its addition, not compatible on their own.
        let other: BTreeMap<String, String> = [("sinks.other".into(), "jsonl; inputs x".into())].into();
        assert_eq!(differences(&other, &with("hour")).len(), 3);
    }

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
