//! Benchmark: vibration-rollup from a 4-partition Kafka topic (tansu, memory storage, on 127.0.0.1) holding
//! the shared 10.08 M-event workload, end to end with 1 and 2 workers, next to the broker's own consume rate
//! measured the same way (plain rdkafka consumers reading the same partitions to their end, 1 and 2 of them
//! in parallel), and `weir publish`'s rate filling the topic.
//!
//!   tests/run.sh   # once, to fetch the broker into target/tansu (or set WEIR_TANSU=/path/to/tansu)
//!   cargo bench -p weir-benches --bench kafka_vibration

use anyhow::{bail, Result};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use weir_benches::*;

/// Reads `partitions` of `topic` to their end with one consumer; the message count.
fn consume(brokers: &str, topic: &str, partitions: &[i32]) -> Result<u64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)?;
    }
    c.assign(&tpl)?;
    let (mut n, mut ended) = (0u64, 0usize);
    while ended < partitions.len() {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => n += 1,
            Some(Err(KafkaError::PartitionEOF(_))) => ended += 1,
            Some(Err(e)) => bail!("consuming: {e}"),
            None => {}
        }
    }
    Ok(n)
}

fn main() -> Result<()> {
    let weir = build_weir()?;
    let input = vibration_workload(&weir)?;
    let broker = Broker::start()?;
    let brokers = broker.brokers.clone();
    let lines = count_lines(&input)?;
    println!(
        "vibration-rollup from Kafka: {} ({lines} lines) → topic `vibration` (4 partitions)",
        input.display()
    );
    let out = Command::new(&weir)
        .args([
            "publish",
            "--brokers",
            &brokers,
            "--topic",
            "vibration",
            "--key",
            "sensor_id",
        ])
        .args(["--partitions", "4", "--file"])
        .arg(&input)
        .output()?;
    if !out.status.success() {
        bail!("weir publish failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    println!("weir publish: {}", String::from_utf8_lossy(&out.stdout).trim());

    println!(
        "{:>8} {:>28} {:>28}",
        "workers", "broker consume (msg/s)", "weir end to end (events/s)"
    );
    let out_dir = std::env::temp_dir().join(format!("weir-bench-kafka-{}", std::process::id()));
    for workers in [1usize, 2] {
        let started = Instant::now();
        let groups: Vec<Vec<i32>> = (0..workers)
            .map(|w| (0..4).filter(|p| *p as usize % workers == w).collect())
            .collect();
        let total: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = groups
                .iter()
                .map(|g| s.spawn(|| consume(&brokers, "vibration", g)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("consumer thread"))
                .sum::<Result<u64>>()
        })?;
        let consume_rate = total as f64 / started.elapsed().as_secs_f64();

        let _ = std::fs::remove_dir_all(&out_dir);
        let mut cmd = Command::new(&weir);
        cmd.arg("run")
            .arg(repo_root().join("config/kafka/vibration-rollup.toml"))
            .args(["--workers", &workers.to_string(), "--quiet"])
            .env("WEIR_KAFKA_BROKERS", &brokers)
            .env("WEIR_KAFKA_STOP_AT_END", "true")
            .env("WEIR_METRICS_LISTEN", "127.0.0.1:0")
            .env("WEIR_ALERTS_TOPIC", format!("alerts-{workers}"))
            .env("WEIR_OUT", &out_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let m = measure(&mut cmd)?;
        println!(
            "{:>8} {:>28.0} {:>28.0}   ({:.2} s, peak RSS {:.1} MB)",
            workers,
            consume_rate,
            lines as f64 / m.wall.as_secs_f64(),
            m.wall.as_secs_f64(),
            m.peak_rss_kib as f64 / 1024.0
        );
    }
    let _ = std::fs::remove_dir_all(&out_dir);
    Ok(())
}
