//! Exactly-once across crashes, stops and rescaling, with file sources: the crash harness (≥ 10 SIGKILLs at
//! random instants, restarting each time with 1–3 workers) for vibration-rollup and delivery-alerts;
//! last-location's HTTP views and changelog across kills and a stop; graceful stops resumed at other worker
//! counts; incompatible and compatible job changes; corrupt checkpoints.
//! Every test compares the final output tree — Parquet files, alerts, dead letters — byte for byte with an
//! uninterrupted run's. (The same harness against Kafka is in `tests/kafka.rs`.)

#[path = "support/crash.rs"]
mod crash;
mod support;

use crash::{assert_same_tree, run_with_kills, stop_after};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::{ok, repo_root, run_within, weir};

/// Vibration: 2 M events (with late and malformed ones); locations: 1.5 M events.
fn inputs(dir: &Path) -> (PathBuf, PathBuf) {
    let v = dir.join("vibration.jsonl");
    let l = dir.join("locations.jsonl");
    ok(weir()
        .args([
            "generate",
            "vibration",
            "--sensors",
            "120",
            "--hours",
            "6",
            "--count",
            "2000000",
        ])
        .args(["--seed", "11", "-o", v.to_str().unwrap()]));
    ok(weir()
        .args([
            "generate",
            "locations",
            "--orders",
            "30000",
            "--hours",
            "8",
            "--count",
            "1500000",
        ])
        .args(["--seed", "12", "-o", l.to_str().unwrap()]));
    (v, l)
}

struct Job {
    config: &'static str,
    input_var: &'static str,
    source: &'static str,
}

const VIBRATION: Job = Job {
    config: "config/vibration-rollup.toml",
    input_var: "WEIR_VIBRATION_INPUT",
    source: "vibration",
};
const VIBRATION_DAILY: Job = Job {
    config: "config/vibration-daily.toml",
    input_var: "WEIR_VIBRATION_INPUT",
    source: "vibration",
};
const DELIVERY: Job = Job {
    config: "config/delivery-alerts.toml",
    input_var: "WEIR_LOCATIONS_INPUT",
    source: "locations",
};

/// A run of `job` on `input` writing under `out`; with `ckpt`, checkpointing there every 100 ms.
fn job_cmd(job: &Job, input: &Path, out: &Path, ckpt: Option<&Path>) -> Command {
    let mut cmd = weir();
    cmd.arg("run")
        .arg(repo_root().join(job.config))
        .arg("--quiet")
        .env(job.input_var, input)
        .env("WEIR_OUT", out);
    if let Some(dir) = ckpt {
        cmd.args(["--set", &format!("job.checkpoint.dir={}", dir.display())])
            .args(["--set", "job.checkpoint.interval=100ms"]);
    }
    cmd
}

/// `cmd` replaying its input at `rate` records per second with `workers` workers.
fn paced(mut cmd: Command, job: &Job, rate: u32, workers: usize) -> Command {
    cmd.args(["--set", &format!("sources.{}.rate={rate}", job.source)])
        .args(["--workers", &workers.to_string()]);
    cmd
}

fn reference(job: &Job, input: &Path, out: &Path) {
    ok(&mut job_cmd(job, input, out, None));
}

/// Kills the job at ≥ 10 random instants (each run reads at most 200 k records before it is killed, so it
/// cannot finish early), restarting it each time with 1, 2 or 3 workers, until a run finishes.
fn crash_until_done(job: &Job, input: &Path, rate: u32, dir: &Path, seed: u64) {
    let (ref_out, out, ckpt) = (dir.join("ref"), dir.join("out"), dir.join("ckpt"));
    reference(job, input, &ref_out);
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let crashes = run_with_kills(
        |attempt| paced(job_cmd(job, input, &out, Some(&ckpt)), job, rate, 1 + attempt % 3),
        10,
        seed,
        (200, 450),
        &logs,
    );
    assert!(crashes.kills >= 10, "{}", crashes.log);
    assert!(
        crashes.resumed >= 5,
        "runs should resume from checkpoints:\n{}",
        crashes.log
    );
    assert_same_tree(&ref_out, &out);
    // Finished: running it again does nothing and says so.
    let again = ok(&mut job_cmd(job, input, &out, Some(&ckpt)));
    assert!(String::from_utf8_lossy(&again.stderr).contains("finished"));
    assert_same_tree(&ref_out, &out);
}

