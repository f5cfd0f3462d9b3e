//! Cluster mode with real processes and sockets on 127.0.0.1: 3 processes × 2 workers of vibration-rollup
//! over 4 file partitions write outputs byte-identical to 1 process × 1 worker; a process SIGKILLed mid-run
//! makes the others exit by themselves, naming it; processes started with different job definitions or
//! worker counts are refused at start-up with the reason; Parquet and Delta sinks with `buckets` are written
//! by every process, byte-identical to one process's files, also through kills at other process counts; a last-location job on 2 processes answers every
//! view key from either process; view expiry at the end of input waits for partitions another process read.

#[path = "support/crash.rs"]
mod crash;
#[path = "support/http.rs"]
mod http_support;
mod support;

use http_support::{get, Server};

use std::collections::{BTreeMap, BTreeSet};
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

/// Process `i` of a cluster of `n` running `job` with `workers` each, writing under `out`.
fn member(job: &Path, out: &Path, hosts: &Path, n: usize, i: usize, workers: usize, extra: &[&str]) -> Command {
    let mut cmd = loud_member(job, out, hosts, (n, i), workers, extra);
    cmd.arg("--quiet");
    cmd
}

/// [`member`] printing its summary (which says what each sink wrote in the process).
fn loud_member(
    job: &Path,
    out: &Path,
    hosts: &Path,
    (n, i): (usize, usize),
    workers: usize,
    extra: &[&str],
) -> Command {
    let mut cmd = weir();
    cmd.arg("run")
        .arg(job)
        .args(["--workers", &workers.to_string()])
        .args(["--processes", &n.to_string(), "--process", &i.to_string()])
        .arg("--hostfile")
        .arg(hosts)
        .env("WEIR_OUT", out)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// `job` run by one process of one worker, writing under `dir/ref`: what a cluster must match.
fn one_process_run(job: &Path, dir: &Path) -> PathBuf {
    let reference = dir.join("ref");
    ok(weir()
        .arg("run")
        .arg(job)
        .args(["--quiet", "--workers", "1"])
        .env("WEIR_OUT", &reference));
    reference
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
    let reference = one_process_run(&job, tmp.path());

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

/// vibration-rollup over `paths` with its Parquet rollups in 4 buckets and a Delta archive of the raw
/// readings in 4 buckets: file sinks of which every worker of every process writes a share.
fn bucketed_job(paths: &[PathBuf], dir: &Path) -> PathBuf {
    let job = file_job_over_partitions("vibration-rollup.toml", paths, dir);
    let text = std::fs::read_to_string(&job).unwrap();
    assert_eq!(text.matches("partition_by = \"hour\"").count(), 1);
    let text = text.replace("partition_by = \"hour\"", "partition_by = \"hour\"\nbuckets = 4")
        + r#"
[sinks.raw]
kind = "delta"
inputs = ["vibration"]
path = "${WEIR_OUT:-out}/vibration/raw"
partition_by = "hour"
buckets = 4
max_rows_per_file = 3000
"#;
    let path = dir.join("bucketed.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Checks that the Delta table under `out` adds each of its data files exactly once, then sets its log aside
/// (commit timestamps and versions follow the checkpoints, not the data) so the trees can be compared.
fn check_and_drop_delta_log(out: &Path) {
    let table = out.join("vibration/raw");
    let mut adds: Vec<String> = Vec::new();
    for e in std::fs::read_dir(table.join("_delta_log")).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "json") {
            for line in std::fs::read_to_string(e.path()).unwrap().lines() {
                let action: serde_json::Value = serde_json::from_str(line).unwrap();
                if let Some(p) = action["add"]["path"].as_str() {
                    adds.push(p.to_string());
                }
            }
        }
    }
    let distinct: BTreeSet<String> = adds.iter().cloned().collect();
    assert_eq!(
        distinct.len(),
        adds.len(),
        "a file added twice under {}",
        table.display()
    );
    let mut files = BTreeSet::new();
    for date in std::fs::read_dir(&table)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != "_delta_log")
    {
        for hour in std::fs::read_dir(date.path()).unwrap().flatten() {
            for f in std::fs::read_dir(hour.path()).unwrap().flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                files.insert(format!(
                    "{}/{}/{name}",
                    date.file_name().to_string_lossy(),
                    hour.file_name().to_string_lossy()
                ));
            }
        }
    }
    assert_eq!(distinct, files, "the log adds exactly the table's files");
    assert!(files.iter().any(|f| f.contains("part-b001-")), "{files:?}");
    std::fs::remove_dir_all(table.join("_delta_log")).unwrap();
}

