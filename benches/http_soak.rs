//! Soak: the last-location job's HTTP API under 10 k requests/s of mixed good and bad requests (point lookups
//! that hit and miss, lists, unknown views, bad limits, and malformed requests on fresh connections) while
//! 1000 idle connections are held open, for 60 s. Every 10 s it prints the interval's latency percentiles,
//! the job's open file descriptors and RSS; at the end it checks that the API still answers, that no more
//! descriptors are open than at the start, and that RSS grew by at most 10 % (+4 MiB) over the second half
//! (exit status 1 if not).
//!
//!   cargo bench -p weir-benches --bench http_soak            # SOAK_SECONDS=60 by default

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weir_benches::*;

const RATE: f64 = 10_000.0;
const CONNECTIONS: usize = 4;
const IDLE: usize = 1000;

/// The request of number `i`: mostly lookups, some misses, lists and client errors (all keep-alive safe).
fn request(i: u64) -> String {
    let path = match i % 20 {
        0 => "/v1/views/orders/o-9999999".to_string(),  // 404
        1 => "/v1/views/nope/x".to_string(),            // 404, unknown view
        2 => "/v1/views/orders?limit=lots".to_string(), // 400
        3 => "/v1/views/deliverers?limit=5".to_string(),
        4 => "/healthz".to_string(),
        _ => format!("/v1/views/orders/o-{:07}", (i * 7919) % 60_000),
    };
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

/// Reads one response; its status.
fn response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<u16> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let k = s.read(&mut chunk)?;
        if k == 0 {
            bail!("connection closed");
        }
        buf.extend_from_slice(&chunk[..k]);
        if let Some(h) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..h]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                .unwrap_or(0);
            if buf.len() >= h + 4 + len {
                return Ok(head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0));
            }
        }
    }
}

/// (open descriptors, RSS in KiB) of process `pid`.
fn usage(pid: u32) -> (usize, u64) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0);
    (fds, rss)
}

