//! The webhook alert sink against a local HTTP server started by the test: delivery with headers, a retry
//! after a 500, and dead letters (with the HTTP error) when the endpoint keeps failing or redirects — never a
//! lost alert; an endpoint that never answers neither holds back the other sinks nor a stop.

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
            let location = if (300..400).contains(&status) {
                "location: https://example.invalid/alerts\r\n"
            } else {
                ""
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\n{location}content-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (addr, received)
}

/// Accepts connections and never answers them.
fn hanging_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.extend(stream.ok());
        }
    });
    addr
}

fn job_with_webhook(dir: &std::path::Path, addr: &str) -> std::path::PathBuf {
    job_with_webhook_options(dir, addr, "timeout = \"2s\"\nretries = 2\nbackoff = \"10ms\"\n")
}

fn job_with_webhook_options(dir: &std::path::Path, addr: &str, options: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo_root().join("config/delivery-alerts.toml")).unwrap()
        + &format!(
            "\n[sinks.oncall]\nkind = \"webhook\"\ninputs = [\"delayed\", \"silent\"]\nurl = \"http://{addr}/alerts\"\nheaders = {{ authorization = \"Bearer s3cret\" }}\n{options}"
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
    ok(&mut run_command(job, input, out));
}

fn run_command(job: &std::path::Path, input: &std::path::Path, out: &std::path::Path) -> std::process::Command {
    let mut cmd = weir();
    cmd.arg("run")
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
        .arg("--quiet");
    cmd
}

/// A run of delivery-alerts whose webhook never answers (60 s timeout, no retries, `stop_grace`), and
/// where it writes.
fn hanging_run(dir: &std::path::Path, stop_grace: &str) -> (std::process::Command, std::path::PathBuf) {
    let options = format!("timeout = \"60s\"\nretries = 0\nstop_grace = \"{stop_grace}\"\n");
    let job = job_with_webhook_options(dir, &hanging_endpoint(), &options);
    let out = dir.join("out");
    (run_command(&job, &input(dir), &out), out)
}

