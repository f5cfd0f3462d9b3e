//! A hand-written job end to end: hopping windows keyed by two fields, rows written as JSON lines to stdout,
//! a late record counted in the windows it is not late for and reported once — checked against values
//! worked out by hand.

mod support;

use support::*;

#[test]
fn hopping_windows_to_stdout_match_a_hand_computed_result() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    // ts in seconds ×1000; windows of 10 s every 5 s; max_out_of_orderness 0, lateness 0.
    let rows = [
        ("a", "x", 1_000, 1.0),
        ("a", "x", 6_000, 2.0),
        ("b", "y", 7_000, 10.0),
        ("a", "x", 12_000, 4.0),
        // arrival watermark 12 s: window [0,10) is closed, [5,15) is open → counted in [5,15) only, late once
        ("a", "x", 8_000, 8.0),
        ("a", "x", 30_000, 1.0),
    ];
    let text: String = rows
        .iter()
        .map(|(s, site, ts, v)| {
            format!("{{\"sensor_id\":\"{s}\",\"site\":\"{site}\",\"ts\":{ts},\"ppv_mm_s\":{v},\"freq_hz\":1}}\n")
        })
        .collect();
    std::fs::write(&input, text).unwrap();
    let job = tmp.path().join("job.toml");
    std::fs::write(
        &job,
        format!(
            r#"
[job]
name = "hop"
[sources.s]
kind = "file"
path = "{}"
schema = "vibration"
[operators.w]
kind = "window"
inputs = ["s"]
window = {{ kind = "hopping", size = "10s", slide = "5s" }}
key = ["sensor_id", "site"]
[operators.w.aggregates]
n = "count"
total = "sum(ppv_mm_s)"
last = "last(ppv_mm_s)"
[sinks.out]
kind = "stdout"
inputs = ["w"]
[sinks.dead_letters]
kind = "jsonl"
path = "{}"
"#,
            input.display(),
            tmp.path().join("dead.jsonl").display()
        ),
    )
    .unwrap();
    let out = ok(weir().arg("run").arg(&job).args(["--workers", "2", "--quiet"]));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(i64, &str, i64, f64, f64)> = lines
        .iter()
        .map(|r| {
            assert_eq!(
                r["window_end"].as_i64().unwrap() - r["window_start"].as_i64().unwrap(),
                10_000
            );
            (
                r["window_start"].as_i64().unwrap(),
                r["sensor_id"].as_str().unwrap(),
                r["n"].as_i64().unwrap(),
                r["total"].as_f64().unwrap(),
                r["last"].as_f64().unwrap(),
            )
        })
        .collect();
    let want = vec![
        (-5_000, "a", 1, 1.0, 1.0),
        (0, "a", 2, 3.0, 2.0),
        (0, "b", 1, 10.0, 10.0),
        (5_000, "a", 3, 14.0, 4.0), // 6 s, 12 s, and the late 8 s record
        (5_000, "b", 1, 10.0, 10.0),
        (10_000, "a", 1, 4.0, 4.0),
        (25_000, "a", 1, 1.0, 1.0),
        (30_000, "a", 1, 1.0, 1.0),
    ];
    assert_eq!(got, want);
    assert!(lines.iter().all(|r| r["site"].is_string()));
    let dead = read_jsonl(&tmp.path().join("dead.jsonl"));
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0]["reason"].as_str(), dead[0]["offset"].as_u64()),
        (Some("late"), Some(5))
    );
}
