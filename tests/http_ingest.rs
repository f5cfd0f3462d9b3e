//! HTTP ingest (`kind = "http"` sources, DESIGN §11) end to end through the real binary and real sockets:
//! what a request is answered (200 only once durable, 401, 413, 503 + Retry-After, the first answer again
//! for a known `Idempotency-Key`), malformed records as dead letters with their log offsets, and every
//! acknowledged record in the output exactly once through SIGKILLs while a client posts with retries.

#[path = "support/crash.rs"]
mod crash;
#[path = "support/http.rs"]
mod http;
mod support;

use http::{post, post_head, Server};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{jsonl_so_far, weir};

/// A job: records POSTed to `pings`, passed through to a JSONL file, counted per courier per 10 s, dead
/// letters to a file of their own.
fn write_job(dir: &Path, source_extra: &str, serve_extra: &str) -> std::path::PathBuf {
    let job = dir.join("job.toml");
    let text = format!(
        r#"
[job]
name = "courier-pings"
dead_letters = "dead"
[job.checkpoint]
dir = "{ck}"
interval = "300ms"
[serve]
listen = "127.0.0.1:0"
{serve_extra}
[sources.pings]
kind = "http"
max_out_of_orderness = "5s"
schema = {{ id = "int", courier = "string", ts = "timestamp" }}
{source_extra}
[operators.per_courier]
kind = "window"
inputs = ["pings"]
window = {{ kind = "tumbling", size = "10s" }}
key = ["courier"]
aggregates = {{ pings = "count" }}
[sinks.raw]
kind = "jsonl"
path = "{out}/raw.jsonl"
inputs = ["pings"]
[sinks.counts]
kind = "jsonl"
path = "{out}/counts.jsonl"
inputs = ["per_courier"]
[sinks.dead]
kind = "jsonl"
path = "{out}/dead.jsonl"
inputs = ["pings.dead_letters", "per_courier.late"]
"#,
        ck = dir.join("ck").display(),
        out = dir.join("out").display(),
    );
    std::fs::write(&job, text).unwrap();
    job
}

/// The ids in the job's raw output, in output order.
fn raw_ids(dir: &Path) -> Vec<u64> {
    jsonl_so_far(&dir.join("out/raw.jsonl"))
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect()
}

