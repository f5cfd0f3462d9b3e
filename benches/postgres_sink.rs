//! Benchmark: the PostgreSQL sink against a plain `COPY` of the same rows. A JSONL file of 1 M pings
//! (courier, ts, speed) is written into a table by `weir run` (file source → `kind = "postgres"` sink,
//! append, exactly once: batched `INSERT … SELECT FROM json_array_elements` with the progress row in each
//! commit), and the same rows by `COPY … FROM STDIN (FORMAT csv)` from this process; alternately, medians of
//! `WEIR_BENCH_REPEAT` runs, rows/s and the ratio. Starts its own PostgreSQL (WEIR_PG_BIN, or the Debian
//! layout), as the tests do, with `fsync=off` for both sides alike.
//!
//!   cargo bench -p weir-benches --bench postgres_sink

#[path = "../tests/support/postgres.rs"]
mod postgres_server;

use anyhow::Result;
use std::io::Write;
use std::time::{Duration, Instant};
use weir_benches::*;

const ROWS: usize = 1_000_000;
const START: i64 = 1_795_219_200_000;

fn main() -> Result<()> {
    let weir = build_weir()?;
    let repeat = repeats();
    let dir = std::env::temp_dir().join(format!("weir-bench-pg-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let input = dir.join("pings.jsonl");
    let mut csv = String::with_capacity(ROWS * 32);
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&input)?);
        for k in 0..ROWS as i64 {
            let (courier, ts, speed) = (format!("c{}", k % 500), START + k * 10, (k * 37 % 400) as f64 / 10.0);
            writeln!(out, r#"{{"courier":"{courier}","ts":{ts},"speed":{speed:?}}}"#)?;
            csv.push_str(&format!("{courier},{ts},{speed:?}\n"));
        }
        out.flush()?;
    }
    let pg = postgres_server::Postgres::start();
    let job = dir.join("job.toml");
    std::fs::write(
        &job,
        format!(
            r#"[job]
name = "pg-bench"
[sources.pings]
kind = "file"
path = "{}"
schema = {{ courier = "string", ts = "int", speed = "float" }}
[sinks.pings_pg]
kind = "postgres"
inputs = ["pings"]
url = "{}"
table = "pings_weir"
[sinks.dead_letters]
kind = "jsonl"
path = "{}/dead_letters.jsonl"
"#,
            input.display(),
            pg.url(),
            dir.display()
        ),
    )?;
    let mut db = pg.client();
    db.batch_execute(
        "CREATE TABLE pings_copy (courier text NOT NULL, ts bigint NOT NULL, speed double precision NOT NULL)",
    )?;
    println!("{ROWS} rows into PostgreSQL, {repeat} alternating runs each (1 worker)");
    println!("{:>22} {:>10} {:>10} {:>12}", "", "median s", "best s", "rows/s (med)");
    let (mut weir_runs, mut copy_runs) = (Vec::new(), Vec::new());
    for _ in 0..repeat {
        db.batch_execute("DROP TABLE IF EXISTS pings_weir; DELETE FROM weir_sink_progress WHERE true")
            .or_else(|_| db.batch_execute("DROP TABLE IF EXISTS pings_weir"))?;
        let mut cmd = std::process::Command::new(&weir);
        cmd.arg("run")
            .arg(&job)
            .args(["--workers", "1", "--quiet"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        weir_runs.push(measure(&mut cmd)?.wall);
        let n: i64 = db.query_one("SELECT count(*) FROM pings_weir", &[])?.get(0);
        anyhow::ensure!(n as usize == ROWS, "weir wrote {n} rows, not {ROWS}");

        db.batch_execute("TRUNCATE pings_copy")?;
        let started = Instant::now();
        let mut w = db.copy_in("COPY pings_copy FROM STDIN (FORMAT csv)")?;
        w.write_all(csv.as_bytes())?;
        w.finish()?;
        copy_runs.push(started.elapsed());
    }
    let row = |label: &str, runs: &mut Vec<Duration>| {
        runs.sort();
        let med = runs[runs.len() / 2];
        println!(
            "{label:>22} {:>10.2} {:>10.2} {:>12.0}",
            med.as_secs_f64(),
            runs[0].as_secs_f64(),
            ROWS as f64 / med.as_secs_f64()
        );
        med
    };
    let w = row("weir postgres sink", &mut weir_runs);
    let c = row("COPY (csv, in-process)", &mut copy_runs);
    println!(
        "weir / COPY wall time: {:.2}× (weir's includes reading and decoding the JSONL file)",
        w.as_secs_f64() / c.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
