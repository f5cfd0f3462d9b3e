//! Benchmark: the Delta Lake sink against the Parquet sink on the same stream — vibration-daily's raw archive
//! (every reading, partitioned by hour) written as `kind = "parquet"` and as `kind = "delta"` (the same files
//! plus the Delta log, microsecond timestamps), the rest of the job unchanged; 2 workers, alternating, medians
//! of `WEIR_BENCH_REPEAT` rounds, and the ratio. `WEIR_BENCH_INPUT` overrides the input (default: the shared
//! 10.08 M-event workload).
//!
//!   cargo bench -p weir-benches --bench delta_sink

use anyhow::Result;
use std::process::{Command, Stdio};
use weir_benches::*;

fn main() -> Result<()> {
    let weir = build_weir()?;
    let input = match std::env::var_os("WEIR_BENCH_INPUT") {
        Some(p) => p.into(),
        None => vibration_workload(&weir)?,
    };
    let repeat = repeats();
    let lines = count_lines(&input)?;
    let out = std::env::temp_dir().join(format!("weir-bench-delta-{}", std::process::id()));
    println!(
        "vibration-daily's raw archive as Parquet and as Delta over {} ({lines} lines), 2 workers, {repeat} rounds",
        input.display()
    );
    let mut runs: [Vec<Measurement>; 2] = Default::default();
    for _ in 0..repeat {
        for (i, kind) in ["parquet", "delta"].into_iter().enumerate() {
            let _ = std::fs::remove_dir_all(&out);
            let sets = [
                format!("sources.vibration.path={}", input.display()),
                format!("sinks.raw.kind={kind}"),
                format!("sinks.raw.path={}", out.join("raw").display()),
                format!("sinks.hourly_rollups.path={}", out.join("hourly").display()),
                format!("sinks.daily_rollups.path={}", out.join("daily").display()),
                format!("sinks.dead_letters.path={}", out.join("dead_letters.jsonl").display()),
            ];
            let mut cmd = Command::new(&weir);
            cmd.arg("run")
                .arg(repo_root().join("config/vibration-daily.toml"))
                .args(sets.iter().flat_map(|s| ["--set", s.as_str()]))
                .args(["--workers", "2", "--quiet"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            runs[i].push(measure(&mut cmd)?);
        }
    }
    println!(
        "{:>8} {:>10} {:>10} {:>14} {:>12}",
        "sink", "median s", "best s", "events/s (med)", "peak RSS MB"
    );
    let parquet = print_row("parquet", 8, &runs[0], lines);
    let delta = print_row("delta", 8, &runs[1], lines);
    println!(
        "delta / parquet wall time (medians): {:.3}",
        delta.wall.as_secs_f64() / parquet.wall.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}