fn record(id: u64) -> String {
    format!(r#"{{"id":{id},"courier":"c{}","ts":{}}}"#, id % 5, 1_000_000 + id * 100)
}

const JSON: &str = "Content-Type: application/json\r\n";

#[test]
fn requests_are_answered_as_documented_and_malformed_records_become_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "max_log_bytes = \"256KiB\"\nmax_body_bytes = \"64KiB\"",
        "token = \"s3cret\"",
    );
    // Checkpoints far apart: nothing frees the log, so it fills.
    let server = Server::start(&job, &["--set".into(), "job.checkpoint.interval=1h".into()]);
    let addr = server.addr.clone();
    let auth = "Authorization: Bearer s3cret\r\n";
    wait_ready(&addr, auth);

    let wrong = post(&addr, "/v1/ingest/pings", "Authorization: Bearer nope\r\n", b"{}").unwrap();
    assert_eq!(wrong.status, 401, "{wrong:?}");
    let unknown = post(&addr, "/v1/ingest/nope", auth, b"{}").unwrap();
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("pings"), "{unknown:?}");
    let huge = post_head(&addr, "/v1/ingest/pings", 50 << 20).unwrap();
    assert_eq!(huge.status, 401, "the token is checked before anything else");

    // An array, then JSON lines with a malformed line, then a retry of the same key.
    let body = format!("[{},{}]", record(0), record(1));
    let first = post(&addr, "/v1/ingest/pings", &format!("{auth}{JSON}"), body.as_bytes()).unwrap();
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&first.body).unwrap(),
        serde_json::json!({"accepted": 2, "first_offset": 0})
    );
    let ndjson = format!("{}\n{{\"id\": oops\n\n{}\n", record(2), record(3));
    let headers = format!("{auth}Content-Type: application/x-ndjson\r\nIdempotency-Key: batch-7\r\n");
    let second = post(&addr, "/v1/ingest/pings", &headers, ndjson.as_bytes()).unwrap();
    let again = post(&addr, "/v1/ingest/pings", &headers, ndjson.as_bytes()).unwrap();
    assert_eq!(second.status, 200);
    assert_eq!(second.body, again.body, "a known Idempotency-Key gets the first answer");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&second.body).unwrap(),
        serde_json::json!({"accepted": 3, "first_offset": 2})
    );
    let csv = post(
        &addr,
        "/v1/ingest/pings",
        &format!("{auth}Content-Type: text/csv\r\n"),
        b"a,b",
    )
    .unwrap();
    assert_eq!(csv.status, 400);

    // Over max_body_bytes: 413, read or not.
    let over = post(
        &addr,
        "/v1/ingest/pings",
        &format!("{auth}{JSON}"),
        &vec![b' '; 70 << 10],
    )
    .unwrap();
    assert_eq!(over.status, 413, "{over:?}");

    // Fill the log: 503 with Retry-After, and nothing of the refused request is taken.
    let batch: String = format!("[{}]", (10..500).map(record).collect::<Vec<_>>().join(","));
    let mut accepted = 5;
    let full = loop {
        let r = post(&addr, "/v1/ingest/pings", &format!("{auth}{JSON}"), batch.as_bytes()).unwrap();
        if r.status != 200 {
            break r;
        }
        accepted += 490;
        assert!(accepted < 100_000, "the log never filled");
    };
    assert_eq!(full.status, 503, "{full:?}");
    assert_eq!(full.retry_after.as_deref(), Some("1"));
    assert!(full.body.contains("max_log_bytes"), "{full:?}");

    assert!(server.terminate().success());
    let dead = jsonl_so_far(&dir.path().join("out/dead.jsonl"));
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["offset"], 3, "the malformed line's log offset");
    assert_eq!(dead[0]["raw"], "{\"id\": oops");
    assert_eq!(dead[0]["source"], "pings");
    // A stop leaves the newest records for the next run; everything read so far is once in the output.
    let raw = jsonl_so_far(&dir.path().join("out/raw.jsonl"));
    let ids: Vec<u64> = raw.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert!(ids.starts_with(&[0, 1, 2, 3]), "{:?}", &ids[..ids.len().min(8)]);
    let mut sorted = ids.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "no record twice");
}

#[test]
fn a_job_with_an_http_source_needs_serve_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.toml");
    std::fs::write(
        &job,
        r#"
[sources.pings]
kind = "http"
schema = { id = "int", ts = "timestamp" }
[sinks.out]
kind = "stdout"
inputs = ["pings"]
"#,
    )
    .unwrap();
    let out = weir().arg("check").arg(&job).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("sources.pings") && err.contains("[job.checkpoint]"),
        "{err}"
    );
    assert!(err.contains("/v1/ingest/pings") && err.contains("[serve]"), "{err}");
}

