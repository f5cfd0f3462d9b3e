//! SQL job definitions end to end (DESIGN §10): every reference job's SQL twin in `config/` writes
//! byte-identical outputs to its TOML file at 1 and 3 workers, reading the same `${WEIR_…}` variables
//! (`fleet-enriched`, which needs PostgreSQL, is in `postgres_table.rs`); `weir check` names a SQL
//! problem's line and column.

#[path = "support/http.rs"]
mod http_support;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;
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

/// `weir run JOB --workers W` with `env`, its outputs under `out` (a job that serves is stopped with SIGTERM
/// once it has caught up with its input).
fn run(job: &Path, env: &[(&str, &Path)], out: &Path, workers: usize, serves: bool) {
    let mut cmd = weir();
    cmd.arg("run")
        .arg(job)
        .args(["--workers", &workers.to_string(), "--quiet"])
        .env("WEIR_OUT", out)
        .env("WEIR_LISTEN", "127.0.0.1:0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    if serves {
        let server = http_support::Server::spawn(cmd);
        http_support::wait_caught_up(&server.addr, Duration::from_millis(50));
        assert_eq!(server.terminate().code(), Some(0));
    } else {
        ok(&mut cmd);
    }
}

/// Runs `sql` and `toml` at 1 and 3 workers with `env`; asserts every output file is byte-identical.
/// Returns the files of the first run.
fn assert_twins(tmp: &Path, sql: &Path, toml: &Path, env: &[(&str, &Path)], serves: bool) -> Vec<(String, Vec<u8>)> {
    let mut trees = Vec::new();
    for workers in [1, 3] {
        for (name, job) in [("sql", sql), ("toml", toml)] {
            let out = tmp.join(format!("{name}-{workers}"));
            run(job, env, &out, workers, serves);
            trees.push((format!("{} at {workers} workers", job.display()), file_tree(&out)));
        }
    }
    let (first, expected) = &trees[0];
    assert!(
        expected.iter().any(|(_, b)| !b.is_empty()),
        "{first} wrote nothing: {expected:?}"
    );
    for (name, files) in &trees[1..] {
        let names = |t: &[(String, Vec<u8>)]| t.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>();
        assert_eq!(names(files), names(expected), "{name} vs {first}");
        for ((f, bytes), (_, want)) in files.iter().zip(expected) {
            assert!(bytes == want, "{f}: {name} differs from {first}");
        }
    }
    trees.swap_remove(0).1
}

fn reference(name: &str) -> PathBuf {
    repo_root().join("config").join(name)
}

/// A vibration workload with late and malformed records.
fn vibration_input(dir: &Path) -> PathBuf {
    let input = dir.join("vibration.jsonl");
    generate_vibration(&input, 20, 3.0, 7, 0.004, 0.003);
    input
}

/// A locations workload with late and malformed records.
fn locations_input(dir: &Path) -> PathBuf {
    let input = dir.join("locations.jsonl");
    generate_locations(
        &input,
        &[
            "--orders",
            "300",
            "--hours",
            "2",
            "--late-frac",
            "0.01",
            "--bad-frac",
            "0.002",
        ],
    );
    input
}

#[test]
fn the_sql_rollup_writes_what_its_toml_twin_writes_at_1_and_3_workers() {
    let tmp = tempfile::tempdir().unwrap();
    let input = vibration_input(tmp.path());
    let twin = tmp.path().join("vibration-hourly.toml");
    std::fs::write(&twin, TWIN).unwrap();
    let sql = reference("vibration-hourly.sql");
    let files = assert_twins(tmp.path(), &sql, &twin, &[("WEIR_VIBRATION_INPUT", &input)], false);
    assert!(files.len() >= 3, "rollup files and dead letters: {files:?}");
    assert!(files.iter().any(|(f, _)| f.ends_with(".parquet")), "{files:?}");
}

#[test]
fn vibration_rollup_sql_writes_what_its_toml_file_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = vibration_input(tmp.path());
    let (sql, toml) = (reference("vibration-rollup.sql"), reference("vibration-rollup.toml"));
    let files = assert_twins(tmp.path(), &sql, &toml, &[("WEIR_VIBRATION_INPUT", &input)], false);
    for want in ["alerts.jsonl", "dead_letters.jsonl", ".parquet"] {
        assert!(
            files.iter().any(|(f, b)| f.ends_with(want) && !b.is_empty()),
            "no {want}: {files:?}"
        );
    }
}

