//! Benchmark: vibration-rollup from a 4-partition Kafka topic (tansu, memory storage, on 127.0.0.1) holding
//! the shared 10.08 M-event workload, end to end with 1 and 2 workers, next to the broker's own consume rate
//! measured the same way (plain rdkafka consumers reading the same partitions to their end, 1 and 2 of them
//! in parallel), and `weir publish`'s rate filling the topic. Raw consumers and weir runs alternate over
//! `WEIR_BENCH_REPEAT` rounds (default 3); the last line prints target 2's three figures from the medians.
//!
//!   tests/run.sh   # once, to fetch the broker into target/tansu (or set WEIR_TANSU=/path/to/tansu)
//!   cargo bench -p weir-benches --bench kafka_vibration

use anyhow::{bail, Result};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use std::process::Command;
use std::time::{Duration, Instant};
use weir_benches::*;

/// Reads `partitions` of `topic` to their end with one consumer: the message count and when the last
/// partition's end was reported.
///
/// The consumer is plain but for two settings that only remove fixed waits, so that the figure is the
/// broker's rate rather than librdkafka's timers (weir's reader avoids the same waits):
/// - it fetches the topic's metadata before `assign()`; assigned before it knows the partitions' leader,
///   librdkafka waits 500 ms on an offset-query timer before the first fetch;
/// - `fetch.wait.max.ms` is 10 ms instead of 500: librdkafka reports a partition's end only from an empty
///   fetch, which the broker holds that long.
///
/// The clock stops at the last end reported, before the consumer is closed (closing a consumer with a
/// group id waits up to 100 ms more; weir closes its readers in the background too).
fn consume(brokers: &str, topic: &str, partitions: &[i32]) -> Result<(u64, Instant)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
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
    Ok((n, Instant::now()))
}

