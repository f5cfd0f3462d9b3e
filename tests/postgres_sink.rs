//! The `kind = "postgres"` sink against a real PostgreSQL server (started by the test in a temp dir on a free
//! 127.0.0.1 port): appended and upserted rows equal the JSONL sink's of the same streams, a second run adds
//! nothing, a table that does not fit is refused naming every mismatch, and through ≥ 5 SIGKILLs (restarts at
//! 1–3 workers) and a database restart mid-run the tables equal a clean run's — no row missing, none twice.
//!
//! Needs the PostgreSQL server binaries (tests/run.sh installs the Debian package and sets WEIR_PG_BIN).

#[path = "support/crash.rs"]
mod crash;
#[path = "support/http.rs"]
mod http_support;
#[path = "support/postgres.rs"]
mod postgres_server;
mod support;

use postgres_server::Postgres;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::*;

const START: i64 = 1_795_219_200_000;

/// Pings of 8 couriers, one every 2 s each for 2 hours, a little out of order.
fn pings(path: &Path) {
    let mut text = String::new();
    for step in 0..3600i64 {
        for c in 0..8i64 {
            let k = step * 8 + c;
            let ts = START + step * 2_000 - (k * 7919) % 3_000;
            let speed = ((k * 37) % 400) as f64 / 10.0;
            text.push_str(&format!("{{\"courier\":\"c{c}\",\"ts\":{ts},\"speed\":{speed}}}\n"));
        }
    }
    std::fs::write(path, text).unwrap();
}