#[test]
fn vibration_daily_sql_writes_what_its_toml_file_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = vibration_input(tmp.path());
    let (sql, toml) = (reference("vibration-daily.sql"), reference("vibration-daily.toml"));
    let files = assert_twins(tmp.path(), &sql, &toml, &[("WEIR_VIBRATION_INPUT", &input)], false);
    for want in ["/raw/", "/hourly/", "/daily/"] {
        assert!(
            files.iter().any(|(f, _)| f.contains(want)),
            "no {want} files: {files:?}"
        );
    }
}

#[test]
fn sensor_health_sql_writes_what_its_toml_file_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = vibration_input(tmp.path());
    let (sql, toml) = (reference("sensor-health.sql"), reference("sensor-health.toml"));
    let files = assert_twins(tmp.path(), &sql, &toml, &[("WEIR_VIBRATION_INPUT", &input)], false);
    let alerts = files.iter().find(|(f, _)| f.ends_with("alerts.jsonl")).expect("alerts");
    let text = String::from_utf8_lossy(&alerts.1);
    assert!(text.contains("sensor_silent"), "no sensor_silent alert");
}

#[test]
fn delivery_alerts_sql_writes_what_its_toml_file_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = locations_input(tmp.path());
    let (sql, toml) = (reference("delivery-alerts.sql"), reference("delivery-alerts.toml"));
    let files = assert_twins(tmp.path(), &sql, &toml, &[("WEIR_LOCATIONS_INPUT", &input)], false);
    let alerts = files.iter().find(|(f, _)| f.ends_with("alerts.jsonl")).expect("alerts");
    let text = String::from_utf8_lossy(&alerts.1);
    for kind in ["delivery_delayed", "courier_silent"] {
        assert!(text.contains(kind), "no {kind} alert");
    }
}

#[test]
fn last_location_sql_serves_and_writes_what_its_toml_file_does() {
    let tmp = tempfile::tempdir().unwrap();
    let input = locations_input(tmp.path());
    let (sql, toml) = (reference("last-location.sql"), reference("last-location.toml"));
    let files = assert_twins(tmp.path(), &sql, &toml, &[("WEIR_LOCATIONS_INPUT", &input)], true);
    let changelog = files
        .iter()
        .find(|(f, _)| f.ends_with("changelog.jsonl"))
        .expect("changelog");
    assert!(changelog.1.len() > 1000, "a changelog of upserts and deletes");
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

#[test]
fn weir_explain_format_sql_prints_a_job_that_explains_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let toml = reference("fleet-enriched.toml");
    let sql = ok(weir().arg("explain").arg(&toml).args(["--format", "sql"])).stdout;
    let sql_path = tmp.path().join("fleet.sql");
    std::fs::write(&sql_path, &sql).unwrap();
    let text = String::from_utf8(sql).unwrap();
    assert!(
        text.contains("FOR SYSTEM_TIME AS OF s.ts") && text.contains("PRIMARY KEY (vehicle_id) NOT ENFORCED"),
        "{text}"
    );
    let from_toml = ok(weir().arg("explain").arg(&toml)).stdout;
    let from_sql = ok(weir().arg("explain").arg(&sql_path)).stdout;
    assert_eq!(String::from_utf8_lossy(&from_sql), String::from_utf8_lossy(&from_toml));
}

