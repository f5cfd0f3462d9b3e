//! The Kafka reference jobs against a real Kafka-protocol broker (tansu): end-to-end results equal to a
//! file-based run of the same partitions, identical for 1, 2 and 3 workers; idle partitions; malformed
//! messages; a broker that is missing at start and restarted mid-run; SIGTERM.
//!
//! Every test here is `#[ignore]`d with the reason, so a plain `cargo test` says which tests need a broker;
//! `tests/run.sh` starts one and runs them (`WEIR_KAFKA_BROKERS`, `WEIR_TANSU`).

#[path = "support/crash.rs"]
mod crash;
#[path = "support/kafka.rs"]
mod kafka_support;
mod support;

use kafka_support::*;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{file_job_over_partitions, ok, read_jsonl, read_rollups, repo_root, weir};

fn kafka_config(name: &str) -> PathBuf {
    repo_root().join("config/kafka").join(name)
}

/// A Kafka reference job with the test's topics and output directory.
fn kafka_job(config: &str, brokers: &str, topics: &[(&str, &str)], out: &Path, workers: usize) -> Command {
    let mut cmd = weir();
    cmd.args(["run", kafka_config(config).to_str().unwrap(), "--quiet"])
        .args(["--workers", &workers.to_string()])
        .env("WEIR_KAFKA_BROKERS", brokers)
        .env("WEIR_OUT", out)
        .env("WEIR_METRICS_LISTEN", "127.0.0.1:0")
        .env("WEIR_LISTEN", "127.0.0.1:0");
    for (var, topic) in topics {
        cmd.env(var, topic);
    }
    cmd
}

/// Runs a job that reads each partition to its end; a job with views keeps serving, so it is stopped with
/// SIGTERM once it says its inputs are done. Panics unless it exits 0.
fn run_to_end(mut cmd: Command) {
    cmd.env("WEIR_KAFKA_STOP_AT_END", "true").stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn weir");
    let (lines, _reader) = stderr_lines(&mut child);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut log = String::new();
    loop {
        match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => {
                log.push_str(&l);
                log.push('\n');
                if l.contains("still serving") {
                    let status = terminate(&mut child);
                    assert!(status.success(), "{status}\n{log}");
                    return;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().unwrap();
                assert!(status.success(), "weir failed ({status}):\n{log}");
                return;
            }
            Err(_) => assert!(Instant::now() < deadline, "job did not finish:\n{log}"),
        }
    }
}

/// The child's stderr, line by line, on a channel.
fn stderr_lines(child: &mut Child) -> (std::sync::mpsc::Receiver<String>, std::thread::JoinHandle<()>) {
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            // Echoed, so a failing test shows what the job said.
            eprintln!("[weir] {l}");
            let _ = tx.send(l);
        }
    });
    (rx, t)
}

/// Waits for a stderr line containing `needle`; returns it.
fn wait_for_line(lines: &std::sync::mpsc::Receiver<String>, needle: &str, log: &mut String) -> String {
    wait_for_any(lines, &[needle], log)
}

fn values(dump: &BTreeMap<i32, Vec<Record>>) -> Vec<String> {
    let mut v: Vec<String> = dump.values().flatten().filter_map(|r| r.value.clone()).collect();
    v.sort();
    v
}

