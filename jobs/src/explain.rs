//! `weir explain`: the dataflow graph of a job — sources → operators → sinks — with every stream's schema,
//! keys, windows and parallelism, as a data engineer reviews it; `--format dot` draws it with Graphviz.

use std::fmt::Write;
use weir_engine::plan::{Plan, StreamRef};

fn dur(ms: i64) -> String {
    humantime::format_duration(std::time::Duration::from_millis(ms.max(0) as u64)).to_string()
}

fn stream_name(plan: &Plan, r: StreamRef) -> String {
    plan.stream_name(r)
}

/// The graph in Graphviz `dot`: sources, operators and sinks as nodes, streams as edges labelled by port.
pub fn dot(plan: &Plan) -> String {
    let mut o = String::new();
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\\\""));
    let _ = writeln!(o, "digraph {} {{\n  rankdir=LR;", q(&plan.job_name));
    for s in &plan.sources {
        let _ = writeln!(
            o,
            "  {} [shape=cylinder, label={}];",
            q(&format!("source:{}", s.name)),
            q(&s.name)
        );
    }
    for t in &plan.tables {
        let _ = writeln!(
            o,
            "  {} [shape=cylinder, style=dashed, label={}];",
            q(&format!("table:{}", t.name)),
            q(&format!("{}\\ntable", t.name))
        );
    }
    for op in &plan.operators {
        let label = format!("{}\\n{}", op.name, op.component.kind());
        let _ = writeln!(
            o,
            "  {} [shape=box, label={}];",
            q(&format!("op:{}", op.name)),
            q(&label)
        );
    }
    for s in &plan.sinks {
        let label = format!("{}\\n{}", s.name, s.component.kind());
        let _ = writeln!(
            o,
            "  {} [shape=folder, label={}];",
            q(&format!("sink:{}", s.name)),
            q(&label)
        );
    }
    let node = |r: StreamRef| -> (String, &'static str) {
        match r {
            StreamRef::Source(i) => (format!("source:{}", plan.sources[i].name), ""),
            StreamRef::SourceDeadLetters(i) => (format!("source:{}", plan.sources[i].name), "dead_letters"),
            StreamRef::Output(i) => (format!("op:{}", plan.operators[i].name), ""),
            StreamRef::Late(i) => (format!("op:{}", plan.operators[i].name), "late"),
            StreamRef::OperatorDeadLetters(i) => (format!("op:{}", plan.operators[i].name), "dead_letters"),
            StreamRef::SinkFailures(i) => (format!("sink:{}", plan.sinks[i].name), "failed"),
            StreamRef::TableDeadLetters(i) => (format!("table:{}", plan.tables[i].name), "dead_letters"),
        }
    };
    let mut edge = |from: StreamRef, to: String| {
        let (n, port) = node(from);
        let style = if port.is_empty() { "" } else { ", style=dashed" };
        let _ = writeln!(o, "  {} -> {} [label={}{style}];", q(&n), q(&to), q(port));
    };
    for op in &plan.operators {
        for r in &op.inputs {
            edge(*r, format!("op:{}", op.name));
        }
    }
    for s in &plan.sinks {
        for r in &s.inputs {
            edge(*r, format!("sink:{}", s.name));
        }
    }
    for op in &plan.operators {
        if let Some(t) = op.component.table() {
            let _ = writeln!(
                o,
                "  {} -> {} [label=\"lookup\"];",
                q(&format!("table:{}", plan.tables[t].name)),
                q(&format!("op:{}", op.name))
            );
        }
    }
    o.push_str("}\n");
    o
}

