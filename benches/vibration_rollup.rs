//! Benchmark: the vibration-rollup reference job over the shared 10.08 M-event workload
//! (`gen_events.py vibration --sensors 200 --hz 1 --hours 14`), whole process, for 1 and 2 workers: wall time,
//! events/s and peak RSS (median and best of `WEIR_BENCH_REPEAT` runs). `WEIR_BENCH_INPUT` overrides the input.
//!
//! Next to it, measured in the same run and alternating with weir's runs: the same hourly rollup as a batch
//! query in DuckDB (2 threads, exact quantiles, `read_ndjson` → Parquet; Python's `duckdb` package, which
//! `tests/run.sh` installs) and a hand-written single-threaded serde_json loop (decode each line, group by
//! sensor and hour, exact quantiles; this bench binary re-run as a child process) — the references the performance targets are stated against:
//! weir with 2 workers ≤ DuckDB's wall time, weir with 1 worker ≤ the loop's.
//!
//!   cargo bench -p weir-benches --bench vibration_rollup

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use weir_benches::*;

/// The batch query: vibration-rollup's hourly aggregates per sensor (carry: any site), to Parquet.
const DUCKDB: &str = r#"
import sys, duckdb
src, dst = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute(f"""
COPY (
  SELECT sensor_id, any_value(site) AS site, (ts // 3600000) * 3600000 AS window_start,
         count(*) AS readings, min(ppv_mm_s) AS ppv_min, max(ppv_mm_s) AS ppv_max,
         avg(ppv_mm_s) AS ppv_mean, sqrt(avg(ppv_mm_s * ppv_mm_s)) AS ppv_rms,
         quantile_disc(ppv_mm_s, 0.5) AS ppv_p50, quantile_disc(ppv_mm_s, 0.9) AS ppv_p90,
         quantile_disc(ppv_mm_s, 0.99) AS ppv_p99, max(freq_hz) AS freq_max,
         count_if(ppv_mm_s > 5.0) AS over_limit
  FROM read_ndjson('{src}', columns = {{'sensor_id': 'VARCHAR', 'site': 'VARCHAR', 'ts': 'BIGINT',
                                         'ppv_mm_s': 'DOUBLE', 'freq_hz': 'DOUBLE'}}, ignore_errors = true)
  WHERE sensor_id IS NOT NULL AND ts IS NOT NULL AND ppv_mm_s IS NOT NULL
  GROUP BY sensor_id, window_start
) TO '{dst}' (FORMAT parquet)
""")
"#;

#[derive(serde::Deserialize)]
struct Reading<'a> {
    #[serde(borrow)]
    sensor_id: &'a str,
    #[serde(borrow)]
    site: &'a str,
    ts: i64,
    ppv_mm_s: f64,
    freq_hz: f64,
}

#[derive(Default)]
struct Hour {
    site: String,
    min: f64,
    max: f64,
    sum: f64,
    sum_sq: f64,
    freq_max: f64,
    over: u64,
    values: Vec<f64>,
}