fn file_lines(path: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// Every alert message is keyed by its `key` and carries `kind` and `job` headers.
fn check_alert_messages(dump: &BTreeMap<i32, Vec<Record>>, job: &str) {
    for r in dump.values().flatten() {
        let v: serde_json::Value = serde_json::from_str(r.value.as_deref().unwrap()).unwrap();
        assert_eq!(r.key.as_deref(), v["key"].as_str(), "{r:?}");
        assert_eq!(r.headers.get("kind").map(String::as_str), v["kind"].as_str());
        assert_eq!(r.headers.get("job").map(String::as_str), Some(job));
    }
}

/// Kafka dead letters equal the file run's, with Kafka offsets (0-based) for line numbers, and their raw
/// bytes are the message at that partition and offset.
fn check_dead_letters(kafka: &Path, file: &Path, dump: &BTreeMap<i32, Vec<Record>>) {
    let k = read_jsonl(kafka);
    let f = read_jsonl(file);
    let key = |d: &serde_json::Value, shift: i64| {
        (
            d["partition"].as_i64().unwrap(),
            d["offset"].as_i64().unwrap() + shift,
            d["reason"].as_str().unwrap().to_string(),
            d["raw"].as_str().unwrap().to_string(),
        )
    };
    let mut from_kafka: Vec<_> = k.iter().map(|d| key(d, 1)).collect();
    let mut from_file: Vec<_> = f.iter().map(|d| key(d, 0)).collect();
    from_kafka.sort();
    from_file.sort();
    assert!(!from_kafka.is_empty(), "the workload has malformed messages");
    assert_eq!(from_kafka, from_file);
    for d in &k {
        let (p, o) = (d["partition"].as_i64().unwrap() as i32, d["offset"].as_i64().unwrap());
        let msg = &dump[&p][o as usize];
        assert_eq!(msg.offset, o);
        if d["reason"] != "late" {
            assert_eq!(msg.value.as_deref().unwrap_or(""), d["raw"].as_str().unwrap());
        }
    }
}

/// Relative path → bytes of every file under `dir`.
fn tree_bytes(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    support::parquet_files(dir)
        .into_iter()
        .map(|p| (p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap()))
        .collect()
}

fn per_partition_values(dump: &BTreeMap<i32, Vec<Record>>) -> BTreeMap<i32, Vec<Option<String>>> {
    dump.iter()
        .map(|(p, rs)| (*p, rs.iter().map(|r| r.value.clone()).collect()))
        .collect()
}

/// A generated vibration workload published to a fresh 4-partition topic of the test broker (the publish
/// arguments after `--key sensor_id`): the broker address, a temporary directory, the input file, the topic.
fn published_vibration(
    sensors: u32,
    hours: f64,
    seed: u64,
    late_and_bad: (f64, f64),
    publish_args: &[&str],
) -> (String, tempfile::TempDir, PathBuf, String) {
    let brokers = brokers();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("vibration.jsonl");
    support::generate_vibration(&input, sensors, hours, seed, late_and_bad.0, late_and_bad.1);
    let source = topic("vibration");
    let args: Vec<&str> = ["--key", "sensor_id"]
        .into_iter()
        .chain(publish_args.iter().copied())
        .collect();
    let sent = publish(&brokers, &source, &input, &args);
    assert!(sent.contains("keyed by sensor_id"), "{sent}");
    (brokers, dir, input, source)
}

/// One vibration run's outputs: rollup files by path, alert values per partition, dead-letter bytes.
type RunOutputs = (BTreeMap<PathBuf, Vec<u8>>, BTreeMap<i32, Vec<Option<String>>>, Vec<u8>);

#[test]
#[ignore = "needs a Kafka broker: set WEIR_KAFKA_BROKERS=host:port (tests/run.sh starts one)"]
fn vibration_from_kafka_equals_a_file_run_of_its_partitions_for_1_2_and_3_workers() {
    let (brokers, dir, _input, source) = published_vibration(25, 3.0, 11, (0.002, 0.001), &[]);
    let dump = read_topic(&brokers, &source);
    assert_eq!(dump.len(), 4);
    assert!(dump.values().all(|p| !p.is_empty()), "every partition has data");

    // The same partitions as files, under the same rules.
    let parts = partition_files(&dump, &dir.path().join("parts"));
    let job = file_job_over_partitions("vibration-rollup.toml", &parts, dir.path());
    let file_out = dir.path().join("file-run");
    ok(weir()
        .args(["run", job.to_str().unwrap(), "--quiet", "--workers", "2"])
        .env("WEIR_OUT", &file_out));
    let file_rollups = read_rollups(&file_out.join("vibration/rollups"));
    assert!(file_rollups.len() >= 25 * 3, "{} rows", file_rollups.len());

    let mut first: Option<RunOutputs> = None;
    for workers in [1, 2, 3] {
        let out = dir.path().join(format!("kafka-{workers}"));
        let alerts = topic("alerts");
        let mut job = kafka_job(
            "vibration-rollup.toml",
            &brokers,
            &[("WEIR_VIBRATION_TOPIC", &source), ("WEIR_ALERTS_TOPIC", &alerts)],
            &out,
            workers,
        );
        if workers == 3 {
            // Back-pressure engaged all the time: results must not change (and the job must not stall).
            job.args(["--set", "sources.vibration.max_in_flight=300"]);
        }
        run_to_end(job);
        let rollups_dir = out.join("kafka/vibration/rollups");
        assert_eq!(read_rollups(&rollups_dir), file_rollups, "{workers} workers");
        let alert_dump = read_topic(&brokers, &alerts);
        let file_alerts = file_lines(&file_out.join("vibration/alerts.jsonl"));
        assert!(!file_alerts.is_empty());
        assert_eq!(values(&alert_dump), file_alerts, "{workers} workers");
        check_alert_messages(&alert_dump, "vibration-rollup");
        let dead = out.join("kafka/vibration/dead_letters.jsonl");
        check_dead_letters(&dead, &file_out.join("vibration/dead_letters.jsonl"), &dump);

        let run = (
            tree_bytes(&rollups_dir),
            per_partition_values(&alert_dump),
            std::fs::read(&dead).unwrap(),
        );
        match &first {
            None => first = Some(run),
            Some(f) => assert!(*f == run, "{workers} workers differ from 1 worker"),
        }
    }
}

/// A Kafka reference job killed (SIGKILL) at ≥ 10 random instants while it reads `source` and writes its
/// alerts to a fresh topic, restarted each time with 1–3 workers, until a run finishes: the alerts topic holds
/// every alert of an uninterrupted file run of the same partitions exactly once (contiguous `weir.seq`), and
/// the other outputs under `out_sub` are the file run's, byte for byte (Parquet) or record for record (dead
/// letters, with Kafka offsets). `rate` is chosen so that no run can finish before the tenth kill.
fn crash_harness(config: &str, source_var: &str, source: &str, rate: u32, out_sub: &str, seed: u64) {
    let brokers = brokers();
    let dir = tempfile::tempdir().unwrap();
    let dump = read_topic(&brokers, source);
    let parts = partition_files(&dump, &dir.path().join("parts"));
    let job = file_job_over_partitions(config, &parts, dir.path());
    let file_out = dir.path().join("file-run");
    ok(weir()
        .args(["run", job.to_str().unwrap(), "--quiet", "--workers", "2"])
        .env("WEIR_OUT", &file_out));

    let alerts = topic("alerts");
    let out = dir.path().join("kafka");
    let ckpt = dir.path().join("ckpt");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let source_name = if source_var.contains("VIBRATION") {
        "vibration"
    } else {
        "locations"
    };
    let crashes = crash::run_with_kills(
        |attempt| {
            let mut job = kafka_job(
                config,
                &brokers,
                &[(source_var, source), ("WEIR_ALERTS_TOPIC", &alerts)],
                &out,
                1 + attempt % 3,
            );
            job.env("WEIR_KAFKA_STOP_AT_END", "true")
                .args(["--set", &format!("job.checkpoint.dir={}", ckpt.display())])
                .args(["--set", "job.checkpoint.interval=100ms"])
                .args(["--set", &format!("sources.{source_name}.rate={rate}")]);
            job
        },
        10,
        seed,
        (250, 500),
        &logs,
    );
    assert!(crashes.resumed >= 5, "{}", crashes.log);

    // Alerts topic: every alert of the uninterrupted run exactly once, across all the killed producers.
    let alert_dump = read_topic(&brokers, &alerts);
    let file_alerts = file_lines(&file_out.join(format!("{out_sub}/alerts.jsonl")));
    assert!(file_alerts.len() > 20, "{} alerts", file_alerts.len());
    assert_eq!(values(&alert_dump), file_alerts);
    check_alert_messages(&alert_dump, config.trim_end_matches(".toml"));
    let mut seqs: Vec<u64> = alert_dump
        .values()
        .flatten()
        .map(|r| r.headers["weir.seq"].parse().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..file_alerts.len() as u64).collect::<Vec<_>>());
    check_dead_letters(
        &out.join(format!("kafka/{out_sub}/dead_letters.jsonl")),
        &file_out.join(format!("{out_sub}/dead_letters.jsonl")),
        &dump,
    );
    let rollups = out.join(format!("kafka/{out_sub}/rollups"));
    if rollups.exists() {
        let file_rollups = file_out.join(format!("{out_sub}/rollups"));
        assert_eq!(read_rollups(&rollups), read_rollups(&file_rollups));
        assert!(tree_bytes(&rollups) == tree_bytes(&file_rollups));
    }
}

