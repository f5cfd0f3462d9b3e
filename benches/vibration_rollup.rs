//! Benchmark: the vibration-rollup reference job over the shared 10.08 M-event workload, whole process,
//! for 1 and 2 workers: wall time, events/s and peak RSS (median and best of `WEIR_BENCH_REPEAT` runs).
//!
//!   cargo bench -p weir-benches --bench vibration_rollup

use anyhow::Result;
use std::process::{Command, Stdio};
use weir_benches::*;

fn main() -> Result<()> {
    let weir = build_weir()?;
    let input = vibration_input(&weir)?;
    let repeat: usize = std::env::var("WEIR_BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    // Streamed, so this process stays small: a child's peak RSS includes its pre-exec copy of the parent.
    let lines = count_lines(&input)?;
    let out = std::env::temp_dir().join(format!("weir-bench-vibration-{}", std::process::id()));
    println!(
        "vibration-rollup over {} ({} lines), {repeat} runs each",
        input.display(),
        lines
    );
    println!(
        "{:>7} {:>10} {:>10} {:>14} {:>12}",
        "workers", "median s", "best s", "events/s (med)", "peak RSS MB"
    );
    for workers in [1usize, 2] {
        let mut runs = Vec::new();
        for _ in 0..repeat {
            let _ = std::fs::remove_dir_all(&out);
            let mut cmd = Command::new(&weir);
            cmd.arg("run")
                .arg(repo_root().join("config/vibration-rollup.toml"))
                .arg("--set")
                .arg(format!("sources.vibration.path={}", input.display()))
                .arg("--set")
                .arg(format!("sinks.rollups.path={}", out.join("rollups").display()))
                .arg("--set")
                .arg(format!("sinks.alerts.path={}", out.join("alerts.jsonl").display()))
                .arg("--set")
                .arg(format!(
                    "sinks.dead_letters.path={}",
                    out.join("dead_letters.jsonl").display()
                ))
                .args(["--workers", &workers.to_string(), "--quiet"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            runs.push(measure(&mut cmd)?);
        }
        let (med, best) = summarize(&runs);
        let peak = runs.iter().map(|m| m.peak_rss_kib).max().unwrap_or(0);
        println!(
            "{:>7} {:>10.2} {:>10.2} {:>14.0} {:>12.1}",
            workers,
            med.wall.as_secs_f64(),
            best.wall.as_secs_f64(),
            lines as f64 / med.wall.as_secs_f64(),
            peak as f64 / 1024.0
        );
    }
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}