pub fn explain(plan: &Plan) -> String {
    let mut o = String::new();
    let w = plan.workers;
    let _ = writeln!(o, "job {} — {w} worker{}", plan.job_name, if w == 1 { "" } else { "s" });
    if let Some(c) = &plan.checkpoint {
        let _ = writeln!(
            o,
            "checkpoints every {} to {} (newest {} kept; exactly-once Parquet, Delta, JSONL, Kafka and PostgreSQL outputs)",
            humantime::format_duration(c.interval),
            c.dir.display(),
            c.keep
        );
    }
    let _ = writeln!(o, "\nsources");
    for s in &plan.sources {
        let what = s.component.describe(w);
        let fields: Vec<String> = s.schema.fields.iter().map(|f| f.to_string()).collect();
        let _ = writeln!(o, "  {:<16} {what}", s.name);
        let _ = writeln!(o, "  {:<16} schema: {}", "", fields.join(", "));
        let _ = writeln!(
            o,
            "  {:<16} event time `{}`, watermark = max(ts) − {}",
            "",
            s.schema.event_time_name(),
            dur(s.max_out_of_orderness_ms)
        );
    }
    if !plan.tables.is_empty() {
        let _ = writeln!(o, "\ntables (read by worker 0, arranged by key over the workers)");
    }
    for t in &plan.tables {
        let version = t
            .version
            .map_or("none: rows hold from when they were read".to_string(), |v| {
                format!("`{}`", t.schema.fields[v].name)
            });
        let fields: Vec<String> = t.schema.fields.iter().map(|f| f.to_string()).collect();
        let _ = writeln!(o, "  {:<16} {}", t.name, t.component.describe());
        let _ = writeln!(o, "  {:<16} schema: {}", "", fields.join(", "));
        let _ = writeln!(
            o,
            "  {:<16} key `{}`, version {version}, known up to each read − {}",
            "",
            t.key
                .iter()
                .map(|k| t.schema.fields[*k].name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            dur(t.max_out_of_orderness_ms)
        );
        if t.lookup_latest {
            let _ = writeln!(
                o,
                "  {:<16} lookup latest: joins use the newest version read and never wait (results depend on timing)",
                ""
            );
        }
    }
    let _ = writeln!(o, "\noperators (in dependency order)");
    let sets = plan.rule_sets();
    for (i, op) in plan.operators.iter().enumerate() {
        let inputs: Vec<String> = op.inputs.iter().map(|r| stream_name(plan, *r)).collect();
        let c = &op.component;
        let mut what = c.describe(&plan.schema_of(op.inputs[0]));
        if c.is_stateful() {
            what.push_str(&format!(
                " (keyed, exchanged over {w} worker{})",
                if w == 1 { "" } else { "s" }
            ));
        }
        if let Some(set) = sets.get(&i).filter(|s| s.len() > 1) {
            let others: Vec<String> = set
                .iter()
                .filter(|m| **m != i)
                .map(|m| format!("`{}`", plan.operators[*m].name))
                .collect();
            what.push_str(&format!(
                " (one operator with {}: same stream and key)",
                others.join(", ")
            ));
        }
        let _ = writeln!(o, "  {:<16} {what} ← {}", op.name, inputs.join(", "));
        let _ = writeln!(o, "  {:<16} schema: {}", "", op.schema);
        let mut extra = Vec::new();
        if c.has_late() {
            extra.push(format!("{}.late", op.name));
        }
        if c.has_dead_letters() {
            extra.push(format!("{}.dead_letters", op.name));
        }
        if !extra.is_empty() {
            let _ = writeln!(o, "  {:<16} also: {} (dead letters)", "", extra.join(", "));
        }
    }
    let _ = writeln!(o, "\nsinks (written by worker 0, in deterministic order)");
    for s in &plan.sinks {
        let what = s.component.describe(&s.name);
        let inputs: Vec<String> = s.inputs.iter().map(|r| stream_name(plan, *r)).collect();
        let _ = writeln!(o, "  {:<16} {what} ← {}", s.name, inputs.join(", "));
    }
    let _ = writeln!(
        o,
        "\ndead letters (malformed, late, failed expressions, undelivered) have the schema: {}; their event time \
         is the arrival watermark they were found at",
        weir_engine::schema::Schema::dead_letters()
    );
    o
}

/// What `weir check` warns of: each table a live job waits for (joins as of event time) that is read so
/// seldom that its `interval` bounds the job's latency.
pub fn latency_warnings(plan: &Plan) -> Vec<String> {
    const SLOW_MS: i64 = 5_000;
    let live = plan.sources.iter().any(|s| !s.component.ends());
    if !live {
        return Vec::new();
    }
    plan.tables
        .iter()
        .filter(|t| !t.lookup_latest && t.component.interval().as_millis() as i64 >= SLOW_MS)
        .map(|t| {
            let every = t.component.interval().as_millis() as i64;
            format!(
                "table `{}` is read every {}: a live record waits for the first read after its event time, up to {} \
                 (+ max_out_of_orderness {}); lookup = \"latest\" joins without waiting, its results then depending \
                 on timing",
                t.name,
                dur(every),
                dur(every),
                dur(t.max_out_of_orderness_ms)
            )
        })
        .collect()
}