#[test]
#[ignore = "needs a Kafka broker: set WEIR_KAFKA_BROKERS=host:port (tests/run.sh starts one)"]
fn crash_harness_vibration_rollup_from_kafka_to_an_alert_topic() {
    // ~1.7 M readings on 4 partitions, replayed at 300 k/s.
    let (_brokers, _dir, _input, source) = published_vibration(120, 4.0, 21, (0.0005, 0.0001), &[]);
    crash_harness(
        "vibration-rollup.toml",
        "WEIR_VIBRATION_TOPIC",
        &source,
        300_000,
        "vibration",
        0x5eed_0003,
    );
}

#[test]
#[ignore = "needs a Kafka broker: set WEIR_KAFKA_BROKERS=host:port (tests/run.sh starts one)"]
fn crash_harness_delivery_alerts_from_kafka_to_an_alert_topic() {
    // 1.2 M pings of 25 000 orders on 4 partitions, replayed at 200 k/s.
    let brokers = brokers();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("locations.jsonl");
    ok(weir()
        .args([
            "generate",
            "locations",
            "--orders",
            "25000",
            "--hours",
            "8",
            "--count",
            "1200000",
        ])
        .args(["--seed", "31", "-o", input.to_str().unwrap()]));
    let source = topic("locations");
    publish(&brokers, &source, &input, &["--key", "order_id"]);
    crash_harness(
        "delivery-alerts.toml",
        "WEIR_LOCATIONS_TOPIC",
        &source,
        200_000,
        "delivery",
        0x5eed_0004,
    );
}

/// A location record as the last-location oracle sees it: valid per DESIGN §1, or `None`.
fn valid_location(v: &str) -> Option<(String, String, i64, serde_json::Value)> {
    let j: serde_json::Value = serde_json::from_str(v).ok()?;
    let s = |k: &str| j.get(k)?.as_str().map(str::to_string);
    let f = |k: &str| j.get(k)?.as_f64().filter(|x| x.is_finite());
    let state = s("state")?;
    if !["assigned", "picked_up", "en_route", "delivered"].contains(&state.as_str()) {
        return None;
    }
    f("lat")?;
    f("lon")?;
    Some((s("order_id")?, s("deliverer_id")?, j.get("ts")?.as_i64()?, j))
}

