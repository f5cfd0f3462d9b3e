//! The reference job `config/courier-ingest.toml` end to end, as its README section runs it: pings POSTed over
//! HTTP and published over MQTT (a real mosquitto), the last location of each courier served over HTTP, every
//! ping archived to a Delta table (read back by delta-rs), each courier's 15-minute stats upserted into a real
//! PostgreSQL; a malformed ping is a dead letter. And `idle_timeout`: with only one of its two sources fed, the
//! job's windows still close once the quiet source has been idle that long.

#[path = "support/http.rs"]
mod http_support;
#[path = "support/mosquitto.rs"]
mod mosquitto;
#[path = "support/postgres.rs"]
mod postgres_server;
mod support;

use http_support::{get, get_text, post, Server};
use mosquitto::Mosquitto;
use postgres_server::Postgres;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use support::weir;

/// 2026-11-21T08:00:00Z, a quarter-hour boundary.
const BASE: i64 = 1_795_219_200_000;
const COURIERS: i64 = 10;
/// One ping per courier every 30 s for 40 minutes.
const STEPS: i64 = 80;

fn ping(courier: i64, step: i64) -> serde_json::Value {
    serde_json::json!({
        "courier": format!("c{courier}"),
        "ts": BASE + step * 30_000,
        "lat": 52.5 + courier as f64 / 100.0,
        "lon": 13.4 + step as f64 / 1000.0,
        "speed_kmh": ((courier * 7 + step * 3) % 40) as f64 + 0.5,
    })
}

/// `weir run config/courier-ingest.toml` against these servers, writing under `dir`, once it serves.
fn start(dir: &Path, pg: &Postgres, broker: &Mosquitto, idle: &str, sets: &[&str]) -> Server {
    let mut cmd = weir();
    cmd.arg("run")
        .arg(support::repo_root().join("config/courier-ingest.toml"))
        .args(["--quiet", "--set", "job.checkpoint.interval=300ms"])
        .args(sets)
        .env("PG_URL", pg.url())
        .env("WEIR_MQTT_URL", broker.url())
        .env("WEIR_OUT", dir.join("out"))
        .env("WEIR_CHECKPOINTS", dir.join("ck"))
        .env("WEIR_LISTEN", "127.0.0.1:0")
        .env("WEIR_IDLE_TIMEOUT", idle);
    let server = Server::spawn(cmd);
    let deadline = Instant::now() + Duration::from_secs(30);
    while post(&server.addr, "/v1/ingest/posted", JSON, b"[]").unwrap().status != 200 {
        assert!(Instant::now() < deadline, "the HTTP source never took requests");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

const JSON: &str = "Content-Type: application/json\r\n";

/// Waits until `done` holds, polling.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `courier_stats` as (courier, window start ms) → (pings, mean, max).
fn stats(pg: &Postgres) -> BTreeMap<(String, i64), (i64, f64, f64)> {
    let mut db = pg.client();
    let exists = db
        .query_one("SELECT to_regclass('courier_stats') IS NOT NULL", &[])
        .unwrap()
        .get::<_, bool>(0);
    if !exists {
        return BTreeMap::new();
    }
    db.query(
        "SELECT courier, (extract(epoch from window_start) * 1000)::bigint, pings, speed_mean, speed_max \
         FROM courier_stats WHERE courier <> 'probe'",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3), r.get(4))))
    .collect()
}