#[test]
fn vibration_rollup_survives_repeated_sigkill_with_identical_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let (v, _) = inputs(dir.path());
    crash_until_done(&VIBRATION, &v, 400_000, dir.path(), 0x5eed_0001);
}

#[test]
fn the_raw_archive_holds_every_reading_exactly_once_through_repeated_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let (v, _) = inputs(dir.path());
    crash_until_done(&VIBRATION_DAILY, &v, 400_000, dir.path(), 0x5eed_0003);
    // The uninterrupted run's archive (which the killed runs' equals byte for byte) holds each valid
    // reading once: as many rows as the input has valid lines, and no (sensor, ts, line) twice.
    let valid = std::fs::read_to_string(&v)
        .unwrap()
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l).is_ok_and(|j| {
                j["sensor_id"].is_string()
                    && j["site"].is_string()
                    && j["ts"].is_i64()
                    && j["ppv_mm_s"].is_number()
                    && j["freq_hz"].is_number()
            })
        })
        .count();
    let mut rows = 0;
    for f in support::parquet_files(&dir.path().join("out/vibration-daily/raw")) {
        rows += support::read_batches(&f).iter().map(|b| b.num_rows()).sum::<usize>();
    }
    assert_eq!(rows, valid);
}

#[test]
fn delivery_alerts_survive_repeated_sigkill_with_identical_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let (_, l) = inputs(dir.path());
    crash_until_done(&DELIVERY, &l, 300_000, dir.path(), 0x5eed_0002);
}

/// Stops (SIGTERM) the job after each delay with the given worker counts, then runs it to the end with
/// `last` workers: every stop exits 0 after a final checkpoint, every start resumes from it.
fn stop_and_rescale(job: &Job, input: &Path, dir: &Path, workers: &[usize], last: usize) {
    let (ref_out, out, ckpt) = (dir.join("ref"), dir.join("out"), dir.join("ckpt"));
    reference(job, input, &ref_out);
    for (i, w) in workers.iter().enumerate() {
        let mut cmd = paced(job_cmd(job, input, &out, Some(&ckpt)), job, 500_000, *w);
        let (status, log) = stop_after(&mut cmd, Duration::from_millis(700), &dir.join(format!("stop-{i}.log")));
        assert!(status.success(), "stop {i} with {w} workers: {status}\n{log}");
        assert_eq!(log.contains("resuming from checkpoint"), i > 0, "{log}");
        assert!(
            log.contains("checkpoint(s) written"),
            "a stop writes a final checkpoint:\n{log}"
        );
    }
    let done = ok(&mut paced(
        job_cmd(job, input, &out, Some(&ckpt)),
        job,
        50_000_000,
        last,
    ));
    assert!(String::from_utf8_lossy(&done.stderr).contains("resuming from checkpoint"));
    assert_same_tree(&ref_out, &out);
}

#[test]
fn graceful_stops_resume_without_gaps_at_other_worker_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (v, l) = inputs(dir.path());
    // 1 → 3 → 2 → 1 → 2 workers
    stop_and_rescale(&VIBRATION, &v, &dir.path().join("vibration"), &[1, 3, 2], 1);
    // 2 → 1 → 3 workers
    stop_and_rescale(&DELIVERY, &l, &dir.path().join("delivery"), &[2, 1], 3);
}

/// A vibration input, its uninterrupted run's outputs, and a checkpointing run of it stopped (SIGTERM) after
/// `ms` milliseconds: (input, reference outputs, outputs, checkpoint directory).
fn stopped_vibration_run(dir: &Path, ms: u64) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let (v, _) = inputs(dir);
    let (ref_out, out, ckpt) = (dir.join("ref"), dir.join("out"), dir.join("ckpt"));
    reference(&VIBRATION, &v, &ref_out);
    let mut first = paced(job_cmd(&VIBRATION, &v, &out, Some(&ckpt)), &VIBRATION, 500_000, 2);
    let (status, log) = stop_after(&mut first, Duration::from_millis(ms), &dir.join("first.log"));
    assert!(status.success(), "{log}");
    (v, ref_out, out, ckpt)
}

