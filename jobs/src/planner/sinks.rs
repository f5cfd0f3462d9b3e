//! Sinks of a job definition: `[sinks.NAME]` with `kind = "parquet" | "jsonl" | "stdout" | "webhook" |
//! "kafka"` and the streams it writes (`inputs`), any of the job's streams.
//!
//! Adding a kind is its component in `weir_engine::sink`, one function here
//! (`fn(&Section, &[Option<Schema>]) -> Option<Arc<dyn SinkComponent>>`) and one line in [`KINDS`].

use super::{stream_ref, Names, Resolved};
use crate::definition::Section;
use std::collections::HashMap;
use std::sync::Arc;
use weir_engine::component::SinkComponent;
use weir_engine::config::did_you_mean;
use weir_engine::plan::{SinkPlan, StreamRef};
use weir_engine::schema::Schema;
use weir_engine::StdoutSink;

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
    let kinds = weir_engine::component::registry::sinks(weir_engine::kinds::CONNECTORS);
    let Some((_, parse)) = kinds.iter().find(|(k, _)| *k == kind) else {
        let allowed: Vec<&str> = kinds.iter().map(|k| k.0).collect();
        s.problem(
            "kind",
            format!(
                "unknown sink kind \"{kind}\"; allowed: {}{}",
                allowed.join(", "),
                did_you_mean(kind, allowed.iter().copied())
            ),
        );
        return None;
    };
    let component = parse(s, schemas);
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