#[test]
#[ignore = "needs mosquitto and PostgreSQL (tests/run.sh sets WEIR_MOSQUITTO and WEIR_PG_BIN)"]
fn pings_posted_and_published_reach_the_view_the_delta_archive_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start();
    let broker = Mosquitto::start(dir.path());
    // Results from the records alone: no source is idle within the test.
    let server = start(dir.path(), &pg, &broker, "1h", &[]);

    // weir's MQTT session subscribes as the job starts: a probe ping published until the source has read one
    // (its next offset in /metrics) says it is there (the broker keeps nothing for a session not made yet).
    let mut publisher = broker.publisher("fleet/probe/pings", 1);
    let probe = serde_json::json!({"courier": "probe", "ts": BASE - 60_000, "lat": 0.0, "lon": 0.0, "speed_kmh": 0.0});
    wait_for("the MQTT subscription", || {
        publisher.send(&probe.to_string());
        std::thread::sleep(Duration::from_millis(200));
        get_text(&server.addr, "/metrics")
            .lines()
            .any(|l| l.starts_with("weir_kafka_next_offset{source=\"published\"") && !l.ends_with(" 0"))
    });
    publisher.finish();

    // Couriers c0–c4 POST batches (one with a malformed line); c5–c9 publish, one message per ping.
    let mut publisher = broker.publisher("fleet/batch/pings", 1);
    for step in 0..STEPS {
        let posted: Vec<String> = (0..COURIERS / 2).map(|c| ping(c, step).to_string()).collect();
        let mut body = posted.join("\n");
        if step == 40 {
            body += "\n{\"courier\": \"c0\", broken";
        }
        let headers = format!("Content-Type: application/x-ndjson\r\nIdempotency-Key: step-{step}\r\n");
        let answer = post(&server.addr, "/v1/ingest/posted", &headers, body.as_bytes()).unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
        for c in COURIERS / 2..COURIERS {
            publisher.send(&ping(c, step).to_string());
        }
    }
    // A retried batch is answered as before and appends nothing.
    let again = post(
        &server.addr,
        "/v1/ingest/posted",
        "Content-Type: application/x-ndjson\r\nIdempotency-Key: step-3\r\n",
        ping(0, 3).to_string().as_bytes(),
    )
    .unwrap();
    assert_eq!(again.status, 200);

    // The view shows each courier's latest ping the watermark (newest ping − 30 s, over both sources) has
    // passed: its last or the one before (the publisher stays open until weir has read its messages).
    let last_ts = BASE + (STEPS - 2) * 30_000;
    let mut seen = Vec::new();
    wait_for("the view to hold every courier's latest ping", || {
        seen = (0..COURIERS)
            .map(|c| get(&server.addr, &format!("/v1/views/couriers/c{c}")))
            .collect();
        seen.iter()
            .all(|(status, got)| *status == 200 && got["ts"].as_i64() >= Some(last_ts))
    });
    publisher.finish();
    let (_, c7) = get(&server.addr, "/v1/views/couriers/c7");
    let step = (c7["ts"].as_i64().unwrap() - BASE) / 30_000;
    let mut want = ping(7, step);
    want["key"] = "c7".into();
    assert_eq!(c7, want);

    // Windows the watermark (last ping − 30 s) passed: [08:00, 08:15) and [08:15, 08:30), for every courier.
    let check_stats = |windows: i64| {
        let mut expected = BTreeMap::new();
        for c in 0..COURIERS {
            for w in 0..windows {
                let speeds: Vec<f64> = (w * 30..(w * 30 + 30).min(STEPS))
                    .map(|s| ping(c, s)["speed_kmh"].as_f64().unwrap())
                    .collect();
                let mean = speeds.iter().sum::<f64>() / speeds.len() as f64;
                let max = speeds.iter().cloned().fold(f64::MIN, f64::max);
                expected.insert((format!("c{c}"), BASE + w * 900_000), (speeds.len() as i64, mean, max));
            }
        }
        wait_for("PostgreSQL to hold the closed windows' stats", || {
            stats(&pg).len() >= expected.len()
        });
        let got = stats(&pg);
        assert_eq!(got.len(), expected.len(), "{got:?}");
        for (k, (n, mean, max)) in &expected {
            let (gn, gmean, gmax) = got[k];
            assert_eq!(gn, *n, "{k:?}");
            assert!((gmean - mean).abs() < 1e-9 && gmax == *max, "{k:?}: {:?}", got[k]);
        }
    };
    check_stats(2);

    // A ping past 09:00:30 on each source closes the hour: the archive's files of 08:00–09:00 roll, and the
    // third window's stats are upserted.
    let closing =
        serde_json::json!({"courier": "probe", "ts": BASE + 3_631_000, "lat": 0.0, "lon": 0.0, "speed_kmh": 0.0});
    let answer = post(&server.addr, "/v1/ingest/posted", JSON, closing.to_string().as_bytes()).unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let mut publisher = broker.publisher("fleet/probe/pings", 1);
    publisher.send(&closing.to_string());
    check_stats(3);
    publisher.finish();

    assert!(server.terminate().success());
    // The Delta archive has every ping once (the final checkpoint committed the last files).
    let script = r#"
import sys
from deltalake import DeltaTable
rows = [r for r in DeltaTable(sys.argv[1]).to_pyarrow_table().to_pylist() if r["courier"] != "probe"]
print(len(rows), len(set((r["courier"], r["ts"]) for r in rows)))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(dir.path().join("out/courier-ingest/pings"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if support::have_python_module("deltalake") {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let n = COURIERS * STEPS;
        assert_eq!(text.trim(), format!("{n} {n}"));
    }
    let dead = std::fs::read_to_string(dir.path().join("out/courier-ingest/dead_letters.jsonl")).unwrap();
    assert_eq!(dead.lines().count(), 1, "{dead}");
    assert!(
        dead.contains("broken") && dead.contains("\"source\":\"posted\""),
        "{dead}"
    );
}

#[test]
#[ignore = "needs mosquitto and PostgreSQL (tests/run.sh sets WEIR_MOSQUITTO and WEIR_PG_BIN)"]
fn with_only_http_fed_the_idle_mqtt_source_does_not_hold_the_windows_back() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start();
    let broker = Mosquitto::start(dir.path());
    let sets = [
        "--set",
        "operators.stats.window.size=2s",
        "--set",
        "sources.posted.max_out_of_orderness=1s",
        "--set",
        "sources.published.max_out_of_orderness=1s",
    ];
    let server = start(dir.path(), &pg, &broker, "1s", &sets);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let body = serde_json::json!([{"courier": "c1", "ts": now, "lat": 52.5, "lon": 13.4, "speed_kmh": 12.5}]);
    let answer = post(&server.addr, "/v1/ingest/posted", JSON, body.to_string().as_bytes()).unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    // Nothing was ever published: the MQTT source is idle, and its watermark follows the wall clock.
    wait_for("the window of the one ping to reach PostgreSQL", || {
        !stats(&pg).is_empty()
    });
    let got = stats(&pg);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[&("c1".to_string(), now - now.rem_euclid(2_000))], (1, 12.5, 12.5));
    assert!(server.terminate().success());
}
