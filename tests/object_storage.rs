//! Parquet and Delta sinks on object storage (`s3://…`, issue 33 item 8), against a real S3-compatible server
//! (moto's server mode) and read back by independent clients (boto3 lists and downloads the objects, delta-rs
//! reads the table from the bucket): through SIGKILLs the bucket holds exactly the files a local run writes,
//! byte for byte, no temp or partial object among them, and the Delta table the same rows; a bucket that
//! cannot be reached is named at start. Without a server: `weir check` takes such paths for these sinks.

#[path = "support/crash.rs"]
mod crash;
#[path = "support/moto.rs"]
mod moto;
mod support;

use moto::Moto;
use std::path::{Path, PathBuf};
use support::{ok, weir};

const START: i64 = 1_795_219_200_000;

/// Pings over 4 hours: 30 couriers, a ping each per 30 s; a few malformed lines.
fn write_pings(path: &Path) {
    let mut text = String::new();
    for i in 0..14_400i64 {
        text += &format!(
            "{{\"courier\":\"c{}\",\"ts\":{},\"speed\":{:.1}}}\n",
            i % 30,
            START + i * 1000,
            (i * 37 % 400) as f64 / 10.0
        );
        if i % 4000 == 17 {
            text += "{\"courier\": broken\n";
        }
    }
    std::fs::write(path, text).unwrap();
}

