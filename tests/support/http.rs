//! HTTP helpers of the end-to-end tests: a `weir run` serving on a free port (its address read from stderr,
//! its stderr kept for assertions) and a minimal HTTP/1.1 client over a plain socket.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A minimal HTTP/1.1 GET: (status, JSON body).
/// Waits until `/healthz` says the job at `addr` has caught up with its inputs, polling every `every`.
pub fn wait_caught_up(addr: &str, every: std::time::Duration) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while get(addr, "/healthz").1["caught_up"] != true {
        assert!(std::time::Instant::now() < deadline, "never caught up");
        std::thread::sleep(every);
    }
}

pub fn get(addr: &str, path: &str) -> (u16, serde_json::Value) {
    get_with(addr, path, "")
}

/// A GET with extra header lines (each ending in `\r\n`): (status, JSON body).
pub fn get_with(addr: &str, path: &str, headers: &str) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("bad response: {raw}"));
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: body {body:?}: {e}"));
    (status, body)
}

/// The status of a GET, or the I/O error that kept it from being answered.
pub fn try_status(addr: &str, path: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    raw.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {raw:?}")))
}

/// The whole raw response (status line, headers, body) to `GET path` — for text such as `/metrics`.
pub fn get_text(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw
}

/// A running `weir run` with `[serve]`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
    /// Every stderr line so far.
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// `weir run JOB SETS… --set serve.listen=127.0.0.1:0 --quiet`, once it serves.
    pub fn start(job: &std::path::Path, sets: &[String]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
        cmd.arg("run")
            .arg(job)
            .args(["--set", "serve.listen=127.0.0.1:0"])
            .args(sets)
            .arg("--quiet");
        Server::spawn(cmd)
    }

    /// Spawns `cmd` (a `weir run` of a job that serves) and waits for its address.
    pub fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let addr = loop {
            let line = lines.next().expect("weir exited before serving").unwrap();
            stderr.lock().unwrap().push(line.clone());
            if let Some(a) = line.strip_prefix("serving on http://") {
                break a.to_string();
            }
        };
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                log.lock().unwrap().push(line);
            }
        });
        Server { child, addr, stderr }
    }

    pub fn terminate(mut self) -> std::process::ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "weir did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// A response to [`post`]: status, `Retry-After` if any, body.
#[derive(Debug)]
pub struct Posted {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

/// A minimal HTTP/1.1 POST of `body` with extra header lines (each ending in `\r\n`).
pub fn post(addr: &str, path: &str, headers: &str, body: &[u8]) -> std::io::Result<Posted> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    read_response(s)
}

/// Sends only the head of a POST whose `Content-Length` is `length`, and reads the answer (one given
/// before any of the body is read).
pub fn post_head(addr: &str, path: &str, length: u64) -> std::io::Result<Posted> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\
         Connection: close\r\n\r\n"
    )?;
    read_response(s)
}

fn read_response(mut s: TcpStream) -> std::io::Result<Posted> {
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("bad response: {raw:?}")))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {raw:?}")))?;
    let retry_after = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("retry-after:")
            .map(|v| v.trim().to_string())
    });
    Ok(Posted {
        status,
        retry_after,
        body: body.to_string(),
    })
}
