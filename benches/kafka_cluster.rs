//! Benchmark: vibration-rollup from an 8-partition Kafka topic (tansu, memory storage, on 127.0.0.1) holding
//! the shared 10.08 M-event workload, run as 1, 2 and 3 local processes × 1 worker (timely cluster mode over
//! loopback sockets) next to 1 process × 2 and × 3 workers — the same total workers without the cluster
//! exchange. Configurations alternate within each round; medians over the rounds are printed, with the bytes
//! the run moved over loopback beyond what the 1-process run with the same workers moved (the broker's
//! traffic is the same in both, so the difference is timely's exchange between processes).
//!
//! On one machine the processes share its cores, so this shows the cost of the exchange, not a speed-up.
//!
//!   tests/run.sh   # once, to fetch the broker into target/tansu (or set WEIR_TANSU=/path/to/tansu)
//!   WEIR_BENCH_REPEAT=3 cargo bench -p weir-benches --bench kafka_cluster

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Child, Command};
use std::time::Instant;
use weir_benches::*;

/// Bytes received on the loopback interface so far (`/proc/net/dev`).
fn loopback_bytes() -> Result<u64> {
    let text = std::fs::read_to_string("/proc/net/dev")?;
    for line in text.lines() {
        if let Some(rest) = line.trim().strip_prefix("lo:") {
            return Ok(rest.split_whitespace().next().unwrap_or("0").parse()?);
        }
    }
    bail!("no loopback interface in /proc/net/dev")
}

/// One run: (wall seconds, loopback bytes moved).
fn run(weir: &Path, brokers: &str, processes: usize, workers: usize, tag: &str) -> Result<(f64, u64)> {
    let out_dir = std::env::temp_dir().join(format!("weir-bench-cluster-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let hostfile = out_dir.with_extension("hosts");
    let listeners: Vec<std::net::TcpListener> = (0..processes)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<_>>()?;
    let hosts: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.to_string()))
        .collect::<std::io::Result<_>>()?;
    drop(listeners);
    std::fs::write(&hostfile, hosts.join("\n") + "\n")?;
    let before = loopback_bytes()?;
    let started = Instant::now();
    let children: Vec<Child> = (0..processes)
        .map(|i| {
            let mut cmd = kafka_rollup_command(weir, brokers, workers, &format!("alerts-{tag}"), &out_dir);
            if processes > 1 {
                cmd.args(["--processes", &processes.to_string(), "--process", &i.to_string()])
                    .arg("--hostfile")
                    .arg(&hostfile);
            }
            cmd.spawn().context("starting weir")
        })
        .collect::<Result<_>>()?;
    for mut c in children {
        let status = c.wait()?;
        if !status.success() {
            bail!("{processes} × {workers}: a process failed ({status})");
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let moved = loopback_bytes()?.saturating_sub(before);
    let _ = std::fs::remove_dir_all(&out_dir);
    let _ = std::fs::remove_file(&hostfile);
    Ok((wall, moved))
}

/// The median (of an even count: the mean of the middle two).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n.is_multiple_of(2) {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    } else {
        v[n / 2]
    }
}

fn main() -> Result<()> {
    let weir = build_weir()?;
    let input = vibration_workload(&weir)?;
    let broker = Broker::start()?;
    let brokers = broker.brokers.clone();
    let lines = count_lines(&input)?;
    let out = Command::new(&weir)
        .args(["publish", "--brokers", &brokers, "--topic", "vibration"])
        .args(["--key", "sensor_id", "--partitions", "8", "--file"])
        .arg(&input)
        .output()?;
    if !out.status.success() {
        bail!("weir publish failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    println!(
        "vibration-rollup from Kafka: {} ({lines} lines) → topic `vibration` (8 partitions)",
        input.display()
    );
    // (processes, workers per process)
    let configs = [(1usize, 1usize), (2, 1), (1, 2), (3, 1), (1, 3)];
    let mut walls: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
    let mut bytes: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
    let rounds = repeats();
    for round in 0..rounds {
        for (i, (p, w)) in configs.iter().enumerate() {
            let (wall, moved) = run(&weir, &brokers, *p, *w, &format!("{round}-{p}x{w}"))?;
            eprintln!("  round {round}: {p} process(es) × {w} worker(s): {wall:.2} s, {moved} bytes on loopback");
            walls[i].push(wall);
            bytes[i].push(moved as f64);
        }
    }
    println!(
        "{:>22} {:>14} {:>10} {:>26} {:>22}",
        "processes × workers", "events/s", "wall (s)", "vs 1 process, same workers", "exchange over lo (MB)"
    );
    for (i, (p, w)) in configs.iter().enumerate() {
        let wall = median(walls[i].clone());
        let (ratio, exchange) = match configs.iter().position(|c| *c == (1, p * w)) {
            Some(j) if *p > 1 => (
                format!("{:.2}×", median(walls[j].clone()) / wall),
                format!("{:.0}", (median(bytes[i].clone()) - median(bytes[j].clone())) / 1e6),
            ),
            _ => ("—".into(), "—".into()),
        };
        println!(
            "{:>22} {:>14.0} {:>10.2} {:>26} {:>22}",
            format!("{p} × {w}"),
            lines as f64 / wall,
            wall,
            ratio,
            exchange
        );
    }
    println!("(medians of {rounds} alternating rounds; one 2-core machine: overhead, not speed-up)");
    Ok(())
}