/// Waits (at most 30 s) until `path` exists.
fn wait_for_file(path: &std::path::Path) {
    let started = std::time::Instant::now();
    while !path.exists() {
        assert!(started.elapsed().as_secs() < 30, "{} never appeared", path.display());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Waits (at most 20 s) for a signalled child to exit.
fn wait_for_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let stopping = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(stopping.elapsed().as_secs() < 20, "the signal did not end the job");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
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

#[test]
fn a_redirect_is_not_a_delivery() {
    let tmp = tempfile::tempdir().unwrap();
    let (addr, received) = endpoint(vec![302]);
    let out = tmp.path().join("out");
    run(&job_with_webhook(tmp.path(), &addr), &input(tmp.path()), &out);
    let alerts = lines(&out.join("alerts.jsonl"));
    assert!(!alerts.is_empty());
    let dead: Vec<serde_json::Value> = read_jsonl(&out.join("dead_letters.jsonl"))
        .into_iter()
        .filter(|d| d["source"] == "oncall")
        .collect();
    assert_eq!(dead.len(), alerts.len(), "a redirected alert is a dead letter");
    for d in &dead {
        let reason = d["reason"].as_str().unwrap();
        assert!(
            reason.contains("HTTP 302") && reason.contains("https://example.invalid/alerts"),
            "{reason}"
        );
    }
    let r = received.lock().unwrap();
    assert!(r.requests.iter().all(|q| q.0 == 302), "the redirect was not followed");
}

#[test]
fn a_hanging_endpoint_holds_back_neither_the_other_sinks_nor_a_stop() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut cmd, out) = hanging_run(tmp.path(), "1s");
    let mut child = cmd.spawn().unwrap();
    let alerts_path = out.join("alerts.jsonl");
    wait_for_file(&alerts_path);
    assert!(child.try_wait().unwrap().is_none(), "the webhook is still waiting");
    let alerts = lines(&alerts_path);
    assert!(
        alerts.len() >= 3,
        "the JSONL sink wrote every alert while the webhook hung"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = wait_for_exit(&mut child);
    assert!(status.success(), "{status:?}");
    let dead: Vec<String> = read_jsonl(&out.join("dead_letters.jsonl"))
        .into_iter()
        .filter(|d| d["source"] == "oncall")
        .map(|d| {
            assert!(d["reason"].as_str().unwrap().contains("stop grace period"), "{d}");
            d["raw"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(dead, alerts, "every undelivered alert is a dead letter, in order");
}

/// Whatever holds a stopping job up (here a webhook given a minute of stop grace), the process ends within
/// `--stop-timeout` of the signal, saying so, with a non-zero status.
#[test]
fn a_stop_that_takes_too_long_ends_at_the_stop_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut cmd, out) = hanging_run(tmp.path(), "60s");
    let mut child = cmd
        .args(["--stop-timeout", "2s"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let alerts_path = out.join("alerts.jsonl");
    wait_for_file(&alerts_path);
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let stopping = std::time::Instant::now();
    let status = wait_for_exit(&mut child);
    assert!(stopping.elapsed() >= std::time::Duration::from_secs(2));
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("did not stop within 2s"), "{err}");
}

/// The job watermark (ms) of the checkpoint a run says it resumes from.
fn resumed_watermark(stderr: &str) -> i64 {
    let at = stderr
        .split("(job watermark ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or_else(|| panic!("not resumed: {stderr}"));
    chrono::DateTime::parse_from_rfc3339(at.trim())
        .unwrap()
        .timestamp_millis()
}

/// Review B2: an endpoint that accepts connections but never answers held the webhook's capability at its
/// oldest alert, so no checkpoint could be cut past it (and the other sinks' publication waited on it). Now
/// checkpoints go on past unanswered alerts, holding them as pending; a run restored after a SIGKILL sends
/// them first, then the rest, so a healthy endpoint gets every alert exactly once, in order.
#[test]
fn a_hanging_endpoint_holds_back_no_checkpoint_and_a_restore_delivers_what_it_held() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let (healthy, received) = endpoint(vec![200]);
    let reference = tmp.path().join("reference");
    std::fs::create_dir_all(&reference).unwrap();
    run(&job_with_webhook(&reference, &healthy), &input, &reference);
    let expected: Vec<String> = received.lock().unwrap().requests.drain(..).map(|r| r.2).collect();
    assert!(expected.len() >= 3, "{expected:?}");
    let first_alert = read_jsonl(&reference.join("alerts.jsonl"))[0]["event_time"]
        .as_i64()
        .unwrap();

    let options = "timeout = \"60s\"\nretries = 0\n";
    let job = job_with_webhook_options(tmp.path(), &hanging_endpoint(), options);
    let (out, ckpt) = (tmp.path().join("out"), tmp.path().join("ckpt"));
    let checkpointed = |cmd: &mut std::process::Command| {
        cmd.args(["--set", &format!("job.checkpoint.dir={}", ckpt.display())])
            .args(["--set", "job.checkpoint.interval=100ms"]);
    };
    let mut hanging = run_command(&job, &input, &out);
    checkpointed(&mut hanging);
    let mut child = hanging.args(["--set", "sources.locations.rate=5000"]).spawn().unwrap();
    wait_for_file(&out.join("alerts.jsonl"));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: kill(2) on the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();

    // The restored run talks to a healthy endpoint (the url is not part of the checkpoint).
    let job = job_with_webhook(tmp.path(), &healthy);
    let mut restored = run_command(&job, &input, &out);
    checkpointed(&mut restored);
    let o = restored.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        resumed_watermark(&err) > first_alert,
        "a checkpoint was cut past the first (never answered) alert: {err}"
    );
    let got: Vec<String> = received.lock().unwrap().requests.iter().map(|r| r.2.clone()).collect();
    assert_eq!(got, expected);
    assert_eq!(lines(&out.join("alerts.jsonl")), lines(&reference.join("alerts.jsonl")));
}

/// A child process killed when dropped, so a failing test leaves no server behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An HTTPS endpoint (Python's `ssl`, a self-signed leaf certificate for 127.0.0.1 made with `openssl`) that
/// appends each POST body as a line to `bodies`: its address, the certificate (PEM) and the server process.
fn https_endpoint(dir: &std::path::Path, bodies: &std::path::Path) -> (String, std::path::PathBuf, KillOnDrop) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        // A leaf, not a CA: webpki refuses a CA certificate as the server's own (CaUsedAsEndEntity).
        .args([
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (the Debian package) makes the test certificate");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let server = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        with open(sys.argv[3], "ab") as f:
            f.write(body + b"\n")
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", server])
        .arg(&cert)
        .arg(&key)
        .arg(bodies)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = KillOnDrop(child);
    let mut port = String::new();
    BufReader::new(stdout).read_line(&mut port).unwrap();
    (format!("127.0.0.1:{}", port.trim()), cert, server)
}

/// Trap 5: Slack, Teams, PagerDuty and Opsgenie want bodies of their own, over https. A `body` template
/// shapes each alert (fields JSON-escaped, `{{alert}}` whole); an https endpoint with a certificate of a
/// private CA is reached with `ca_file`, and without it every alert is a dead letter saying why. A template
/// naming a field the alerts lack is a `weir check` problem.
#[test]
fn a_body_template_reaches_an_https_endpoint_verified_with_ca_file() {
    let tmp = tempfile::tempdir().unwrap();
    let bodies = tmp.path().join("bodies.txt");
    let (addr, cert, _server) = https_endpoint(tmp.path(), &bodies);
    let template = r#"body = '{"text":"{{kind}} for order {{order_id}}","alert":{{alert}}}'"#;
    let job_for = |options: &str| {
        let job = job_with_webhook_options(tmp.path(), &addr, options);
        let text = std::fs::read_to_string(&job).unwrap().replace("http://", "https://");
        std::fs::write(&job, text).unwrap();
        job
    };
    let out = tmp.path().join("out");
    let input = input(tmp.path());
    run(
        &job_for(&format!("{template}\nca_file = \"{}\"\n", cert.display())),
        &input,
        &out,
    );
    let alerts = lines(&out.join("alerts.jsonl"));
    assert!(alerts.len() >= 3);
    let got: Vec<serde_json::Value> = lines(&bodies)
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(got.len(), alerts.len());
    for (body, alert) in got.iter().zip(&alerts) {
        let alert: serde_json::Value = serde_json::from_str(alert).unwrap();
        assert_eq!(body["alert"], alert);
        let text = format!(
            "{} for order {}",
            alert["kind"].as_str().unwrap(),
            alert["order_id"].as_str().unwrap()
        );
        assert_eq!(body["text"], text.as_str());
    }

    // Without ca_file the self-signed endpoint is not trusted: every alert is a dead letter saying so.
    let untrusted = tmp.path().join("untrusted");
    run(&job_for(&format!("{template}\nretries = 0\n")), &input, &untrusted);
    let dead: Vec<serde_json::Value> = read_jsonl(&untrusted.join("dead_letters.jsonl"))
        .into_iter()
        .filter(|d| d["source"] == "oncall")
        .collect();
    assert_eq!(dead.len(), alerts.len());
    assert!(
        dead.iter()
            .all(|d| d["reason"].as_str().unwrap().to_lowercase().contains("certificate")),
        "{dead:?}"
    );
    assert_eq!(lines(&bodies).len(), alerts.len(), "nothing more reached the endpoint");

    let check = weir()
        .arg("check")
        .arg(job_for(r#"body = '{"text":"{{knid}}"}'"#))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(
        !check.status.success() && err.contains("`{{knid}}` is not a field of the alerts"),
        "{err}"
    );
}