#[test]
#[ignore = "needs a Kafka broker: set WEIR_KAFKA_BROKERS=host:port (tests/run.sh starts one)"]
fn delivery_alerts_and_last_location_from_kafka_match_their_oracles() {
    let brokers = brokers();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("locations.jsonl");
    ok(weir().args([
        "generate",
        "locations",
        "--orders",
        "600",
        "--hours",
        "3",
        "--bad-frac",
        "0.002",
        "--late-frac",
        "0.002",
        "-o",
        input.to_str().unwrap(),
    ]));
    let source = topic("locations");
    publish(&brokers, &source, &input, &["--key", "order_id"]);
    let dump = read_topic(&brokers, &source);
    let parts = partition_files(&dump, &dir.path().join("parts"));

    // delivery-alerts: the alerts topic holds exactly the file run's alerts, for 1 and 3 workers.
    let job = file_job_over_partitions("delivery-alerts.toml", &parts, dir.path());
    let file_out = dir.path().join("file-run");
    ok(weir()
        .args(["run", job.to_str().unwrap(), "--quiet"])
        .env("WEIR_OUT", &file_out));
    let file_alerts = file_lines(&file_out.join("delivery/alerts.jsonl"));
    assert!(file_alerts.iter().any(|a| a.contains("delivery_delayed")));
    assert!(file_alerts.iter().any(|a| a.contains("courier_silent")));
    let mut first = None;
    for workers in [1, 3] {
        let alerts = topic("alerts");
        let out = dir.path().join(format!("delivery-{workers}"));
        run_to_end(kafka_job(
            "delivery-alerts.toml",
            &brokers,
            &[("WEIR_LOCATIONS_TOPIC", &source), ("WEIR_ALERTS_TOPIC", &alerts)],
            &out,
            workers,
        ));
        let alert_dump = read_topic(&brokers, &alerts);
        assert_eq!(values(&alert_dump), file_alerts, "{workers} workers");
        check_alert_messages(&alert_dump, "delivery-alerts");
        check_dead_letters(
            &out.join("kafka/delivery/dead_letters.jsonl"),
            &file_out.join("delivery/dead_letters.jsonl"),
            &dump,
        );
        let per_partition = per_partition_values(&alert_dump);
        match &first {
            None => first = Some(per_partition),
            Some(f) => assert!(*f == per_partition, "{workers} workers differ"),
        }
    }

    // last-location: the compacted changelog topic's latest value per key is the oracle's.
    let changelog = topic("last-location");
    let out = dir.path().join("last-location");
    run_to_end(kafka_job(
        "last-location.toml",
        &brokers,
        &[("WEIR_LOCATIONS_TOPIC", &source), ("WEIR_CHANGELOG_TOPIC", &changelog)],
        &out,
        2,
    ));
    let log = read_topic(&brokers, &changelog);
    let mut latest: BTreeMap<(String, String), serde_json::Value> = BTreeMap::new();
    for r in log.values().flatten() {
        let view = r.headers["view"].clone();
        let key = r.key.clone().expect("changelog messages are keyed");
        match &r.value {
            Some(v) => {
                let j: serde_json::Value = serde_json::from_str(v).unwrap();
                assert_eq!(j["key"].as_str(), Some(key.as_str()));
                latest.insert((view, key), j);
            }
            None => {
                latest.remove(&(view, key));
            }
        }
    }
    // Oracle: per order, the valid record with the greatest ts (tie: later in its partition); per courier,
    // the greatest ts.
    let mut orders: BTreeMap<String, (i64, serde_json::Value)> = BTreeMap::new();
    let mut couriers: BTreeMap<String, i64> = BTreeMap::new();
    for r in dump.values().flatten() {
        if let Some((order, courier, ts, j)) = r.value.as_deref().and_then(valid_location) {
            if orders.get(&order).is_none_or(|(t, _)| ts >= *t) {
                orders.insert(order, (ts, j));
            }
            let c = couriers.entry(courier).or_insert(ts);
            *c = (*c).max(ts);
        }
    }
    let (mut n_orders, mut n_couriers) = (0, 0);
    for ((view, key), v) in &latest {
        match view.as_str() {
            "orders" => {
                n_orders += 1;
                let (_, want) = &orders[key];
                for f in ["order_id", "deliverer_id", "state", "ts", "lat", "lon"] {
                    assert_eq!(v[f], want[f], "orders/{key} field {f}");
                }
            }
            "deliverers" => {
                n_couriers += 1;
                assert_eq!(v["ts"].as_i64(), Some(couriers[key]), "deliverers/{key}");
            }
            other => panic!("unknown view {other}"),
        }
    }
    assert_eq!(n_orders, orders.len(), "every order has its latest value");
    assert_eq!(n_couriers, couriers.len(), "every courier has its latest value");

    // With a short TTL, delivered orders leave the view: their tombstones leave the compacted topic with
    // exactly the keys a file run's changelog ends with.
    let ttl = ["--set", "operators.orders.ttl=20m"];
    let changelog = topic("last-location");
    let mut job = kafka_job(
        "last-location.toml",
        &brokers,
        &[("WEIR_LOCATIONS_TOPIC", &source), ("WEIR_CHANGELOG_TOPIC", &changelog)],
        &dir.path().join("last-location-ttl"),
        2,
    );
    job.args(ttl);
    run_to_end(job);
    let log = read_topic(&brokers, &changelog);
    let tombstones = log.values().flatten().filter(|r| r.value.is_none()).count();
    assert!(tombstones > 0, "delivered orders expire");
    let mut from_kafka: BTreeMap<(String, String), String> = BTreeMap::new();
    for r in log.values().flatten() {
        let k = (r.headers["view"].clone(), r.key.clone().unwrap());
        match &r.value {
            Some(v) => from_kafka.insert(k, v.clone()),
            None => from_kafka.remove(&k),
        };
    }
    let file_job = file_job_over_partitions("last-location.toml", &parts, dir.path());
    let file_out = dir.path().join("file-run-ttl");
    let mut run = weir();
    run.args(["run", file_job.to_str().unwrap(), "--quiet"])
        .args(ttl)
        .args(["--set", "serve.listen=127.0.0.1:0"])
        .env("WEIR_OUT", &file_out);
    run_to_end(run);
    let mut from_file: BTreeMap<(String, String), String> = BTreeMap::new();
    let text = std::fs::read_to_string(file_out.join("last-location/changelog.jsonl")).unwrap();
    for line in text.lines() {
        let j: serde_json::Value = serde_json::from_str(line).unwrap();
        let k = (
            j["view"].as_str().unwrap().to_string(),
            j["key"].as_str().unwrap().to_string(),
        );
        if j["op"] == "delete" {
            from_file.remove(&k);
        } else {
            from_file.insert(k, line.to_string());
        }
    }
    assert_eq!(from_kafka, from_file);
}

#[test]
#[ignore = "needs a Kafka broker: set WEIR_KAFKA_BROKERS=host:port (tests/run.sh starts one)"]
fn an_idle_partition_stops_holding_windows_back_after_idle_timeout() {
    // Everything in partition 0; partitions 1–3 stay empty.
    let (brokers, dir, _input, source) = published_vibration(10, 2.0, 5, (0.0, 0.0), &["--partition", "0"]);

    for (idle, want_windows) in [("2s", true), ("1h", false)] {
        let out = dir.path().join(format!("idle-{idle}"));
        let mut cmd = kafka_job(
            "vibration-rollup.toml",
            &brokers,
            &[
                ("WEIR_VIBRATION_TOPIC", &source),
                ("WEIR_ALERTS_TOPIC", &topic("alerts")),
            ],
            &out,
            2,
        );
        cmd.env("WEIR_KAFKA_IDLE_TIMEOUT", idle).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let (_lines, _t) = stderr_lines(&mut child);
        let rollups = out.join("kafka/vibration/rollups");
        let deadline = Instant::now() + Duration::from_secs(if want_windows { 60 } else { 6 });
        while Instant::now() < deadline && (!rollups.exists() || support::parquet_files(&rollups).is_empty()) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let status = terminate(&mut child);
        assert!(status.success(), "SIGTERM → exit 0, got {status}");
        let rows = if rollups.exists() {
            read_rollups(&rollups)
        } else {
            Vec::new()
        };
        if want_windows {
            // The first hour's windows fired (the second hour's window is still open at the end of data).
            assert_eq!(rows.len(), 10, "one window per sensor for the first hour");
        } else {
            assert!(
                rows.is_empty(),
                "empty partitions hold the windows back until idle_timeout"
            );
        }
    }
}

