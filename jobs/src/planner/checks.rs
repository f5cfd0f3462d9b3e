//! Checks across the whole graph: allowed lateness along a chain of windows, sinks that would write one
//! path, names used twice.

use super::{DeclaredSource, DeclaredTable};
use crate::definition::{Problems, Section};
use std::collections::BTreeMap;
use weir_engine::plan::{OperatorPlan, SinkPlan, StreamRef};

/// A window over window rows must allow at least the upstream window's lateness, or it could see a row as
/// late (DESIGN: a row's logical time is its window's end + allowed lateness − 1 ms).
pub(super) fn check_lateness(operators: &[Option<OperatorPlan>], problems: &Problems) {
    // The largest allowed lateness of the windows a stream's rows come from (through transforms).
    fn upstream(r: StreamRef, ops: &[Option<OperatorPlan>]) -> Option<i64> {
        let StreamRef::Output(i) = r else { return None };
        let op = ops.get(i)?.as_ref()?;
        match op.component.window() {
            Some(w) => Some(w.allowed_lateness_ms),
            None if op.component.passes_rows_through() => op.inputs.iter().filter_map(|r| upstream(*r, ops)).max(),
            None => None,
        }
    }
    for op in operators.iter().flatten() {
        let Some(w) = op.component.window() else { continue };
        if let Some(up) = upstream(op.inputs[0], operators) {
            if w.allowed_lateness_ms < up {
                problems.add(
                    &format!("operators.{}.allowed_lateness", op.name),
                    format!(
                        "it reads window rows emitted with allowed_lateness {up} ms, so it needs at least that \
                         (else it would count some rows as late)"
                    ),
                );
            }
        }
    }
}

/// Two sinks writing the same file or directory (or one inside the other's) would tear each other's
/// output: a problem naming both.
pub(super) fn check_sink_paths(sinks: &[SinkPlan], problems: &Problems) {
    let normal = |p: &std::path::Path| -> std::path::PathBuf {
        let abs = std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf());
        let mut out = std::path::PathBuf::new();
        for c in abs.components() {
            match c {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir => {
                    out.pop();
                }
                other => out.push(other),
            }
        }
        out
    };
    let paths: Vec<(&SinkPlan, std::path::PathBuf)> = sinks
        .iter()
        .filter_map(|s| Some((s, normal(s.component.path()?))))
        .collect();
    for (i, (a, pa)) in paths.iter().enumerate() {
        for (b, pb) in &paths[..i] {
            if pa.starts_with(pb) || pb.starts_with(pa) {
                let how = if pa == pb {
                    "the same path as"
                } else {
                    "a path inside or around that of"
                };
                problems.add(
                    &format!("sinks.{}.path", a.name),
                    format!(
                        "`{}` is {how} sinks.{} (`{}`): two sinks cannot write one file or directory",
                        a.component.path().expect("a path").display(),
                        b.name,
                        b.component.path().expect("a path").display()
                    ),
                );
            }
        }
    }
    let urls: Vec<(&SinkPlan, &str)> = sinks
        .iter()
        .filter_map(|s| Some((s, s.component.object_url()?.trim_end_matches('/'))))
        .collect();
    for (i, (a, ua)) in urls.iter().enumerate() {
        for (b, ub) in &urls[..i] {
            let inside = |x: &str, y: &str| x.strip_prefix(y).is_some_and(|rest| rest.starts_with('/'));
            if ua == ub || inside(ua, ub) || inside(ub, ua) {
                let how = if ua == ub {
                    "the same URL as"
                } else {
                    "a URL inside or around that of"
                };
                problems.add(
                    &format!("sinks.{}.path", a.name),
                    format!(
                        "`{ua}` is {how} sinks.{} (`{ub}`): two sinks cannot write one object prefix",
                        b.name
                    ),
                );
            }
        }
    }
}

pub(super) fn check_names(
    sources: &[DeclaredSource],
    tables: &[DeclaredTable],
    operators: &[(String, Section)],
    problems: &Problems,
) {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (kind, name) in sources
        .iter()
        .map(|s| ("sources", s.0.as_str()))
        .chain(tables.iter().map(|t| ("tables", t.0.as_str())))
        .chain(operators.iter().map(|o| ("operators", o.0.as_str())))
    {
        if let Some(prev) = seen.insert(name, kind) {
            problems.add(
                &format!("{kind}.{name}"),
                format!("the name is already used by {prev}.{name}; source, table and operator names must be unique"),
            );
        }
    }
}
