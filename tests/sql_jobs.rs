//! SQL job definitions end to end (DESIGN §10): `config/vibration-hourly.sql` and its TOML twin give
//! byte-identical outputs at 1 and 3 workers, `${VAR}` works in its strings, and `weir check` names a SQL
//! problem's line and column.

mod support;

use std::path::Path;
use support::*;

/// `config/vibration-hourly.sql` in TOML.
const TWIN: &str = r#"
[job]
name = "vibration-hourly"
workers = 2

[sources.vibration]
kind = "file"
path = "${WEIR_VIBRATION_INPUT:-data/vibration.jsonl}"
format = "jsonl"
event_time = "ts"
max_out_of_orderness = "30s"
schema = { sensor_id = "string", site = "string", ts = "int", ppv_mm_s = "float", freq_hz = "float" }

[operators.hourly]
kind = "window"
inputs = ["vibration"]
window = { kind = "tumbling", size = "1h" }
key = ["sensor_id"]

[operators.hourly.aggregates]
site = "last(site)"
readings = "count"
ppv_max = "max(ppv_mm_s)"
ppv_mean = "mean(ppv_mm_s)"
ppv_p90 = "quantile(ppv_mm_s, 0.9)"
over_limit = "count_if(ppv_mm_s > 5.0)"

[sinks.rollups]
kind = "parquet"
inputs = ["hourly"]
path = "${WEIR_OUT:-out}/vibration-hourly/rollups"
partition_by = "hour"

[sinks.dead_letters]
kind = "jsonl"
path = "${WEIR_OUT:-out}/vibration-hourly/dead_letters.jsonl"
"#;

fn run(job: &Path, input: &Path, out: &Path, workers: usize) {
    ok(weir()
        .arg("run")
        .arg(job)
        .args(["--workers", &workers.to_string(), "--quiet"])
        .env("WEIR_VIBRATION_INPUT", input)
        .env("WEIR_OUT", out));
}

/// Every file under `dir`, relative, with its bytes (lock files aside: they hold a process id).
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
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

#[test]
fn the_sql_rollup_writes_what_its_toml_twin_writes_at_1_and_3_workers() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("vibration.jsonl");
    generate_vibration(&input, 20, 3.0, 7, 0.004, 0.003);
    let twin = tmp.path().join("vibration-hourly.toml");
    std::fs::write(&twin, TWIN).unwrap();
    let sql = repo_root().join("config/vibration-hourly.sql");
    let mut trees = Vec::new();
    for workers in [1, 3] {
        for (name, job) in [("sql", &sql), ("toml", &twin)] {
            let out = tmp.path().join(format!("{name}-{workers}"));
            run(job, &input, &out, workers);
            trees.push((format!("{name} at {workers} workers"), tree(&out)));
        }
    }
    let (first, expected) = &trees[0];
    assert!(expected.len() >= 3, "rollup files and dead letters: {expected:?}");
    assert!(expected.iter().any(|(f, _)| f.ends_with(".parquet")), "{expected:?}");
    for (name, files) in &trees[1..] {
        let names = |t: &[(String, Vec<u8>)]| t.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>();
        assert_eq!(names(files), names(expected), "{name} vs {first}");
        for ((f, bytes), (_, want)) in files.iter().zip(expected) {
            assert!(bytes == want, "{f}: {name} differs from {first}");
        }
    }
}

/// `weir check JOB` fails; its stderr.
fn check_fails(dir: &Path, name: &str, text: &str) -> String {
    let job = dir.join(name);
    std::fs::write(&job, text).unwrap();
    let out = weir().arg("check").arg(&job).output().unwrap();
    assert!(!out.status.success(), "{name} passed the check");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn weir_check_of_a_sql_job_lists_every_problem_with_its_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let head = "CREATE TABLE v (a STRING, ts BIGINT,\n  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) WITH ('connector' = 'KIND', 'path' = 'v.jsonl', 'format' = 'jsonl');\n\
                CREATE TABLE out WITH ('connector' = 'jsonl', 'path' = 'o.jsonl');\n\
                CREATE TABLE dead_letters WITH ('connector' = 'jsonl', 'path' = 'd.jsonl');\n";
    // Found by the translation: both at once.
    let err = check_fails(
        tmp.path(),
        "query.sql",
        &format!(
            "{}INSERT INTO out SELECT a, b FROM v;\nINSERT INTO out SELECT * FROM v LIMIT 3;\n",
            head.replace("KIND", "file")
        ),
    );
    for want in [
        "query.sql: line 5, column 27: no column `b` in `v`; its columns: a, ts",
        "query.sql: line 6, column 17: ORDER BY and LIMIT over a stream",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    // Found by the planner, which names key paths: located in the SQL.
    let err = check_fails(
        tmp.path(),
        "kind.sql",
        &format!("{}INSERT INTO out SELECT * FROM v;\n", head.replace("KIND", "files")),
    );
    let want = "kind.sql: line 2, column 55 (sources.v.kind): unknown source kind \"files\"";
    assert!(err.contains(want), "missing {want:?} in:\n{err}");
}