/// The hand-written loop: one thread, serde_json per line, exact hourly aggregates; returns the number of
/// rollup rows.
fn serde_json_loop(input: &Path, out: &Path) -> Result<usize> {
    let file = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(input)?);
    let mut hours: HashMap<(String, i64), Hour> = HashMap::new();
    for line in file.split(b'\n') {
        let line = line?;
        let Ok(r) = serde_json::from_slice::<Reading>(&line) else {
            continue;
        };
        let h = hours
            .entry((r.sensor_id.to_string(), r.ts.div_euclid(3_600_000)))
            .or_insert_with(|| Hour {
                site: r.site.to_string(),
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                freq_max: f64::NEG_INFINITY,
                ..Hour::default()
            });
        h.min = h.min.min(r.ppv_mm_s);
        h.max = h.max.max(r.ppv_mm_s);
        h.sum += r.ppv_mm_s;
        h.sum_sq += r.ppv_mm_s * r.ppv_mm_s;
        h.freq_max = h.freq_max.max(r.freq_hz);
        h.over += (r.ppv_mm_s > 5.0) as u64;
        h.values.push(r.ppv_mm_s);
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    let rows = hours.len();
    for ((sensor, hour), mut h) in hours {
        h.values.sort_by(|a, b| a.total_cmp(b));
        let n = h.values.len();
        let q = |p: f64| h.values[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        serde_json::to_writer(
            &mut w,
            &serde_json::json!({
                "sensor_id": sensor, "site": h.site, "window_start": hour * 3_600_000, "readings": n,
                "ppv_min": h.min, "ppv_max": h.max, "ppv_mean": h.sum / n as f64,
                "ppv_rms": (h.sum_sq / n as f64).sqrt(), "ppv_p50": q(0.5), "ppv_p90": q(0.9),
                "ppv_p99": q(0.99), "freq_max": h.freq_max, "over_limit": h.over,
            }),
        )?;
        std::io::Write::write_all(&mut w, b"\n")?;
    }
    std::io::Write::flush(&mut w)?;
    Ok(rows)
}

/// Set (to `INPUT\nOUTPUT`) when the bench re-runs itself as the serde_json loop's process.
const LOOP_ENV: &str = "WEIR_BENCH_SERDE_LOOP";

fn main() -> Result<()> {
    // The loop runs in a child process of its own, like weir and DuckDB: measured the same way (wall time,
    // CPU time, its own peak RSS).
    if let Ok(args) = std::env::var(LOOP_ENV) {
        let (input, out) = args.split_once('\n').context("WEIR_BENCH_SERDE_LOOP=INPUT\\nOUTPUT")?;
        let rows = serde_json_loop(Path::new(input), Path::new(out))?;
        if rows == 0 {
            bail!("the serde_json loop read no readings");
        }
        return Ok(());
    }
    let weir = build_weir()?;
    let input = vibration_workload(&weir)?;
    let repeat = repeats();
    let lines = count_lines(&input)?;
    let out = std::env::temp_dir().join(format!("weir-bench-vibration-{}", std::process::id()));
    std::fs::create_dir_all(&out)?;
    println!(
        "vibration-rollup over {} ({lines} lines), {repeat} alternating rounds",
        input.display()
    );
    let sets = [
        format!("sources.vibration.path={}", input.display()),
        format!("sinks.rollups.path={}", out.join("rollups").display()),
        format!("sinks.alerts.path={}", out.join("alerts.jsonl").display()),
        format!("sinks.dead_letters.path={}", out.join("dead_letters.jsonl").display()),
    ];
    let duckdb_script = out.join("rollup.py");
    std::fs::write(&duckdb_script, DUCKDB)?;
    let duckdb_ok = Command::new("python3")
        .args(["-c", "import duckdb"])
        .status()
        .is_ok_and(|s| s.success());
    // weir at 1 and 2 workers, and the SQL twin (config/vibration-rollup.sql, the same plan) at 2.
    let mut weir_runs: [Vec<Measurement>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let configs = [
        (1usize, "config/vibration-rollup.toml"),
        (2, "config/vibration-rollup.toml"),
        (2, "config/vibration-rollup.sql"),
    ];
    let (mut duck, mut looped) = (Vec::new(), Vec::new());
    for _ in 0..repeat {
        for (i, (workers, job)) in configs.into_iter().enumerate() {
            let _ = std::fs::remove_dir_all(out.join("rollups"));
            let mut cmd = Command::new(&weir);
            cmd.arg("run")
                .arg(repo_root().join(job))
                .args(sets.iter().flat_map(|s| ["--set", s.as_str()]))
                .args(["--workers", &workers.to_string(), "--quiet"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            weir_runs[i].push(measure(&mut cmd)?);
        }
        if duckdb_ok {
            let mut cmd = Command::new("python3");
            cmd.arg(&duckdb_script)
                .arg(&input)
                .arg(out.join("duckdb.parquet"))
                .stdout(Stdio::null());
            duck.push(measure(&mut cmd).context("the DuckDB query")?);
        }
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.env(
            LOOP_ENV,
            format!("{}\n{}", input.display(), out.join("loop.jsonl").display()),
        );
        looped.push(measure(&mut cmd).context("the serde_json loop")?);
    }
    println!(
        "{:>34} {:>10} {:>10} {:>14} {:>12}",
        "", "median s", "best s", "events/s (med)", "peak RSS MB"
    );
    let row = |name: &str, runs: &[Measurement]| print_row(name, 34, runs, lines).wall;
    let w1 = row("weir, 1 worker", &weir_runs[0]);
    let w2 = row("weir, 2 workers", &weir_runs[1]);
    let w2_sql = row("weir, 2 workers, the SQL twin", &weir_runs[2]);
    let d = (!duck.is_empty()).then(|| row("DuckDB 2 threads (python3 + duckdb)", &duck));
    let l = row("serde_json loop, 1 thread", &looped);
    let peak = weir_runs[1].iter().map(|m| m.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0;
    // Flat in input length: the same job over a fifth of the hours (state is per open window, not per event).
    let short = shared_workload(
        &weir,
        "vibration-200x3h.jsonl",
        &["vibration", "--sensors", "200", "--hz", "1", "--hours", "3"],
    )?;
    let mut short_sets = sets.to_vec();
    short_sets[0] = format!("sources.vibration.path={}", short.display());
    let _ = std::fs::remove_dir_all(out.join("rollups"));
    let mut cmd = Command::new(&weir);
    cmd.arg("run")
        .arg(repo_root().join("config/vibration-rollup.toml"))
        .args(short_sets.iter().flat_map(|s| ["--set", s.as_str()]))
        .args(["--workers", "2", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let short_peak = measure(&mut cmd)?.peak_rss_kib as f64 / 1024.0;
    println!(
        "target 1: weir 2 workers peak RSS = {peak:.1} MB over {lines} lines, {short_peak:.1} MB over {} (≤ 64 wanted, flat in input length)",
        count_lines(&short)?
    );
    println!(
        "SQL twin / TOML job at 2 workers = {:.2} (the same plan: 1.00 up to noise)",
        w2_sql.as_secs_f64() / w2.as_secs_f64()
    );
    match d {
        Some(d) => println!(
            "target 1: weir 2 workers / DuckDB = {:.2} (≤ 1.00 wanted); weir 1 worker / serde_json loop = {:.2} (≤ 1.00 wanted)",
            w2.as_secs_f64() / d.as_secs_f64(),
            w1.as_secs_f64() / l.as_secs_f64()
        ),
        None => println!(
            "no DuckDB (pip install duckdb); weir 1 worker / serde_json loop = {:.2} (≤ 1.00 wanted)",
            w1.as_secs_f64() / l.as_secs_f64()
        ),
    }
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}
