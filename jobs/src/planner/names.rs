//! Resolving stream names (`NAME`, `NAME.late`, `NAME.dead_letters`, `SINK.failures`) to nodes and ports of
//! the graph, with a did-you-mean for the unknown ones.

use super::{Node, Port};
use crate::definition::{Problems, Section};
use weir_engine::component::registry::side_streams;

/// The names a stream reference can use.
pub(super) struct Names<'a> {
    pub(super) sources: Vec<String>,
    pub(super) tables: Vec<String>,
    /// Operator names and kinds, in file order.
    pub(super) operators: Vec<(String, &'a str)>,
    pub(super) sinks: Vec<String>,
}

/// What a stream name resolved to.
pub(super) enum Resolved {
    Node(Node, Port),
    SinkFailures(usize),
}

impl Names<'_> {
    fn operator(&self, name: &str) -> Option<usize> {
        self.operators.iter().position(|(n, _)| n == name)
    }

    /// Resolves `NAME`, `NAME.late`, `NAME.dead_letters` or `SINK.failed`.
    pub(super) fn resolve(&self, name: &str) -> Result<Resolved, String> {
        if let Some(i) = self.sources.iter().position(|s| s == name) {
            return Ok(Resolved::Node(Node::Source(i), Port::Main));
        }
        if let Some(i) = self.operator(name) {
            return Ok(Resolved::Node(Node::Operator(i), Port::Main));
        }
        if let Some(i) = self.tables.iter().position(|t| t == name) {
            return Ok(Resolved::Node(Node::Table(i), Port::Main));
        }
        if let Some((base, port)) = name.rsplit_once('.') {
            let op = self.operator(base);
            let kind = op.map(|i| self.operators[i].1);
            match port {
                "late" => match (op, kind) {
                    (Some(i), Some("window")) => return Ok(Resolved::Node(Node::Operator(i), Port::Late)),
                    (Some(_), Some(k)) => {
                        return Err(format!(
                            "`{base}` is a {k} operator; only windows have a `.late` output"
                        ))
                    }
                    _ => {}
                },
                "dead_letters" => {
                    if let Some(i) = self.sources.iter().position(|s| s == base) {
                        return Ok(Resolved::Node(Node::Source(i), Port::DeadLetters));
                    }
                    if let Some(i) = self.tables.iter().position(|s| s == base) {
                        return Ok(Resolved::Node(Node::Table(i), Port::DeadLetters));
                    }
                    match (op, kind) {
                        (Some(i), Some("filter" | "derive" | "alert" | "join")) => {
                            return Ok(Resolved::Node(Node::Operator(i), Port::DeadLetters))
                        }
                        (Some(_), Some(k)) => {
                            return Err(format!(
                                "`{base}` is a {k} operator, which has no `.dead_letters` output (filter, derive, \
                                 alert and inner join have one)"
                            ))
                        }
                        _ => {}
                    }
                }
                "failed" => {
                    if let Some(i) = self.sinks.iter().position(|s| s == base) {
                        return Ok(Resolved::SinkFailures(i));
                    }
                }
                _ => {}
            }
        }
        let mut known: Vec<String> = self.sources.clone();
        known.extend(self.sources.iter().map(|s| format!("{s}.dead_letters")));
        known.extend(self.tables.iter().map(|t| format!("{t}.dead_letters")));
        for (n, k) in &self.operators {
            known.push(n.clone());
            for side in side_streams(weir_engine::kinds::OPERATORS, k) {
                known.push(format!("{n}.{side}"));
            }
        }
        Err(format!("no stream named `{name}`; available: {}", known.join(", ")))
    }
}

/// The `[NAME.x]` sub-tables of a top-level table, in file order.
pub(super) fn named_tables<'a>(
    root: &Section<'a>,
    key: &str,
    problems: &'a Problems,
) -> Option<Vec<(String, Section<'a>)>> {
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
