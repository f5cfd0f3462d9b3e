//! Validating a loaded job definition and turning it into the engine's [`Plan`]: a graph of typed streams.
//!
//! Sources declare schemas; operators are planned in dependency order, each against its inputs' schemas, so
//! every stream's schema is known before anything runs. Every section is read completely even after a
//! problem, so one `weir check` lists everything to fix: unknown kinds and keys, dangling stream names,
//! cycles, type errors in expressions, schema mismatches.
//!
//! - `sources`: the `[sources.NAME]` tables.
//! - `operators`: the `[operators.NAME]` tables, one function per kind.
//! - `sinks`: the `[sinks.NAME]` tables.
//! - `tables`: the `[tables.NAME]` reference tables (read by `join` operators).

mod checks;
mod cluster;
mod graph;
mod names;
mod operators;
mod sinks;
mod sources;
mod tables;
pub mod window_inputs;

use checks::{check_lateness, check_names, check_sink_paths};
use cluster::cluster_plan;
use graph::{schema_of, stream_ref, topological_order};
use names::{named_tables, Names, Resolved};

use crate::definition::{DefinitionError, JobSource};
use crate::definition::{Problems, Section};
use std::collections::HashMap;
use std::sync::Arc;
use weir_engine::component::OperatorComponent;
use weir_engine::config::did_you_mean;
use weir_engine::plan::{OperatorPlan, Plan, SinkPlan, SourcePlan, StreamRef, TablePlan};
use weir_engine::schema::Schema;

/// A node of the job graph as a stream name resolves to it, before operators are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    Source(usize),
    /// The operator with this index in file order.
    Operator(usize),
    /// A table (a join's second input; its port `DeadLetters` is a stream).
    Table(usize),
}

/// The port of a node a stream name picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Port {
    Main,
    Late,
    DeadLetters,
}

/// A source as read from the file: name, plan (if valid) and schema (if that much was valid).
type DeclaredSource = (String, Option<SourcePlan>, Option<Schema>);

/// A table as read from the file: name, plan (if valid) and schema (if that much was valid).
type DeclaredTable = (String, Option<TablePlan>, Option<Schema>);

/// An operator as read from the file, before planning.
struct Declared<'a> {
    name: String,
    section: Section<'a>,
    kind: Option<&'a str>,
    inputs: Vec<(Node, Port)>,
}

/// Builds the plan of a loaded job definition, or every problem with it.
pub fn plan(source: &JobSource, table: &toml::Table) -> Result<Plan, DefinitionError> {
    // Windows over computed inputs get a derive in front (window_inputs); problems name what was written.
    let (expanded, origins) = window_inputs::expand(table);
    plan_expanded(source, &expanded).map_err(|mut e| {
        for p in &mut e.problems {
            if let Some(original) = window_inputs::original_path(&origins, &p.path) {
                p.path = original;
            }
        }
        e
    })
}

