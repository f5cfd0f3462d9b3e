//! Cluster mode with real processes and sockets on 127.0.0.1: 3 processes × 2 workers of vibration-rollup
//! over 4 file partitions write outputs byte-identical to 1 process × 1 worker; a process SIGKILLed mid-run
//! makes the others exit by themselves, naming it; processes started with different job definitions or
//! worker counts are refused at start-up with the reason.

#[path = "support/crash.rs"]
mod crash;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// A vibration input split into `n` partition files, each sensor in one of them.
fn partitions(dir: &Path, n: usize) -> Vec<PathBuf> {
    let input = dir.join("vibration.jsonl");
    generate_vibration(&input, 24, 3.0, 13, 0.003, 0.002);
    let text = std::fs::read_to_string(&input).unwrap();
    let mut parts = vec![String::new(); n];
    for (i, line) in text.lines().enumerate() {
        let p = line
            .find("\"vib-")
            .and_then(|at| line[at + 5..at + 9].parse::<usize>().ok())
            .unwrap_or(i)
            % n;
        parts[p].push_str(line);
        parts[p].push('\n');
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let p = dir.join(format!("p{i}.jsonl"));
            std::fs::write(&p, t).unwrap();
            p
        })
        .collect()
}

/// A hostfile of `n` free ports on 127.0.0.1.
fn hostfile(dir: &Path, n: usize) -> PathBuf {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let lines: Vec<String> = listeners
        .iter()
        .map(|l| format!("127.0.0.1:{}", l.local_addr().unwrap().port()))
        .collect();
    let path = dir.join(format!("hosts-{n}.txt"));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// Process `i` of a cluster of `n` running `job` with `workers` each, writing under `out`.
fn member(job: &Path, out: &Path, hosts: &Path, n: usize, i: usize, workers: usize, extra: &[&str]) -> Command {
    let mut cmd = weir();
    cmd.arg("run")
        .arg(job)
        .args(["--quiet", "--workers", &workers.to_string()])
        .args(["--processes", &n.to_string(), "--process", &i.to_string()])
        .arg("--hostfile")
        .arg(hosts)
        .env("WEIR_OUT", out)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn wait_all(children: Vec<Child>, limit: Duration) -> Vec<(std::process::ExitStatus, String)> {
    let deadline = Instant::now() + limit;
    children
        .into_iter()
        .map(|mut c| {
            let mut err = c.stderr.take().unwrap();
            let reader = std::thread::spawn(move || {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut err, &mut s).unwrap();
                s
            });
            let status = loop {
                if let Some(s) = c.try_wait().unwrap() {
                    break s;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    panic!("a cluster process did not exit within {limit:?}");
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            (status, reader.join().unwrap())
        })
        .collect()
}

#[test]
fn three_processes_of_two_workers_write_what_one_process_does() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = partitions(tmp.path(), 4);
    let job = file_job_over_partitions("vibration-rollup.toml", &paths, tmp.path());
    let reference = tmp.path().join("ref");
    ok(weir()
        .arg("run")
        .arg(&job)
        .args(["--quiet", "--workers", "1"])
        .env("WEIR_OUT", &reference));

    let out = tmp.path().join("cluster");
    let hosts = hostfile(tmp.path(), 3);
    let children: Vec<Child> = (0..3)
        .map(|i| member(&job, &out, &hosts, 3, i, 2, &[]).spawn().unwrap())
        .collect();
    for (status, err) in wait_all(children, Duration::from_secs(120)) {
        assert!(status.success(), "{status}: {err}");
    }
    crash::assert_same_tree(&reference, &out);
}

#[test]
fn a_killed_process_stops_the_others_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = partitions(tmp.path(), 4);
    let job = file_job_over_partitions("vibration-rollup.toml", &paths, tmp.path());
    let out = tmp.path().join("cluster");
    let hosts = hostfile(tmp.path(), 3);
    let slow = ["--set", "sources.vibration.rate=20000"];
    let mut children: Vec<Child> = (0..3)
        .map(|i| member(&job, &out, &hosts, 3, i, 1, &slow).spawn().unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(2500));
    let mut victim = children.remove(1);
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();
    let killed_at = Instant::now();
    let results = wait_all(children, Duration::from_secs(20));
    assert!(killed_at.elapsed() < Duration::from_secs(20));
    let addr = std::fs::read_to_string(&hosts)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    for (status, err) in results {
        assert_eq!(status.code(), Some(1), "{err}");
        assert!(err.contains(&format!("lost process 1 ({addr})")), "{err}");
    }
}

#[test]
fn processes_with_different_jobs_or_worker_counts_are_refused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = partitions(tmp.path(), 2);
    let job = file_job_over_partitions("vibration-rollup.toml", &paths, tmp.path());
    let out = tmp.path().join("cluster");

    let hosts = hostfile(tmp.path(), 2);
    let a = member(&job, &out, &hosts, 2, 0, 1, &[]).spawn().unwrap();
    let b = member(
        &job,
        &out,
        &hosts,
        2,
        1,
        1,
        &["--set", "operators.hourly.window.size=2h"],
    )
    .spawn()
    .unwrap();
    for (status, err) in wait_all(vec![a, b], Duration::from_secs(60)) {
        assert_eq!(status.code(), Some(1), "{err}");
        assert!(err.contains("runs a different job definition"), "{err}");
    }
    assert!(!out.join("vibration/alerts.jsonl").exists(), "nothing written");

    let hosts = hostfile(tmp.path(), 2);
    let a = member(&job, &out, &hosts, 2, 0, 1, &[]).spawn().unwrap();
    let b = member(&job, &out, &hosts, 2, 1, 2, &[]).spawn().unwrap();
    for (status, err) in wait_all(vec![a, b], Duration::from_secs(90)) {
        assert_eq!(status.code(), Some(1), "{err}");
        assert!(
            err.contains("worker(s) per process") || err.contains("the same weir, job and --workers"),
            "{err}"
        );
    }
}

