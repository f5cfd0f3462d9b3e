//! Benchmark: HTTP ingest (`kind = "http"` source) over loopback, every answer given only after the ingest
//! log's `fsync` (group commit). Two figures, each over `WEIR_BENCH_REPEAT` rounds (medians):
//!
//! - **throughput**: 4 keep-alive connections in a closed loop posting batches of 500 records for 4 s;
//!   records acknowledged per second (target ≥ 200 k/s);
//! - **acknowledgement latency**: single-record requests paced at 10 k req/s (open loop, timed from each
//!   request's due time, so a slow answer also charges the requests queued behind it) over 64 keep-alive
//!   connections for 3 s; p50/p99 (target p99 < 20 ms), once with the client at default priority and once at
//!   real-time priority, alternating (as `http_lookups` does: on 2 shared cores the client's own wake-ups
//!   are part of what it measures; the real-time client stands in for a client on another machine).
//!
//! The job reads the log into a `null` sink, so the dataflow's reading is part of what the cores do.
//!
//!   cargo bench -p weir-benches --bench http_ingest

use anyhow::{bail, Result};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};
use weir_benches::*;

const BATCH: usize = 500;

/// One keep-alive POST of `body`; gives whether it was answered 200.
fn post(s: &mut TcpStream, buf: &mut Vec<u8>, body: &[u8]) -> Result<bool> {
    write!(
        s,
        "POST /v1/ingest/pings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut got = 0;
    loop {
        if got == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let k = s.read(&mut buf[got..])?;
        if k == 0 {
            bail!("connection closed");
        }
        got += k;
        let text = &buf[..got];
        if let Some(h) = text.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&text[..h]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                .unwrap_or(0);
            if got >= h + 4 + len {
                return Ok(head.starts_with("http/1.1 200"));
            }
        }
    }
}

fn record(i: u64) -> String {
    format!(
        r#"{{"courier":"c{}","ts":{},"lat":{:.5},"lon":{:.5}}}"#,
        i % 1000,
        1_795_219_200_000 + i as i64,
        52.0 + (i % 997) as f64 / 1e4,
        13.0 + (i % 991) as f64 / 1e4
    )
}

/// Records acknowledged per second by `connections` closed-loop clients posting batches for `seconds`.
fn throughput(addr: &str, connections: usize, seconds: f64) -> Result<f64> {
    let started = Instant::now();
    let handles: Vec<_> = (0..connections)
        .map(|c| {
            let addr = addr.to_string();
            std::thread::spawn(move || -> Result<u64> {
                let mut s = TcpStream::connect(&addr)?;
                s.set_nodelay(true)?;
                let mut buf = vec![0u8; 4096];
                let mut acked = 0u64;
                let mut i = c as u64 * 1_000_000_000;
                let deadline = Instant::now() + Duration::from_secs_f64(seconds);
                while Instant::now() < deadline {
                    let body = format!("[{}]", (i..i + BATCH as u64).map(record).collect::<Vec<_>>().join(","));
                    i += BATCH as u64;
                    if post(&mut s, &mut buf, body.as_bytes())? {
                        acked += BATCH as u64;
                    }
                }
                Ok(acked)
            })
        })
        .collect();
    let mut acked = 0;
    for h in handles {
        acked += h.join().expect("client thread")?;
    }
    Ok(acked as f64 / started.elapsed().as_secs_f64())
}

