//! Benchmark: what checkpoints cost and how fast a job comes back.
//!
//! 1. vibration-rollup over the shared 42-hour workload (`gen_events.py vibration --sensors 200 --hz 1
//!    --hours 42`, 30.2 M events; long enough for 10 s checkpoints to happen), 1 worker, without
//!    checkpoints and with checkpoints every 10 s and every 1 s: wall time, events/s, the cost against none,
//!    and the checkpoints' size, write time and alignment time (as the job reports them).
//! 2. last-location holding 1 M open orders: 1 M orders' first pings, then pings of known orders, stopped
//!    with SIGTERM once all 1 M orders are in (watching `/metrics`): the final checkpoint's size and write
//!    time; then the time a restarted job takes to read the checkpoint and to serve a restored order over HTTP.
//!
//!   cargo bench -p weir-benches --bench checkpoints
//!
//! `WEIR_BENCH_REPEAT` (default 3) sets the runs per configuration of part 1; `WEIR_BENCH_PART=rollup|orders`
//! runs one part.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use weir_benches::*;

fn main() -> Result<()> {
    let weir = build_weir()?;
    let part = std::env::var("WEIR_BENCH_PART").unwrap_or_default();
    if part != "orders" {
        rollup_cost(&weir)?;
    }
    if part != "rollup" {
        open_orders(&weir)?;
    }
    Ok(())
}

/// The `… checkpoint(s) written; …` line a run prints, if any.
fn checkpoint_line(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.contains("checkpoint(s) written"))
        .unwrap_or("no checkpoint written")
        .to_string()
}

fn rollup_cost(weir: &Path) -> Result<()> {
    let input = shared_workload(
        weir,
        "vibration-200x42h.jsonl",
        &["vibration", "--sensors", "200", "--hz", "1", "--hours", "42"],
    )?;
    let repeat = repeats();
    let lines = count_lines(&input)?;
    let out = std::env::temp_dir().join(format!("weir-bench-ckpt-{}", std::process::id()));
    println!(
        "vibration-rollup over {} ({lines} lines), 1 worker, {repeat} runs each",
        input.display()
    );
    println!(
        "{:>12} {:>10} {:>14} {:>8}  checkpoints (last run)",
        "interval", "median s", "events/s", "cost"
    );
    // Rounds of none / 10 s / 1 s in turn, so a VM that drifts slower or faster affects all three alike.
    let intervals = [None, Some("10s"), Some("1s")];
    let mut walls: Vec<Vec<Duration>> = vec![Vec::new(); intervals.len()];
    let mut reports = vec![String::new(); intervals.len()];
    for _ in 0..repeat {
        for (k, interval) in intervals.iter().enumerate() {
            let mut cmd = Command::new(weir);
            cmd.arg("run")
                .arg(repo_root().join("config/vibration-rollup.toml"))
                .args(["--workers", "1", "--quiet"])
                .env("WEIR_VIBRATION_INPUT", &input)
                .env("WEIR_OUT", &out);
            if let Some(i) = interval {
                cmd.args(["--fresh", "--set"])
                    .arg(format!("job.checkpoint.dir={}", out.join("ckpt").display()))
                    .args(["--set", &format!("job.checkpoint.interval={i}")]);
            }
            let started = Instant::now();
            let o = cmd.output()?;
            walls[k].push(started.elapsed());
            if !o.status.success() {
                bail!("{cmd:?} failed:\n{}", String::from_utf8_lossy(&o.stderr));
            }
            reports[k] = checkpoint_line(&String::from_utf8_lossy(&o.stderr));
        }
    }
    let median = |w: &mut Vec<Duration>| {
        w.sort();
        w[w.len() / 2].as_secs_f64()
    };
    let base = median(&mut walls[0]);
    for (k, interval) in intervals.iter().enumerate() {
        let med = median(&mut walls[k]);
        let all: Vec<String> = walls[k].iter().map(|d| format!("{:.1}", d.as_secs_f64())).collect();
        println!(
            "{:>12} {:>10.2} {:>14.0} {:>7.1}%  runs {} s  {}",
            interval.unwrap_or("none"),
            med,
            lines as f64 / med,
            (med / base - 1.0) * 100.0,
            all.join("/"),
            if interval.is_some() { reports[k].as_str() } else { "" }
        );
    }
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}