fn plan_expanded(source: &JobSource, table: &toml::Table) -> Result<Plan, DefinitionError> {
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
    if workers > MAX_WORKERS {
        job.problem(
            "workers",
            format!("{workers} worker threads is more than this build runs ({MAX_WORKERS}); use one per core"),
        );
    }
    let dead_letter_sink = job.str("dead_letters").map(str::to_string);
    let checkpoint = job.table("checkpoint").and_then(|c| {
        let dir = c.req_local_path("dir").map(std::path::PathBuf::from);
        let interval = c.duration_ms("interval").unwrap_or(10_000);
        if interval <= 0 {
            c.problem("interval", "must be positive, e.g. \"10s\"".to_string());
        }
        let keep = c.count("keep", 1).unwrap_or(3) as usize;
        c.finish("");
        Some(weir_engine::CheckpointConfig {
            dir: dir?,
            interval: std::time::Duration::from_millis(interval.max(1) as u64),
            keep,
        })
    });
    let cluster = job.table("cluster").and_then(|c| cluster_plan(&c));
    job.finish("");

    // Sources: `None` where a source failed validation (names still resolve, and operators are checked
    // against its schema if that much was valid).
    let mut sources: Vec<DeclaredSource> = Vec::new();
    if let Some(t) = named_tables(&root, "sources", &problems) {
        for (name, s) in t {
            let (planned, schema) = sources::source_plan(&name, &s, source);
            sources.push((name, planned, schema));
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

    let mut tables: Vec<DeclaredTable> = Vec::new();
    if let Some(t) = named_tables(&root, "tables", &problems) {
        for (name, s) in t {
            let (planned, schema) = tables::table_plan(&name, &s, source);
            tables.push((name, planned, schema));
        }
    }

    let op_tables = named_tables(&root, "operators", &problems).unwrap_or_default();
    let sink_tables = named_tables(&root, "sinks", &problems).unwrap_or_default();
    check_names(&sources, &tables, &op_tables, &problems);
    let names = Names {
        sources: sources.iter().map(|(n, _, _)| n.clone()).collect(),
        tables: tables.iter().map(|(n, _, _)| n.clone()).collect(),
        operators: op_tables
            .iter()
            .map(|(n, s)| (n.clone(), s.value("kind").and_then(|v| v.as_str()).unwrap_or("")))
            .collect(),
        sinks: sink_tables.iter().map(|(n, _)| n.clone()).collect(),
    };

    // Operators: resolve inputs, order them, then plan each against its inputs' schemas.
    let mut declared: Vec<Declared> = Vec::new();
    for (name, s) in op_tables {
        let kind = s.req_str("kind");
        let mut inputs = Vec::new();
        match s.str_list("inputs") {
            Some(list) if !list.is_empty() => {
                for n in list {
                    match names.resolve(n) {
                        Ok(Resolved::Node(node, port)) => inputs.push((node, port)),
                        Ok(Resolved::SinkFailures(_)) => s.problem(
                            "inputs",
                            format!("`{n}` is a sink's output; only sinks can read `SINK.failed`"),
                        ),
                        Err(e) => s.problem("inputs", e),
                    }
                }
            }
            Some(_) => s.problem("inputs", "list at least one stream"),
            None if !s.has("inputs") => s.problem(
                "inputs",
                "is required: the streams this operator reads, e.g. inputs = [\"vibration\"]",
            ),
            None => {}
        }
        declared.push(Declared {
            name,
            section: s,
            kind,
            inputs,
        });
    }
    let order = topological_order(&declared, &problems);
    let mut index_of: HashMap<usize, usize> = HashMap::new();
    let mut operators: Vec<Option<OperatorPlan>> = Vec::new();
    for &d in &order {
        let decl = &declared[d];
        let table_inputs: Vec<usize> = decl
            .inputs
            .iter()
            .filter_map(|(node, port)| match (node, port) {
                (Node::Table(i), Port::Main) => Some(*i),
                _ => None,
            })
            .collect();
        let refs: Vec<StreamRef> = decl
            .inputs
            .iter()
            .filter(|(node, port)| !matches!((node, port), (Node::Table(_), Port::Main)))
            .map(|(node, port)| stream_ref(*node, *port, &index_of))
            .collect();
        let schemas: Option<Vec<Schema>> = refs.iter().map(|r| schema_of(*r, &sources, &operators)).collect();
        let planned = plan_operator(decl, schemas, &table_inputs, &tables);
        index_of.insert(d, operators.len());
        operators.push(planned.map(|(component, schema)| OperatorPlan {
            name: decl.name.clone(),
            inputs: refs.clone(),
            component,
            schema,
        }));
    }
    check_lateness(&operators, &problems);

    // Sinks.
    let mut sinks: Vec<SinkPlan> = Vec::new();
    for (name, s) in &sink_tables {
        let inputs = sinks::resolve_inputs(s, &names, &index_of);
        let schemas: Vec<Option<Schema>> = inputs.iter().map(|r| schema_of(*r, &sources, &operators)).collect();
        let exempt = dead_letter_sink.as_deref().unwrap_or("dead_letters") == name;
        sinks.push(sinks::sink_plan(name, s, inputs, &schemas, exempt));
    }
    if sinks.is_empty() {
        problems.add("sinks", "define at least one sink ([sinks.NAME] with kind, inputs, …)");
    }
    check_sink_paths(&sinks, &problems);
    let serve = root.table("serve").map(|s| {
        let listen = s.str("listen").unwrap_or("127.0.0.1:7878").to_string();
        if listen.parse::<std::net::SocketAddr>().is_err() {
            s.problem(
                "listen",
                format!("\"{listen}\" is not an address to listen on; write IP:PORT with a port up to 65535, e.g. \"127.0.0.1:7878\" (port 0 picks a free one)"),
            );
        }
        let max_connections = s.count("max_connections", 1).unwrap_or(1024) as usize;
        let idle_timeout = s.duration_ms("idle_timeout").unwrap_or(30_000).max(1) as u64;
        let token = s.str("token").map(str::to_string);
        let reads_first = s.bool("reads_first").unwrap_or(true);
        let realtime_reads = s.bool("realtime_reads").unwrap_or(false);
        if token.as_deref() == Some("") {
            s.problem("token", "is empty (an unset variable?); remove it to serve without a token");
        }
        s.finish("");
        weir_engine::plan::ServePlan {
            listen,
            max_connections,
            idle_timeout: std::time::Duration::from_millis(idle_timeout),
            token,
            reads_first,
            realtime_reads,
            ingest_sources: Vec::new(),
        }
    });
    root.finish("");
    let mut serve = serve;
    check_ingest_sources(&sources, serve.as_mut(), checkpoint.is_some(), &problems);

    route_dead_letters(
        &mut sinks,
        &sources,
        &tables,
        &operators,
        dead_letter_sink.as_deref(),
        &problems,
    );
    for (t, (name, _, _)) in tables.iter().enumerate() {
        if !declared
            .iter()
            .any(|o| o.inputs.contains(&(Node::Table(t), Port::Main)))
        {
            problems.add(
                &format!("tables.{name}"),
                format!(
                    "no join reads this table; add one: kind = \"join\", inputs = [\"STREAM\", \"{name}\"], on = \"FIELD\""
                ),
            );
        }
    }
    for (i, &d) in order.iter().enumerate() {
        // An operator that serves a view is read over HTTP when the job serves: an app may need the view and
        // no changelog. (One that could not be planned is known by its kind.)
        let view = match &operators[i] {
            Some(o) => o.component.view_fields().is_some(),
            None => declared[d].kind == Some("latest"),
        };
        let read = sinks.iter().any(|s| s.inputs.contains(&StreamRef::Output(i)))
            || declared
                .iter()
                .any(|o| o.inputs.contains(&(Node::Operator(d), Port::Main)))
            || (view && serve.is_some());
        if !read {
            problems.add(
                &format!("operators.{}", declared[d].name),
                if view {
                    "its view is not served (the job has no [serve]) and its changelog is not read by any sink or \
                     operator; add [serve] with `listen = \"127.0.0.1:7878\"`, or add it to a sink's `inputs`"
                } else {
                    "its output is not read by any sink or operator; add it to a sink's `inputs`"
                },
            );
        }
    }

    if problems.is_empty() {
        Ok(Plan {
            job_name,
            workers,
            sources: sources.into_iter().map(|(_, s, _)| s.expect("no problems")).collect(),
            tables: tables.into_iter().map(|(_, t, _)| t.expect("no problems")).collect(),
            operators: operators.into_iter().map(|o| o.expect("no problems")).collect(),
            sinks,
            serve,
            checkpoint,
            cluster,
        })
    } else {
        Err(DefinitionError {
            file: source.name.clone(),
            problems: problems.into_vec(),
        })
    }
}

/// Sources that keep an ingest log need checkpoints, and HTTP ingest sources need `[serve]` (which learns
/// their names).
fn check_ingest_sources(
    sources: &[(String, Option<SourcePlan>, Option<Schema>)],
    mut serve: Option<&mut weir_engine::plan::ServePlan>,
    checkpoints: bool,
    problems: &Problems,
) {
    for (name, plan, _) in sources {
        let Some(component) = plan.as_ref().map(|p| &p.component) else {
            continue;
        };
        let at = format!("sources.{name}");
        if component.needs_checkpoints() && !checkpoints {
            problems.add(
                &at,
                format!(
                    "a `{}` source keeps what it receives in an ingest log under the checkpoint directory, and \
                     acknowledges nothing it could lose: add [job.checkpoint] with dir = \"...\"",
                    component.kind()
                ),
            );
        }
        if component.served() {
            match serve.as_deref_mut() {
                Some(s) => s.ingest_sources.push(name.clone()),
                None => problems.add(
                    &at,
                    format!(
                        "records are POSTed to /v1/ingest/{name} on the job's HTTP server: add [serve] with \
                         listen = \"127.0.0.1:7878\""
                    ),
                ),
            }
        }
    }
}

/// Plans one declared operator against its inputs' schemas (`None` when an input failed validation).
fn plan_operator(
    decl: &Declared,
    schemas: Option<Vec<Schema>>,
    table_inputs: &[usize],
    tables: &[DeclaredTable],
) -> Option<(Arc<dyn OperatorComponent>, Schema)> {
    let s = &decl.section;
    let kind = decl.kind?;
    if kind != "join" {
        for t in table_inputs {
            s.problem(
                "inputs",
                format!(
                    "`{}` is a table; only a join reads tables: kind = \"join\", inputs = [\"STREAM\", \"{}\"]",
                    tables[*t].0, tables[*t].0
                ),
            );
        }
    }
    let kinds = operators::kinds();
    let Some((_, arity, plan_kind)) = kinds.iter().find(|k| k.0 == kind) else {
        let hint = operators::RETIRED_KINDS
            .iter()
            .find(|(old, _)| *old == kind)
            .map_or(String::new(), |(old, now)| format!(" ({old} became {now})"));
        s.problem(
            "kind",
            format!(
                "unknown operator kind \"{kind}\"; allowed: {}{hint}{}",
                operators::kind_names(),
                did_you_mean(kind, kinds.iter().map(|k| k.0))
            ),
        );
        return None;
    };
    let n = decl.inputs.len() - table_inputs.len();
    if let Some(a) = arity {
        if n > 0 && n != *a {
            s.problem(
                "inputs",
                format!("a {kind} operator reads exactly {a} stream(s), found {n}"),
            );
        }
    }
    match schemas {
        Some(schemas) if !schemas.is_empty() && arity.is_none_or(|a| a == schemas.len()) => {
            let inputs = weir_engine::component::registry::OperatorInputs {
                schemas,
                tables: table_inputs
                    .iter()
                    .map(|t| (*t, tables[*t].0.as_str(), tables[*t].1.as_ref(), tables[*t].2.as_ref()))
                    .collect(),
            };
            let planned = plan_kind(s, &inputs);
            s.finish("");
            planned
        }
        // An input failed validation: its problem is reported; checking this one against it would only
        // add noise.
        _ => None,
    }
}

/// The most worker threads a job may ask for.
const MAX_WORKERS: usize = 256;

/// Sends every dead-letter stream no sink reads (malformed records, late records, failed expressions,
/// undeliverable records) to the job's dead-letter sink.
fn route_dead_letters(
    sinks: &mut [SinkPlan],
    sources: &[DeclaredSource],
    tables: &[DeclaredTable],
    operators: &[Option<OperatorPlan>],
    explicit: Option<&str>,
    problems: &Problems,
) {
    let target = explicit.unwrap_or("dead_letters");
    let mut unrouted = Vec::new();
    for i in 0..sources.len() {
        unrouted.push(StreamRef::SourceDeadLetters(i));
    }
    for i in 0..tables.len() {
        unrouted.push(StreamRef::TableDeadLetters(i));
    }
    for (i, o) in operators.iter().enumerate() {
        let Some(o) = o else { continue };
        if o.component.has_late() {
            unrouted.push(StreamRef::Late(i));
        }
        if o.component.has_dead_letters() {
            unrouted.push(StreamRef::OperatorDeadLetters(i));
        }
    }
    for (i, s) in sinks.iter().enumerate() {
        if s.component.has_failures() {
            unrouted.push(StreamRef::SinkFailures(i));
        }
    }
    let read_by_operator = |r: &StreamRef| operators.iter().flatten().any(|o| o.inputs.contains(r));
    unrouted.retain(|r| !sinks.iter().any(|s| s.inputs.contains(r)) && !read_by_operator(r));
    if unrouted.is_empty() {
        return;
    }
    match sinks.iter_mut().find(|s| s.name == target) {
        Some(s) if s.component.reads_one_stream() && s.inputs.len() + unrouted.len() > 1 => {
            problems.add(
                &format!("sinks.{target}"),
                format!(
                    "a parquet sink reads one stream, but {} dead-letter streams need a place: use a jsonl sink, \
                     or union them first",
                    unrouted.len()
                ),
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

#[cfg(test)]
mod tests;
