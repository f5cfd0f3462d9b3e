//! Benchmark: the delivery-alerts reference job over the shared locations workload
//! (`gen_events.py locations --orders 60000 --hours 14`, ~5.2 M events), whole process, 1 and 2 workers.
//!
//!   cargo bench -p weir-benches --bench delivery_alerts

use anyhow::Result;
use weir_benches::*;

fn main() -> Result<()> {
    let weir = build_weir()?;
    let input = locations_workload(&weir)?;
    let repeat = repeats();
    let lines = count_lines(&input)?;
    let out = std::env::temp_dir().join(format!("weir-bench-delivery-{}", std::process::id()));
    println!(
        "delivery-alerts over {} ({lines} lines), {repeat} runs each",
        input.display()
    );
    let sets = vec![
        format!("sources.locations.path={}", input.display()),
        format!("sinks.alerts.path={}", out.join("alerts.jsonl").display()),
        format!("sinks.dead_letters.path={}", out.join("dead_letters.jsonl").display()),
    ];
    let medians = bench_job(&weir, "config/delivery-alerts.toml", &sets, lines, repeat)?;
    println!(
        "target 3: 2 workers = {:.2} M events/s (≥ 2 M wanted)",
        lines as f64 / medians[1].wall.as_secs_f64() / 1e6
    );
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}