/// Fast pings into table `fast` (append) and per-courier 15-minute stats into `stats` (upsert: the latest
/// window of each courier), each also into a JSONL file.
fn job(dir: &Path, url: &str, suffix: &str) -> PathBuf {
    let text = format!(
        r#"[job]
name = "couriers{suffix}"

[sources.pings]
kind = "file"
path = "{input}"
max_out_of_orderness = "5s"
schema = {{ courier = "string", ts = "int", speed = "float" }}

[operators.fast]
kind = "filter"
inputs = ["pings"]
where = "speed > 30"

[operators.stats]
kind = "window"
inputs = ["pings"]
window = {{ kind = "tumbling", size = "15m" }}
key = ["courier"]
aggregates = {{ pings = "count", top = "max(speed)" }}

[sinks.fast_pg]
kind = "postgres"
inputs = ["fast"]
url = "{url}"
table = "fast{suffix}"

[sinks.stats_pg]
kind = "postgres"
inputs = ["stats"]
url = "{url}"
table = "stats{suffix}"
mode = "upsert"
key = ["courier"]

[sinks.fast_file]
kind = "jsonl"
inputs = ["fast"]
path = "${{OUT}}/fast.jsonl"

[sinks.stats_file]
kind = "jsonl"
inputs = ["stats"]
path = "${{OUT}}/stats.jsonl"

[sinks.dead_letters]
kind = "jsonl"
path = "${{OUT}}/dead_letters.jsonl"
"#,
        input = dir.join("pings.jsonl").display()
    );
    let path = dir.join(format!("job{suffix}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn command(job: &Path, out: &Path, workers: usize) -> Command {
    let mut cmd = weir();
    cmd.arg("run")
        .arg(job)
        .args(["--workers", &workers.to_string(), "--quiet"])
        .env("OUT", out);
    cmd
}

/// A JSON value with every number as a double (PostgreSQL writes `32`, the JSONL sink `32.0`).
fn normalized(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Number(n) => serde_json::json!(n.as_f64().unwrap()),
        serde_json::Value::Object(m) => m.into_iter().map(|(k, v)| (k, normalized(v))).collect(),
        other => other,
    }
}

/// Rows as sorted JSON texts, numbers normalized.
fn sorted(rows: impl IntoIterator<Item = serde_json::Value>) -> Vec<String> {
    let mut out: Vec<String> = rows.into_iter().map(|v| normalized(v).to_string()).collect();
    out.sort();
    out
}

/// The rows of `query`, sorted.
fn rows(db: &mut postgres::Client, query: &str) -> Vec<String> {
    let texts = db
        .query(&format!("SELECT row_to_json(q)::text FROM ({query}) AS q"), &[])
        .unwrap();
    sorted(texts.iter().map(|r| serde_json::from_str(r.get(0)).unwrap()))
}

/// `fast` as the JSONL sink writes it.
fn fast_rows(db: &mut postgres::Client, table: &str) -> Vec<String> {
    rows(db, &format!("SELECT courier, ts, speed FROM {table}"))
}

/// `stats` with epoch-ms window bounds, as the JSONL sink writes it.
fn stats_rows(db: &mut postgres::Client, table: &str) -> Vec<String> {
    rows(
        db,
        &format!(
            "SELECT (extract(epoch from window_start) * 1000)::bigint AS window_start, \
             (extract(epoch from window_end) * 1000)::bigint AS window_end, courier, pings, top FROM {table}"
        ),
    )
}

/// `fields` of the JSONL lines of `path`, sorted.
fn jsonl_rows(path: &Path, fields: &[&str]) -> Vec<String> {
    sorted(read_jsonl(path).iter().map(|v| select(v, fields)))
}

fn select(v: &serde_json::Value, fields: &[&str]) -> serde_json::Value {
    fields.iter().map(|f| (f.to_string(), v[f].clone())).collect()
}

/// The same rows (a short message: the counts and the first difference).
fn assert_same_rows(got: &[String], want: &[String]) {
    let first = got.iter().zip(want).find(|(g, w)| g != w);
    assert!(
        got.len() == want.len() && first.is_none(),
        "{} rows, want {}; first difference: {first:?}",
        got.len(),
        want.len()
    );
}

#[test]
#[ignore = "needs PostgreSQL server binaries (tests/run.sh installs them and sets WEIR_PG_BIN)"]
fn appended_and_upserted_rows_equal_the_jsonl_sinks_and_a_second_run_adds_nothing() {
    let pg = Postgres::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pings(&dir.join("pings.jsonl"));
    let job = job(dir, &pg.url(), "");
    let out = dir.join("out");
    ok(&mut command(&job, &out, 2));
    let mut db = pg.client();
    let fast = fast_rows(&mut db, "fast");
    assert!(fast.len() > 1000, "{}", fast.len());
    assert_same_rows(&fast, &jsonl_rows(&out.join("fast.jsonl"), &["courier", "ts", "speed"]));
    // Upsert: the last window of each courier.
    let mut last = std::collections::BTreeMap::new();
    for v in read_jsonl(&out.join("stats.jsonl")) {
        last.insert(v["courier"].as_str().unwrap().to_string(), v);
    }
    assert_eq!(last.len(), 8);
    let fields = ["window_start", "window_end", "courier", "pings", "top"];
    let want = sorted(last.values().map(|v| select(v, &fields)));
    assert_same_rows(&stats_rows(&mut db, "stats"), &want);
    let types = rows(
        &mut db,
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'stats'",
    );
    let window_start = r#"{"column_name":"window_start","data_type":"timestamp with time zone","is_nullable":"NO"}"#;
    assert!(types.iter().any(|t| t == window_start), "{types:?}");
    let progress = rows(&mut db, "SELECT sink, rows FROM weir_sink_progress ORDER BY sink");
    assert_eq!(progress.len(), 2, "{progress:?}");

    // The same job again: the tables already hold its output.
    ok(&mut command(&job, &dir.join("again"), 1));
    assert_same_rows(&fast_rows(&mut db, "fast"), &fast);
    assert_eq!(
        rows(&mut db, "SELECT sink, rows FROM weir_sink_progress ORDER BY sink"),
        progress
    );
}

#[test]
#[ignore = "needs PostgreSQL server binaries (tests/run.sh installs them and sets WEIR_PG_BIN)"]
fn a_table_that_does_not_fit_is_refused_naming_every_mismatch() {
    let pg = Postgres::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pings(&dir.join("pings.jsonl"));
    let mut db = pg.client();
    db.batch_execute("CREATE TABLE fast (courier text, ts integer); CREATE TABLE stats (courier text, pings bigint)")
        .unwrap();
    let job = job(dir, &pg.url(), "");
    let out = command(&job, &dir.join("out"), 1).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "table `fast` does not fit the stream",
        "column `ts` is integer, the stream's field is bigint",
        "it has no column `speed` (double precision)",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    db.batch_execute("DROP TABLE fast").unwrap();
    let out = command(&job, &dir.join("out"), 1).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("an upsert needs a unique index on (courier): ALTER TABLE stats ADD PRIMARY KEY (courier)"),
        "{err}"
    );
}