/// Writes 1 M orders' first pings (`picked_up`), then `tail` pings of those orders, in event-time order.
fn open_orders_input(path: &Path, orders: u64, tail: u64) -> Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    let t0: i64 = 1_700_000_000_000;
    for i in 0..orders + tail {
        let order = i % orders;
        let state = if i < orders { "picked_up" } else { "en_route" };
        writeln!(
            w,
            r#"{{"order_id":"o{order:07}","deliverer_id":"d{:05}","state":"{state}","ts":{},"lat":52.{:06},"lon":4.{:06}}}"#,
            order % 20_000,
            t0 + (i as i64) * 2,
            i % 1_000_000,
            (i * 7) % 1_000_000
        )?;
    }
    w.flush()?;
    Ok(())
}

/// Spawns last-location on `input`; returns the child and its stderr lines.
fn last_location(
    weir: &Path,
    input: &Path,
    out: &Path,
    extra: &[&str],
) -> Result<(std::process::Child, std::sync::mpsc::Receiver<String>)> {
    let mut child = Command::new(weir)
        .arg("run")
        .arg(repo_root().join("config/last-location.toml"))
        .args(["--quiet", "--workers", "2"])
        .args(["--set", &format!("job.checkpoint.dir={}", out.join("ckpt").display())])
        .args(["--set", "job.checkpoint.interval=1s"])
        .args(extra)
        .env("WEIR_LOCATIONS_INPUT", input)
        .env("WEIR_OUT", out)
        .env("WEIR_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().context("stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    Ok((child, rx))
}

fn sigterm(child: &mut std::process::Child) -> Result<()> {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait()?;
    if !status.success() {
        bail!("weir exited with {status}");
    }
    Ok(())
}

fn wait_line(rx: &std::sync::mpsc::Receiver<String>, needle: &str, log: &mut Vec<String>) -> Result<String> {
    loop {
        let l = rx
            .recv_timeout(Duration::from_secs(120))
            .with_context(|| format!("no `{needle}` in:\n{}", log.join("\n")))?;
        log.push(l.clone());
        if l.contains(needle) {
            return Ok(l);
        }
    }
}

fn open_orders(weir: &Path) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("weir-bench-orders-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let input = dir.join("orders.jsonl");
    let (orders, tail) = (1_000_000u64, 3_000_000u64);
    open_orders_input(&input, orders, tail)?;
    println!("\nlast-location with {orders} open orders (then {tail} more pings), 2 workers, checkpoints every 1 s");

    // Stop with SIGTERM once every order is in: a final checkpoint.
    let (mut child, rx) = last_location(weir, &input, &dir, &[])?;
    let mut log = Vec::new();
    let addr = http_addr(&wait_line(&rx, "serving on http://", &mut log)?);
    loop {
        let read = records_in(&addr);
        if read >= orders + 50_000 {
            break;
        }
        if read >= orders + tail {
            bail!("the input ended before the stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    sigterm(&mut child)?;
    log.extend(rx.try_iter());
    println!("  stop → final checkpoint: {}", checkpoint_line(&log.join("\n")));
    let size: u64 = std::fs::read_dir(dir.join("ckpt"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .max()
        .map(|p| std::fs::metadata(p).map(|m| m.len()))
        .transpose()?
        .unwrap_or(0);
    println!("  newest checkpoint file: {:.1} MB", size as f64 / 1e6);

    // Restart: time to read the checkpoint, and until a restored order is served over HTTP.
    let started = Instant::now();
    let (mut child, rx) = last_location(weir, &input, &dir, &[])?;
    let mut log = Vec::new();
    let resumed = wait_line(&rx, "resuming from checkpoint", &mut log)?;
    let addr = http_addr(&wait_line(&rx, "serving on http://", &mut log)?);
    let served = loop {
        if http_ok(&addr, "/v1/views/orders/o0999999") {
            break started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("restored order never served");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    println!("  restart: {resumed}");
    println!(
        "  restart → restored order o0999999 served over HTTP after {:.0} ms (process start included)",
        served.as_secs_f64() * 1e3
    );
    sigterm(&mut child)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn http_addr(serving_line: &str) -> String {
    serving_line
        .rsplit("http://")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The response to `GET path` (empty if none).
fn http_get(addr: &str, path: &str) -> String {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf
}

/// Whether `GET path` answers 200.
fn http_ok(addr: &str, path: &str) -> bool {
    http_get(addr, path).starts_with("HTTP/1.1 200")
}

/// Records read so far, from `/metrics`.
fn records_in(addr: &str) -> u64 {
    http_get(addr, "/metrics")
        .lines()
        .filter(|l| l.starts_with("weir_records_in_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}