#[test]
fn bucketed_file_sinks_are_written_by_every_process_and_match_one_process() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = partitions(tmp.path(), 4);
    let job = bucketed_job(&paths, tmp.path());
    let reference = one_process_run(&job, tmp.path());

    let out = tmp.path().join("cluster");
    let ckpt = format!("job.checkpoint.dir={}", tmp.path().join("ckpt").display());
    let hosts = hostfile(tmp.path(), 2);
    let children: Vec<Child> = (0..2)
        .map(|i| {
            loud_member(&job, &out, &hosts, (2, i), 2, &["--set", &ckpt])
                .spawn()
                .unwrap()
        })
        .collect();
    for (status, err) in wait_all(children, Duration::from_secs(120)) {
        assert!(status.success(), "{status}: {err}");
        let line = err
            .lines()
            .find(|l| l.starts_with("written here, per sink:"))
            .unwrap_or_default();
        // Both file sinks wrote rows in this process too (they are not all sent to process 0).
        for sink in ["raw", "rollups"] {
            let n = line
                .split([':', ','])
                .filter_map(|w| w.trim().strip_prefix(&format!("{sink} ")))
                .find_map(|n| n.parse::<u64>().ok());
            assert!(n.is_some_and(|n| n > 0), "{sink} in {line:?}: {err}");
        }
    }
    check_and_drop_delta_log(&reference);
    check_and_drop_delta_log(&out);
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

/// The epochs for which every one of `n` processes has written its part of a checkpoint into `dir`.
fn epochs_complete(dir: &Path, n: usize) -> BTreeSet<String> {
    let suffix = format!("of{n}.weir");
    let mut parts: BTreeMap<String, usize> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(&suffix) {
            if let Some((epoch, _part)) = stem.rsplit_once(".p") {
                *parts.entry(epoch.to_string()).or_default() += 1;
            }
        }
    }
    parts.into_iter().filter(|(_, k)| *k == n).map(|(e, _)| e).collect()
}

#[test]
fn a_cluster_killed_again_and_again_resumes_from_its_checkpoints_with_other_process_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = partitions(tmp.path(), 4);
    // With file sinks whose files are spread over the processes: their state is split anew at each count.
    let job = bucketed_job(&paths, tmp.path());
    let reference = one_process_run(&job, tmp.path());

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
        // Kill once this cluster has a whole checkpoint of its own on disk, a little later (a fixed sleep raced
        // with a loaded machine's start-up and left a round with nothing to resume from).
        let before = epochs_complete(&ckpt, n);
        let deadline = Instant::now() + Duration::from_secs(60);
        while epochs_complete(&ckpt, n).difference(&before).next().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(rng.millis(0, 1500));
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
    check_and_drop_delta_log(&reference);
    check_and_drop_delta_log(&out);
    crash::assert_same_tree(&reference, &out);
}

