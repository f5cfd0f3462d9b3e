//! The crash harness: run a job again and again, SIGKILLing it at random instants, until a run finishes;
//! and comparing output trees byte for byte.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a crash-harness run went through.
#[derive(Debug, Default)]
pub struct Crashes {
    pub kills: usize,
    /// Runs that said they resumed from a checkpoint.
    pub resumed: usize,
    /// The stderr of every run, in order.
    pub log: String,
}

/// A small deterministic generator for the kill instants (the seed is printed, so a failure can be replayed).
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407))
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
    /// A duration uniform in `[lo, hi)` milliseconds.
    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo))
    }
}

/// Runs `job(attempt)` until one run exits 0: the first `min_kills` runs are SIGKILLed after a delay drawn
/// from `kill_after`, later ones too (up to 60 attempts) unless they finish first. Panics if a run fails.
pub fn run_with_kills(
    mut job: impl FnMut(usize) -> Command,
    min_kills: usize,
    seed: u64,
    kill_after: (u64, u64),
    log_dir: &Path,
) -> Crashes {
    eprintln!("crash harness: seed {seed}");
    let mut rng = Lcg::new(seed);
    let mut out = Crashes::default();
    for attempt in 0.. {
        let log_path = log_dir.join(format!("attempt-{attempt}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = job(attempt);
        let mut child = cmd.stdout(Stdio::null()).stderr(log).spawn().expect("spawn weir");
        let kill_at = (attempt < 60).then(|| rng.millis(kill_after.0, kill_after.1));
        let started = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if kill_at.is_some_and(|d| started.elapsed() >= d) {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                break None;
            }
            assert!(started.elapsed() < Duration::from_secs(300), "attempt {attempt} hangs");
            std::thread::sleep(Duration::from_millis(2));
        };
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if text.contains("resuming from checkpoint") {
            out.resumed += 1;
        }
        out.log
            .push_str(&format!("--- attempt {attempt} ({:?})\n{text}", kill_at));
        match status {
            None => out.kills += 1,
            Some(s) if s.success() => {
                assert!(
                    out.kills >= min_kills,
                    "finished after only {} kills; make the run longer\n{}",
                    out.kills,
                    out.log
                );
                return out;
            }
            Some(s) => panic!("attempt {attempt} failed ({s}):\n{}", out.log),
        }
    }
    unreachable!()
}

/// Whether `p` is one of the instance locks a run keeps beside its outputs (`.NAME.lock`, holding the pid
/// of the run that took it: not output).
fn is_instance_lock(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') && n.ends_with(".lock"))
}

/// Every output file under `dir` (instance locks aside), relative, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if !is_instance_lock(&p) {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Asserts two output trees hold the same files with the same bytes.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    let (e, a) = (files_under(expected), files_under(actual));
    assert_eq!(
        e,
        a,
        "different files under {} and {}",
        expected.display(),
        actual.display()
    );
    assert!(!e.is_empty(), "no output under {}", expected.display());
    for f in &e {
        let (x, y) = (
            std::fs::read(expected.join(f)).unwrap(),
            std::fs::read(actual.join(f)).unwrap(),
        );
        assert!(x == y, "{} differs ({} vs {} bytes)", f.display(), x.len(), y.len());
    }
}

/// Runs `cmd`, sends it SIGTERM after `after`, and returns its exit status and stderr.
pub fn stop_after(cmd: &mut Command, after: Duration, log: &Path) -> (std::process::ExitStatus, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("spawn weir");
    let started = Instant::now();
    while started.elapsed() < after {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    (status, std::fs::read_to_string(log).unwrap_or_default())
}
