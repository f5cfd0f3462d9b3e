//! The keyed rules `deadline` and `absence` through the binary, on hand-placed records whose logical times
//! are known (one file partition, `max_out_of_orderness` 0: a record's logical time is the largest `ts`
//! before it): a timer exactly at a record's logical time fires before it and not before one 1 ms earlier, an
//! older record does not move an absence timer, `until` ends a watch, follow-ups come after their alert, a
//! repeating deadline re-arms, ties fire by key, a failing predicate is a dead letter — identical output for
//! 1, 2 and 4 workers. Plus `weir check` on bad rules and `weir explain` in words.

mod support;

use std::path::Path;
use support::*;

const JOB: &str = r#"
[job]
name = "machines"
dead_letters = "dead"

[sources.machines]
kind = "file"
path = "in.jsonl"
max_out_of_orderness = "0s"
schema = { machine_id = "string", event = ["start", "finish", "beat"], status = "string", n = "int", ts = "int" }

[operators.cycle]
kind = "deadline"
inputs = ["machines"]
key = "machine_id"
start = "event = 'start'"
done = "event = 'finish'"
within = "10s"
repeat = true
alert = "cycle_overrun"
resolved = "cycle_finished_late"
fields = ["machine_id", "status"]
start_field = "cycle_started"
retention = "1h"

[operators.quiet]
kind = "absence"
inputs = ["machines"]
key = "machine_id"
of = "event = 'beat'"
until = "status = 'retired' OR 100 / n = 0"
silence = "20s"
alert = "machine_quiet"
severity = "critical"
resumed = "machine_back"
retention = "1h"

[sinks.alerts]
kind = "jsonl"
inputs = ["cycle", "quiet"]
path = "alerts.jsonl"

[sinks.dead]
kind = "jsonl"
path = "dead.jsonl"
"#;

