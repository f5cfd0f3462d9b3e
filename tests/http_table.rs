//! A `kind = "http"` table against a real HTTP server on a free 127.0.0.1 port (a thread of the test): its
//! versioned rows — served as a JSON array or as JSON lines, with the request's `authorization` header
//! checked — are joined with each ping as of the ping's event time, agreeing with an independent oracle; a
//! row that does not fit is a dead letter with its index in the answer; and polls that fail (503) are
//! reported while the versions already read keep serving the join.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use support::*;

const START: i64 = 1_795_219_200_000;
const MINUTE: i64 = 60_000;

/// What the server answers: status, content type, body; and the requests it saw (their authorization).
#[derive(Default)]
struct Api {
    answers: Vec<(u16, &'static str, String)>,
    seen: Vec<String>,
}

/// Serves `GET /sites` from `api`: the first answer, then the next one each time (the last repeats).
fn serve(api: Arc<Mutex<Api>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut auth = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("authorization:") {
                    auth = v.trim().to_string();
                }
            }
            let (status, ty, body) = {
                let mut api = api.lock().unwrap();
                api.seen.push(auth);
                if api.answers.len() > 1 {
                    api.answers.remove(0)
                } else {
                    api.answers[0].clone()
                }
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: {ty}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// Sites s0..s3: each a zone from the start, s0 and s2 moving at minute 20 + 10·i; plus a row without its
/// zone (a dead letter: the zone is required).
fn sites() -> (Vec<(String, String, i64)>, Vec<String>) {
    let mut versions = Vec::new();
    for i in 0..4i64 {
        versions.push((format!("s{i}"), format!("zone-{i}"), 0));
        if i % 2 == 0 {
            versions.push((
                format!("s{i}"),
                format!("zone-{i}-moved"),
                START + (20 + 10 * i) * MINUTE,
            ));
        }
    }
    let mut rows: Vec<String> = versions
        .iter()
        .map(|(site, zone, since)| serde_json::json!({"site_id": site, "zone": zone, "since": since}).to_string())
        .collect();
    rows.push(r#"{"site_id":"s9","since":0}"#.into());
    (versions, rows)
}

fn pings(path: &Path) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut text = String::new();
    for k in 0..2_000i64 {
        let site = format!("s{}", k % 5);
        let ts = START + k * 3_000;
        text.push_str(&format!("{{\"site_id\":\"{site}\",\"ts\":{ts}}}\n"));
        out.push((site, ts));
    }
    std::fs::write(path, text).unwrap();
    out
}

fn job(dir: &Path, addr: &str) -> std::path::PathBuf {
    let text = format!(
        r#"[job]
name = "http-table"

[sources.pings]
kind = "file"
path = "{input}"
schema = {{ site_id = "string", ts = "int" }}

[tables.sites]
kind = "http"
url = "http://{addr}/sites"
headers = {{ authorization = "Bearer ${{SITES_TOKEN}}" }}
interval = "100ms"
key = "site_id"
version = "since"
schema = {{ site_id = "string", zone = "string", since = "timestamp" }}

[operators.tagged]
kind = "join"
inputs = ["pings", "sites"]
on = "site_id"
fields = ["zone"]

[sinks.tagged]
kind = "jsonl"
inputs = ["tagged"]
path = "${{OUT}}/tagged.jsonl"

[sinks.dead_letters]
kind = "jsonl"
path = "${{OUT}}/dead_letters.jsonl"
"#,
        input = dir.join("pings.jsonl").display()
    );
    let path = dir.join("job.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(job: &Path, out: &Path, extra: &[&str]) -> String {
    let done = ok(weir()
        .arg("run")
        .arg(job)
        .args(["--workers", "2"])
        .args(extra)
        .env("SITES_TOKEN", "t0ken")
        .env("OUT", out));
    String::from_utf8_lossy(&done.stderr).into_owned()
}

#[test]
fn rows_polled_from_a_web_api_are_joined_as_of_each_event_time_and_failed_polls_keep_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pings = pings(&dir.join("pings.jsonl"));
    let (versions, rows) = sites();
    let array = format!("[{}]", rows.join(","));
    let api = Arc::new(Mutex::new(Api {
        answers: vec![(200, "application/json", array.clone())],
        ..Api::default()
    }));
    let job = job(dir, &serve(api.clone()));

    let first = dir.join("array");
    run(&job, &first, &[]);
    assert!(api.lock().unwrap().seen.iter().all(|a| a == "bearer t0ken"));
    let tagged = read_jsonl(&first.join("tagged.jsonl"));
    assert_eq!(tagged.len(), pings.len());
    for (t, (site, ts)) in tagged.iter().zip(&pings) {
        let want = versions
            .iter()
            .filter(|(s, _, since)| s == site && since <= ts)
            .max_by_key(|v| v.2)
            .map(|v| v.1.as_str());
        assert_eq!(
            (t["site_id"].as_str(), t["ts"].as_i64()),
            (Some(site.as_str()), Some(*ts))
        );
        assert_eq!(t["zone"].as_str(), want, "{t}");
    }
    assert!(tagged.iter().any(|t| t["zone"] == "zone-2-moved"));
    let dead = read_jsonl(&first.join("dead_letters.jsonl"));
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(
        (dead[0]["source"].as_str(), dead[0]["offset"].as_i64()),
        (Some("sites"), Some(7))
    );

    // The same rows as JSON lines; then answers that fail after the first: the same output, the failures said.
    let lines = rows.join("\n") + "\n";
    api.lock().unwrap().answers = vec![(200, "application/x-ndjson", lines)];
    run(&job, &dir.join("lines"), &[]);
    // The start-up check and the first read get rows (at most four requests); every later poll fails.
    let mut failing = vec![(200, "application/json", array); 4];
    failing.push((503, "text/plain", "busy".to_string()));
    api.lock().unwrap().answers = failing;
    let stderr = run(&job, &dir.join("failing"), &["--set", "sources.pings.rate=2000"]);
    assert!(
        stderr.contains("table `sites`: GET http://") && stderr.contains("status 503"),
        "{stderr}"
    );
    for out in ["lines", "failing"] {
        for file in ["tagged.jsonl", "dead_letters.jsonl"] {
            assert_eq!(
                std::fs::read(first.join(file)).unwrap(),
                std::fs::read(dir.join(out).join(file)).unwrap(),
                "{out}/{file}"
            );
        }
    }
}