/// Waits until the source takes requests (it answers 503 while the job starts).
fn wait_ready(addr: &str, headers: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while post(addr, "/v1/ingest/pings", headers, b"[]").unwrap().status != 200 {
        assert!(Instant::now() < deadline, "the source never took requests");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Posts batches `0..batches` of `per_batch` records, each with its own Idempotency-Key, retrying each until
/// it is answered 200 (through refused connections while weir is down, and 503s while it starts).
fn post_all(addr: &str, batches: u64, per_batch: u64) -> u64 {
    let mut retries = 0;
    for b in 0..batches {
        let body = format!(
            "[{}]",
            (b * per_batch..(b + 1) * per_batch)
                .map(record)
                .collect::<Vec<_>>()
                .join(",")
        );
        let headers = format!("{JSON}Idempotency-Key: batch-{b}\r\n");
        loop {
            match post(addr, "/v1/ingest/pings", &headers, body.as_bytes()) {
                Ok(r) if r.status == 200 => {
                    let answer: serde_json::Value = serde_json::from_str(&r.body).unwrap();
                    assert_eq!(answer["accepted"], per_batch);
                    // Spread over the kills.
                    std::thread::sleep(Duration::from_millis(6));
                    break;
                }
                _ => {
                    retries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
    retries
}

#[test]
fn acknowledged_records_are_in_the_output_exactly_once_through_sigkills() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "", "");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let start = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
        cmd.arg("run")
            .arg(&job)
            .args(["--set", &format!("serve.listen={addr}"), "--quiet"]);
        Server::spawn(cmd)
    };
    let (batches, per_batch) = (600, 40);
    let poster = {
        let addr = addr.clone();
        std::thread::spawn(move || post_all(&addr, batches, per_batch))
    };
    let mut rng = crash::Lcg::new(0x1ce);
    let mut kills = 0;
    let mut server = start();
    while kills < 6 {
        std::thread::sleep(rng.millis(150, 500));
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        kills += 1;
        server = start();
    }
    let retries = poster.join().unwrap();
    eprintln!("{kills} SIGKILLs; the client retried {retries} times");
    assert!(retries > 0, "no request met a killed server");
    // A last record far ahead moves the watermark past everything else, so a stop leaves nothing behind.
    let last = format!(r#"{{"id":999999,"courier":"end","ts":{}}}"#, 1_000_000 + 3_600_000);
    while post(&addr, "/v1/ingest/pings", JSON, last.as_bytes())
        .map(|r| r.status)
        .ok()
        != Some(200)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let total = batches * per_batch;
    let raw_path = dir.path().join("out/raw.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    while jsonl_so_far(&raw_path).len() < total as usize {
        assert!(Instant::now() < deadline, "the output never had every record");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(server.terminate().success());

    let raw = jsonl_so_far(&raw_path);
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    for r in &raw {
        *seen.entry(r["id"].as_u64().unwrap()).or_default() += 1;
    }
    seen.remove(&999_999);
    assert_eq!(seen.len() as u64, total, "every acknowledged record is there");
    assert!(seen.values().all(|n| *n == 1), "no record twice");
    // The counts: the oracle, from what was posted.
    let mut expected: BTreeMap<(String, i64), u64> = BTreeMap::new();
    for id in 0..total {
        let ts = 1_000_000 + id as i64 * 100;
        *expected.entry((format!("c{}", id % 5), ts - ts % 10_000)).or_default() += 1;
    }
    let mut got: BTreeMap<(String, i64), u64> = BTreeMap::new();
    for c in jsonl_so_far(&dir.path().join("out/counts.jsonl")) {
        let key = (
            c["courier"].as_str().unwrap().to_string(),
            c["window_start"].as_i64().unwrap(),
        );
        assert!(
            got.insert(key, c["pings"].as_u64().unwrap()).is_none(),
            "a window twice: {c}"
        );
    }
    assert_eq!(got, expected);
    assert!(jsonl_so_far(&dir.path().join("out/dead.jsonl")).is_empty());
}

#[test]
fn segments_every_kept_checkpoint_is_past_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    // Segments of 64 KiB (an eighth of max_log_bytes, at least 64 KiB).
    let job = write_job(dir.path(), "max_log_bytes = \"512KiB\"", "");
    let server = Server::start(&job, &[]);
    wait_ready(&server.addr, "");
    let log_dir = dir.path().join("ck/ingest/pings");
    let first_segment = log_dir.join(format!("p0-{:020}.seg", 0));
    // More than the log holds at once: it takes them as checkpoints let it delete its oldest segments.
    let retries = post_all(&server.addr, 400, 40);
    eprintln!("{retries} requests were refused while the log was full");
    let deadline = Instant::now() + Duration::from_secs(30);
    while first_segment.exists() {
        assert!(Instant::now() < deadline, "the first segment was never deleted");
        std::thread::sleep(Duration::from_millis(100));
    }
    let bytes: u64 = std::fs::read_dir(&log_dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(bytes <= 512 << 10, "the log holds {bytes} bytes");
    assert!(server.terminate().success());
    let ids: Vec<u64> = jsonl_so_far(&dir.path().join("out/raw.jsonl"))
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert!(
        ids.len() > 10_000 && ids.windows(2).all(|w| w[0] < w[1]),
        "{} records",
        ids.len()
    );
}

/// A cluster may grow but not shrink while its sources keep ingest logs: a log of a process the new run would
/// not have holds acknowledged records nobody would read, so the run is refused, naming it.
#[test]
fn a_run_with_fewer_processes_than_the_ingest_logs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "", "");
    let server = Server::start(&job, &[]);
    wait_ready(&server.addr, "");
    let answer = post(&server.addr, "/v1/ingest/pings", JSON, record(1).as_bytes()).unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(server.terminate().success());
    // What a second process of an earlier cluster run left beside this process's log (one shared volume).
    let log_dir = dir.path().join("ck/ingest/pings");
    let segment = log_dir.join(format!("p0-{:020}.seg", 0));
    std::fs::copy(&segment, log_dir.join(format!("p1-{:020}.seg", 0))).unwrap();
    let out = weir().arg("run").arg(&job).arg("--quiet").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("the ingest log of process 1") && err.contains("run with at least 2 processes"),
        "{err}"
    );
}

/// Records acknowledged after a quiet spell that spans checkpoints, a stop and a restart are all in the output
/// once: the restored run must not count them as already in its checkpoint. (A wall-clock idle rule that lifted
/// the watermark while the log was quiet once lost the first record after such a restart.)
#[test]
fn records_after_a_quiet_spell_and_a_restart_are_all_in_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "", "");
    let mut next = 0;
    for _run in 0..3 {
        let server = Server::start(&job, &[]);
        wait_ready(&server.addr, "");
        for _ in 0..3 {
            next += 1;
            let answer = post(&server.addr, "/v1/ingest/pings", JSON, record(next).as_bytes()).unwrap();
            assert_eq!(answer.status, 200, "{}", answer.body);
        }
        // Quiet for several checkpoint intervals.
        std::thread::sleep(Duration::from_millis(1_200));
        assert!(server.terminate().success());
    }
    assert_eq!(raw_ids(dir.path()), (1..=next).collect::<Vec<_>>());
}

