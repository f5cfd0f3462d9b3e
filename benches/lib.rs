//! Helpers for weir's whole-process benchmarks: building the binary, locating the shared workload, and
//! measuring a child process's wall time and peak RSS (via `wait4`'s rusage, like `/usr/bin/time`).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Builds `target/release/weir` and returns its path.
pub fn build_weir() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "weir-jobs", "--bin", "weir"])
        .current_dir(repo_root())
        .status()?;
    if !status.success() {
        bail!("cargo build of weir failed");
    }
    Ok(repo_root().join("target/release/weir"))
}

/// The benchmark input: `WEIR_BENCH_INPUT`, or the shared workload
/// (`gen_events.py vibration --sensors 200 --hz 1 --hours 14`, 10.08 M events) generated once into
/// `target/bench-data/`, falling back to weir's built-in generator (same schema) when numpy is missing.
pub fn vibration_input(weir: &Path) -> Result<PathBuf> {
    if let Ok(p) = std::env::var("WEIR_BENCH_INPUT") {
        return Ok(PathBuf::from(p));
    }
    let dir = repo_root().join("target/bench-data");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("vibration-200x14h.jsonl");
    if path.exists() {
        return Ok(path);
    }
    let tmp = dir.join("vibration-200x14h.jsonl.tmp");
    let script = repo_root().join("../shared/workload/gen_events.py");
    eprintln!(
        "generating the 10.08 M-event vibration workload into {} (once)",
        path.display()
    );
    let args = ["vibration", "--sensors", "200", "--hz", "1", "--hours", "14", "-o"];
    let ok = script.exists()
        && Command::new("python3")
            .arg(&script)
            .args(args)
            .arg(&tmp)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if !ok {
        eprintln!("gen_events.py unavailable (needs ../shared and numpy); using `weir generate` instead");
        let status = Command::new(weir)
            .args(["generate"])
            .args(&args[..8])
            .args(["--out"])
            .arg(&tmp)
            .status()?;
        if !status.success() {
            bail!("weir generate failed");
        }
    }
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Wall time and peak resident set of one run of a child process.
#[derive(Debug, Clone, Copy)]
pub struct Measurement {
    pub wall: Duration,
    pub peak_rss_kib: u64,
}

pub fn measure(cmd: &mut Command) -> Result<Measurement> {
    let started = Instant::now();
    let child = cmd.spawn().context("spawn")?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    if r != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!("{cmd:?} failed with status {status}");
    }
    Ok(Measurement {
        wall,
        peak_rss_kib: usage.ru_maxrss as u64,
    })
}

/// Median and best of several measurements.
pub fn summarize(runs: &[Measurement]) -> (Measurement, Measurement) {
    let mut by_wall = runs.to_vec();
    by_wall.sort_by_key(|m| m.wall);
    (by_wall[by_wall.len() / 2], by_wall[0])
}