#[test]
fn a_cluster_killed_again_and_again_resumes_from_its_checkpoints_with_other_process_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = partitions(tmp.path(), 4);
    let job = file_job_over_partitions("vibration-rollup.toml", &paths, tmp.path());
    let reference = tmp.path().join("ref");
    ok(weir()
        .arg("run")
        .arg(&job)
        .args(["--quiet", "--workers", "1"])
        .env("WEIR_OUT", &reference));

    let out = tmp.path().join("cluster");
    let ckpt = tmp.path().join("ckpt");
    let sets = [
        "--set".to_string(),
        format!("job.checkpoint.dir={}", ckpt.display()),
        "--set".to_string(),
        "job.checkpoint.interval=200ms".to_string(),
        "--set".to_string(),
        "sources.vibration.rate=10000".to_string(),
    ];
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let mut rng = crash::Lcg::new(0x5eed_00c1);
    let mut resumed = 0;
    for round in 0..5 {
        let n = if round % 2 == 0 { 3 } else { 2 };
        let hosts = hostfile(tmp.path(), n);
        let mut children: Vec<Child> = (0..n)
            .map(|i| member(&job, &out, &hosts, n, i, 1, &sets).spawn().unwrap())
            .collect();
        std::thread::sleep(rng.millis(3000, 5000));
        let k = rng.below(n as u64) as usize;
        let mut victim = children.remove(k);
        victim.kill().unwrap();
        victim.wait().unwrap();
        for (status, err) in wait_all(children, Duration::from_secs(20)) {
            assert!(status.code() == Some(1) || status.success(), "{err}");
            if err.contains("resuming from checkpoint") {
                resumed += 1;
            }
        }
    }
    assert!(
        resumed >= 4,
        "the restarted clusters resume from checkpoints ({resumed})"
    );
    // Then to the end, as 2 processes.
    let hosts = hostfile(tmp.path(), 2);
    let last: Vec<Child> = (0..2)
        .map(|i| member(&job, &out, &hosts, 2, i, 2, &sets[..4]).spawn().unwrap())
        .collect();
    for (status, err) in wait_all(last, Duration::from_secs(120)) {
        assert!(status.success(), "{err}");
        assert!(err.contains("resuming from checkpoint"), "{err}");
    }
    crash::assert_same_tree(&reference, &out);
}