fn rec(m: &str, event: &str, ts: i64, status: &str, n: i64) -> String {
    format!(r#"{{"machine_id":"{m}","event":"{event}","status":"{status}","n":{n},"ts":{ts}}}"#)
}

/// The input, one line per record, with each line's logical time (the largest ts before it) in a comment.
fn input() -> Vec<String> {
    vec![
        rec("a", "start", 1_000, "ok", 1),      // 1  lt 0      a: due at 11 000
        rec("b", "start", 1_000, "ok", 1),      // 2  lt 1000   b: due at 11 000
        rec("c", "beat", 5_000, "ok", 1),       // 3  lt 1000   c: quiet at 25 000
        rec("b", "finish", 10_999, "ok", 1),    // 4  lt 5000   b finished in time
        rec("x", "beat", 11_000, "ok", 1),      // 5  lt 10999  x: quiet at 31 000
        rec("a", "finish", 11_500, "ok", 1),    // 6  lt 11000  a's deadline (11 000) fires first → late finish
        rec("c", "beat", 3_000, "ok", 1),       // 7  lt 11500  older: c stays due at 25 000
        rec("d", "beat", 12_000, "ok", 1),      // 8  lt 11500  d: quiet at 32 000
        rec("d", "beat", 13_000, "retired", 1), // 9  lt 12000  until: d's watch ends
        rec("p", "beat", 14_000, "ok", 1),      // 10 lt 13000  p and o both due at 34 000
        rec("o", "beat", 14_000, "ok", 1),      // 11 lt 14000
        rec("x", "beat", 25_000, "ok", 1),      // 12 lt 14000  x: quiet at 45 000
        rec("y", "beat", 26_000, "ok", 1),      // 13 lt 25000  c's timer (25 000) fires before it
        rec("c", "beat", 27_000, "ok", 1),      // 14 lt 26000  c is back; quiet at 47 000
        rec("a", "start", 30_000, "ok", 1),     // 15 lt 27000  repeat: a new cycle, due at 40 000
        rec("z", "beat", 30_500, "ok", 0),      // 16 lt 30000  `until` fails (100 / 0): a dead letter of quiet
    ]
}

fn run(dir: &Path, workers: usize) -> (String, Vec<serde_json::Value>) {
    std::fs::write(dir.join("job.toml"), JOB).unwrap();
    std::fs::write(dir.join("in.jsonl"), input().join("\n") + "\n").unwrap();
    ok(weir().current_dir(dir).arg("run").arg(dir.join("job.toml")).args([
        "--workers",
        &workers.to_string(),
        "--quiet",
        "--chunk-bytes",
        "64",
    ]));
    let alerts = std::fs::read_to_string(dir.join("alerts.jsonl")).unwrap();
    (alerts, read_jsonl(&dir.join("dead.jsonl")))
}

#[test]
fn deadline_and_absence_fire_exactly_at_their_boundaries_for_any_worker_count() {
    let tmp = tempfile::tempdir().unwrap();
    let mut first: Option<String> = None;
    for workers in [1, 2, 4] {
        let dir = tmp.path().join(format!("w{workers}"));
        std::fs::create_dir_all(&dir).unwrap();
        let (text, dead) = run(&dir, workers);
        let alerts: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let got: Vec<(String, String, i64)> = alerts
            .iter()
            .map(|a| {
                (
                    a["kind"].as_str().unwrap().to_string(),
                    a["key"].as_str().unwrap().to_string(),
                    a["event_time"].as_i64().unwrap(),
                )
            })
            .collect();
        let expect: Vec<(String, String, i64)> = [
            ("cycle_overrun", "a", 11_000),
            ("cycle_finished_late", "a", 11_500),
            ("machine_quiet", "c", 25_000),
            ("machine_back", "c", 27_000),
            // the end of input fires every timer left: p and o tie at 34 000 (either order in the file)
            ("machine_quiet", "o", 34_000),
            ("machine_quiet", "p", 34_000),
            ("cycle_overrun", "a", 40_000),
            ("machine_quiet", "x", 45_000),
            ("machine_quiet", "y", 46_000),
            ("machine_quiet", "c", 47_000),
        ]
        .iter()
        .map(|(k, m, t)| (k.to_string(), m.to_string(), *t))
        .collect();
        let mut sorted = got.clone();
        sorted.sort_by(|a, b| (a.2, &a.1).cmp(&(b.2, &b.1)));
        assert_eq!(sorted, expect, "{workers} workers:\n{text}");
        // Outputs in the order things happened: by event time here, where no two happen at once.
        let times: Vec<i64> = got.iter().map(|g| g.2).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

        // The deadline's alerts carry the start and the deadline under the job's names, and the fields.
        let overrun = &alerts[0];
        assert_eq!(overrun["cycle_started"], 1_000);
        assert_eq!(overrun["deadline"], 11_000);
        assert_eq!(overrun["severity"], "warning");
        assert_eq!(overrun["status"], "ok");
        assert_eq!(alerts[1]["severity"], "info");
        let quiet = alerts.iter().find(|a| a["kind"] == "machine_quiet").unwrap();
        assert_eq!(quiet["severity"], "critical");
        assert!(
            quiet.get("deadline").is_none(),
            "absence alerts have no deadline fields"
        );
        let ids: std::collections::BTreeSet<&str> = alerts.iter().map(|a| a["alert_id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), alerts.len(), "alert ids are unique");

        assert_eq!(dead.len(), 1, "{dead:?}");
        assert_eq!(dead[0]["source"], "quiet");
        assert_eq!(dead[0]["offset"], 16);
        let reason = dead[0]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("expression `status = 'retired' OR 100 / n = 0`"),
            "{reason}"
        );

        match &first {
            None => first = Some(text),
            Some(f) => assert_eq!(f, &text, "{workers} workers: alerts differ from 1 worker's"),
        }
    }
}

#[test]
fn explain_says_each_rule_in_words() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("job.toml"), JOB).unwrap();
    let out = ok(weir().arg("explain").arg(tmp.path().join("job.toml")));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "per machine_id: `cycle_overrun` (warning) 10s after the first record where `event = 'start'` unless one \
             where `event = 'finish'` came first (a new deadline for each start after done)"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "per machine_id: `machine_quiet` (critical) 20s after the key's newest record where `event = 'beat'`"
        ),
        "{text}"
    );
    // Both rules read `machines` by `machine_id`: they run as one operator, and explain says so.
    assert!(
        text.contains("(one operator with `quiet`: same stream and key)")
            && text.contains("(one operator with `cycle`: same stream and key)"),
        "{text}"
    );
}