#[test]
#[ignore = "needs a Kafka broker: set WEIR_KAFKA_BROKERS=host:port (tests/run.sh starts one)"]
fn waits_for_a_missing_broker_and_survives_its_restart_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("vibration.jsonl");
    support::generate_vibration(&input, 20, 3.0, 9, 0.001, 0.0);
    let total = std::fs::read_to_string(&input).unwrap().lines().count() as u64;
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let out = dir.path().join("out");

    let (job, alerts_file) = rollup_job_with_file_alerts(dir.path(), &out);

    // The job starts first: no broker yet.
    let mut cmd = weir();
    cmd.args(["run", job.to_str().unwrap(), "--quiet", "--workers", "2"])
        .env("WEIR_KAFKA_BROKERS", &addr)
        .env("WEIR_OUT", &out)
        .env("WEIR_METRICS_LISTEN", "127.0.0.1:0")
        .env("WEIR_VIBRATION_TOPIC", "vibration");
    cmd.env("WEIR_KAFKA_IDLE_TIMEOUT", "1h").stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let (lines, _t) = stderr_lines(&mut child);
    let mut log = String::new();
    let serving = wait_for_line(&lines, "serving on http://", &mut log);
    let http = serving.rsplit("http://").next().unwrap().trim().to_string();
    wait_for_line(&lines, "cannot reach Kafka brokers", &mut log);

    // The broker appears; the first half is published and read.
    let mut broker = OwnBroker::start(port);
    let half = total / 2;
    publish(
        &addr,
        "vibration",
        &input,
        &["--key", "sensor_id", "--limit", &half.to_string()],
    );
    let read = |want: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let page = http_get(&http, "/metrics").unwrap_or_default();
            let n = metric(&page, "weir_records_in_total", "").unwrap_or(0.0) as u64
                + metric(&page, "weir_dead_letters_total", "reason=\"invalid").unwrap_or(0.0) as u64;
            if n >= want || Instant::now() > deadline {
                return (n, page);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let (n, _) = read(half);
    assert_eq!(n, half, "the first half was read");

    // kill -9 the broker (memory storage: the topic is gone), start it again and publish everything: the
    // same keys land at the same offsets, so the job must continue exactly where it was.
    broker.kill();
    std::thread::sleep(Duration::from_secs(1));
    let _broker = OwnBroker::start(port);
    // Review B16: the topic is gone from the restarted broker, and the job says so instead of stalling
    // without a word.
    wait_for_line(&lines, "topic `vibration` no longer exists", &mut log);
    publish(&addr, "vibration", &input, &["--key", "sensor_id"]);
    publish_sentinels(&addr, "vibration", dir.path());
    let (n, page) = read(total + 4);
    std::thread::sleep(Duration::from_millis(500));
    let (n_after, _) = read(total + 4);
    assert_eq!(
        (n, n_after),
        (total + 4, total + 4),
        "every record read exactly once:\n{page}"
    );
    stop_and_compare_with_a_file_run(&mut child, &addr, "vibration", dir.path(), &out, &alerts_file);
}

/// Review B4: deleting the topic of a running source makes librdkafka (2.12 to 2.16) dereference a null topic
/// name — SIGSEGV, which used to end weir with status 139 and not a word. Now `weir run` supervises a job
/// that uses Kafka: it names the crash, restarts a checkpointing job from its last checkpoint, and the
/// restart waits for the topic (a signal stops it cleanly meanwhile). Recreated with the same messages, the
/// job goes on from its checkpoint with nothing lost or doubled.
#[test]
#[ignore = "needs a Kafka broker: set WEIR_KAFKA_BROKERS=host:port (tests/run.sh starts one)"]
fn a_topic_deleted_under_the_job_is_named_and_the_job_restarts_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("vibration.jsonl");
    support::generate_vibration(&input, 20, 3.0, 9, 0.001, 0.0);
    let total = std::fs::read_to_string(&input).unwrap().lines().count() as u64;
    let addr = brokers();
    let topic = topic("deleted");
    let out = dir.path().join("out");
    let (job, alerts_file) = rollup_job_with_file_alerts(dir.path(), &out);
    let half = total / 2;
    publish(
        &addr,
        &topic,
        &input,
        &["--key", "sensor_id", "--limit", &half.to_string()],
    );
    let start = || {
        let mut cmd = weir();
        cmd.args(["run", job.to_str().unwrap(), "--quiet", "--workers", "2"])
            .env("WEIR_KAFKA_BROKERS", &addr)
            .env("WEIR_OUT", &out)
            .env("WEIR_METRICS_LISTEN", "127.0.0.1:0")
            .env("WEIR_VIBRATION_TOPIC", &topic)
            .env("WEIR_CHECKPOINT_INTERVAL", "200ms")
            .env("WEIR_KAFKA_IDLE_TIMEOUT", "1h")
            .stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };
    let mut child = start();
    let (lines, _t) = stderr_lines(&mut child);
    let mut log = String::new();
    let serving = wait_for_line(&lines, "serving on http://", &mut log);
    let http = serving.rsplit("http://").next().unwrap().trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let page = http_get(&http, "/metrics").unwrap_or_default();
        let n = metric(&page, "weir_records_in_total", "").unwrap_or(0.0) as u64
            + metric(&page, "weir_dead_letters_total", "reason=\"invalid").unwrap_or(0.0) as u64;
        if n >= half {
            break;
        }
        assert!(Instant::now() < deadline, "the first half was not read:\n{page}");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(800)); // checkpoints past the first half

    delete_topic(&addr, &topic);
    let said = wait_for_any(&lines, &["died of SIGSEGV", "no longer exists"], &mut log);
    if said.contains("SIGSEGV") {
        wait_for_line(&lines, "restarting from the last checkpoint", &mut log);
        wait_for_line(&lines, "resuming from checkpoint", &mut log);
        wait_for_line(&lines, &format!("topic `{topic}` does not exist on"), &mut log);
    }
    // SIGTERM reaches the job through its supervisor and stops it while it waits.
    let status = terminate(&mut child);
    assert!(
        status.success(),
        "SIGTERM while waiting for the topic → exit 0, got {status}\n{log}"
    );
    drop(lines);

    // The topic recreated with the same messages (same keys, same partitions, same offsets), then more.
    publish(&addr, &topic, &input, &["--key", "sensor_id"]);
    publish_sentinels(&addr, &topic, dir.path());
    let mut child = start();
    let (lines, _t) = stderr_lines(&mut child);
    wait_for_line(&lines, "resuming from checkpoint", &mut log);
    stop_and_compare_with_a_file_run(&mut child, &addr, &topic, dir.path(), &out, &alerts_file);
}

/// Deletes a topic with an admin client of the test's own.
fn delete_topic(brokers: &str, name: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap();
    for r in block_on(admin.delete_topics(&[name], &AdminOptions::new())).unwrap() {
        r.unwrap();
    }
}

