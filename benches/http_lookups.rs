//! Benchmark: HTTP point lookups against the live last-location job while it ingests the shared locations
//! workload, and again once it has caught up — requests/s and latency percentiles from `wrk` (Debian package
//! `wrk`) and from a paced client at 10 k req/s, keys spread over all orders. The job runs twice: with the
//! default `[serve]` settings and with `realtime_reads = true`.
//!
//! The paced client shares the machine's cores with the job, so its own wake-ups are part of what it
//! measures. It runs alternately at default priority and at real-time priority (`SCHED_FIFO`, where the
//! bench may; otherwise a short time slice): the second stands in for a client on another machine, which
//! would not wait behind the job's workers for a core. Target 4 is read from that line.
//!
//!   cargo bench -p weir-benches --bench http_lookups

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use weir_benches::*;

const SCRIPT: &str = r#"
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", string.format("/v1/views/orders/o-%07d", (counter * 7919) % 60000))
end
"#;

fn wrk(addr: &str, script: &std::path::Path, label: &str) -> Result<()> {
    let out = Command::new("wrk")
        .args(["-t2", "-c32", "-d8s", "--latency", "-s"])
        .arg(script)
        .arg(format!("http://{addr}"))
        .output()
        .context("wrk is not installed: apt-get install wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let pick = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .map(|l| l.trim().to_string())
            .unwrap_or_default()
    };
    println!(
        "{label}: {} | p50 {} | p90 {} | p99 {} | {}",
        pick("Requests/sec"),
        pick("50%"),
        pick("90%"),
        pick("99%"),
        pick("Non-2xx").trim()
    );
    Ok(())
}

/// The client side of a paced run: each request's latency in µs, and how many were not 200.
#[derive(Default)]
struct Latencies {
    micros: Vec<u64>,
    non_200: usize,
}

/// Open loop at a fixed total rate over keep-alive connections: each request is timed from its scheduled
/// send time, so a slow response also charges the requests queued behind it (no coordinated omission).
/// With `priority` the client threads run at real-time priority (a short time slice where that is refused),
/// so that on this shared machine their own wait for a core is not what is measured (a real client runs
/// elsewhere).
fn paced(addr: &str, rate: f64, seconds: f64, connections: usize, priority: bool, into: &mut Latencies) -> Result<()> {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let per_conn = rate / connections as f64;
    let handles: Vec<_> = (0..connections)
        .map(|c| {
            let addr = addr.to_string();
            std::thread::spawn(move || -> Result<(Vec<u64>, usize)> {
                if priority && !weir_engine::prefer_realtime() {
                    weir_engine::prefer_latency();
                }
                let mut s = std::net::TcpStream::connect(&addr)?;
                s.set_nodelay(true)?;
                let mut lat = Vec::new();
                let mut errors = 0;
                let start = Instant::now();
                let n = (per_conn * seconds) as u64;
                let mut buf = vec![0u8; 4096];
                for i in 0..n {
                    let due = start + Duration::from_secs_f64(i as f64 / per_conn);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    let key = (i as usize * 7919 + c * 104_729) % 60_000;
                    write!(s, "GET /v1/views/orders/o-{key:07} HTTP/1.1\r\nHost: x\r\n\r\n")?;
                    let mut got = 0;
                    let body_end = loop {
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
                            if !head.starts_with("http/1.1 200") {
                                errors += 1;
                            }
                            if got >= h + 4 + len {
                                break h + 4 + len;
                            }
                        }
                    };
                    debug_assert_eq!(body_end, got);
                    lat.push(due.elapsed().as_micros() as u64);
                }
                Ok((lat, errors))
            })
        })
        .collect();
    for h in handles {
        let (l, e) = h.join().expect("client thread")?;
        into.micros.extend(l);
        into.non_200 += e;
    }
    Ok(())
}

fn report(label: &str, mut l: Latencies) {
    let all = &mut l.micros;
    all.sort_unstable();
    let q = |p: f64| all[((p * all.len() as f64) as usize).min(all.len() - 1)];
    println!(
        "{label}: {} requests | p50 {} us | p90 {} us | p99 {} us | p99.9 {} us | max {} us | non-200 {}",
        all.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        all[all.len() - 1],
        l.non_200
    );
}

/// Paced lookups at 10 k req/s over 4 connections, `rounds` × 2.5 s per client kind, the two kinds alternating.
fn paced_rounds(addr: &str, rounds: usize, when: &str) -> Result<()> {
    let (mut plain, mut first) = (Latencies::default(), Latencies::default());
    for _ in 0..rounds {
        paced(addr, 10_000.0, 2.5, 4, false, &mut plain)?;
        paced(addr, 10_000.0, 2.5, 4, true, &mut first)?;
    }
    let kind = if std::thread::spawn(weir_engine::prefer_realtime).join().unwrap_or(false) {
        "real-time priority"
    } else {
        "short slice (real-time priority refused)"
    };
    report(&format!("paced 10k req/s, {when}, client at default priority"), plain);
    report(
        &format!("paced 10k req/s, {when}, client at {kind} (target 4: p99 < 2000 us)"),
        first,
    );
    Ok(())
}

fn main() -> Result<()> {
    let weir = build_weir()?;
    let input = locations_workload(&weir)?;
    for sets in [&[][..], &["serve.realtime_reads=true"][..]] {
        lookups_against_a_live_job(&weir, &input, sets)?;
    }
    Ok(())
}

/// Runs last-location over `input` with `sets` and measures lookups while it ingests and once it caught up.
fn lookups_against_a_live_job(weir: &std::path::Path, input: &std::path::Path, sets: &[&str]) -> Result<()> {
    let out = std::env::temp_dir().join(format!("weir-bench-http-{}", std::process::id()));
    let script = out.join("keys.lua");
    std::fs::create_dir_all(&out)?;
    std::fs::write(&script, SCRIPT)?;
    let mut child = Command::new(weir)
        .arg("run")
        .arg(repo_root().join("config/last-location.toml"))
        .arg("--set")
        .arg(format!("sources.locations.path={}", input.display()))
        .args(["--set", "serve.listen=127.0.0.1:0", "--quiet"])
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
        .args(sets.iter().flat_map(|s| ["--set", s]))
        .stderr(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let Some(line) = lines.next() else {
            bail!("weir exited before serving")
        };
        if let Some(a) = line?.strip_prefix("serving on http://") {
            break a.to_string();
        }
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if line.starts_with("done in") {
                let _ = tx.send(line);
            } else if line.contains("warning") {
                println!("{line}");
            }
        }
    });
    let settings = if sets.is_empty() {
        "default [serve] settings".to_string()
    } else {
        sets.join(" ")
    };
    println!(
        "\nlast-location over {} on http://{addr}, {settings}; wrk -t2 -c32 -d8s",
        input.display()
    );
    paced_rounds(&addr, 2, "while ingesting")?;
    wrk(&addr, &script, "wrk, while ingesting")?;
    let done = rx.recv().context("the job did not finish")?;
    println!("job: {done}");
    paced_rounds(&addr, 2, "caught up")?;
    wrk(&addr, &script, "wrk, caught up")?;
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait()?;
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}
