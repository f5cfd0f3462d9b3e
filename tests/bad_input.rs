//! Bad input gets a clear message, a non-zero exit, and no partial files under final names: a missing input
//! file, an unwritable output directory, a malformed job definition.

mod support;

use std::path::Path;
use support::*;

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if !dir.exists() {
        return out;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

#[test]
fn missing_input_file_fails_before_writing_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let missing = tmp.path().join("nope.jsonl");
    let o = weir()
        .arg("run")
        .arg(vibration_job())
        .args(vibration_sets(&missing, &out_dir))
        .arg("--quiet")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("source `vibration`") && err.contains("nope.jsonl") && err.contains("No such file"),
        "{err}"
    );
    assert!(files_under(&out_dir).is_empty(), "{:?}", files_under(&out_dir));
}

#[test]
fn unwritable_output_directory_fails_with_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    generate_vibration(&input, 3, 0.2, 1, 0.0, 0.0);
    // A regular file where a directory must go: no one can write under it, root included.
    let blocker = tmp.path().join("blocker");
    std::fs::write(&blocker, b"").unwrap();
    let out_dir = blocker.join("out");
    let o = weir()
        .arg("run")
        .arg(vibration_job())
        .args(vibration_sets(&input, &out_dir))
        .arg("--quiet")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot write to") && err.contains("blocker/out"), "{err}");
    assert_eq!(files_under(tmp.path()).len(), 2, "only the input and the blocker exist");
}

#[test]
fn malformed_job_lists_every_problem_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let job = tmp.path().join("bad.toml");
    std::fs::write(
        &job,
        r#"
[job]
name = "bad"
wokers = 2

[sources.vibration]
kind = "file"
path = "x.jsonl"
max_out_of_orderness = "30 parsecs"
schema = { sensor_id = "string", ts = "int", ppv_mm_s = "float" }

[operators.hourly]
kind = "window"
inputs = ["vibrations"]
window = { kind = "tumbling", size = "1h" }
key = ["sensor_id"]
aggregates = { readings = "count" }

[operators.spikes]
kind = "threshhold"
inputs = ["vibration"]

[sinks.rollups]
kind = "parquet"
inputs = ["hourlyy"]
path = 42

[sinks.dead_letters]
kind = "jsonl"
path = "dead.jsonl"
"#,
    )
    .unwrap();
    let o = weir().arg("check").arg(&job).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    for want in [
        "bad.toml: job.wokers: unknown key — did you mean \"workers\"?; allowed here: checkpoint, cluster, dead_letters, name, workers",
        "sources.vibration.max_out_of_orderness: \"30 parsecs\" is not a duration",
        "operators.hourly.inputs: no stream named `vibrations`; available: vibration, vibration.dead_letters",
        "operators.spikes.kind: unknown operator kind \"threshhold\"; allowed: filter, derive, union, window, alert",
        "sinks.rollups.inputs: no stream named `hourlyy`",
        "sinks.rollups.path: expected a string, found an integer",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    // `run` refuses the same file with the same messages and creates nothing.
    let o = weir().current_dir(tmp.path()).arg("run").arg(&job).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(files_under(tmp.path()), vec![job.display().to_string()]);
}

