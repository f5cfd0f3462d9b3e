//! `weir publish`: a JSONL file or a generated workload to a Kafka topic, keyed by a field.

use crate::*;
use anyhow::{Context, Result};

pub(crate) fn publish(p: PublishArgs) -> Result<ExitCode> {
    use weir_engine::FileChunkReader;
    use weir_engine::{publish, PublishOptions};
    let (reader, what): (Box<dyn weir_engine::ChunkReader>, String) = match (&p.file, p.generate) {
        (Some(path), _) => (
            Box::new(
                FileChunkReader::open(path, 0, 1, 1 << 20)
                    .with_context(|| format!("cannot read `{}`", path.display()))?,
            ),
            path.display().to_string(),
        ),
        (None, Some(stream)) => (
            Box::new(GeneratorReader::new(p.workload.spec(stream), 0, 1 << 20)),
            "generated events".to_string(),
        ),
        (None, None) => anyhow::bail!("give --file FILE or --generate vibration|locations"),
    };
    let options = PublishOptions {
        brokers: p.brokers.clone(),
        topic: p.topic.clone(),
        key_field: p.key.clone(),
        partitions: p.partitions,
        rate: p.rate,
        burst: p.burst,
        limit: p.limit,
        partition: p.partition,
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    signal_hook::flag::register(SIGINT, stop.clone())?;
    signal_hook::flag::register(SIGTERM, stop.clone())?;
    eprintln!("publishing {what} to topic `{}` at {}", p.topic, p.brokers);
    let r =
        publish(reader, &options, || stop.load(std::sync::atomic::Ordering::Relaxed)).map_err(anyhow::Error::msg)?;
    let parts: Vec<String> = r.per_partition.iter().map(|(p, n)| format!("{p}:{n}")).collect();
    println!(
        "sent {} messages ({:.1} MB) to `{}` in {:.2}s: {:.0} msg/s; keyed by {}{}; per partition {}",
        r.messages,
        r.bytes as f64 / 1e6,
        p.topic,
        r.elapsed.as_secs_f64(),
        r.rate(),
        p.key.as_deref().unwrap_or("(none)"),
        if r.unkeyed > 0 && p.key.is_some() {
            format!(" ({} lines without the field sent unkeyed)", r.unkeyed)
        } else {
            String::new()
        },
        parts.join(" ")
    );
    Ok(ExitCode::SUCCESS)
}
