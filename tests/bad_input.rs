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
        "bad.toml: job.wokers: unknown key; allowed here: checkpoint, dead_letters, name, workers",
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
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    let o = weir()
        .current_dir(tmp.path())
        .arg("check")
        .arg(&job)
        .args(["--set", "job.workers=0"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("job.workers: must be at least 1, found 0"));
}