#[test]
fn check_and_explain_accept_the_reference_job() {
    let o = ok(weir().arg("check").arg(vibration_job()));
    assert!(String::from_utf8_lossy(&o.stdout).contains("ok"));
    let o = ok(weir().arg("explain").arg(vibration_job()).args(["--workers", "3"]));
    let text = String::from_utf8_lossy(&o.stdout);
    for want in [
        "job vibration-rollup — 3 workers",
        "window tumbling 1h",
        "keyed by [sensor_id]",
        "rollups",
        "← hourly",
        "dead_letters",
        "vibration.dead_letters, hourly.late",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

/// Mistakes that used to pass `weir check` and fail (or blow up) only at run time: two sinks on one path, a
/// hopping window with a record in millions of windows, NaN thresholds, absurd worker counts, a listen
/// address that is not one. Each is now a check problem with its key path, all reported at once.
#[test]
fn check_refuses_what_would_break_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let job = tmp.path().join("bad.toml");
    std::fs::write(
        &job,
        r#"
[job]
name = "bad"
workers = 100000

[serve]
listen = "127.0.0.1:99999"

[sources.vibration]
kind = "file"
path = "in.jsonl"
schema = "vibration"

[operators.fine]
kind = "window"
inputs = ["vibration"]
window = { kind = "hopping", size = "1h", slide = "1ms" }
key = ["sensor_id"]
aggregates = { n = "count", hot = "count_if(ppv_mm_s > nan)" }

[operators.spikes]
kind = "alert"
inputs = ["vibration"]
key = ["sensor_id"]
when = "ppv_mm_s > nan"
alert = "x"

[sinks.a]
kind = "jsonl"
inputs = ["fine"]
path = "out/same.jsonl"

[sinks.b]
kind = "jsonl"
inputs = ["spikes"]
path = "out/./same.jsonl"

[sinks.dead_letters]
kind = "parquet"
path = "out"

[sinks.lake]
kind = "parquet"
inputs = ["fine"]
path = "s3://bucket/lake"

[sinks.inner]
kind = "delta"
inputs = ["fine"]
path = "s3://bucket/lake/inner/"

[sinks.beside]
kind = "parquet"
inputs = ["fine"]
path = "s3://bucket/lakehouse"
"#,
    )
    .unwrap();
    let o = weir().current_dir(tmp.path()).arg("check").arg(&job).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    for want in [
        "job.workers: 100000 worker threads is more than this build runs",
        "serve.listen: \"127.0.0.1:99999\" is not an address to listen on",
        "operators.fine.window.slide: a record would be in 3600000 windows (size / slide); at most 1000",
        "operators.fine.aggregates.hot: `count_if(ppv_mm_s > nan)`: the threshold must be a finite number",
        "operators.spikes.when: `ppv_mm_s > nan`: unknown field `nan`",
        "sinks.b.path: `out/./same.jsonl` is the same path as sinks.a (`out/same.jsonl`)",
        "sinks.dead_letters.path: `out` is a path inside or around that of sinks.a",
        "sinks.inner.path: `s3://bucket/lake/inner` is a URL inside or around that of sinks.lake (`s3://bucket/lake`)",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    assert!(
        !err.contains("sinks.beside.path"),
        "a sibling prefix is not inside: {err}"
    );
    let o = weir()
        .current_dir(tmp.path())
        .arg("check")
        .arg(&job)
        .args(["--set", "job.workers=0"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("job.workers: must be at least 1, found 0"));
}

/// Event times at the ends of i64 used to hang the job at 100 % CPU (a window start overflowed and the
/// window iterator never ended): now they are processed where a window can hold them and dead-lettered with a
/// reason where none can; timers saturate (issue 14, item 3).
#[test]
fn extreme_event_times_neither_hang_nor_vanish() {
    let tmp = tempfile::tempdir().unwrap();
    let vib = tmp.path().join("vibration.jsonl");
    std::fs::write(
        &vib,
        concat!(
            r#"{"sensor_id":"s1","site":"x","ts":1000,"ppv_mm_s":1.0,"freq_hz":2.0}"#,
            "\n",
            r#"{"sensor_id":"s1","site":"x","ts":9223372036854775807,"ppv_mm_s":30.0,"freq_hz":2.0}"#,
            "\n",
            r#"{"sensor_id":"s2","site":"x","ts":-9223372036854775808,"ppv_mm_s":1.0,"freq_hz":2.0}"#,
            "\n",
        ),
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = run_within(
        weir()
            .arg("run")
            .arg(vibration_job())
            .args(vibration_sets(&vib, &out))
            .arg("--quiet"),
        60,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let alerts = read_jsonl(&out.join("alerts.jsonl"));
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["event_time"], i64::MAX);
    let dead = read_jsonl(&out.join("dead_letters.jsonl"));
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["offset"], 3);
    assert!(dead[0]["reason"].as_str().unwrap().contains("event time out of range"));
    let rows: usize = parquet_files(&out.join("rollups"))
        .iter()
        .map(|f| read_batches(f).iter().map(|b| b.num_rows()).sum::<usize>())
        .sum();
    assert_eq!(
        rows, 2,
        "the reading at 1000 and the one at i64::MAX each have their hour"
    );

    let loc = tmp.path().join("locations.jsonl");
    std::fs::write(
        &loc,
        concat!(
            r#"{"order_id":"o1","deliverer_id":"d1","state":"picked_up","ts":9223372036854775000,"lat":1.0,"lon":2.0}"#, "\n",
            r#"{"order_id":"o2","deliverer_id":"d1","state":"picked_up","ts":-9223372036854775000,"lat":1.0,"lon":2.0}"#, "\n",
        ),
    )
    .unwrap();
    let o = run_within(
        weir()
            .arg("run")
            .arg(repo_root().join("config/delivery-alerts.toml"))
            .args(["--set", &format!("sources.locations.path={}", loc.display())])
            .args([
                "--set",
                &format!("sinks.alerts.path={}", out.join("delivery.jsonl").display()),
            ])
            .args([
                "--set",
                &format!("sinks.dead_letters.path={}", out.join("dd.jsonl").display()),
            ])
            .arg("--quiet"),
        60,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let kinds: Vec<String> = read_jsonl(&out.join("delivery.jsonl"))
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains(&"delivery_delayed".to_string()), "{kinds:?}");
}

/// The edges of a line: a UTF-8 byte-order mark at the start of a file is accepted; a duplicated field is
/// ambiguous and a dead letter; an integer written with an exponent says so; a record longer than
/// `max_record_bytes` is a dead letter that keeps the start of its text.
#[test]
fn byte_order_marks_duplicate_fields_exponents_and_overlong_records() {
    let tmp = tempfile::tempdir().unwrap();
    let vib = tmp.path().join("vibration.jsonl");
    let long = format!(
        r#"{{"sensor_id":"s1","site":"{}","ts":4000,"ppv_mm_s":1.0,"freq_hz":2.0}}"#,
        "x".repeat(5000)
    );
    let text = [
        "\u{feff}".to_string() + r#"{"sensor_id":"s1","site":"x","ts":1000,"ppv_mm_s":1.0,"freq_hz":2.0}"#,
        r#"{"sensor_id":"s1","site":"x","ts":2000,"ts":3000,"ppv_mm_s":1.0,"freq_hz":2.0}"#.into(),
        r#"{"sensor_id":"s1","site":"x","ts":1e23,"ppv_mm_s":1.0,"freq_hz":2.0}"#.into(),
        long,
        r#"{"sensor_id":"s1","site":"x","ts":5000,"ppv_mm_s":1.0,"freq_hz":2.0}"#.into(),
    ]
    .join("\n");
    std::fs::write(&vib, text + "\n").unwrap();
    let out = tmp.path().join("out");
    let o = ok(weir()
        .arg("run")
        .arg(vibration_job())
        .args(vibration_sets(&vib, &out))
        .args(["--set", "sources.vibration.max_record_bytes=4096", "--quiet"]));
    assert!(String::from_utf8_lossy(&o.stderr).contains("2 events read"));
    let dead = read_jsonl(&out.join("dead_letters.jsonl"));
    let reasons: Vec<(i64, String)> = dead
        .iter()
        .map(|d| (d["offset"].as_i64().unwrap(), d["reason"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(reasons[0].0, 2);
    assert!(reasons[0].1.contains("duplicate field `ts`"), "{reasons:?}");
    assert_eq!(reasons[1].0, 3);
    assert!(
        reasons[1].1.contains("found 1e23, a number with an exponent"),
        "{reasons:?}"
    );
    assert_eq!(reasons[2].0, 4);
    assert!(
        reasons[2]
            .1
            .contains("record of 5067 bytes is longer than max_record_bytes (4096)"),
        "{reasons:?}"
    );
    assert_eq!(dead[2]["raw"].as_str().unwrap().len(), 1024);
}

#[test]
fn a_sink_path_that_is_a_directory_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let vib = tmp.path().join("vibration.jsonl");
    generate_vibration(&vib, 2, 0.1, 1, 0.0, 0.0);
    let out = tmp.path().join("out");
    std::fs::create_dir_all(out.join("alerts.jsonl")).unwrap();
    let o = weir()
        .arg("run")
        .arg(vibration_job())
        .args(vibration_sets(&vib, &out))
        .arg("--quiet")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("sink `alerts`") && err.contains("alerts.jsonl") && err.contains("it is a directory"),
        "{err}"
    );
}

/// With `max_future`, a record far ahead of the watermark (a sensor whose clock jumped a year) is a dead
/// letter saying so and does not move the watermark: the readings after it are not late, the hourly windows
/// are those of the input without it — for any worker count and chunk size.
#[test]
fn max_future_dead_letters_a_clock_jump_without_moving_the_watermark() {
    let tmp = tempfile::tempdir().unwrap();
    let clean = tmp.path().join("clean.jsonl");
    generate_vibration(&clean, 3, 2.0, 5, 0.0, 0.0);
    let lines: Vec<String> = std::fs::read_to_string(&clean)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let mut jumped = lines.clone();
    let at = lines.len() / 3;
    jumped.insert(
        at,
        r#"{"sensor_id":"vib-0001","site":"x","ts":1900000000000,"ppv_mm_s":30.0,"freq_hz":2.0}"#.into(),
    );
    let input = tmp.path().join("jumped.jsonl");
    std::fs::write(&input, jumped.join("\n") + "\n").unwrap();
    let rows = |out: &std::path::Path| {
        let mut r: Vec<String> = read_rollups(&out.join("rollups"))
            .iter()
            .map(|r| format!("{r:?}"))
            .collect();
        r.sort();
        r
    };
    let reference = tmp.path().join("ref");
    ok(weir()
        .arg("run")
        .arg(vibration_job())
        .args(vibration_sets(&clean, &reference))
        .arg("--quiet"));
    for (workers, chunk) in [(1, "131072"), (2, "4096"), (3, "1000")] {
        let out = tmp.path().join(format!("out-{workers}-{chunk}"));
        ok(weir()
            .arg("run")
            .arg(vibration_job())
            .args(vibration_sets(&input, &out))
            .args(["--set", "sources.vibration.max_future=1d", "--quiet"])
            .args(["--workers", &workers.to_string(), "--chunk-bytes", chunk]));
        let dead = read_jsonl(&out.join("dead_letters.jsonl"));
        assert_eq!(dead.len(), 1, "{dead:?}");
        assert_eq!(dead[0]["offset"], at as i64 + 1);
        assert!(
            dead[0]["reason"]
                .as_str()
                .unwrap()
                .contains("more than max_future (86400000 ms) ahead of the watermark"),
            "{dead:?}"
        );
        assert_eq!(rows(&out), rows(&reference), "workers={workers} chunk={chunk}");
        assert_eq!(
            std::fs::read_to_string(out.join("alerts.jsonl")).unwrap(),
            std::fs::read_to_string(reference.join("alerts.jsonl")).unwrap()
        );
    }
}

/// A window operator holding more (window, key) accumulators than `max_open_windows` fails the job with a
/// message naming the operator, instead of growing until the machine runs out of memory.
#[test]
fn too_many_open_windows_fail_the_job_with_the_operator_named() {
    let tmp = tempfile::tempdir().unwrap();
    let vib = tmp.path().join("vibration.jsonl");
    generate_vibration(&vib, 20, 0.5, 1, 0.0, 0.0);
    let out = tmp.path().join("out");
    let o = run_within(
        weir()
            .arg("run")
            .arg(vibration_job())
            .args(vibration_sets(&vib, &out))
            .args([
                "--set",
                "operators.hourly.window.kind=hopping",
                "--set",
                "operators.hourly.window.slide=10s",
            ])
            .args(["--set", "operators.hourly.max_open_windows=1000", "--quiet"]),
        60,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("operator `hourly`: more than 1000 windows open at once") && err.contains("max_open_windows"),
        "{err}"
    );
    assert!(!out.join("alerts.jsonl").exists(), "a failed run publishes nothing");
}

#[test]
fn a_missing_or_unreadable_table_fails_at_start_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("vibration.jsonl");
    generate_vibration(&input, 2, 0.1, 1, 0.0, 0.0);
    let job = |table: &Path| {
        let text = format!(
            r#"[job]
name = "t"
[sources.vibration]
kind = "file"
path = "{}"
schema = "vibration"
[tables.sensors]
kind = "file"
path = "{}"
key = "sensor_id"
schema = {{ sensor_id = "string", zone = "string" }}
[operators.j]
kind = "join"
inputs = ["vibration", "sensors"]
on = "sensor_id"
[sinks.out]
kind = "jsonl"
inputs = ["j"]
path = "{}"
[sinks.dead_letters]
kind = "jsonl"
path = "{}"
"#,
            input.display(),
            table.display(),
            tmp.path().join("out/joined.jsonl").display(),
            tmp.path().join("out/dead.jsonl").display()
        );
        let p = tmp.path().join("job.toml");
        std::fs::write(&p, text).unwrap();
        p
    };
    let run = |table: &Path| {
        let o = weir().arg("run").arg(job(table)).arg("--quiet").output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (code, err) = run(&tmp.path().join("nope.csv"));
    assert_eq!(code, Some(1));
    assert!(
        err.contains("table `sensors`") && err.contains("nope.csv") && err.contains("No such file"),
        "{err}"
    );
    let csv = tmp.path().join("sensors.csv");
    std::fs::write(&csv, "sensor_id,site\nvib-0000,x\n").unwrap();
    let (code, err) = run(&csv);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("the CSV header has no column `zone` (it has: sensor_id, site)"),
        "{err}"
    );
    assert!(files_under(&tmp.path().join("out")).is_empty());
}

/// Review B11: records an expression fails on are dead letters the run summary (and
/// `weir_dead_letters_total`) counts, like malformed input.
#[test]
fn expression_failures_are_counted_as_dead_letters() {
    let tmp = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (1..=4).map(|i| format!(r#"{{"i":{i},"ts":{}}}"#, i * 1000)).collect();
    std::fs::write(
        tmp.path().join("in.jsonl"),
        lines.join("\n") + "\n{\"i\":null,\"ts\":5000}\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("job.toml"),
        r#"[job]
name = "div"
[sources.in]
kind = "file"
path = "in.jsonl"
event_time = "ts"
schema = { i = "int?", ts = "int" }
[operators.x]
kind = "derive"
inputs = ["in"]
fields = { out = "i / 0" }
[sinks.out]
kind = "jsonl"
inputs = ["x"]
path = "out.jsonl"
[sinks.dead_letters]
kind = "jsonl"
path = "dead.jsonl"
"#,
    )
    .unwrap();
    let o = ok(weir().current_dir(tmp.path()).args(["run", "job.toml"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(", 4 dead letters"), "{err}");
    let dead = read_jsonl(&tmp.path().join("dead.jsonl"));
    assert_eq!(dead.len(), 4);
    assert!(dead
        .iter()
        .all(|d| d["reason"] == "expression `i / 0`: integer division by zero"));
}

/// Review B5: a combinable window (pre-aggregated per worker) holding more keys than `max_open_windows` fails
/// while it reads, not when its window closes: over an endless stream of 3000 sensors and a seven-day window,
/// the run used to go on until the window's end (here: until the watchdog).
#[test]
fn a_pre_aggregated_window_fails_as_soon_as_it_holds_too_many_keys() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("job.toml"),
        r#"[job]
name = "runaway"
workers = 2
[sources.vibration]
kind = "generator"
workload = "vibration"
sensors = 3000
[operators.daily]
kind = "window"
inputs = ["vibration"]
window = { kind = "tumbling", size = "7d" }
key = ["sensor_id"]
aggregates = { n = "count", hi = "max(ppv_mm_s)" }
max_open_windows = 1000
[sinks.out]
kind = "jsonl"
inputs = ["daily"]
path = "out.jsonl"
[sinks.dead_letters]
kind = "jsonl"
path = "dead.jsonl"
"#,
    )
    .unwrap();
    let o = run_within(weir().current_dir(tmp.path()).args(["run", "job.toml", "--quiet"]), 60);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("operator `daily`: more than 1000 windows open at once"),
        "{err}"
    );
}