#[test]
fn an_incompatible_job_change_is_refused_and_a_compatible_one_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (v, ref_out, out, ckpt) = stopped_vibration_run(dir.path(), 800);
    let alerts = out.join("vibration/alerts.jsonl");
    let before = std::fs::read(&alerts).unwrap();
    let moved = format!(
        "sinks.alerts.path={}",
        out.join("vibration/alerts-moved.jsonl").display()
    );

    for (set, what) in [
        // Review B13: another job's (or a renamed job's) state.
        ("job.name=other-job", "`job.name` changed"),
        // Review B12: a Parquet layout is not mixed with another.
        (
            "sinks.rollups.partition_by=date",
            "`sinks.rollups.partition_by` changed",
        ),
        // Review B1: the checkpoint continues a JSONL file at a byte offset; another path has none.
        (moved.as_str(), "`sinks.alerts.path` changed"),
        ("operators.hourly.window.size=30m", "`operators.hourly` changed"),
        (
            "operators.exceeded.when=ppv_mm_s > 20.0",
            "`operators.exceeded` changed",
        ),
        (
            "sources.vibration.max_out_of_orderness=1m",
            "`sources.vibration` changed",
        ),
    ] {
        let res = job_cmd(&VIBRATION, &v, &out, Some(&ckpt))
            .args(["--set", set])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&res.stderr);
        assert!(!res.status.success(), "{set} must be refused:\n{err}");
        assert!(err.contains(what) && err.contains("--fresh"), "{set}:\n{err}");
        assert_eq!(
            std::fs::read(&alerts).unwrap(),
            before,
            "a refused run must not touch the outputs"
        );
    }

    // Interval, checkpoints kept and worker count are not part of the state: it resumes.
    let done = ok(job_cmd(&VIBRATION, &v, &out, Some(&ckpt)).args([
        "--set",
        "job.checkpoint.interval=1s",
        "--set",
        "job.checkpoint.keep=5",
        "--workers",
        "1",
    ]));
    assert!(String::from_utf8_lossy(&done.stderr).contains("resuming from checkpoint"));
    assert_same_tree(&ref_out, &out);
}

#[test]
fn a_corrupt_checkpoint_is_detected_and_the_previous_one_used() {
    let dir = tempfile::tempdir().unwrap();
    let (v, ref_out, out, ckpt) = stopped_vibration_run(dir.path(), 900);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&ckpt).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    // Truncate the newest, flip a byte in the middle of the next one: the third is used.
    let newest = files.pop().unwrap();
    let len = std::fs::metadata(&newest).unwrap().len();
    std::fs::File::options()
        .write(true)
        .open(&newest)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    if files.len() >= 2 {
        let second = files.pop().unwrap();
        let mut bytes = std::fs::read(&second).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        std::fs::write(&second, bytes).unwrap();
    }
    let done = ok(&mut job_cmd(&VIBRATION, &v, &out, Some(&ckpt)));
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(err.contains("is unusable (it is truncated"), "{err}");
    assert!(
        err.contains("falling back") && err.contains("resuming from checkpoint"),
        "{err}"
    );
    assert_same_tree(&ref_out, &out);

    // Nothing usable at all: refused (starting over would publish every alert again) unless --fresh.
    let out2 = dir.path().join("out2");
    let ckpt2 = dir.path().join("ckpt2");
    std::fs::create_dir_all(&ckpt2).unwrap();
    std::fs::write(ckpt2.join("ckpt-000000000001.weir"), b"garbage").unwrap();
    let res = job_cmd(&VIBRATION, &v, &out2, Some(&ckpt2)).output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(
        !res.status.success() && err.contains("none of its 1 checkpoint file(s) is usable"),
        "{err}"
    );
    ok(job_cmd(&VIBRATION, &v, &out2, Some(&ckpt2)).arg("--fresh"));
    assert_same_tree(&ref_out, &out2);
}

