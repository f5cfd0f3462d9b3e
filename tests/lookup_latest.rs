//! A table's `lookup` mode: `event_time` (the default) joins each record with the version valid at its event
//! time — a table changed while the job runs does not change what historical records see — while
//! `lookup = "latest"` joins the newest version read when the record is processed, never waiting (so a
//! change shows from then on). `weir check` says when a live job's table is read so seldom that waiting for
//! it bounds the job's latency, and `weir explain` says that `latest` depends on timing.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};
use support::*;

const START: i64 = 1_795_219_200_000;

/// A job joining `source` (its `[sources.pings]` options) with a file table read every `interval` in
/// `lookup` mode, written to `DIR/LOOKUP/…`; its file is `DIR/NAME.toml`.
fn job_with(dir: &Path, name: &str, source: &str, interval: &str, lookup: &str) -> std::path::PathBuf {
    let text = format!(
        r#"[job]
name = "lookup"

[sources.pings]
{source}
schema = {{ site_id = "string", ts = "int" }}

[tables.sites]
kind = "file"
path = "{dir}/sites.jsonl"
interval = "{interval}"
key = "site_id"
lookup = "{lookup}"
schema = {{ site_id = "string", zone = "string" }}

[operators.tagged]
kind = "join"
inputs = ["pings", "sites"]
on = "site_id"

[sinks.tagged]
kind = "jsonl"
inputs = ["tagged"]
path = "{dir}/{lookup}/tagged.jsonl"

[sinks.dead_letters]
kind = "jsonl"
path = "{dir}/{lookup}/dead_letters.jsonl"
"#,
        dir = dir.display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Paced pings from `DIR/pings.jsonl` (3 s of them), the table read every 100 ms.
fn job(dir: &Path, lookup: &str) -> std::path::PathBuf {
    let source = format!("kind = \"file\"\npath = \"{}/pings.jsonl\"\nrate = 1000", dir.display());
    job_with(dir, lookup, &source, "100ms", lookup)
}

/// Runs `job` (3 s of paced pings) and, 0.8 s into it, replaces the table: zone A becomes zone B.
fn run_changing_the_table(dir: &Path, job: &Path) -> Vec<String> {
    std::fs::write(dir.join("sites.jsonl"), "{\"site_id\":\"s1\",\"zone\":\"A\"}\n").unwrap();
    let mut child = weir().arg("run").arg(job).args(["--quiet"]).spawn().unwrap();
    // Once the job runs (its sink holds its lock), pings are read at 1000/s: change the table 0.8 s later.
    let lookup = job.file_stem().unwrap().to_str().unwrap();
    let lock = dir.join(lookup).join(".tagged.jsonl.lock");
    let started = Instant::now();
    while !lock.exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(800));
    let next = dir.join("sites.next");
    std::fs::write(&next, "{\"site_id\":\"s1\",\"zone\":\"B\"}\n").unwrap();
    std::fs::rename(&next, dir.join("sites.jsonl")).unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the job hangs");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    read_jsonl(&dir.join(lookup).join("tagged.jsonl"))
        .iter()
        .map(|t| t["zone"].as_str().unwrap_or("null").to_string())
        .collect()
}

#[test]
fn event_time_lookups_ignore_a_later_change_and_latest_lookups_see_it_from_then_on() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pings: String = (0..3_000)
        .map(|k| format!("{{\"site_id\":\"s1\",\"ts\":{}}}\n", START + k * 1_000))
        .collect();
    std::fs::write(dir.join("pings.jsonl"), pings).unwrap();

    let zones = run_changing_the_table(dir, &job(dir, "event_time"));
    assert_eq!(zones.len(), 3_000);
    assert!(
        zones.iter().all(|z| z == "A"),
        "every ping's event time is before the change"
    );

    let zones = run_changing_the_table(dir, &job(dir, "latest"));
    assert_eq!(zones.len(), 3_000);
    let first_b = zones
        .iter()
        .position(|z| z == "B")
        .expect("pings processed after the change see it");
    assert!(first_b > 0, "pings processed before the change see A");
    assert!(
        zones[first_b..].iter().all(|z| z == "B"),
        "once B, always B (one worker: input order)"
    );

    let explained = ok(weir().arg("explain").arg(job(dir, "latest")));
    let text = String::from_utf8_lossy(&explained.stdout);
    assert!(
        text.contains("in the latest version read when each record is processed (results depend on timing)"),
        "{text}"
    );
}

#[test]
fn check_warns_when_a_live_job_waits_for_a_table_read_seldom() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("sites.jsonl"), "").unwrap();
    // A Kafka source does not end: the job is live (`weir check` connects to nothing).
    let source = "kind = \"kafka\"\nbrokers = \"127.0.0.1:9\"\ntopic = \"pings\"";
    let job = |lookup: &str| {
        let path = job_with(dir, &format!("live-{lookup}"), source, "30s", lookup);
        let out = ok(weir().arg("check").arg(&path));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let warned = job("event_time");
    assert!(
        warned.contains("weir: warning: table `sites` is read every 30s: a live record waits for the first read after its event time"),
        "{warned}"
    );
    assert!(warned.contains("lookup = \"latest\" joins without waiting"), "{warned}");
    assert_eq!(job("latest"), "");
}