/// The expression library, filtered and computed aggregates, an expression key and HAVING, run end to
/// end on records whose timestamps are RFC 3339 strings.
#[test]
fn a_sql_job_with_functions_filters_expression_keys_and_having_computes_the_expected_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("pings.jsonl");
    std::fs::write(
        &input,
        [
            r#"{"courier":"c1","site":"North","ts":"2026-11-21T08:00:00Z","speed":4.0,"payload":"{\"battery\":{\"level\":80}}"}"#,
            r#"{"courier":"c1","site":"north","ts":"2026-11-21T08:10:00Z","speed":8.0,"payload":"{\"battery\":{\"level\":60}}"}"#,
            r#"{"courier":"c2","site":"NORTH","ts":"2026-11-21T09:20:00+01:00","speed":12.0,"payload":"{}"}"#,
            r#"{"courier":"c3","site":"south","ts":"2026-11-21T08:30:00Z","speed":2.0,"payload":"{\"battery\":{\"level\":10}}"}"#,
            r#"{"courier":"c3","site":"south","ts":"2026-11-21T09:30:00Z","speed":3.0,"payload":"x"}"#,
        ]
        .join("\n")
            + "\n",
    )
    .unwrap();
    let job = tmp.path().join("couriers.sql");
    std::fs::write(
        &job,
        r"
CREATE TABLE pings (courier STRING, site STRING, ts TIMESTAMP(3), speed DOUBLE, payload STRING,
  WATERMARK FOR ts AS ts) WITH ('connector' = 'file', 'path' = '${IN}', 'format' = 'jsonl');
CREATE VIEW enriched AS
SELECT courier, site, ts, speed,
       CAST(JSON_VALUE(payload, '$.battery.level') AS BIGINT) AS battery,
       EXTRACT(HOUR FROM ts) AS hour_of_day,
       REGEXP_EXTRACT(courier, 'c(\d+)', 1) AS courier_no,
       DATE_FORMAT(ts, 'HH:mm') AS clock
FROM pings;
CREATE VIEW per_site AS
SELECT window_start, window_end, lower(site) AS site_l,
       COUNT(*) AS pings,
       MAX(speed) FILTER (WHERE battery > 50) AS top_charged,
       SUM(speed * 2) AS double_speed,
       COUNT(battery) AS with_battery
FROM TABLE(TUMBLE(TABLE enriched, DESCRIPTOR(ts), INTERVAL '1' HOUR))
GROUP BY window_start, window_end, lower(site)
HAVING COUNT(*) >= 2;
CREATE TABLE per_site_rows WITH ('connector' = 'jsonl', 'path' = '${OUT}/per_site.jsonl');
CREATE TABLE details WITH ('connector' = 'jsonl', 'path' = '${OUT}/details.jsonl');
CREATE TABLE dead_letters WITH ('connector' = 'jsonl', 'path' = '${OUT}/dead_letters.jsonl');
INSERT INTO per_site_rows TABLE per_site;
INSERT INTO details TABLE enriched;
",
    )
    .unwrap();
    let out = tmp.path().join("out");
    ok(weir()
        .arg("run")
        .arg(&job)
        .arg("--quiet")
        .env("IN", &input)
        .env("OUT", &out));
    let rows = read_jsonl(&out.join("per_site.jsonl"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["site_l"], "north", "{r}");
    assert_eq!(r["pings"], 3, "{r}");
    assert_eq!(r["top_charged"], 8.0, "{r}");
    assert_eq!(r["double_speed"], 48.0, "{r}");
    assert_eq!(r["with_battery"], 2, "{r}");
    let details = read_jsonl(&out.join("details.jsonl"));
    let by_clock: Vec<(String, serde_json::Value, i64, String)> = details
        .iter()
        .map(|d| {
            (
                d["clock"].as_str().unwrap().to_string(),
                d["battery"].clone(),
                d["hour_of_day"].as_i64().unwrap(),
                d["courier_no"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        by_clock.contains(&("08:20".into(), serde_json::Value::Null, 8, "2".into())),
        "{by_clock:?}"
    );
    assert!(
        by_clock.contains(&("09:30".into(), serde_json::Value::Null, 9, "3".into())),
        "{by_clock:?}"
    );
    assert!(
        by_clock.contains(&("08:00".into(), 80.into(), 8, "1".into())),
        "{by_clock:?}"
    );
    assert!(std::fs::read_to_string(out.join("dead_letters.jsonl"))
        .unwrap_or_default()
        .is_empty());
}

/// The issue's rollup, written the Flink way with only the connector options changed, says what it lacks
/// in SQL — a dead-letter sink, a misspelt option — and runs once it has it.
#[test]
fn the_flink_rollup_says_in_sql_what_it_lacks_and_then_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let input = vibration_input(tmp.path());
    let flink = format!(
        "CREATE TABLE vibration (sensor_id STRING, site STRING, ts BIGINT, ppv_mm_s DOUBLE, freq_hz DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '30' SECOND) WITH ('connector' = 'file', 'pathh' = '{}');
CREATE TABLE rollups WITH ('connector' = 'parquet', 'path' = '{}', 'partition_by' = 'hour');
INSERT INTO rollups
SELECT window_start, window_end, sensor_id, LAST_VALUE(site) AS site, COUNT(*) AS readings,
       MAX(ppv_mm_s) AS ppv_max, APPROX_PERCENTILE(ppv_mm_s, 0.9) AS ppv_p90,
       COUNT(*) FILTER (WHERE ppv_mm_s > 5.0) AS over_limit
FROM TABLE(TUMBLE(TABLE vibration, DESCRIPTOR(ts), INTERVAL '1' HOUR))
GROUP BY window_start, window_end, sensor_id;
",
        input.display(),
        tmp.path().join("rollups").display()
    );
    let err = check_fails(tmp.path(), "flink.sql", &flink);
    for want in [
        "(sources.vibration.pathh): unknown key — did you mean \"path\"?",
        "add CREATE TABLE dead_letters WITH ('connector' = 'jsonl', 'path' = 'dead_letters.jsonl')",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    let fixed = flink.replace("'pathh'", "'path'")
        + &format!(
            "CREATE TABLE dead_letters WITH ('connector' = 'jsonl', 'path' = '{}');\n",
            tmp.path().join("dead_letters.jsonl").display()
        );
    let job = tmp.path().join("flink.sql");
    std::fs::write(&job, fixed).unwrap();
    ok(weir().arg("run").arg(&job).arg("--quiet"));
    assert!(!parquet_files(&tmp.path().join("rollups")).is_empty());
}

/// A daily window in Europe/Berlin across the night clocks go back: local midnight to local midnight, the
/// day of the change 25 hours long, every hourly record in exactly its local day.
#[test]
fn a_daily_window_in_a_time_zone_is_25_hours_long_when_clocks_go_back() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    let t0: i64 = 1_792_800_000_000; // 2026-10-24T00:00:00Z
    let lines: Vec<String> = (0..72)
        .map(|h| format!("{{\"k\":\"a\",\"ts\":{}}}", t0 + h * 3_600_000))
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let job = tmp.path().join("tz.sql");
    std::fs::write(
        &job,
        "CREATE TABLE e (k STRING, ts BIGINT, WATERMARK FOR ts AS ts) WITH ('connector' = 'file', 'path' = 'in.jsonl');
CREATE TABLE out WITH ('connector' = 'jsonl', 'path' = 'out.jsonl');
CREATE TABLE dead_letters WITH ('connector' = 'jsonl', 'path' = 'dead_letters.jsonl');
INSERT INTO out SELECT window_start, window_end, COUNT(*) AS n
FROM TABLE(TUMBLE(TABLE e, DESCRIPTOR(ts), INTERVAL '1' DAY, TIME_ZONE => 'Europe/Berlin'))
GROUP BY window_start, window_end;
",
    )
    .unwrap();
    ok(weir().current_dir(tmp.path()).arg("run").arg(&job).arg("--quiet"));
    let rows = read_jsonl(&tmp.path().join("out.jsonl"));
    let got: Vec<(i64, i64, i64)> = rows
        .iter()
        .map(|r| {
            let (s, e) = (r["window_start"].as_i64().unwrap(), r["window_end"].as_i64().unwrap());
            (s, (e - s) / 3_600_000, r["n"].as_i64().unwrap())
        })
        .collect();
    let hour = 3_600_000;
    assert_eq!(
        got,
        vec![
            (t0 - 2 * hour, 24, 22),  // 24 Oct, CEST: from 22:00Z
            (t0 + 22 * hour, 25, 25), // 25 Oct: 02:00–03:00 twice
            (t0 + 47 * hour, 24, 24), // 26 Oct, CET: from 23:00Z
            (t0 + 71 * hour, 24, 1),
        ]
    );
}

/// `weir sql` runs a query over a file declared on the command line: columns inferred, rows on stdout.
#[test]
fn weir_sql_runs_a_quick_query_over_a_file_and_prints_its_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let input = vibration_input(tmp.path());
    let spec = format!("vibration={}", input.display());
    let out = ok(weir().args([
        "sql",
        "SELECT sensor_id, ts, ppv_mm_s FROM vibration WHERE ppv_mm_s > 3",
        "--source",
        &spec,
    ]));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The same records, read independently (valid lines only; late ones are kept by the 60 s default).
    let expected = std::fs::read_to_string(&input)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["ppv_mm_s"].as_f64().is_some_and(|x| x > 3.0) && v["sensor_id"].is_string())
        .count();
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|r| r["ppv_mm_s"].as_f64().unwrap() > 3.0 && r.as_object().unwrap().len() == 3));
    assert!(
        rows.len() <= expected && rows.len() * 10 >= expected * 9,
        "{} of {expected}",
        rows.len()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CREATE TABLE vibration (") && stderr.contains("ppv_mm_s DOUBLE,"),
        "{stderr}"
    );
}
