//! The webhook alert sink against a local HTTP server started by the test: delivery with headers, a retry
//! after a 500, and dead letters (with the HTTP error) when the endpoint keeps failing — never a lost alert.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use support::*;

#[derive(Default)]
struct Received {
    /// (status answered, authorization header, body)
    requests: Vec<(u16, String, String)>,
}

/// Answers each POST with `statuses[i]` (the last one repeating).
fn endpoint(statuses: Vec<u16>) -> (String, Arc<Mutex<Received>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let received = Arc::new(Mutex::new(Received::default()));
    let log = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut len, mut auth) = (0usize, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if lower.starts_with("authorization:") {
                    auth = line["authorization:".len()..].trim().to_string();
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let mut r = log.lock().unwrap();
            let status = statuses[r.requests.len().min(statuses.len() - 1)];
            r.requests.push((status, auth, String::from_utf8(body).unwrap()));
            drop(r);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (addr, received)
}

fn job_with_webhook(dir: &std::path::Path, addr: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo_root().join("config/delivery-alerts.toml")).unwrap()
        + &format!(
            "\n[sinks.oncall]\nkind = \"webhook\"\ninputs = [\"delayed\", \"silent\"]\nurl = \"http://{addr}/alerts\"\nheaders = {{ authorization = \"Bearer s3cret\" }}\ntimeout = \"2s\"\nretries = 2\nbackoff = \"10ms\"\n"
        );
    let path = dir.join("job.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn input(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("locations.jsonl");
    ok(weir()
        .args([
            "generate",
            "locations",
            "--orders",
            "60",
            "--hours",
            "2",
            "--seed",
            "3",
            "--bad-frac",
            "0",
            "-o",
        ])
        .arg(&path));
    path
}

fn run(job: &std::path::Path, input: &std::path::Path, out: &std::path::Path) {
    ok(weir()
        .arg("run")
        .arg(job)
        .arg("--set")
        .arg(format!("sources.locations.path={}", input.display()))
        .arg("--set")
        .arg(format!("sinks.alerts.path={}", out.join("alerts.jsonl").display()))
        .arg("--set")
        .arg(format!(
            "sinks.dead_letters.path={}",
            out.join("dead_letters.jsonl").display()
        ))
        .arg("--quiet"));
}

#[test]
fn delivers_alerts_and_retries_after_a_server_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (addr, received) = endpoint(vec![500, 200]);
    let out = tmp.path().join("out");
    run(&job_with_webhook(tmp.path(), &addr), &input(tmp.path()), &out);
    let alerts: Vec<String> = std::fs::read_to_string(out.join("alerts.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert!(alerts.len() >= 3, "the input raises alerts");
    let r = received.lock().unwrap();
    assert_eq!(r.requests[0].0, 500);
    assert_eq!(r.requests[1].2, r.requests[0].2, "the failed alert is retried");
    let delivered: Vec<String> = r.requests.iter().filter(|q| q.0 == 200).map(|q| q.2.clone()).collect();
    assert_eq!(delivered, alerts, "every alert delivered once, in order");
    assert!(r.requests.iter().all(|q| q.1 == "Bearer s3cret"));
    let dead = std::fs::read_to_string(out.join("dead_letters.jsonl")).unwrap();
    assert!(!dead.contains("\"source\":\"oncall\""), "nothing failed for good");
}

#[test]
fn undeliverable_alerts_become_dead_letters_with_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (addr, received) = endpoint(vec![500]);
    let out = tmp.path().join("out");
    run(&job_with_webhook(tmp.path(), &addr), &input(tmp.path()), &out);
    let alerts: Vec<String> = std::fs::read_to_string(out.join("alerts.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let dead: Vec<serde_json::Value> = read_jsonl(&out.join("dead_letters.jsonl"))
        .into_iter()
        .filter(|d| d["source"] == "oncall")
        .collect();
    assert_eq!(dead.len(), alerts.len(), "every undelivered alert is a dead letter");
    for (d, a) in dead.iter().zip(&alerts) {
        assert_eq!(d["raw"].as_str().unwrap(), a);
        assert!(d["reason"].as_str().unwrap().contains("HTTP 500"), "{d}");
    }
    // Retries for the first alerts, then one attempt each once the endpoint is known to be down.
    let n = received.lock().unwrap().requests.len();
    assert!(
        n >= alerts.len() && n <= alerts.len() + 6,
        "{n} requests for {} alerts",
        alerts.len()
    );
}
