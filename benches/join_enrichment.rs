//! Benchmark: an event-time enrichment join against a 100 k-row sensor table with 1 % of its rows updated
//! per simulated hour (a JSONL file table with a `since` version field: 100 k initial rows + 1 000 new
//! versions per hour of the input), over the shared 10.08 M-reading vibration workload. The same job without
//! the join (its window keyed by `site` instead of the joined `zone`) is run alternately with it, for 1 and
//! 2 workers: medians of `WEIR_BENCH_REPEAT` runs, events/s, peak RSS, and the join's cost as a ratio.
//!
//!   cargo bench -p weir-benches --bench join_enrichment

use anyhow::Result;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use weir_benches::*;

const START: i64 = 1_795_219_200_000;
const HOUR: i64 = 3_600_000;
const ROWS: u64 = 100_000;
const HOURS: u64 = 14;

/// The table: every sensor id `vib-0000` … `vib-99999` (the workload's 200 sensors among them) at version
/// 0, then 1 % of the rows (drawn with a fixed LCG) re-versioned in each hour of the input.
fn table_file() -> Result<PathBuf> {
    let dir = repo_root().join("target/bench-data");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("sensors-100k-1pct-hourly.jsonl");
    if path.exists() {
        return Ok(path);
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut lcg: u64 = 0x5eed;
    let mut next = |n: u64| {
        lcg = lcg.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (lcg >> 33) % n
    };
    for i in 0..ROWS {
        writeln!(
            out,
            r#"{{"sensor_id":"vib-{i:04}","zone":"zone-{}","limit_ppv":{:.2},"since":0}}"#,
            i % 50,
            1.0 + (i % 40) as f64 * 0.1
        )?;
    }
    for h in 0..HOURS {
        for _ in 0..ROWS / 100 {
            let i = next(ROWS);
            let since = START + h as i64 * HOUR + next(HOUR as u64) as i64;
            writeln!(
                out,
                r#"{{"sensor_id":"vib-{i:04}","zone":"zone-{}","limit_ppv":{:.2},"since":{since}}}"#,
                next(50),
                1.0 + next(40) as f64 * 0.1
            )?;
        }
    }
    out.flush()?;
    Ok(path)
}

fn job(dir: &Path, input: &Path, table: &Path, join: bool) -> Result<PathBuf> {
    let (stream, key, extra) = if join {
        (
            "enriched",
            "zone",
            r#"
[tables.sensors]
kind = "file"
path = "TABLE"
key = "sensor_id"
version = "since"
schema = { sensor_id = "string", zone = "string", limit_ppv = "float", since = "timestamp" }

[operators.enriched]
kind = "join"
inputs = ["vibration", "sensors"]
on = "sensor_id"
fields = ["zone", "limit_ppv"]
mode = "inner"
"#,
        )
    } else {
        ("vibration", "site", "")
    };
    let text = format!(
        r#"[job]
name = "join-bench"
dead_letters = "dead_letters"

[sources.vibration]
kind = "file"
path = "{input}"
max_out_of_orderness = "30s"
schema = "vibration"
{extra}
[operators.hourly]
kind = "window"
inputs = ["{stream}"]
window = {{ kind = "tumbling", size = "1h" }}
key = ["{key}"]
aggregates = {{ readings = "count", ppv_max = "max(ppv_mm_s)", ppv_p90 = "quantile(ppv_mm_s, 0.9)" }}

[sinks.hourly]
kind = "jsonl"
inputs = ["hourly"]
path = "{out}/hourly.jsonl"

[sinks.dead_letters]
kind = "jsonl"
path = "{out}/dead_letters.jsonl"
"#,
        input = input.display(),
        out = dir.display()
    )
    .replace("TABLE", &table.display().to_string());
    let path = dir.join(if join { "with-join.toml" } else { "without-join.toml" });
    std::fs::write(&path, text)?;
    Ok(path)
}

fn main() -> Result<()> {
    let weir = build_weir()?;
    let input = vibration_workload(&weir)?;
    let table = table_file()?;
    let repeat = repeats();
    let lines = count_lines(&input)?;
    let dir = std::env::temp_dir().join(format!("weir-bench-join-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let with = job(&dir, &input, &table, true)?;
    let without = job(&dir, &input, &table, false)?;
    println!(
        "join against {} ({} rows + {} versions) over {} ({lines} lines), {repeat} alternating runs each",
        table.display(),
        ROWS,
        ROWS / 100 * HOURS,
        input.display()
    );
    println!(
        "{:>7} {:>12} {:>10} {:>14} {:>12} {:>10}",
        "workers", "job", "median s", "events/s (med)", "peak RSS MB", "cost ×"
    );
    for workers in [1usize, 2] {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..repeat {
            for (job, runs) in [(&with, &mut a), (&without, &mut b)] {
                let mut cmd = Command::new(&weir);
                cmd.arg("run")
                    .arg(job)
                    .args(["--workers", &workers.to_string(), "--quiet"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null());
                runs.push(measure(&mut cmd)?);
            }
        }
        let (ma, _) = summarize(&a);
        let (mb, _) = summarize(&b);
        let ratio = ma.wall.as_secs_f64() / mb.wall.as_secs_f64();
        for (name, m, runs) in [("join", ma, &a), ("no join", mb, &b)] {
            println!(
                "{:>7} {:>12} {:>10.2} {:>14.0} {:>12.1} {:>10}",
                workers,
                name,
                m.wall.as_secs_f64(),
                lines as f64 / m.wall.as_secs_f64(),
                runs.iter().map(|m| m.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0,
                if name == "join" {
                    format!("{ratio:.2}")
                } else {
                    String::new()
                }
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