/// With `idle_timeout`, a quiet log's watermark follows the wall clock through ticks the source appends to
/// its own log: a minute-old window closes while nothing is posted. Ticks are replayed on restore, so records
/// acknowledged after quiet spells and restarts are all in the output once (the same scenario that lost a
/// record when the wall-clock floor was kept only in memory), and later runs' minute-old records are late.
#[test]
fn with_idle_timeout_a_quiet_log_closes_windows_and_restarts_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "idle_timeout = \"300ms\"", "");
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let counts = dir.path().join("out/counts.jsonl");
    let mut next = 0;
    for run in 0..3 {
        let server = Server::start(&job, &[]);
        wait_ready(&server.addr, "");
        let ts = now_ms() - 60_000;
        for _ in 0..3 {
            next += 1;
            let body = format!(r#"{{"id":{next},"courier":"c{}","ts":{ts}}}"#, next % 5);
            let answer = post(&server.addr, "/v1/ingest/pings", JSON, body.as_bytes()).unwrap();
            assert_eq!(answer.status, 200, "{}", answer.body);
        }
        if run == 0 {
            let deadline = Instant::now() + Duration::from_secs(20);
            while jsonl_so_far(&counts).is_empty() {
                assert!(Instant::now() < deadline, "no window closed while the log was quiet");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        std::thread::sleep(Duration::from_millis(1_200));
        assert!(server.terminate().success());
    }
    assert_eq!(raw_ids(dir.path()), (1..=next).collect::<Vec<_>>());
    let counted: u64 = jsonl_so_far(&counts).iter().map(|r| r["pings"].as_u64().unwrap()).sum();
    assert_eq!(counted, 3, "only the first run's records were on time");
    let late = jsonl_so_far(&dir.path().join("out/dead.jsonl")).len();
    assert_eq!(late, 6, "the later runs' records are late for their closed windows");
}