/// The broker's own consume rate as a measurement: `consumers` plain rdkafka consumers in parallel, each
/// reading its share of the 4 partitions to the end (peak RSS is this bench process's, so not reported; CPU is
/// this process's while they ran, which is all theirs).
fn raw_consume(brokers: &str, consumers: usize, expected: usize) -> Result<Measurement> {
    let started = Instant::now();
    let cpu_before = own_cpu();
    let groups: Vec<Vec<i32>> = (0..consumers)
        .map(|w| (0..4).filter(|p| *p as usize % consumers == w).collect())
        .collect();
    let results: Vec<(u64, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = groups
            .iter()
            .map(|g| s.spawn(|| consume(brokers, "vibration", g)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("consumer thread"))
            .collect::<Result<_>>()
    })?;
    let total: u64 = results.iter().map(|(n, _)| n).sum();
    if total as usize != expected {
        bail!("the raw consumers read {total} messages, not {expected}");
    }
    let done = results.iter().map(|(_, at)| *at).max().unwrap_or(started);
    Ok(Measurement {
        wall: done - started,
        cpu: own_cpu() - cpu_before,
        peak_rss_kib: 0,
    })
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

    let repeat = repeats();
    println!("{repeat} alternating rounds: raw consumers 1, 2; weir 1, 2 workers");
    let out_dir = std::env::temp_dir().join(format!("weir-bench-kafka-{}", std::process::id()));
    // Per worker count (index 0: 1, index 1: 2): raw consumer wall times, weir runs.
    let mut raw: [Vec<Measurement>; 2] = [Vec::new(), Vec::new()];
    let mut weir_runs: [Vec<Measurement>; 2] = [Vec::new(), Vec::new()];
    // The broker's CPU time during each run, in the same order.
    let mut broker_cpu: [[Vec<Duration>; 2]; 2] = Default::default();
    for round in 0..repeat {
        for (i, workers) in [1usize, 2].into_iter().enumerate() {
            let before = broker.cpu()?;
            raw[i].push(raw_consume(&brokers, workers, lines)?);
            broker_cpu[0][i].push(broker.cpu()? - before);
        }
        for (i, workers) in [1usize, 2].into_iter().enumerate() {
            let _ = std::fs::remove_dir_all(&out_dir);
            let topic = format!("alerts-{round}-{workers}");
            let mut cmd = kafka_rollup_command(&weir, &brokers, workers, &topic, &out_dir);
            let before = broker.cpu()?;
            weir_runs[i].push(measure(&mut cmd)?);
            broker_cpu[1][i].push(broker.cpu()? - before);
        }
    }
    println!(
        "{:>34} {:>10} {:>10} {:>14} {:>12}",
        "", "median s", "best s", "msg/s (med)", "peak RSS MB"
    );
    let row = |name: &str, runs: &[Measurement]| print_row(name, 34, runs, lines).wall.as_secs_f64();
    row("plain rdkafka, 1 consumer", &raw[0]);
    let r2 = row("plain rdkafka, 2 consumers", &raw[1]);
    let w1 = row("weir vibration-rollup, 1 worker", &weir_runs[0]);
    let w2 = row("weir vibration-rollup, 2 workers", &weir_runs[1]);
    let peak = weir_runs[1].iter().map(|m| m.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0;
    println!(
        "target 2: weir 2 workers / 2 raw consumers = {:.2} (≥ 0.80 wanted); weir 2 workers / 1 worker = {:.2}× \
         (≥ 1.60 wanted); weir 2 workers peak RSS = {peak:.1} MB (≤ 128 wanted)",
        r2 / w2,
        w1 / w2
    );
    // Where the cores went: the broker runs on them too, so its CPU time bounds what any reader can reach.
    println!(
        "CPU seconds per run (medians): {:>10} {:>10} {:>12}",
        "reader", "broker", "busy cores"
    );
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64()
    };
    let names = [
        ["plain rdkafka, 1 consumer", "plain rdkafka, 2 consumers"],
        ["weir, 1 worker", "weir, 2 workers"],
    ];
    // Reader + broker CPU seconds of each configuration, and the cores they kept busy on average.
    let mut work = [[0.0; 2]; 2];
    let mut busy = [[0.0; 2]; 2];
    for (k, runs) in [&raw, &weir_runs].into_iter().enumerate() {
        for i in 0..2 {
            let reader = median(runs[i].iter().map(|m| m.cpu).collect());
            let on_broker = median(broker_cpu[k][i].clone());
            work[k][i] = reader + on_broker;
            busy[k][i] = work[k][i] / median(runs[i].iter().map(|m| m.wall).collect());
            println!(
                "{:>30} {:>10.2} {:>10.2} {:>12.2}",
                names[k][i], reader, on_broker, busy[k][i]
            );
        }
    }
    // What the machine allows. With wall = CPU work / busy cores, a ratio of two rates is an identity:
    //   rate A / rate B = (work B / work A) × (busy A / busy B),
    // so at the CPU work per message measured, A can reach at most (work B / work A) × cores / busy B.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let explain = |what: &str, a: (usize, usize), b: (usize, usize)| {
        let (work_ratio, busy_ratio) = (work[b.0][b.1] / work[a.0][a.1], busy[a.0][a.1] / busy[b.0][b.1]);
        println!(
            "{what}: {:.2} = CPU work {work_ratio:.2} × busy cores {:.2}/{:.2}; with every one of the {cores} cores \
             busy at most {:.2}",
            work_ratio * busy_ratio,
            busy[a.0][a.1],
            busy[b.0][b.1],
            work_ratio * cores / busy[b.0][b.1]
        );
    };
    explain("weir 2 workers / 1 worker", (1, 1), (1, 0));
    explain("weir 2 workers / 2 raw consumers", (1, 1), (0, 1));
    println!(
        "reader + broker CPU per message: 2 raw consumers {:.2} µs, weir 2 workers {:.2} µs",
        work[0][1] / lines as f64 * 1e6,
        work[1][1] / lines as f64 * 1e6
    );
    let _ = std::fs::remove_dir_all(&out_dir);
    Ok(())
}