#[test]
fn a_view_on_two_processes_answers_every_key_from_either_process() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("locations.jsonl");
    ok(weir()
        .args(["generate", "locations", "--orders", "300", "--hours", "2", "-o"])
        .arg(&input));
    let text = std::fs::read_to_string(&input).unwrap();
    let job = repo_root().join("config/last-location.toml");
    let out = tmp.path().join("out");
    let hosts = hostfile(tmp.path(), 2);
    let path = format!("sources.locations.path={}", input.display());
    let servers: Vec<Server> = (0..2)
        .map(|i| {
            let cmd = member(
                &job,
                &out,
                &hosts,
                2,
                i,
                2,
                &["--set", &path, "--set", "serve.listen=127.0.0.1:0"],
            );
            Server::spawn(cmd)
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    for s in &servers {
        while get(&s.addr, "/healthz").1["caught_up"] != true {
            assert!(Instant::now() < deadline, "process at {} never caught up", s.addr);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    for (view, field) in [("orders", "order_id"), ("deliverers", "deliverer_id")] {
        let expect = latest_by(&text, field);
        assert!(expect.len() > 20, "{view}: {} keys", expect.len());
        for s in &servers {
            // Every key, one by one: about half are held by the other process.
            for (k, want) in &expect {
                let (status, got) = get(&s.addr, &format!("/v1/views/{view}/{k}"));
                assert_eq!(status, 200, "{view} {k} from {}: {got}", s.addr);
                for f in ["order_id", "deliverer_id", "state", "ts", "lat", "lon"] {
                    assert_eq!(got[f], want[f], "{view} {k} {f} from {}", s.addr);
                }
            }
            // The listing merges both processes' keys in key order.
            let (status, list) = get(&s.addr, &format!("/v1/views/{view}?limit=10000"));
            assert_eq!(status, 200);
            assert_eq!(list["count"].as_u64().unwrap() as usize, expect.len(), "{view} count");
            let keys: Vec<&str> = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["key"].as_str().unwrap())
                .collect();
            assert_eq!(
                keys,
                expect.keys().map(String::as_str).collect::<Vec<_>>(),
                "{view} list"
            );
            let (_, three) = get(&s.addr, &format!("/v1/views/{view}?limit=3"));
            assert_eq!(three["items"].as_array().unwrap().len(), 3);
        }
    }
    // Each process serves its own metrics; a key nobody holds is a 404 from either.
    for s in &servers {
        let (status, body) = get(&s.addr, "/v1/views/orders/o-9999999");
        assert_eq!(
            (status, body["error"].as_str().unwrap()),
            (404, "no key `o-9999999` in view `orders`")
        );
    }
    for s in servers {
        assert!(s.terminate().success());
    }
}

/// A short partition (read by process 0) ends long before a long one (read by process 1): keys expire no
/// further than the job's final watermark, the least of both partitions' — so process 1's workers must have
/// heard of the end of a partition another process read. The changelog equals one process's.
#[test]
fn view_expiry_waits_for_the_end_of_partitions_read_by_another_process() {
    let tmp = tempfile::tempdir().unwrap();
    let job = ended_early_job(tmp.path());
    let one = tmp.path().join("one");
    ok(weir()
        .current_dir(tmp.path())
        .args(["run", "job.toml", "--quiet", "--workers", "1"])
        .env("WEIR_OUT", &one));
    let deleted: Vec<String> = read_jsonl(&one.join("changelog.jsonl"))
        .iter()
        .filter(|v| v["op"] == "delete")
        .map(|v| v["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        deleted.len(),
        7,
        "s-1 and l-000 … l-005 expire by the final watermark: {deleted:?}"
    );
    for workers in [1, 2] {
        let out = tmp.path().join(format!("cluster-{workers}"));
        let hosts = hostfile(tmp.path(), 2);
        let children: Vec<Child> = (0..2)
            .map(|i| {
                let mut cmd = member(&job, &out, &hosts, 2, i, workers, &[]);
                cmd.current_dir(tmp.path());
                cmd.spawn().unwrap()
            })
            .collect();
        for (status, err) in wait_all(children, Duration::from_secs(90)) {
            assert!(status.success(), "{err}");
        }
        crash::assert_same_tree(&one, &out);
    }
}

/// `weir cluster --local 2` of the last-location job: each process serves on the configured port + its
/// index, either answers every key, and SIGTERM to the launcher stops both and exits 0.
#[test]
fn weir_cluster_local_starts_serves_and_stops_its_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("locations.jsonl");
    ok(weir()
        .args(["generate", "locations", "--orders", "100", "--hours", "1", "-o"])
        .arg(&input));
    let expect = latest_by(&std::fs::read_to_string(&input).unwrap(), "order_id");
    // Two consecutive free ports.
    let port = (0..50)
        .find_map(|_| {
            let a = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
            let p = a.local_addr().ok()?.port();
            std::net::TcpListener::bind(("127.0.0.1", p.checked_add(1)?)).ok()?;
            Some(p)
        })
        .expect("two free ports");
    let mut launcher = weir()
        .args(["cluster", "--local", "2"])
        .arg(repo_root().join("config/last-location.toml"))
        .args(["--workers", "1", "--quiet", "--set"])
        .arg(format!("sources.locations.path={}", input.display()))
        .args(["--set", &format!("serve.listen=127.0.0.1:{port}")])
        .env("WEIR_OUT", tmp.path().join("out"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = collect_stderr(&mut launcher);
    let addrs = [format!("127.0.0.1:{port}"), format!("127.0.0.1:{}", port + 1)];
    let deadline = Instant::now() + Duration::from_secs(60);
    for a in &addrs {
        while http_support::try_status(a, "/healthz").is_err() || get(a, "/healthz").1["caught_up"] != true {
            assert!(
                Instant::now() < deadline,
                "{a} never caught up: {:?}",
                log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    for a in &addrs {
        for (k, want) in expect.iter().take(40) {
            let (status, got) = get(a, &format!("/v1/views/orders/{k}"));
            assert_eq!((status, &got["ts"]), (200, &want["ts"]), "{k} from {a}");
        }
    }
    // SAFETY: kill(2) on the child this test started.
    unsafe { libc::kill(launcher.id() as i32, libc::SIGTERM) };
    let status = launcher.wait().unwrap();
    assert!(status.success(), "{status}: {:?}", log.lock().unwrap());
    let log = log.lock().unwrap().join("\n");
    assert!(
        log.contains(&format!("process 1 serves on 127.0.0.1:{}", port + 1)),
        "{log}"
    );
    for a in &addrs {
        assert!(
            http_support::try_status(a, "/healthz").is_err(),
            "{a} still serves after the stop"
        );
    }
}

/// Every line `child` writes on its (piped) stderr, collected by a thread as it comes.
fn collect_stderr(child: &mut Child) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    let err = child.stderr.take().expect("stderr is piped");
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let lines = log.clone();
    std::thread::spawn(move || {
        for l in std::io::BufRead::lines(std::io::BufReader::new(err)).map_while(Result::ok) {
            lines.lock().unwrap().push(l);
        }
    });
    log
}

/// The pids whose parent is `parent` (from /proc).
fn children_of(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces, so read after its closing parenthesis.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        if after.split(' ').nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            out.push(pid);
        }
    }
    out
}

/// Whether `pid` has ended (gone, or a zombie nobody reaped yet).
fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'),
    }
}

/// `weir cluster --local 2` of the last-location job (which serves until stopped), once both processes serve:
/// the launcher and its log.
fn serving_cluster(dir: &Path) -> (Child, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let input = dir.join("locations.jsonl");
    if !input.exists() {
        ok(weir()
            .args(["generate", "locations", "--orders", "20", "--hours", "1", "-o"])
            .arg(&input));
    }
    let mut launcher = weir()
        .args(["cluster", "--local", "2"])
        .arg(repo_root().join("config/last-location.toml"))
        .args(["--workers", "1", "--set"])
        .arg(format!("sources.locations.path={}", input.display()))
        .args(["--set", "serve.listen=127.0.0.1:0"])
        .env("WEIR_OUT", dir.join("out"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = collect_stderr(&mut launcher);
    let deadline = Instant::now() + Duration::from_secs(60);
    while log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("serving on http://"))
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "never served: {:?}", log.lock().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    (launcher, log)
}

/// Review B14: a process killed by a signal is reported as such (not "exit status 1") and the supervisor
/// exits as a shell would (128 + the signal); killing the supervisor itself, even with SIGKILL, stops its
/// processes instead of orphaning them, and leaves no hostfile behind.
#[test]
fn the_supervisor_names_a_killing_signal_and_its_processes_die_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut launcher, log) = serving_cluster(tmp.path());
    let members = children_of(launcher.id());
    assert_eq!(members.len(), 2, "{members:?}");
    // SAFETY: kill(2) on a process this test's child started and still supervises.
    unsafe { libc::kill(*members.iter().max().unwrap() as i32, libc::SIGKILL) };
    let status = launcher.wait().unwrap();
    // The launcher's last line may still be on its way through the pipe to the reading thread.
    let said = "failed (killed by signal 9 (SIGKILL)); the others were stopped";
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log.lock().unwrap().iter().any(|l| l.contains(said)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = log.lock().unwrap().join("\n");
    assert_eq!(status.code(), Some(137), "{text}");
    assert!(text.contains(said), "{text}");

    let (launcher, log) = serving_cluster(tmp.path());
    let members = children_of(launcher.id());
    assert_eq!(members.len(), 2, "{members:?}");
    let hostfile = std::env::temp_dir().join(format!("weir-cluster-{}.hosts", launcher.id()));
    assert!(!hostfile.exists());
    // SAFETY: kill(2) on the child this test started.
    unsafe { libc::kill(launcher.id() as i32, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !members.iter().all(|p| ended(*p)) {
        assert!(
            Instant::now() < deadline,
            "processes {members:?} outlived their supervisor: {:?}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A process told to stop while it still waits for its peers to connect (timely's connecting looks at no stop)
/// exits at once and cleanly, saying so — not after the start-up timeout, and not as a failure.
#[test]
fn a_process_stopped_while_its_peers_are_missing_exits_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = partitions(tmp.path(), 2);
    let job = file_job_over_partitions("vibration-rollup.toml", &paths, tmp.path());
    let hosts = hostfile(tmp.path(), 2);
    let mut lone = member(&job, &tmp.path().join("out"), &hosts, 2, 1, 1, &[])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Timely says on standard output that it retries connecting to process 0, which never starts.
    let stdout = lone.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("error connecting to worker 0"))),
        "never tried to connect"
    );
    // SAFETY: kill(2) on the child this test started and has not yet waited for.
    unsafe { libc::kill(lone.id() as i32, libc::SIGTERM) };
    std::thread::spawn(move || lines.for_each(drop));
    let (status, err) = wait_all(vec![lone], Duration::from_secs(30)).remove(0);
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(
        err.contains("stopped while joining the other processes; nothing was read"),
        "{err}"
    );
}

/// Review B15: a hostfile naming one address twice is refused at once, naming both processes.
#[test]
fn a_hostfile_naming_an_address_twice_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let hosts = tmp.path().join("hosts.txt");
    std::fs::write(&hosts, "127.0.0.1:27121\n127.0.0.1:27121\n127.0.0.1:27123\n").unwrap();
    let o = weir()
        .args(["check"])
        .arg(repo_root().join("config/vibration-rollup.toml"))
        .args(["--processes", "3", "--process", "2", "--hostfile"])
        .arg(&hosts)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("process 1's address `127.0.0.1:27121` repeats process 0's"),
        "{err}"
    );
}