/// last-location (views served over HTTP, a changelog, TTL expiry) across SIGKILLs and a stop at 1–3
/// workers: the final changelog file is the uninterrupted run's, and the restored views serve exactly what
/// the uninterrupted run's views serve.
#[test]
fn last_location_views_and_changelog_survive_kills_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (_, l) = inputs(dir.path());
    let job = Job {
        config: "config/last-location.toml",
        input_var: "WEIR_LOCATIONS_INPUT",
        source: "locations",
    };
    let served = |out: &Path, ckpt: Option<&Path>, workers: usize, log: &Path| -> Vec<String> {
        let mut cmd = job_cmd(&job, &l, out, ckpt);
        cmd.env("WEIR_LISTEN", "127.0.0.1:0")
            .args(["--workers", &workers.to_string()]);
        let (text, views) = serve_views(&mut cmd, log);
        assert!(ckpt.is_none() || text.contains("resuming from checkpoint"), "{text}");
        views
    };
    let (ref_out, out, ckpt) = (dir.path().join("ref"), dir.path().join("out"), dir.path().join("ckpt"));
    let reference_views = served(&ref_out, None, 2, &dir.path().join("ref.log"));
    assert!(
        reference_views.iter().all(|v| v.len() > 1000),
        "the views hold thousands of keys"
    );

    for (i, (workers, kill, after)) in [(2, true, 400), (3, false, 700), (1, true, 600)]
        .into_iter()
        .enumerate()
    {
        let mut cmd = job_cmd(&job, &l, &out, Some(&ckpt));
        cmd.env("WEIR_LISTEN", "127.0.0.1:0")
            .args(["--workers", &workers.to_string()]);
        let log = dir.path().join(format!("run-{i}.log"));
        if kill {
            let mut child = cmd
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(after));
            child.kill().unwrap();
            child.wait().unwrap();
        } else {
            let (status, text) = stop_after(&mut cmd, Duration::from_millis(after), &log);
            assert!(status.success(), "{text}");
        }
    }
    let restored_views = served(&out, Some(&ckpt), 2, &dir.path().join("final.log"));
    assert!(
        restored_views == reference_views,
        "restored views differ from the uninterrupted run's"
    );
    assert_same_tree(&ref_out, &out);
}

/// Runs a job with views until it says its input is done, then reads both views in full over HTTP and stops
/// it (SIGTERM, exit 0). Returns its stderr and the views' listings.
fn serve_views(cmd: &mut Command, log: &Path) -> (String, Vec<String>) {
    /// Kills the job if the test fails while it serves.
    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut running = Running(
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    );
    let child = &mut running.0;
    let started = std::time::Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("still serving") {
            break text;
        }
        assert!(child.try_wait().unwrap().is_none(), "weir exited:\n{text}");
        assert!(started.elapsed() < Duration::from_secs(120), "never finished:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let addr = text
        .lines()
        .find_map(|l| l.split("serving on http://").nth(1))
        .unwrap()
        .trim()
        .to_string();
    let views = ["orders", "deliverers"]
        .iter()
        .map(|v| http_body(&addr, &format!("/v1/views/{v}?limit=10000")))
        .collect();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    (text, views)
}

fn http_body(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{path}: {raw:.300}");
    raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or(raw)
}

/// A stop (SIGTERM) never publishes an output computed from part of the input: whatever the moment, with 1–3
/// workers and no checkpoints, the alerts and dead letters written are a prefix of the uninterrupted run's.
/// (Sources let go without emitting what they had not read; operators act only up to the job watermark at
/// the stop.)
#[test]
fn a_stop_publishes_only_a_prefix_of_the_uninterrupted_output() {
    let dir = tempfile::tempdir().unwrap();
    let (_, l) = inputs(dir.path());
    let ref_out = dir.path().join("ref");
    reference(&DELIVERY, &l, &ref_out);
    let lines = |p: &Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    for (i, ms) in [300u64, 550, 800, 1050, 1300, 1550].into_iter().enumerate() {
        let out = dir.path().join(format!("stop-{i}"));
        let mut cmd = paced(job_cmd(&DELIVERY, &l, &out, None), &DELIVERY, 600_000, 1 + i % 3);
        let (status, log) = stop_after(
            &mut cmd,
            Duration::from_millis(ms),
            &dir.path().join(format!("stop-{i}.log")),
        );
        assert!(status.success(), "{log}");
        for file in ["delivery/alerts.jsonl", "delivery/dead_letters.jsonl"] {
            let (got, want) = (lines(&out.join(file)), lines(&ref_out.join(file)));
            assert!(
                got.len() < want.len() && got[..] == want[..got.len()],
                "{file} after a stop at {ms} ms ({} of {} lines) is not a prefix of the full run's",
                got.len(),
                want.len()
            );
        }
    }
}

/// Truncating the input while it is read (logrotate's `copytruncate`) used to kill weir with SIGBUS (the file
/// was memory-mapped): now the run fails with a message naming the file, and the checkpoints it wrote are
/// intact — with the file put back, the next run resumes and ends with the uninterrupted run's outputs.
#[test]
fn an_input_truncated_while_read_fails_clearly_and_the_checkpoint_still_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (v, _) = inputs(dir.path());
    let (ref_out, out, ckpt) = (dir.path().join("ref"), dir.path().join("out"), dir.path().join("ckpt"));
    reference(&VIBRATION, &v, &ref_out);
    let original = std::fs::read(&v).unwrap();
    let child = paced(job_cmd(&VIBRATION, &v, &out, Some(&ckpt)), &VIBRATION, 100_000, 2)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Truncate once a checkpoint is on disk (a fixed sleep raced with a loaded machine's first checkpoint).
    let written = |d: &Path| {
        std::fs::read_dir(d)
            .is_ok_and(|mut e| e.any(|f| f.is_ok_and(|f| f.file_name().to_string_lossy().ends_with(".weir"))))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !written(&ckpt) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(&v)
        .unwrap()
        .set_len(0)
        .unwrap();
    let run = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(
        err.contains("shrank while being read") && err.contains(&v.display().to_string()),
        "{err}"
    );
    std::fs::write(&v, &original).unwrap();
    let done = ok(&mut job_cmd(&VIBRATION, &v, &out, Some(&ckpt)));
    assert!(String::from_utf8_lossy(&done.stderr).contains("resuming from checkpoint"));
    assert_same_tree(&ref_out, &out);
}

/// Review B1: a JSONL output that cannot be continued (deleted, or shorter than the checkpoint recorded) used
/// to hang a job with two workers for ever (one worker failed to build, the other waited for it); every
/// worker now stops and the run fails at once with the reason.
#[test]
fn an_output_that_cannot_be_continued_fails_every_worker_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (v, _, out, ckpt) = stopped_vibration_run(dir.path(), 800);
    let alerts = out.join("vibration/alerts.jsonl");
    let kept = std::fs::read(&alerts).unwrap();
    assert!(kept.len() > 100, "the stopped run wrote alerts");
    std::fs::remove_file(&alerts).unwrap();
    let res = run_within(job_cmd(&VIBRATION, &v, &out, Some(&ckpt)).args(["--workers", "2"]), 60);
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(1), "{err}");
    assert!(
        err.contains("which cannot be opened") && err.contains("--fresh"),
        "{err}"
    );
    std::fs::write(&alerts, &kept[..100]).unwrap();
    let res = run_within(job_cmd(&VIBRATION, &v, &out, Some(&ckpt)).args(["--workers", "2"]), 60);
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(1), "{err}");
    assert!(
        err.contains("is shorter (100 bytes) than the checkpoint recorded"),
        "{err}"
    );
}