/// Waits for a stderr line containing any of `needles`; returns it.
fn wait_for_any(lines: &std::sync::mpsc::Receiver<String>, needles: &[&str], log: &mut String) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let l = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no line with any of {needles:?} in:\n{log}"));
        log.push_str(&l);
        log.push('\n');
        if needles.iter().any(|n| l.contains(n)) {
            return l;
        }
    }
}

/// The Kafka vibration rollup with its alerts in a file (returned): a broker that forgets acknowledged
/// messages (memory storage) is rightly fatal for the idempotent alerts producer (OutOfOrderSequenceNumber),
/// and the tests using this are about the source.
fn rollup_job_with_file_alerts(dir: &Path, out: &Path) -> (PathBuf, PathBuf) {
    let text = std::fs::read_to_string(kafka_config("vibration-rollup.toml")).unwrap();
    let (head, rest) = text.split_once("[sinks.alerts]").unwrap();
    let (_, tail) = rest.split_once("[sinks.dead_letters]").unwrap();
    let alerts_file = out.join("alerts.jsonl");
    let job = dir.join("vibration-rollup.toml");
    std::fs::write(
        &job,
        format!(
            "{head}[sinks.alerts]\nkind = \"jsonl\"\ninputs = [\"exceeded\"]\npath = {:?}\n\n[sinks.dead_letters]{tail}",
            alerts_file.display().to_string()
        ),
    )
    .unwrap();
    (job, alerts_file)
}

/// One far-future reading per partition of `topic`: moves every partition's watermark past the data.
fn publish_sentinels(addr: &str, topic: &str, dir: &Path) {
    let sentinel = dir.join("sentinel.jsonl");
    std::fs::write(
        &sentinel,
        "{\"sensor_id\":\"zz-sentinel\",\"site\":\"none\",\"ts\":1900000000000,\"ppv_mm_s\":0.1,\"freq_hz\":1.0}\n",
    )
    .unwrap();
    for p in 0..4 {
        publish(addr, topic, &sentinel, &["--partition", &p.to_string()]);
    }
}

/// Waits for the rollups of [`rollup_job_with_file_alerts`] to be published, stops the job with SIGTERM
/// (exit 0), and compares its rollups and alerts with a file run of the topic's partitions (sentinels aside).
fn stop_and_compare_with_a_file_run(
    child: &mut Child,
    addr: &str,
    topic: &str,
    dir: &Path,
    out: &Path,
    alerts_file: &Path,
) {
    let dump = read_topic(addr, topic);
    let parts = partition_files(&dump, &dir.join("parts"));
    let job = file_job_over_partitions("vibration-rollup.toml", &parts, dir);
    let file_out = dir.join("file-run");
    ok(weir()
        .args(["run", job.to_str().unwrap(), "--quiet"])
        .env("WEIR_OUT", &file_out));
    let mut want = read_rollups(&file_out.join("vibration/rollups"));
    want.retain(|r| r.sensor_id != "zz-sentinel");
    let rollups = out.join("kafka/vibration/rollups");
    let deadline = Instant::now() + Duration::from_secs(60);
    while (!rollups.exists() || read_rollups(&rollups).len() < want.len()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = terminate(child);
    assert!(status.success(), "SIGTERM → exit 0, got {status}");
    assert_eq!(read_rollups(&rollups), want);
    assert_eq!(
        file_lines(alerts_file),
        file_lines(&file_out.join("vibration/alerts.jsonl"))
    );
}

#[test]
#[ignore = "needs a Kafka broker: set WEIR_KAFKA_BROKERS=host:port (tests/run.sh starts one)"]
fn alerts_that_cannot_be_delivered_stop_the_job_with_the_brokers_reason() {
    // The topic exists but stays empty until the alerts broker is gone.
    let (brokers, dir, input, source) = published_vibration(20, 2.0, 3, (0.0, 0.0), &["--limit", "0"]);
    // The alerts go to a broker of their own, which goes away once the job has started.
    let mut alerts_broker = OwnBroker::start(free_port());
    let mut cmd = kafka_job(
        "vibration-rollup.toml",
        &brokers,
        &[("WEIR_VIBRATION_TOPIC", &source), ("WEIR_ALERTS_TOPIC", "alerts")],
        &dir.path().join("out"),
        2,
    );
    cmd.args(["--set", &format!("sinks.alerts.brokers={}", alerts_broker.addr())])
        .args(["--set", "sinks.alerts.delivery_timeout=2s"])
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let (lines, _t) = stderr_lines(&mut child);
    let mut log = String::new();
    wait_for_line(&lines, "created topic `alerts`", &mut log);
    alerts_broker.kill();
    publish(&brokers, &source, &input, &["--key", "sensor_id"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the job kept running after losing alerts");
        std::thread::sleep(Duration::from_millis(100));
    };
    while let Ok(l) = lines.recv_timeout(Duration::from_secs(2)) {
        log.push_str(&l);
        log.push('\n');
    }
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("error: sink `alerts`: delivery to Kafka topic `alerts` failed"),
        "a clear reason:\n{log}"
    );
}

#[test]
#[ignore = "needs a Kafka broker: set WEIR_KAFKA_BROKERS=host:port (tests/run.sh starts one)"]
fn start_at_a_timestamp_reads_each_partition_from_its_first_message_at_or_after_it() {
    let (brokers, dir, _input, source) = published_vibration(8, 2.0, 4, (0.0, 0.0), &[]);
    let dump = read_topic(&brokers, &source);
    let ts = |r: &Record| -> i64 {
        let v: serde_json::Value = serde_json::from_str(r.value.as_deref().unwrap()).unwrap();
        v["ts"].as_i64().unwrap()
    };
    let all: Vec<i64> = dump.values().flatten().map(ts).collect();
    let start = all[all.len() / 2];
    // Kafka's offsets-for-times: per partition, everything from the first message stamped ≥ start.
    let want: usize = dump
        .values()
        .map(|rs| rs.iter().position(|r| ts(r) >= start).map_or(0, |i| rs.len() - i))
        .sum();
    assert!(want > 0 && want < all.len());
    let mut cmd = kafka_job(
        "vibration-rollup.toml",
        &brokers,
        &[
            ("WEIR_VIBRATION_TOPIC", &source),
            ("WEIR_ALERTS_TOPIC", &topic("alerts")),
        ],
        &dir.path().join("out"),
        2,
    );
    cmd.env("WEIR_KAFKA_STOP_AT_END", "true")
        .args(["--set", &format!("sources.vibration.start={start}")]);
    let out = ok(&mut cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(": {want} events read")),
        "want {want}:\n{stderr}"
    );
}

