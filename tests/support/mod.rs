//! Shared helpers of the end-to-end tests: running the real `weir` binary, generating inputs, and reading
//! its outputs back with independent readers (arrow's Parquet reader, serde_json).
#![allow(dead_code)]

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn weir() -> Command {
    Command::new(env!("CARGO_BIN_EXE_weir"))
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub fn vibration_job() -> PathBuf {
    repo_root().join("config/vibration-rollup.toml")
}

/// Runs a command, panicking with its stderr if it fails.
pub fn ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{:?} failed ({}):\n{}",
        cmd,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Generates a vibration workload file with the built-in generator.
pub fn generate_vibration(path: &Path, sensors: u32, hours: f64, seed: u64, late_frac: f64, bad_frac: f64) {
    ok(weir()
        .args([
            "generate",
            "vibration",
            "--sensors",
            &sensors.to_string(),
            "--hours",
            &hours.to_string(),
        ])
        .args([
            "--seed",
            &seed.to_string(),
            "--late-frac",
            &late_frac.to_string(),
            "--bad-frac",
            &bad_frac.to_string(),
            "-o",
            path.to_str().unwrap(),
        ]));
}

/// Generates a locations workload file with the built-in generator and `args` (`--orders`, `--hours`, …).
pub fn generate_locations(path: &Path, args: &[&str]) {
    ok(weir().args(["generate", "locations"]).args(args).arg("-o").arg(path));
}

/// The output files of one vibration-rollup run.
pub struct VibrationOut {
    pub dir: PathBuf,
}

impl VibrationOut {
    pub fn rollups(&self) -> PathBuf {
        self.dir.join("rollups")
    }
    pub fn alerts(&self) -> PathBuf {
        self.dir.join("alerts.jsonl")
    }
    pub fn dead_letters(&self) -> PathBuf {
        self.dir.join("dead_letters.jsonl")
    }
}

/// The `--set` arguments pointing the vibration job at `input` and `out`.
pub fn vibration_sets(input: &Path, out: &Path) -> Vec<String> {
    vec![
        "--set".into(),
        format!("sources.vibration.path={}", input.display()),
        "--set".into(),
        format!("sinks.rollups.path={}", out.join("rollups").display()),
        "--set".into(),
        format!("sinks.alerts.path={}", out.join("alerts.jsonl").display()),
        "--set".into(),
        format!("sinks.dead_letters.path={}", out.join("dead_letters.jsonl").display()),
    ]
}

/// Runs the reference vibration-rollup job.
pub fn run_vibration(input: &Path, out: &Path, workers: usize, extra: &[&str]) -> VibrationOut {
    ok(weir()
        .arg("run")
        .arg(vibration_job())
        .args(vibration_sets(input, out))
        .args(["--workers", &workers.to_string(), "--quiet"])
        .args(extra));
    VibrationOut { dir: out.to_path_buf() }
}

/// One row of the vibration rollups, as read back from Parquet.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollup {
    pub window_start: i64,
    pub window_end: i64,
    pub sensor_id: String,
    pub site: String,
    pub readings: i64,
    pub ppv_min: f64,
    pub ppv_max: f64,
    pub ppv_mean: f64,
    pub ppv_rms: f64,
    pub ppv_p50: f64,
    pub ppv_p90: f64,
    pub ppv_p99: f64,
    pub freq_max: f64,
    pub over_limit: i64,
    /// The partition directory the row was found in, relative to the output root.
    pub partition: String,
}

/// Every file under `dir`, sorted.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every `.parquet` file under `dir`, sorted.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    files_in(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect()
}

pub fn read_batches(file: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(file).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> &'a T {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| panic!("type of {name}"))
}

/// Reads every rollup row under `dir`, sorted by (window_start, sensor_id).
pub fn read_rollups(dir: &Path) -> Vec<Rollup> {
    let mut rows = Vec::new();
    for file in parquet_files(dir) {
        let partition = file.parent().unwrap().strip_prefix(dir).unwrap().display().to_string();
        for b in read_batches(&file) {
            let f = |n: &str| col::<Float64Array>(&b, n).clone();
            let (min, max, mean, rms, p50, p90, p99, fmax) = (
                f("ppv_min"),
                f("ppv_max"),
                f("ppv_mean"),
                f("ppv_rms"),
                f("ppv_p50"),
                f("ppv_p90"),
                f("ppv_p99"),
                f("freq_max"),
            );
            let ws = col::<TimestampMillisecondArray>(&b, "window_start");
            let we = col::<TimestampMillisecondArray>(&b, "window_end");
            let sid = col::<StringArray>(&b, "sensor_id");
            let site = col::<StringArray>(&b, "site");
            let readings = col::<Int64Array>(&b, "readings");
            let over = col::<Int64Array>(&b, "over_limit");
            for i in 0..b.num_rows() {
                rows.push(Rollup {
                    window_start: ws.value(i),
                    window_end: we.value(i),
                    sensor_id: sid.value(i).to_string(),
                    site: site.value(i).to_string(),
                    readings: readings.value(i),
                    ppv_min: min.value(i),
                    ppv_max: max.value(i),
                    ppv_mean: mean.value(i),
                    ppv_rms: rms.value(i),
                    ppv_p50: p50.value(i),
                    ppv_p90: p90.value(i),
                    ppv_p99: p99.value(i),
                    freq_max: fmax.value(i),
                    over_limit: over.value(i),
                    partition: partition.clone(),
                });
                assert!(!ws.is_null(i));
            }
        }
    }
    rows.sort_by(|a, b| (a.window_start, &a.sensor_id).cmp(&(b.window_start, &b.sensor_id)));
    rows
}

