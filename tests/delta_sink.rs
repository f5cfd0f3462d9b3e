//! The Delta Lake sink (`kind = "delta"`, DESIGN §11) checked with an independent reader, the `deltalake`
//! Python package (delta-rs): the table's rows, types (timestamps µs UTC), partition columns and its `txn`
//! action; through SIGKILLs the table equals a clean run's, every file added once; a fresh run over a table
//! the job already wrote is refused. And the reference job that archives to Delta, `config/courier-ingest`,
//! plans the same from its TOML and its SQL twin.

#[path = "support/crash.rs"]
mod crash;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{ok, weir};

const START: i64 = 1_795_219_200_000;

fn have_deltalake() -> bool {
    support::have_python_module("deltalake")
}

/// Pings over 5 hours: 40 couriers, one ping each per 30 s; a few malformed lines.
fn write_pings(path: &Path) -> usize {
    let mut text = String::new();
    let mut n = 0;
    for i in 0..24_000i64 {
        let ts = START + i * 750;
        text += &format!(
            "{{\"courier\":\"c{}\",\"ts\":{ts},\"speed\":{:.1},\"ok\":{}}}\n",
            i % 40,
            (i * 37 % 400) as f64 / 10.0,
            i % 3 == 0
        );
        n += 1;
        if i % 5000 == 17 {
            text += "{\"courier\": broken\n";
        }
    }
    std::fs::write(path, text).unwrap();
    n
}

fn write_job(dir: &Path, input: &Path, out: &Path, rate: Option<u64>) -> PathBuf {
    write_bucketed_job(dir, input, out, rate, 1)
}

/// The job with its table's partitions split into `buckets` file groups (spread over the workers).
fn write_bucketed_job(dir: &Path, input: &Path, out: &Path, rate: Option<u64>, buckets: u32) -> PathBuf {
    let job = dir.join("job.toml");
    std::fs::write(
        &job,
        format!(
            r#"
[job]
name = "pings-lake"
dead_letters = "dead"
[job.checkpoint]
dir = "{ck}"
interval = "200ms"
[sources.pings]
kind = "file"
path = "{input}"
{rate}
max_out_of_orderness = "1s"
schema = {{ courier = "string", ts = "timestamp", speed = "float", ok = "bool" }}
[sinks.lake]
kind = "delta"
inputs = ["pings"]
path = "{out}/lake"
partition_by = "hour"
max_rows_per_file = 2000
buckets = {buckets}
[sinks.dead]
kind = "jsonl"
inputs = ["pings.dead_letters"]
path = "{out}/dead.jsonl"
"#,
            ck = out.join("ck").display(),
            input = input.display(),
            out = out.display(),
            rate = rate.map(|r| format!("rate = {r}")).unwrap_or_default(),
        ),
    )
    .unwrap();
    job
}

/// The table as delta-rs reads it: one line per row (sorted), then the schema, partition columns, the
/// number of `add` actions and of distinct added paths, and the `txn` actions' app ids.
fn read_table(table: &Path) -> String {
    let script = r#"
import sys, json, glob, os
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1])
arrow = t.to_pyarrow_table()
rows = arrow.to_pylist()
lines = sorted(json.dumps({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}, sort_keys=True) for r in rows)
print("\n".join(lines))
print("schema", ", ".join(f"{f.name}: {f.type}" for f in arrow.schema))
print("partitions", t.metadata().partition_columns)
adds, apps = [], set()
for f in sorted(glob.glob(os.path.join(sys.argv[1], "_delta_log", "*.json"))):
    for line in open(f):
        a = json.loads(line)
        if "add" in a: adds.append(a["add"]["path"])
        if "txn" in a: apps.add(a["txn"]["appId"])
print("adds", len(adds), "distinct", len(set(adds)), "apps", sorted(apps))
"#;
    let out = ok(Command::new("python3").args(["-c", script]).arg(table));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_delta_table_reads_back_with_delta_rs() {
    if !have_deltalake() {
        eprintln!("skipped: no deltalake for python3");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("pings.jsonl");
    let n = write_pings(&input);
    let out = dir.path().join("out");
    let job = write_job(dir.path(), &input, &out, None);
    ok(weir().arg("run").arg(&job).arg("--quiet"));
    let table = read_table(&out.join("lake"));
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with('{')).collect();
    assert_eq!(rows.len(), n, "every valid record once");
    let first: serde_json::Value = serde_json::from_str(rows[0]).unwrap();
    assert_eq!(first["date"], "2026-11-21", "{first}");
    assert!(first["ts"].as_str().unwrap().starts_with("2026-11-21T"), "{first}");
    assert!(
        table.contains("schema courier: string, ts: timestamp[us, tz=UTC], speed: double, ok: bool"),
        "{table}"
    );
    assert!(table.contains("partitions ['date', 'hour']"), "{table}");
    assert!(table.contains("apps ['pings-lake/lake']"), "{table}");
    let adds = table.lines().find(|l| l.starts_with("adds")).unwrap();
    let words: Vec<&str> = adds.split_whitespace().collect();
    assert_eq!(words[1], words[3], "a file added twice: {adds}");
    // The same job again without its checkpoints would add everything again: refused.
    std::fs::remove_dir_all(out.join("ck")).unwrap();
    let again = weir().arg("run").arg(&job).arg("--quiet").output().unwrap();
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("already holds this job's commits"), "{err}");
}