/// The job: pings archived as Parquet at `raw` and as a Delta table at `lake` (local paths or URLs).
fn write_job(dir: &Path, name: &str, input: &Path, raw: &str, lake: &str, rate: Option<u64>) -> PathBuf {
    let job = dir.join(format!("{name}.toml"));
    let out = dir.join(name);
    std::fs::write(
        &job,
        format!(
            r#"
[job]
name = "pings-archive"
dead_letters = "dead"
[job.checkpoint]
dir = "{ck}"
interval = "200ms"
[sources.pings]
kind = "file"
path = "{input}"
{rate}
max_out_of_orderness = "1s"
schema = {{ courier = "string", ts = "timestamp", speed = "float" }}
[sinks.raw]
kind = "parquet"
inputs = ["pings"]
path = "{raw}"
partition_by = "hour"
max_rows_per_file = 1500
[sinks.lake]
kind = "delta"
inputs = ["pings"]
path = "{lake}"
partition_by = "date"
max_rows_per_file = 4000
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

/// A Delta table's rows as delta-rs reads them (sorted JSON lines) and its number of rows; `storage` is
/// JSON of delta-rs storage options.
const READ_DELTA: &str = r#"
import sys, json
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1], storage_options=json.loads(sys.argv[2]))
rows = t.to_pyarrow_table().to_pylist()
print("\n".join(sorted(json.dumps({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}, sort_keys=True) for r in rows)))
print("rows", len(rows))
"#;

#[test]
#[ignore = "needs moto_server: set WEIR_MOTO to its path (tests/run.sh does)"]
fn parquet_and_delta_on_s3_equal_a_local_run_through_sigkills() {
    let dir = tempfile::tempdir().unwrap();
    let server = Moto::start(dir.path());
    server.create_bucket("lake");
    let input = dir.path().join("pings.jsonl");
    write_pings(&input);

    let local = dir.path().join("local");
    let (raw, lake) = (local.join("raw"), local.join("lake"));
    let job = write_job(
        dir.path(),
        "local",
        &input,
        &raw.to_string_lossy(),
        &lake.to_string_lossy(),
        None,
    );
    ok(weir().arg("run").arg(&job).arg("--quiet"));

    let job = write_job(
        dir.path(),
        "s3",
        &input,
        "s3://lake/pings/raw",
        "s3://lake/pings/delta/",
        Some(8_000),
    );
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let crashes = crash::run_with_kills(
        |_| {
            let mut c = weir();
            c.arg("run").arg(&job).arg("--quiet");
            server.apply(&mut c);
            c
        },
        5,
        0x53_0b1,
        (300, 900),
        &logs,
    );
    assert!(crashes.resumed >= 3, "{}", crashes.log);

    // The bucket holds the local run's Parquet files, byte for byte, and nothing else.
    let fetched = dir.path().join("fetched");
    let objects = server.download("lake", "pings/raw", &fetched);
    assert!(!objects.is_empty());
    crash::assert_same_tree(&raw, &fetched);

    // delta-rs reads the same rows from the bucket as from the local table; each file added once.
    let storage = serde_json::json!({
        "AWS_ENDPOINT_URL": server.endpoint(), "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "weir-test", "AWS_SECRET_ACCESS_KEY": "weir-test-secret",
    })
    .to_string();
    let from_bucket = server.python(READ_DELTA, &["s3://lake/pings/delta", &storage]);
    let from_disk = server.python(READ_DELTA, &[&lake.to_string_lossy(), "{}"]);
    assert!(
        from_disk.contains("rows 14400"),
        "{}",
        from_disk.lines().last().unwrap()
    );
    assert!(
        from_bucket == from_disk,
        "the tables differ: {}",
        from_bucket.lines().last().unwrap()
    );
    let log = dir.path().join("delta-log");
    let commits = server.download("lake", "pings/delta/_delta_log", &log);
    let mut adds = Vec::new();
    for c in &commits {
        for line in std::fs::read_to_string(c).unwrap().lines() {
            let action: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(path) = action["add"]["path"].as_str() {
                adds.push(path.to_string());
            }
        }
    }
    let distinct: std::collections::BTreeSet<&String> = adds.iter().collect();
    assert_eq!(distinct.len(), adds.len(), "a file added twice: {adds:?}");
    let table = dir.path().join("delta-table");
    let objects = server.download("lake", "pings/delta", &table);
    let data: Vec<&PathBuf> = objects
        .iter()
        .filter(|p| !p.strip_prefix(&table).unwrap().starts_with("_delta_log"))
        .collect();
    assert_eq!(data.len(), adds.len(), "objects that no commit adds: {data:?}");
}

#[test]
#[ignore = "needs moto_server: set WEIR_MOTO to its path (tests/run.sh does)"]
fn a_bucket_that_cannot_be_reached_is_named_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = Moto::start(dir.path());
    let input = dir.path().join("pings.jsonl");
    write_pings(&input);
    let job = write_job(
        dir.path(),
        "s3",
        &input,
        "s3://no-such-bucket/raw",
        "s3://no-such-bucket/delta",
        None,
    );
    let mut run = weir();
    run.arg("run").arg(&job).arg("--quiet");
    server.apply(&mut run);
    let out = run.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("s3://no-such-bucket"), "{err}");
}

/// Without a server: object URLs are valid paths of the Parquet and Delta sinks (and `weir explain` says
/// where they go); other sinks and other schemes still refuse URLs.
#[test]
fn check_takes_object_urls_for_parquet_and_delta_only() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("pings.jsonl");
    write_pings(&input);
    let job = write_job(dir.path(), "s3", &input, "s3://lake/raw", "gs://lake/delta", None);
    ok(weir().arg("check").arg(&job));
    let explained = String::from_utf8(ok(weir().arg("explain").arg(&job)).stdout).unwrap();
    assert!(explained.contains("s3://lake/raw (object storage)"), "{explained}");
    let refused = weir()
        .arg("check")
        .arg(&job)
        .args([
            "--set",
            "sinks.raw.path=hdfs://lake/raw",
            "--set",
            "sinks.dead.path=s3://lake/dead.jsonl",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        err.contains("sinks.raw.path") && err.contains("is a URL (hdfs://)"),
        "{err}"
    );
    assert!(
        err.contains("sinks.dead.path") && err.contains("is a URL (s3://)"),
        "{err}"
    );
}