/// Reads a JSONL file as JSON values.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// The JSON lines of a file being written by a running job (none while it does not exist yet).
pub fn jsonl_so_far(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// A job definition from `config/NAME.toml` whose file source reads `paths` (one partition each).
pub fn file_job_over_partitions(config: &str, paths: &[PathBuf], dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo_root().join("config").join(config)).unwrap();
    let list: Vec<String> = paths.iter().map(|p| format!("{:?}", p.display().to_string())).collect();
    let mut replaced = 0;
    let job: String = text
        .lines()
        .map(|l| {
            if l.starts_with("path = \"${WEIR_") && l.contains("_INPUT") {
                replaced += 1;
                format!("paths = [{}]", list.join(", "))
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(replaced, 1, "config/{config} has one input path line");
    let path = dir.join(config);
    std::fs::write(&path, job).unwrap();
    path
}

/// A hostfile of `n` free ports on 127.0.0.1 (for `--hostfile`), in `dir`.
pub fn hostfile(dir: &Path, n: usize) -> PathBuf {
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

/// The "ended early" job in `dir`: a short partition (`short.jsonl`: three pings, the last at 10 min) and a
/// long one (`long.jsonl`: an order delivered every minute for two hours) into a `latest` view whose
/// delivered orders expire after 5 min, with a changelog and dead letters under `${WEIR_OUT:-.}`. Keys expire
/// at the end up to the final watermark, 10 min: `s-1` and `l-000` … `l-005`. Returns `dir/job.toml`.
pub fn ended_early_job(dir: &Path) -> PathBuf {
    const MIN: i64 = 60_000;
    let ping = |order: &str, state: &str, ts: i64| {
        format!(r#"{{"order_id":"{order}","deliverer_id":"d-1","state":"{state}","ts":{ts},"lat":1.0,"lon":2.0}}"#)
    };
    let short = [
        ping("s-1", "picked_up", 0),
        ping("s-1", "delivered", 4 * MIN),
        ping("s-2", "en_route", 10 * MIN),
    ];
    let long: Vec<String> = (0..120)
        .map(|m| ping(&format!("l-{m:03}"), "delivered", m * MIN))
        .collect();
    std::fs::write(dir.join("short.jsonl"), short.join("\n") + "\n").unwrap();
    std::fs::write(dir.join("long.jsonl"), long.join("\n") + "\n").unwrap();
    let job = r#"
[job]
name = "ended-early"
dead_letters = "dead"
[sources.locations]
kind = "file"
paths = ["short.jsonl", "long.jsonl"]
max_out_of_orderness = "0s"
schema = "locations"
[operators.orders]
kind = "latest"
inputs = ["locations"]
key = "order_id"
terminal = { field = "state", values = ["delivered"] }
ttl = "5m"
[sinks.changelog]
kind = "jsonl"
inputs = ["orders"]
path = "${WEIR_OUT:-.}/changelog.jsonl"
[sinks.dead]
kind = "jsonl"
path = "${WEIR_OUT:-.}/dead.jsonl"
"#;
    let path = dir.join("job.toml");
    std::fs::write(&path, job).unwrap();
    path
}

/// The greatest-ts record per key (ties: the later line), from a JSONL file, for one key field.
pub fn latest_by(text: &str, key: &str) -> std::collections::BTreeMap<String, serde_json::Value> {
    let mut out: std::collections::BTreeMap<String, serde_json::Value> = std::collections::BTreeMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let valid = v["order_id"].is_string()
            && v["deliverer_id"].is_string()
            && ["assigned", "picked_up", "en_route", "delivered"].contains(&v["state"].as_str().unwrap_or(""))
            && (v["ts"].is_i64() || v["ts"].is_u64())
            && v["lat"].is_number()
            && v["lon"].is_number();
        if !valid {
            continue;
        }
        let k = v[key].as_str().unwrap().to_string();
        if out.get(&k).is_none_or(|old| v["ts"].as_i64() >= old["ts"].as_i64()) {
            out.insert(k, v);
        }
    }
    out
}

/// Runs `cmd` and waits at most `secs` for it (a hang fails the test instead of hanging it).
pub fn run_within(cmd: &mut std::process::Command, secs: u64) -> std::process::Output {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(secs));
        // SAFETY: kill(2) on our own child's pid (at worst it has exited and the signal finds no one).
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    });
    let out = child.wait_with_output().unwrap();
    assert!(!watchdog.is_finished(), "weir did not finish within {secs} s");
    out
}

/// Whether python3 has DuckDB; without it a test that needs it skips, unless `WEIR_REQUIRE_PY_READERS=1`
/// (set by `tests/run.sh`), where that is a failure.
pub fn have_duckdb() -> bool {
    have_python_module("duckdb")
}

/// Whether python3 can import `module` (an independent reader); without it a test that needs it skips,
/// unless `WEIR_REQUIRE_PY_READERS=1` (set by `tests/run.sh`), where that is a failure.
pub fn have_python_module(module: &str) -> bool {
    let have = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        have || std::env::var("WEIR_REQUIRE_PY_READERS").is_err(),
        "{module} (python3 -m pip install {module}) is required by WEIR_REQUIRE_PY_READERS"
    );
    have
}

/// Every file under `dir`, relative, with its bytes, sorted (lock files aside: they hold a process id) — for
/// comparing two runs' outputs byte for byte.
pub fn file_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = files_in(dir)
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".lock"))
        .map(|p| {
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            (rel, std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}