/// Killed again and again while it writes, the tables end equal to a clean run's; and so they do when the
/// database is stopped under a running job for a while and started again.
#[test]
#[ignore = "needs PostgreSQL server binaries (tests/run.sh installs them and sets WEIR_PG_BIN)"]
fn through_sigkills_and_a_database_restart_the_tables_equal_a_clean_run() {
    let pg = Postgres::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pings(&dir.join("pings.jsonl"));
    ok(&mut command(&job(dir, &pg.url(), "_clean"), &dir.join("clean"), 2));
    let paced = |suffix: &str, attempt: usize, rate: u32| {
        let job = job(dir, &pg.url(), suffix);
        let mut cmd = command(&job, &dir.join(format!("out{suffix}")), 1 + attempt % 3);
        // Commits between checkpoints: a restore resumes before rows the table already has.
        cmd.args([
            "--set",
            &format!("job.checkpoint.dir={}", dir.join(format!("ckpt{suffix}")).display()),
        ])
        .args(["--set", "job.checkpoint.interval=400ms"])
        .args([
            "--set",
            "sinks.fast_pg.commit_rows=50",
            "--set",
            "sinks.stats_pg.commit_rows=2",
        ])
        .args(["--set", &format!("sources.pings.rate={rate}")]);
        cmd
    };
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let crashes = crash::run_with_kills(
        |attempt| paced("_crashed", attempt, 5_000),
        5,
        0x5eed_0090,
        (300, 900),
        &logs,
    );
    assert!(
        crashes.resumed >= 3,
        "runs should resume from checkpoints:\n{}",
        crashes.log
    );
    let mut db = pg.client();
    let (fast, stats) = (fast_rows(&mut db, "fast_clean"), stats_rows(&mut db, "stats_clean"));
    assert_same_rows(&fast_rows(&mut db, "fast_crashed"), &fast);
    assert_same_rows(&stats_rows(&mut db, "stats_crashed"), &stats);
    drop(db);

    // The outage is said in /healthz and counted in /metrics while it lasts.
    let mut cmd = paced("_outage", 1, 8_000);
    cmd.args(["--set", "serve.listen=127.0.0.1:0"]);
    let mut server = http_support::Server::spawn(cmd);
    std::thread::sleep(Duration::from_millis(600));
    pg.stop();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let warnings = loop {
        let (_, health) = http_support::get(&server.addr, "/healthz");
        let warnings = health["warnings"].to_string();
        if warnings.contains("sink `fast_pg`") || std::time::Instant::now() > deadline {
            break warnings;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        warnings.contains("retrying with backoff (rows wait, none is dropped)"),
        "{warnings}"
    );
    let metrics = http_support::get_text(&server.addr, "/metrics");
    assert!(
        metrics.contains("weir_sink_retries_total{sink=\"fast_pg\"}"),
        "{metrics}"
    );
    std::thread::sleep(Duration::from_millis(1_000));
    pg.start_again();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the job hangs");
        std::thread::sleep(Duration::from_millis(20));
    };
    let err = server.stderr.lock().unwrap().join("\n");
    assert!(status.success(), "{err}");
    assert!(
        err.contains("weir: warning: sink `fast_pg`: PostgreSQL") && err.contains("retrying with backoff"),
        "{err}"
    );
    let mut db = pg.client();
    assert_same_rows(&fast_rows(&mut db, "fast_outage"), &fast);
    assert_same_rows(&stats_rows(&mut db, "stats_outage"), &stats);
}

/// A job told to stop (SIGTERM) while its database is down does not wait for it: the final checkpoint holds the
/// rows it could not commit, it exits 0, and the next run — the database back — commits them first: the tables
/// equal a clean run's.
#[test]
#[ignore = "needs PostgreSQL server binaries (tests/run.sh installs them and sets WEIR_PG_BIN)"]
fn a_job_stopped_while_the_database_is_down_exits_0_and_the_next_run_commits_what_it_held() {
    let pg = Postgres::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pings(&dir.join("pings.jsonl"));
    ok(&mut command(&job(dir, &pg.url(), "_clean"), &dir.join("clean"), 1));
    let run = |attempt: usize| {
        let mut cmd = command(&job(dir, &pg.url(), "_stopped"), &dir.join("out"), 1 + attempt % 2);
        cmd.args(["--set", &format!("job.checkpoint.dir={}", dir.join("ckpt").display())])
            .args(["--set", "job.checkpoint.interval=400ms"])
            .args([
                "--set",
                "sinks.fast_pg.commit_rows=50",
                "--set",
                "sinks.stats_pg.commit_rows=2",
            ])
            .args(["--set", "sources.pings.rate=8000"]);
        cmd
    };
    let mut cmd = run(0);
    cmd.args(["--set", "serve.listen=127.0.0.1:0"]);
    let server = http_support::Server::spawn(cmd);
    std::thread::sleep(Duration::from_millis(800));
    pg.stop();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !http_support::get(&server.addr, "/healthz").1["warnings"]
        .to_string()
        .contains("retrying with backoff")
    {
        assert!(std::time::Instant::now() < deadline, "the outage was never reported");
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = server.stderr.clone();
    let status = server.terminate();
    let err = log.lock().unwrap().join("\n");
    assert!(status.success(), "{err}");
    assert!(
        err.contains("rows not committed (the final checkpoint holds them"),
        "{err}"
    );

    pg.start_again();
    let again = run(1).output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let mut db = pg.client();
    assert_same_rows(&fast_rows(&mut db, "fast_stopped"), &fast_rows(&mut db, "fast_clean"));
    assert_same_rows(
        &stats_rows(&mut db, "stats_stopped"),
        &stats_rows(&mut db, "stats_clean"),
    );
}
