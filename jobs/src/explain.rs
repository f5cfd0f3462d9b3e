//! `weir explain`: the dataflow graph of a job — sources → operators → sinks — with keys, windows and
//! parallelism, as a data engineer reviews it.

use std::fmt::Write;
use weir_engine::plan::{OperatorKind, PartitionBy, Plan, SinkKind, SourceKind, StreamRef};
use weir_engine::schema::FieldType;
use weir_operators::WindowSpec;

fn dur(ms: i64) -> String {
    humantime::format_duration(std::time::Duration::from_millis(ms.max(0) as u64)).to_string()
}

fn stream_name(plan: &Plan, r: StreamRef) -> String {
    match r {
        StreamRef::DeadLetters(i) => format!("{}.dead_letters", plan.sources[i].name),
        StreamRef::Output(i) => plan.operators[i].name.clone(),
        StreamRef::Late(i) => format!("{}.late", plan.operators[i].name),
        StreamRef::SinkFailures(i) => format!("{}.failed", plan.sinks[i].name),
    }
}

pub fn explain(plan: &Plan) -> String {
    let mut o = String::new();
    let w = plan.workers;
    let _ = writeln!(o, "job {} — {w} worker{}", plan.job_name, if w == 1 { "" } else { "s" });
    if let Some(c) = &plan.checkpoint {
        let _ = writeln!(
            o,
            "checkpoints every {} to {} (newest {} kept; exactly-once Parquet, JSONL and Kafka outputs)",
            humantime::format_duration(c.interval),
            c.dir.display(),
            c.keep
        );
    }
    let _ = writeln!(o, "\nsources");
    for s in &plan.sources {
        let what = match &s.kind {
            SourceKind::File { paths, .. } => format!(
                "file {} ({} partition{}, each decoded in parallel by {w} worker{})",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                paths.len(),
                if paths.len() == 1 { "" } else { "s" },
                if w == 1 { "" } else { "s" }
            ),
            SourceKind::Kafka(k) => format!(
                "kafka topic `{}` at {} (partition p on worker p mod {w}; start {:?}{}{})",
                k.topic,
                k.brokers,
                k.start,
                k.idle_timeout
                    .map(|d| format!("; idle after {}", humantime::format_duration(d)))
                    .unwrap_or_default(),
                if k.stop_at_end {
                    "; stops at the end of each partition"
                } else {
                    ""
                }
            ),
            SourceKind::Generator(g) => {
                format!("generator {:?}, seed {} (1 partition, on worker 0)", g.workload, g.seed)
            }
        };
        let fields: Vec<String> = s
            .schema
            .fields
            .iter()
            .map(|f| {
                let t = match &f.ty {
                    FieldType::String => "string".to_string(),
                    FieldType::Int => "int".to_string(),
                    FieldType::Float => "float".to_string(),
                    FieldType::Enum(v) => {
                        format!("enum({})", v.iter().map(|x| x.as_str()).collect::<Vec<_>>().join("|"))
                    }
                };
                format!("{} {t}", f.name)
            })
            .collect();
        let _ = writeln!(o, "  {:<16} {what}", s.name);
        let _ = writeln!(o, "  {:<16} schema: {}", "", fields.join(", "));
        let _ = writeln!(
            o,
            "  {:<16} event time `{}`, watermark = max(ts) − {}",
            "",
            s.schema.fields[s.schema.event_time].name,
            dur(s.max_out_of_orderness_ms)
        );
    }
    let _ = writeln!(o, "\noperators");
    for op in &plan.operators {
        let src = &plan.sources[op.source];
        let names = |idx: &[usize]| {
            idx.iter()
                .map(|i| src.schema.fields[*i].name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match &op.kind {
            OperatorKind::Window(wp) => {
                let win = match wp.window {
                    WindowSpec::Tumbling { size_ms } => format!("tumbling {}", dur(size_ms)),
                    WindowSpec::Hopping { size_ms, slide_ms } => {
                        format!("hopping {} every {}", dur(size_ms), dur(slide_ms))
                    }
                };
                let _ = writeln!(
                    o,
                    "  {:<16} window {win}, allowed lateness {} ← {}",
                    op.name,
                    dur(wp.allowed_lateness_ms),
                    src.name
                );
                let _ = writeln!(
                    o,
                    "  {:<16} keyed by [{}] → exchanged over {w} worker{}; carry [{}]",
                    "",
                    names(&wp.key),
                    if w == 1 { "" } else { "s" },
                    names(&wp.carry)
                );
                let aggs: Vec<String> = wp
                    .aggregates
                    .iter()
                    .map(|a| format!("{} = {}", a.name, a.func))
                    .collect();
                let _ = writeln!(o, "  {:<16} aggregates: {}", "", aggs.join(", "));
                let _ = writeln!(
                    o,
                    "  {:<16} outputs: {} (rows), {}.late (late records)",
                    "", op.name, op.name
                );
            }
            OperatorKind::Threshold(t) => {
                let _ = writeln!(
                    o,
                    "  {:<16} threshold_alert `{}` when {} > {} per [{}], suppressed for {} ← {}",
                    op.name,
                    t.alert_kind,
                    src.schema.fields[t.field].name,
                    t.above,
                    names(&t.key),
                    dur(t.cooldown_ms),
                    src.name
                );
            }
            OperatorKind::DeliveryAlerts(d) => {
                let _ = writeln!(
                    o,
                    "  {:<16} delivery_alerts per [{}]: delayed {} after pickup, silent after {} without a newer ping, state kept {} ← {}",
                    op.name,
                    src.schema.fields[d.key].name,
                    dur(d.rules.budget_ms),
                    dur(d.rules.silence_ms),
                    dur(d.rules.retention_ms),
                    src.name
                );
                let _ = writeln!(
                    o,
                    "  {:<16} keyed by [{}] → exchanged over {w} worker(s); event-time timers",
                    "", src.schema.fields[d.key].name
                );
            }
            OperatorKind::Latest(l) => {
                let ttl = match (l.expiry.ttl_ms, l.expiry.idle_ttl_ms) {
                    (None, None) => "kept forever".to_string(),
                    (t, i) => format!(
                        "terminal keys expire after {}, idle keys after {}",
                        t.map_or("-".into(), dur),
                        i.map_or("-".into(), dur)
                    ),
                };
                let _ = writeln!(
                    o,
                    "  {:<16} latest value per [{}] (greatest ts), served at /v1/views/{}; {ttl} ← {}",
                    op.name, src.schema.fields[l.key].name, op.name, src.name
                );
            }
        }
    }
    let _ = writeln!(o, "\nsinks (written by worker 0, in deterministic order)");
    for s in &plan.sinks {
        let what = match &s.kind {
            SinkKind::Parquet { path, partition_by, .. } => format!(
                "parquet {} {}",
                path.display(),
                match partition_by {
                    PartitionBy::Hour => "partitioned date=YYYY-MM-DD/hour=HH",
                    PartitionBy::Date => "partitioned date=YYYY-MM-DD",
                    PartitionBy::None => "unpartitioned",
                }
            ),
            SinkKind::Jsonl { path } => format!("jsonl {}", path.display()),
            SinkKind::Stdout => "stdout".into(),
            SinkKind::Kafka(k) => format!(
                "kafka topic `{}` at {} (keyed by `key`; idempotent producer{})",
                k.topic,
                k.brokers,
                if k.compact { "; compacted" } else { "" }
            ),
            SinkKind::Webhook(w) => format!(
                "webhook POST {} (timeout {:?}, {} retries; undelivered → {}.failed)",
                w.url, w.timeout, w.retries, s.name
            ),
        };
        let inputs: Vec<String> = s.inputs.iter().map(|r| stream_name(plan, *r)).collect();
        let _ = writeln!(o, "  {:<16} {what} ← {}", s.name, inputs.join(", "));
    }
    o
}
