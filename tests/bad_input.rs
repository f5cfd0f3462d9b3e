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