#[test]
fn through_sigkills_the_table_equals_a_clean_runs() {
    if !have_deltalake() {
        eprintln!("skipped: no deltalake for python3");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("pings.jsonl");
    write_pings(&input);
    let clean = dir.path().join("clean");
    ok(weir()
        .arg("run")
        .arg(write_job(dir.path(), &input, &clean, None))
        .arg("--quiet"));
    let crashed = dir.path().join("crashed");
    let job = write_job(dir.path(), &input, &crashed, Some(12_000));
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let crashes = crash::run_with_kills(
        |_| {
            let mut c = weir();
            c.arg("run").arg(&job).arg("--quiet");
            c
        },
        6,
        0xde17a,
        (250, 700),
        &logs,
    );
    assert!(crashes.resumed >= 3, "{}", crashes.log);
    assert_eq!(read_table(&crashed.join("lake")), read_table(&clean.join("lake")));
}

/// The data files (relative path → bytes) of a table, without its log.
fn data_files(table: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![table.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() && e.file_name() != "_delta_log" {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                let rel = p.strip_prefix(table).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// With `buckets = 4` every worker writes files of its own; at 3 workers, and through SIGKILLs at 2 and 3
/// workers, the table and its data files are those of one worker.
#[test]
fn bucketed_tables_are_the_same_at_any_worker_count_and_through_sigkills() {
    if !have_deltalake() {
        eprintln!("skipped: no deltalake for python3");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("pings.jsonl");
    write_pings(&input);
    let one = dir.path().join("one");
    let job = write_bucketed_job(dir.path(), &input, &one, None, 4);
    ok(weir().arg("run").arg(&job).args(["--quiet", "--workers", "1"]));
    let three = dir.path().join("three");
    let job = write_bucketed_job(dir.path(), &input, &three, None, 4);
    ok(weir().arg("run").arg(&job).args(["--quiet", "--workers", "3"]));
    let expected = data_files(&one.join("lake"));
    assert!(
        expected.keys().any(|f| f.contains("part-b003-")),
        "{:?}",
        expected.keys()
    );
    assert!(
        data_files(&three.join("lake")) == expected,
        "the same files at 3 workers"
    );
    assert_eq!(read_table(&three.join("lake")), read_table(&one.join("lake")));

    let crashed = dir.path().join("crashed");
    let job = write_bucketed_job(dir.path(), &input, &crashed, Some(12_000), 4);
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let crashes = crash::run_with_kills(
        |round| {
            let mut c = weir();
            c.arg("run").arg(&job).arg("--quiet");
            c.args(["--workers", if round % 2 == 0 { "3" } else { "2" }]);
            c
        },
        6,
        0xb0c4e7,
        (250, 700),
        &logs,
    );
    assert!(crashes.resumed >= 3, "{}", crashes.log);
    assert!(
        data_files(&crashed.join("lake")) == expected,
        "the same files through kills"
    );
    assert_eq!(read_table(&crashed.join("lake")), read_table(&one.join("lake")));
}

#[test]
fn the_courier_ingest_reference_job_and_its_sql_twin_plan_the_same() {
    let root = support::repo_root();
    let explain = |file: &str| ok(weir().arg("explain").arg(root.join("config").join(file))).stdout;
    let (toml, sql) = (explain("courier-ingest.toml"), explain("courier-ingest.sql"));
    assert_eq!(String::from_utf8_lossy(&toml), String::from_utf8_lossy(&sql));
    let text = String::from_utf8_lossy(&toml);
    for part in [
        "HTTP ingest",
        "MQTT topics fleet/+/pings",
        "delta table",
        "upsert on courier, window_start",
    ] {
        assert!(text.contains(part), "{part:?} missing from:\n{text}");
    }
}