#[test]
fn check_lists_every_problem_of_bad_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let job = JOB
        .replace("within = \"10s\"\n", "")
        .replace("start = \"event = 'start'\"", "start = \"event = 3\"")
        .replace("silence = \"20s\"", "silence = \"2h\"")
        .replace(
            "resumed = \"machine_back\"",
            "resumed = \"machine_back\"\nfields = [\"machine\"]",
        )
        .replace("severity = \"critical\"", "severity = \"criticl\"");
    std::fs::write(tmp.path().join("job.toml"), job).unwrap();
    let out = weir().arg("check").arg(tmp.path().join("job.toml")).output().unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "operators.cycle.within: is required",
        "operators.cycle.start:",
        "operators.quiet.retention: must be at least the rule's own span (2h)",
        "operators.quiet.fields: field `machine` is not in the input's schema; available: machine_id, event, status, n, ts",
        "operators.quiet.severity: \"criticl\" is not a severity — did you mean \"critical\"?; allowed: critical, error, warning, info",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
}

/// Review B18 (DESIGN §2): a lone sensor silent for 10 minutes gets `sensor_silent` when its silence passes
/// 2 minutes and `sensor_resumed` at its next reading — although that reading's logical time (its partition's
/// watermark) is still before the silence's end. At 1 and 3 workers alike.
#[test]
fn a_lone_sensor_silent_for_ten_minutes_is_reported_silent_then_resumed() {
    let tmp = tempfile::tempdir().unwrap();
    let t0: i64 = 1_795_219_200_000;
    let pings: Vec<i64> = (0..120)
        .map(|i| t0 + i * 1000)
        .chain((0..120).map(|i| t0 + 719_000 + i * 1000))
        .collect();
    let input = tmp.path().join("gap.jsonl");
    let lines: Vec<String> = pings
        .iter()
        .map(|t| format!(r#"{{"sensor_id":"vib-0001","site":"pit","ts":{t},"ppv_mm_s":1.0,"freq_hz":10.0}}"#))
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    for workers in [1, 3] {
        let out = tmp.path().join(format!("out{workers}"));
        ok(weir()
            .arg("run")
            .arg(repo_root().join("config/sensor-health.toml"))
            .env("WEIR_VIBRATION_INPUT", &input)
            .env("WEIR_OUT", &out)
            .args(["--workers", &workers.to_string(), "--quiet"]));
        let alerts = read_jsonl(&out.join("sensor-health/alerts.jsonl"));
        let silence: Vec<(String, i64)> = alerts
            .iter()
            .filter(|a| a["kind"].as_str().unwrap().starts_with("sensor_"))
            .map(|a| {
                (
                    a["kind"].as_str().unwrap().to_string(),
                    a["event_time"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            silence,
            [
                ("sensor_silent".to_string(), t0 + 119_000 + 120_000),
                ("sensor_resumed".to_string(), t0 + 719_000),
                ("sensor_silent".to_string(), t0 + 838_000 + 120_000),
            ],
            "workers={workers}"
        );
    }
}

/// Review B6: alerts of distinct keys whose parts used to render alike — `("x|y","z")` and `("x","y|z")`,
/// `(NULL,"q")` and `("null","q")` — have distinct `key`s and `alert_id`s.
#[test]
fn alerts_of_distinct_keys_have_distinct_keys_and_ids() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("in.jsonl"),
        [
            r#"{"a":"x|y","b":"z","v":1.0,"ts":3000}"#,
            r#"{"a":"x","b":"y|z","v":1.0,"ts":3000}"#,
            r#"{"a":"null","b":"q","v":1.0,"ts":2000}"#,
            r#"{"a":null,"b":"q","v":1.0,"ts":2000}"#,
        ]
        .join("\n")
            + "\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("job.toml"),
        r#"[job]
name = "collide"
[sources.in]
kind = "file"
path = "in.jsonl"
event_time = "ts"
schema = { a = "string?", b = "string", v = "float", ts = "int" }
[operators.al]
kind = "alert"
inputs = ["in"]
key = ["a", "b"]
when = "v > 0"
alert = "a"
[sinks.alerts]
kind = "jsonl"
inputs = ["al"]
path = "alerts.jsonl"
[sinks.dead_letters]
kind = "jsonl"
path = "dead.jsonl"
"#,
    )
    .unwrap();
    ok(weir().current_dir(tmp.path()).args(["run", "job.toml", "--quiet"]));
    let alerts = read_jsonl(&tmp.path().join("alerts.jsonl"));
    let mut keys: Vec<&str> = alerts.iter().map(|a| a["key"].as_str().unwrap()).collect();
    keys.sort();
    assert_eq!(keys, ["\\N|q", "null|q", "x\\|y|z", "x|y\\|z"]);
    let ids: std::collections::BTreeSet<&str> = alerts.iter().map(|a| a["alert_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4, "{alerts:?}");
}

/// Trap 6: a data-quality summary needs a row per window even when nothing came. With `emit_empty`, a window
/// without key has a row for every window from the first with records to the last, zero counts (and NULL
/// for the other aggregates) where none came — the same at any worker count and chunk size. A keyed window
/// cannot have it.
#[test]
fn a_global_window_with_emit_empty_has_a_row_for_every_window() {
    let tmp = tempfile::tempdir().unwrap();
    let min = 60_000i64;
    let lines: Vec<String> = [(0, 1.0), (30, 9.0), (61, 2.0), (301, 3.0), (302, 7.0)]
        .iter()
        .map(|(s, v)| format!(r#"{{"v":{v},"ts":{}}}"#, s * 1000))
        .collect();
    std::fs::write(tmp.path().join("in.jsonl"), lines.join("\n") + "\n").unwrap();
    let job = |key: &str| {
        format!(
            r#"[job]
name = "quality"
[sources.in]
kind = "file"
path = "in.jsonl"
event_time = "ts"
schema = {{ v = "float", ts = "int" }}
[operators.summary]
kind = "window"
inputs = ["in"]
window = {{ kind = "tumbling", size = "1m" }}
key = [{key}]
aggregates = {{ n = "count", high = "count_if(v > 5)", top = "max(v)" }}
emit_empty = true
[sinks.out]
kind = "jsonl"
inputs = ["summary"]
path = "out.jsonl"
[sinks.dead_letters]
kind = "jsonl"
path = "dead.jsonl"
"#
        )
    };
    std::fs::write(tmp.path().join("job.toml"), job("")).unwrap();
    let mut outputs = Vec::new();
    for (workers, chunk) in [("1", "1048576"), ("3", "16")] {
        ok(weir().current_dir(tmp.path()).args([
            "run",
            "job.toml",
            "--quiet",
            "--workers",
            workers,
            "--chunk-bytes",
            chunk,
        ]));
        outputs.push(std::fs::read_to_string(tmp.path().join("out.jsonl")).unwrap());
    }
    assert_eq!(
        outputs[0], outputs[1],
        "the same rows at any worker count and chunk size"
    );
    let rows: Vec<(i64, i64, i64, Option<f64>)> = read_jsonl(&tmp.path().join("out.jsonl"))
        .iter()
        .map(|r| {
            (
                r["window_start"].as_i64().unwrap(),
                r["n"].as_i64().unwrap(),
                r["high"].as_i64().unwrap(),
                r["top"].as_f64(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (0, 2, 1, Some(9.0)),
            (min, 1, 0, Some(2.0)),
            (2 * min, 0, 0, None),
            (3 * min, 0, 0, None),
            (4 * min, 0, 0, None),
            (5 * min, 2, 1, Some(7.0)),
        ]
    );
    std::fs::write(tmp.path().join("keyed.toml"), job("\"v\"")).unwrap();
    let o = weir()
        .current_dir(tmp.path())
        .args(["check", "keyed.toml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("emit_empty") && err.contains("without key"),
        "{err}"
    );
}
