//! Benchmark: the vibration-rollup reference job over the shared 10.08 M-event workload
//! (`gen_events.py vibration --sensors 200 --hz 1 --hours 14`), whole process, for 1 and 2 workers: wall time,
//! events/s and peak RSS (median and best of `WEIR_BENCH_REPEAT` runs). `WEIR_BENCH_INPUT` overrides the input.
//!
//!   cargo bench -p weir-benches --bench vibration_rollup

use anyhow::Result;
use weir_benches::*;

fn main() -> Result<()> {
    let weir = build_weir()?;
    let input = vibration_workload(&weir)?;
    let repeat = repeats();
    let lines = count_lines(&input)?;
    let out = std::env::temp_dir().join(format!("weir-bench-vibration-{}", std::process::id()));
    println!(
        "vibration-rollup over {} ({lines} lines), {repeat} runs each",
        input.display()
    );
    let sets = vec![
        format!("sources.vibration.path={}", input.display()),
        format!("sinks.rollups.path={}", out.join("rollups").display()),
        format!("sinks.alerts.path={}", out.join("alerts.jsonl").display()),
        format!("sinks.dead_letters.path={}", out.join("dead_letters.jsonl").display()),
    ];
    bench_job(&weir, "config/vibration-rollup.toml", &sets, lines, repeat)?;
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}