/// A restart whose input is now shorter than the checkpoint's read position is refused with the offsets,
/// instead of reporting "0 events read" and finishing.
#[test]
fn a_restart_on_a_file_shorter_than_the_checkpoint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (v, _, out, ckpt) = stopped_vibration_run(dir.path(), 800);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&v)
        .unwrap()
        .set_len(10)
        .unwrap();
    let res = job_cmd(&VIBRATION, &v, &out, Some(&ckpt)).output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the checkpoint resumes this file at byte")
            && err.contains("it has 10 bytes")
            && err.contains("--fresh"),
        "{err}"
    );
}

/// Two instances on the same directories used to both run, overwriting each other's checkpoints and
/// interleaving torn lines: the second is now refused, naming the holder's pid — for the checkpoint directory
/// and, with a checkpoint directory of its own, for each shared sink path.
#[test]
fn a_second_instance_on_the_same_directories_is_refused_with_the_holders_pid() {
    let dir = tempfile::tempdir().unwrap();
    let (v, _) = inputs(dir.path());
    let (out, ckpt) = (dir.path().join("out"), dir.path().join("ckpt"));
    let mut first = paced(job_cmd(&VIBRATION, &v, &out, Some(&ckpt)), &VIBRATION, 20_000, 1)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = ckpt.join("LOCK");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&lock).unwrap_or_default() != first.id().to_string() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first run never took its lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let holder = format!("in use by another weir (pid {}", first.id());
    let second = job_cmd(&VIBRATION, &v, &out, Some(&ckpt)).output().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(err.contains("checkpoint directory") && err.contains(&holder), "{err}");
    let other_ckpt = dir.path().join("ckpt2");
    let third = job_cmd(&VIBRATION, &v, &out, Some(&other_ckpt)).output().unwrap();
    let err = String::from_utf8_lossy(&third.stderr);
    assert_eq!(third.status.code(), Some(1), "{err}");
    assert!(err.contains("sink `rollups`: path") && err.contains(&holder), "{err}");
    first.kill().unwrap();
    first.wait().unwrap();
    // The kernel released the killed run's locks: the next run goes ahead.
    let done = ok(&mut job_cmd(&VIBRATION, &v, &out, Some(&ckpt)));
    assert!(!String::from_utf8_lossy(&done.stderr).contains("in use"));
}