/// Raises this process's descriptor limit to its hard limit (children inherit it): 1000 idle connections do
/// not fit the usual soft limit of 1024 once the load connections are added.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn main() -> Result<()> {
    raise_fd_limit();
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let weir = build_weir()?;
    let input = locations_workload(&weir)?;
    let out = std::env::temp_dir().join(format!("weir-bench-soak-{}", std::process::id()));
    let mut child = Command::new(&weir)
        .arg("run")
        .arg(repo_root().join("config/last-location.toml"))
        .arg("--set")
        .arg(format!("sources.locations.path={}", input.display()))
        .args([
            "--set",
            "serve.listen=127.0.0.1:0",
            "--set",
            "serve.idle_timeout=10m",
            "--quiet",
        ])
        .arg("--set")
        .arg(format!(
            "sinks.changelog.path={}",
            out.join("changelog.jsonl").display()
        ))
        .arg("--set")
        .arg(format!(
            "sinks.dead_letters.path={}",
            out.join("dead_letters.jsonl").display()
        ))
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let Some(line) = lines.next() else {
            bail!("weir exited before serving")
        };
        if let Some(a) = line?.strip_prefix("serving on http://") {
            break a.to_string();
        }
    };
    let caught_up = loop {
        let Some(line) = lines.next() else {
            bail!("weir exited before its input ended")
        };
        let line = line?;
        if line.starts_with("done in") {
            break line;
        }
    };
    std::thread::spawn(move || for _ in lines {});
    println!("last-location on http://{addr} ({caught_up})");

    let idle: Vec<TcpStream> = (0..IDLE).map(|_| TcpStream::connect(&addr)).collect::<Result<_, _>>()?;
    std::thread::sleep(Duration::from_millis(500));
    let start_usage = usage(pid);
    println!(
        "{IDLE} idle connections held; weir: {} fds, {} KiB RSS",
        start_usage.0, start_usage.1
    );

    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let statuses = Arc::new(Mutex::new(std::collections::BTreeMap::<u16, u64>::new()));
    let failures = Arc::new(AtomicU64::new(0));
    let per_conn = RATE / CONNECTIONS as f64;
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let (addr, stop, latencies, statuses, failures) = (
                addr.clone(),
                stop.clone(),
                latencies.clone(),
                statuses.clone(),
                failures.clone(),
            );
            std::thread::spawn(move || {
                let mut s = None;
                let mut buf = Vec::new();
                let begin = Instant::now();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let due = begin + Duration::from_secs_f64(i as f64 / per_conn);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let conn = match s.as_mut() {
                        Some(conn) => conn,
                        None => match TcpStream::connect(&addr) {
                            Ok(conn) => s.insert(conn),
                            Err(_) => {
                                failures.fetch_add(1, Ordering::Relaxed);
                                i += 1;
                                continue;
                            }
                        },
                    };
                    let sent = conn.write_all(request(i * CONNECTIONS as u64 + c as u64).as_bytes());
                    match sent.map_err(anyhow::Error::from).and_then(|_| response(conn, &mut buf)) {
                        Ok(status) => {
                            *statuses.lock().unwrap().entry(status).or_default() += 1;
                            latencies.lock().unwrap().push(due.elapsed().as_micros() as u64);
                        }
                        Err(_) => {
                            failures.fetch_add(1, Ordering::Relaxed);
                            s = None;
                        }
                    }
                    i += 1;
                }
            })
        })
        .collect();
    // Malformed requests on fresh connections, 50 per second.
    let garbage = {
        let (addr, stop) = (addr.clone(), stop.clone());
        std::thread::spawn(move || {
            let bad: [&[u8]; 4] = [
                b"\x16\x03\x01 not http\r\n\r\n",
                b"GET\r\n\r\n",
                b"GET / HTTP/9.9\r\n\r\n",
                b"G",
            ];
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(mut s) = TcpStream::connect(&addr) {
                    let _ = s.write_all(bad[i % bad.len()]);
                    let _ = s.shutdown(std::net::Shutdown::Write);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let _ = s.read(&mut [0u8; 512]);
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let mut samples = Vec::new();
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(10).min(Duration::from_secs(seconds) - began.elapsed()));
        let mut lat = std::mem::take(&mut *latencies.lock().unwrap());
        lat.sort_unstable();
        let q = |p: f64| {
            lat.get(((p * lat.len() as f64) as usize).min(lat.len().saturating_sub(1)))
                .copied()
        };
        let (fds, rss) = usage(pid);
        println!(
            "{:>4.0} s: {} requests | p50 {:?} us | p99 {:?} us | max {:?} us | weir {fds} fds, {rss} KiB RSS",
            began.elapsed().as_secs_f64(),
            lat.len(),
            q(0.5).unwrap_or(0),
            q(0.99).unwrap_or(0),
            lat.last().copied().unwrap_or(0)
        );
        samples.push((q(0.99).unwrap_or(0), fds, rss));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.join();
    }
    let _ = garbage.join();
    let answers = TcpStream::connect(&addr)
        .and_then(|mut s| {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
            let mut r = String::new();
            s.read_to_string(&mut r)?;
            Ok(r.starts_with("HTTP/1.1 200"))
        })
        .unwrap_or(false);
    let end_usage = usage(pid);
    drop(idle);
    println!(
        "statuses {:?}; client-side failures {}; /healthz after the soak answers: {answers}",
        statuses.lock().unwrap(),
        failures.load(Ordering::Relaxed)
    );
    // Memory is compared over the second half: the first seconds warm the allocator's per-thread caches.
    let (mid, last) = (
        samples.get(samples.len() / 2).context("no samples")?,
        samples.last().unwrap(),
    );
    let fds_flat = end_usage.0 <= start_usage.0 + CONNECTIONS + 8;
    let rss_flat = last.2 <= mid.2 + mid.2 / 10 + 4 * 1024;
    println!(
        "fds {} → {} ({}); RSS {} → {} KiB over the second half ({})",
        start_usage.0,
        end_usage.0,
        if fds_flat { "flat" } else { "GREW" },
        mid.2,
        last.2,
        if rss_flat { "flat" } else { "GREW" }
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait()?;
    let _ = std::fs::remove_dir_all(&out);
    if !(answers && fds_flat && rss_flat) {
        bail!("the soak found a problem (see above)");
    }
    Ok(())
}