/// Acknowledgement latencies (µs) of single-record requests paced at `rate` over `connections`; with
/// `realtime` the client threads run at real-time priority (a short time slice where that is refused), so
/// their own wait for one of the 2 shared cores is not what is measured (a real client runs elsewhere).
fn paced(addr: &str, rate: f64, seconds: f64, connections: usize, realtime: bool) -> Result<(Vec<u64>, usize)> {
    let per_conn = rate / connections as f64;
    let handles: Vec<_> = (0..connections)
        .map(|c| {
            let addr = addr.to_string();
            std::thread::spawn(move || -> Result<(Vec<u64>, usize)> {
                if realtime && !weir_engine::prefer_realtime() {
                    weir_engine::prefer_latency();
                }
                let mut s = TcpStream::connect(&addr)?;
                s.set_nodelay(true)?;
                let mut buf = vec![0u8; 4096];
                let (mut lat, mut failed) = (Vec::new(), 0);
                let start = Instant::now() + Duration::from_micros(c as u64 * 997 % 10_000);
                for i in 0..(per_conn * seconds) as u64 {
                    let due = start + Duration::from_secs_f64(i as f64 / per_conn);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    if !post(&mut s, &mut buf, record(c as u64 * 1_000_000 + i).as_bytes())? {
                        failed += 1;
                    }
                    lat.push(due.elapsed().as_micros() as u64);
                }
                Ok((lat, failed))
            })
        })
        .collect();
    let (mut all, mut failed) = (Vec::new(), 0);
    for h in handles {
        let (l, f) = h.join().expect("client thread")?;
        all.extend(l);
        failed += f;
    }
    all.sort_unstable();
    Ok((all, failed))
}

fn start_job(weir: &std::path::Path, dir: &std::path::Path) -> Result<(Child, String)> {
    let _ = std::fs::remove_dir_all(dir.join("ck"));
    let job = dir.join("job.toml");
    std::fs::write(
        &job,
        format!(
            r#"[job]
name = "ingest-bench"
[job.checkpoint]
dir = "{}/ck"
interval = "10s"
[serve]
listen = "127.0.0.1:0"
[sources.pings]
kind = "http"
schema = {{ courier = "string", ts = "timestamp", lat = "float", lon = "float" }}
[sinks.discard]
kind = "null"
inputs = ["pings"]
[sinks.dead_letters]
kind = "null"
inputs = ["pings.dead_letters"]
"#,
            dir.display()
        ),
    )?;
    let (child, addr) = run_serving(weir, &job)?;
    // Ready once the source takes requests.
    let mut s = TcpStream::connect(&addr)?;
    let mut buf = vec![0u8; 4096];
    while !post(&mut s, &mut buf, b"[]")? {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((child, addr))
}

fn main() -> Result<()> {
    let weir = build_weir()?;
    let repeat = repeats();
    let dir = std::env::temp_dir().join(format!("weir-bench-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut rates = Vec::new();
    // Per client kind (default priority, real-time): p50 and p99 of every round, in µs.
    let mut latencies: [(Vec<u64>, Vec<u64>); 2] = Default::default();
    for round in 0..repeat {
        let (mut child, addr) = start_job(&weir, &dir)?;
        let rate = throughput(&addr, 4, 4.0)?;
        println!("round {round}: batches of {BATCH}: {rate:.0} records/s acknowledged");
        rates.push(rate);
        for (kind, realtime) in [("default-priority", false), ("real-time", true)] {
            let (lat, failed) = paced(&addr, 10_000.0, 3.0, 64, realtime)?;
            let q = |p: f64| lat[((p * lat.len() as f64) as usize).min(lat.len() - 1)];
            println!(
                "round {round}: single records at 10 k req/s, {kind} client: {} requests, p50 {} us, p99 {} us, \
                 max {} us, non-200 {failed}",
                lat.len(),
                q(0.5),
                q(0.99),
                lat[lat.len() - 1]
            );
            let slot = &mut latencies[realtime as usize];
            slot.0.push(q(0.5));
            slot.1.push(q(0.99));
        }
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        child.wait()?;
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "median of {repeat}: {:.0} records/s acknowledged in batches of {BATCH} (target ≥ 200 000)",
        rates[rates.len() / 2]
    );
    for (kind, (mut p50, mut p99)) in ["default-priority", "real-time"].into_iter().zip(latencies) {
        p50.sort_unstable();
        p99.sort_unstable();
        println!(
            "median of {repeat}: single records at 10 k req/s, {kind} client: p50 {:.1} ms, p99 {:.1} ms (target p99 \
             < 20 ms)",
            p50[p50.len() / 2] as f64 / 1000.0,
            p99[p99.len() / 2] as f64 / 1000.0
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