/// Runs `cmd` to its end, SIGKILLing it after `limit` (the test then fails with what it printed).
fn output_within(cmd: &mut Command, limit: Duration) -> std::process::Output {
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if rx.recv_timeout(limit).is_err() {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            return true;
        }
        false
    });
    let out = child.wait_with_output().unwrap();
    let _ = tx.send(());
    let killed = watchdog.join().unwrap();
    assert!(
        !killed,
        "still running after {limit:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A checkpoint whose alert-topic offsets no longer exist (the memory broker restarted: every topic is
/// gone) used to make the restored job wait forever and ignore SIGTERM. Now the run is refused at start with
/// the topic, partition and offsets and what to do; `--accept-topic-reset` goes on and says so.
#[test]
#[ignore = "needs a Kafka broker: set WEIR_KAFKA_BROKERS=host:port (tests/run.sh starts one)"]
fn a_checkpoint_beyond_a_recreated_topic_is_reported_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("vibration.jsonl");
    support::generate_vibration(&input, 20, 3.0, 9, 0.001, 0.0);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let out = dir.path().join("out");
    let topics = [("WEIR_VIBRATION_TOPIC", "vibration"), ("WEIR_ALERTS_TOPIC", "alerts")];
    let job = |extra: &[&str]| {
        let mut cmd = kafka_job("vibration-rollup.toml", &addr, &topics, &out, 2);
        cmd.env("WEIR_CHECKPOINT_INTERVAL", "200ms").args(extra);
        cmd
    };

    let mut broker = OwnBroker::start(port);
    publish(&addr, "vibration", &input, &["--key", "sensor_id"]);
    let mut first = job(&[]).stderr(Stdio::piped()).spawn().unwrap();
    let (lines, _t) = stderr_lines(&mut first);
    wait_for_line(&lines, "created topic `alerts`", &mut String::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    while read_topic(&addr, "alerts").values().all(Vec::is_empty) {
        assert!(Instant::now() < deadline, "no alerts were sent");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(600)); // a checkpoint after the alerts
    assert!(terminate(&mut first).success());
    drop(lines);

    broker.kill();
    let _broker = OwnBroker::start(port);
    publish(&addr, "vibration", &input, &["--key", "sensor_id"]);

    let started = Instant::now();
    let refused = output_within(&mut job(&[]), Duration::from_secs(90));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "refused at start, not after a wait"
    );
    assert!(
        err.contains("topic `alerts` partition")
            && err.contains("the partition ends at 0")
            && err.contains("--fresh")
            && err.contains("--accept-topic-reset"),
        "{err}"
    );

    let mut accepted = job(&["--accept-topic-reset"]);
    accepted.env("WEIR_KAFKA_STOP_AT_END", "true");
    let done = output_within(&mut accepted, Duration::from_secs(120));
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{err}");
    assert!(err.contains("--accept-topic-reset: reading partition"), "{err}");
}

/// Creates a compacted topic with `partitions` and writes `messages` (key, value or tombstone, timestamp).
fn compacted_topic(brokers: &str, name: &str, partitions: i32, messages: &[(&str, Option<String>, i64)]) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", brokers);
    let admin: AdminClient<DefaultClientContext> = cfg.create().unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1)).set("cleanup.policy", "compact");
    for r in block_on(admin.create_topics([&topic], &AdminOptions::new())).unwrap() {
        r.unwrap();
    }
    let producer: BaseProducer = cfg.create().unwrap();
    for (key, value, ts) in messages {
        let mut rec: BaseRecord<str, str> = BaseRecord::to(name).key(*key).timestamp(*ts);
        if let Some(v) = value {
            rec = rec.payload(v.as_str());
        }
        producer.send(rec).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

/// Runs a future to completion on this thread (the admin client's futures need no runtime).
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park_timeout(Duration::from_millis(50)),
        }
    }
}

#[test]
#[ignore = "needs a Kafka broker: set WEIR_KAFKA_BROKERS=host:port (tests/run.sh starts one)"]
fn a_compacted_topic_table_is_read_from_its_start_and_tombstones_delete_from_their_timestamp() {
    const START: i64 = 1_795_219_200_000;
    const MIN: i64 = 60_000;
    let brokers = brokers();
    let table_topic = topic("sensors-table");
    let row = |id: &str, zone: &str, limit: f64| {
        Some(serde_json::json!({"sensor_id": id, "zone": zone, "limit_ppv": limit}).to_string())
    };
    // Versions by message timestamp (the table has no version field).
    let messages = vec![
        ("vib-0000", row("vib-0000", "north", 1.0), START - 60 * MIN),
        ("vib-0001", row("vib-0001", "south", 1.5), START - 60 * MIN),
        ("vib-0002", row("vib-0002", "east", 2.0), START - 60 * MIN),
        ("vib-0001", row("vib-0001", "west", 0.9), START + 30 * MIN),
        ("vib-0002", None, START + 60 * MIN),
        ("vib-0003", Some("{not json".to_string()), START),
        ("vib-0000", row("vib-0000", "north-2", 1.1), START + 90 * MIN),
    ];
    compacted_topic(&brokers, &table_topic, 2, &messages);
    // The oracle: the newest valid message of the key at or before `ts` (a tombstone: no row).
    let versions = |sensor: &str, ts: i64| -> Option<(String, f64)> {
        let newest = messages
            .iter()
            .filter(|(k, v, t)| *k == sensor && *t <= ts && !v.as_deref().is_some_and(|v| v.contains("not json")))
            .max_by_key(|(_, _, t)| *t)?;
        let v: serde_json::Value = serde_json::from_str(newest.1.as_ref()?).unwrap();
        Some((
            v["zone"].as_str().unwrap().to_string(),
            v["limit_ppv"].as_f64().unwrap(),
        ))
    };

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("vibration.jsonl");
    support::generate_vibration(&input, 5, 2.0, 3, 0.0, 0.0);
    let job = dir.path().join("job.toml");
    std::fs::write(
        &job,
        format!(
            r#"[job]
name = "kafka-table"

[sources.vibration]
kind = "file"
path = "{input}"
max_out_of_orderness = "30s"
schema = "vibration"

[tables.sensors]
kind = "kafka"
brokers = "{brokers}"
topic = "{table_topic}"
interval = "200ms"
key = "sensor_id"
schema = {{ sensor_id = "string", zone = "string", limit_ppv = "float" }}

[operators.tagged]
kind = "join"
inputs = ["vibration", "sensors"]
on = "sensor_id"

[sinks.tagged]
kind = "jsonl"
inputs = ["tagged"]
path = "{out}"

[sinks.dead_letters]
kind = "jsonl"
path = "{dead}"
"#,
            input = input.display(),
            out = dir.path().join("tagged.jsonl").display(),
            dead = dir.path().join("dead.jsonl").display(),
        ),
    )
    .unwrap();
    let out = output_within(
        weir().arg("run").arg(&job).args(["--workers", "2", "--quiet"]),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tagged = read_jsonl(&dir.path().join("tagged.jsonl"));
    assert!(tagged.len() > 10_000);
    let mut deleted_seen = 0;
    for r in &tagged {
        let (s, ts) = (r["sensor_id"].as_str().unwrap(), r["ts"].as_i64().unwrap());
        let got = r["zone"]
            .as_str()
            .map(|z| (z.to_string(), r["limit_ppv"].as_f64().unwrap()));
        assert_eq!(got, versions(s, ts), "{s} at {ts}");
        if s == "vib-0002" && got.is_none() {
            deleted_seen += 1;
        }
    }
    assert!(
        deleted_seen > 100,
        "readings after the tombstone see no row ({deleted_seen})"
    );
    let dead = read_jsonl(&dir.path().join("dead.jsonl"));
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["source"], "sensors");
    assert!(dead[0]["raw"].as_str().unwrap().contains("not json"));
}

#[test]
#[ignore = "needs a Kafka broker: set WEIR_KAFKA_BROKERS=host:port (tests/run.sh starts one)"]
fn delivery_alerts_on_three_processes_of_two_workers_equal_one_process() {
    let brokers = brokers();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("locations.jsonl");
    ok(weir().args([
        "generate",
        "locations",
        "--orders",
        "600",
        "--hours",
        "3",
        "-o",
        input.to_str().unwrap(),
    ]));
    let source = topic("locations");
    publish(&brokers, &source, &input, &["--key", "order_id"]);

    let one = topic("alerts");
    run_to_end(kafka_job(
        "delivery-alerts.toml",
        &brokers,
        &[("WEIR_LOCATIONS_TOPIC", &source), ("WEIR_ALERTS_TOPIC", &one)],
        &dir.path().join("one"),
        1,
    ));

    let three = topic("alerts");
    let listeners: Vec<std::net::TcpListener> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let hosts = dir.path().join("hosts");
    let lines: Vec<String> = listeners.iter().map(|l| l.local_addr().unwrap().to_string()).collect();
    std::fs::write(&hosts, lines.join("\n")).unwrap();
    drop(listeners);
    let children: Vec<Child> = (0..3)
        .map(|i| {
            let mut cmd = kafka_job(
                "delivery-alerts.toml",
                &brokers,
                &[("WEIR_LOCATIONS_TOPIC", &source), ("WEIR_ALERTS_TOPIC", &three)],
                &dir.path().join("three"),
                2,
            );
            cmd.env("WEIR_KAFKA_STOP_AT_END", "true")
                .args(["--processes", "3", "--process", &i.to_string()])
                .arg("--hostfile")
                .arg(&hosts)
                .stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let outs: Vec<std::process::Output> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    for (i, out) in outs.iter().enumerate() {
        let all: Vec<String> = outs
            .iter()
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .collect();
        assert!(out.status.success(), "process {i}:\n{}", all.join("\n---\n"));
    }
    let (a, b) = (read_topic(&brokers, &one), read_topic(&brokers, &three));
    assert!(values(&a).iter().any(|v| v.contains("delivery_delayed")));
    assert_eq!(per_partition_values(&a), per_partition_values(&b));
    assert_eq!(
        std::fs::read(dir.path().join("one/kafka/delivery/dead_letters.jsonl")).unwrap(),
        std::fs::read(dir.path().join("three/kafka/delivery/dead_letters.jsonl")).unwrap()
    );
}

/// Trap 2: a job that runs until stopped and has no checkpoints used to keep its JSONL output in
/// `PATH.inprogress` until it stopped (an empty alerts file for as long as it ran). Its alerts now reach
/// `PATH` as they are written. The file job is switched to Kafka with one `--set` of a whole section (trap 4).
#[test]
#[ignore = "needs a Kafka broker: set WEIR_KAFKA_BROKERS=host:port (tests/run.sh starts one)"]
fn a_live_job_without_checkpoints_shows_its_alerts_as_it_goes() {
    let (brokers, dir, _input, source) = published_vibration(20, 2.0, 5, (0.0, 0.0), &[]);
    let out = dir.path().join("out");
    let kafka = format!(
        "sources.vibration={{ kind = \"kafka\", brokers = \"{brokers}\", topic = \"{source}\", start = \"earliest\", \
         event_time = \"ts\", max_out_of_orderness = \"30s\", schema = \"vibration\" }}"
    );
    let mut child = weir()
        .arg("run")
        .arg(repo_root().join("config/vibration-rollup.toml"))
        .args(["--quiet", "--set", &kafka])
        .env("WEIR_OUT", &out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (_lines, _t) = stderr_lines(&mut child);
    let alerts = out.join("vibration/alerts.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    let seen = loop {
        let n = std::fs::read_to_string(&alerts).map(|t| t.lines().count()).unwrap_or(0);
        if n > 0 {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "no alert reached {} while the job ran",
            alerts.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(child.try_wait().unwrap().is_none(), "the job runs until stopped");
    let status = terminate(&mut child);
    assert!(status.success(), "SIGTERM → exit 0, got {status}");
    assert!(file_lines(&alerts).len() >= seen);
}
