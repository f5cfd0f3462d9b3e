//! Oracle tests for composed job graphs: plain, independent implementations (serde_json values, a running
//! max per partition, vectors and exact nearest-rank quantiles) of filter → derive → union, a daily window
//! over hourly rows with sketch columns, an alert over window rows, and session windows; the real `weir`
//! binary must agree — and give byte-identical output for 1, 2 and 4 workers and any chunk size.

#[path = "support/crash.rs"]
mod crash;
mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use support::*;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const OOO: i64 = 30_000;

/// A valid vibration reading of the input, with its arrival watermark (`None` for the first).
#[derive(Clone, Debug)]
struct Reading {
    sensor: String,
    site: String,
    ts: i64,
    ppv: f64,
    freq: f64,
    awm: Option<i64>,
}

fn readings(input: &Path) -> Vec<Reading> {
    let text = std::fs::read_to_string(input).unwrap();
    let mut max_ts: Option<i64> = None;
    let mut out = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(sensor), Some(site), Some(ts), Some(ppv), Some(freq)) = (
            v["sensor_id"].as_str(),
            v["site"].as_str(),
            v["ts"].as_i64(),
            v["ppv_mm_s"].as_f64(),
            v["freq_hz"].as_f64(),
        ) else {
            continue;
        };
        out.push(Reading {
            sensor: sensor.into(),
            site: site.into(),
            ts,
            ppv,
            freq,
            awm: max_ts.map(|m| m - OOO),
        });
        max_ts = Some(max_ts.map_or(ts, |m| m.max(ts)));
    }
    out
}

fn write_job(dir: &Path, name: &str, body: &str, input: &Path) -> PathBuf {
    let job = format!(
        r#"[job]
name = "{name}"
dead_letters = "dead_letters"

[sources.vibration]
kind = "file"
path = "{}"
event_time = "ts"
max_out_of_orderness = "30s"
schema = "vibration"

[sinks.dead_letters]
kind = "jsonl"
path = "{}"
{body}"#,
        input.display(),
        dir.join("out/dead_letters.jsonl").display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, job).unwrap();
    path
}

/// Runs a job at several worker counts and chunk sizes; every output file must be byte-identical to the
/// first run's. Returns the first run's output directory.
fn run_everywhere(dir: &Path, job: &Path) -> PathBuf {
    let mut first: Option<PathBuf> = None;
    for (i, (workers, chunk)) in [(1usize, "1048576"), (2, "8192"), (4, "65536")].iter().enumerate() {
        let out = dir.join(format!("run{i}"));
        ok(weir()
            .arg("run")
            .arg(job)
            .args([
                "--set",
                &format!("sinks.dead_letters.path={}", out.join("dead_letters.jsonl").display()),
            ])
            .args(outputs_at(job, &out))
            .args(["--workers", &workers.to_string(), "--quiet", "--chunk-bytes", chunk]));
        match &first {
            None => first = Some(out),
            Some(f) => crash::assert_same_tree(f, &out),
        }
    }
    first.unwrap()
}

/// `--set` overrides pointing every sink of `job` (other than dead letters) under `out`.
fn outputs_at(job: &Path, out: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(job).unwrap();
    let table: toml::Table = text.parse().unwrap();
    let mut sets = Vec::new();
    for (name, sink) in table["sinks"].as_table().unwrap() {
        if name == "dead_letters" {
            continue;
        }
        let file = match sink["kind"].as_str().unwrap() {
            "parquet" => name.to_string(),
            _ => format!("{name}.jsonl"),
        };
        sets.push("--set".to_string());
        sets.push(format!("sinks.{name}.path={}", out.join(file).display()));
    }
    sets
}

fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    read_jsonl(path)
}

#[test]
fn filter_derive_and_union_match_a_plain_implementation() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("vibration.jsonl");
    generate_vibration(&input, 12, 2.0, 11, 0.002, 0.001);
    let job = write_job(
        tmp.path(),
        "transforms",
        r#"
[operators.loud]
kind = "filter"
inputs = ["vibration"]
where = "ppv_mm_s > 2.0 AND sensor_id NOT LIKE '%3'"

[operators.loud_scaled]
kind = "derive"
inputs = ["loud"]
fields = { ppv_x2 = "ppv_mm_s * 2", band = "CASE WHEN ppv_mm_s >= 4 THEN 'high' ELSE 'mid' END", hz = "CAST(round(freq_hz) AS BIGINT)" }
drop = ["freq_hz"]

[operators.quiet]
kind = "filter"
inputs = ["vibration"]
where = "ppv_mm_s < 0.05"

[operators.quiet_scaled]
kind = "derive"
inputs = ["quiet"]
fields = { ppv_x2 = "ppv_mm_s + ppv_mm_s", band = "'low'", hz = "CAST(round(freq_hz) AS BIGINT)" }
drop = ["freq_hz"]

[operators.both]
kind = "union"
inputs = ["loud_scaled", "quiet_scaled"]

[sinks.picked]
kind = "jsonl"
inputs = ["both"]
path = "unused"
"#,
        &input,
    );
    let out = run_everywhere(tmp.path(), &job);
    let got = jsonl(&out.join("picked.jsonl"));

    // The oracle: the same choices, in input order (position order of one partition).
    let mut want = Vec::new();
    for r in readings(&input) {
        let loud = r.ppv > 2.0 && !r.sensor.ends_with('3');
        let quiet = r.ppv < 0.05;
        if !(loud || quiet) {
            continue;
        }
        let band = if quiet {
            "low"
        } else if r.ppv >= 4.0 {
            "high"
        } else {
            "mid"
        };
        want.push(serde_json::json!({
            "sensor_id": r.sensor, "site": r.site, "ts": r.ts, "ppv_mm_s": r.ppv,
            "ppv_x2": r.ppv * 2.0, "band": band, "hz": r.freq.round() as i64,
        }));
    }
    assert!(want.len() > 100, "the filters should keep a good share: {}", want.len());
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
    // Field order is the derived schema's: input fields (freq_hz dropped), then new ones in file order.
    let first = std::fs::read_to_string(out.join("picked.jsonl")).unwrap();
    assert!(first.starts_with("{\"sensor_id\":"), "{}", &first[..80]);
    let keys: Vec<&String> = got[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["sensor_id", "site", "ts", "ppv_mm_s", "ppv_x2", "band", "hz"]);
}

fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let r = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[r - 1]
}

#[test]
fn a_daily_window_over_hourly_sketches_matches_exact_quantiles_and_alerts_read_window_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("vibration.jsonl");
    // 30 h: two days, the first complete.
    generate_vibration(&input, 6, 30.0, 5, 0.002, 0.001);
    let job = write_job(
        tmp.path(),
        "daily",
        r#"
[operators.hourly]
kind = "window"
inputs = ["vibration"]
window = { kind = "tumbling", size = "1h" }
key = ["sensor_id"]
carry = ["site"]
aggregates = { readings = "count", ppv_max = "max(ppv_mm_s)", ppv = "sketch(ppv_mm_s)" }

[operators.daily]
kind = "window"
inputs = ["hourly"]
window = { kind = "tumbling", size = "1d" }
key = ["sensor_id"]
aggregates = { hours = "count", readings = "sum(readings)", ppv_max = "max(ppv_max)", p50 = "quantile(ppv, 0.5)", p99 = "quantile(ppv, 0.99)" }

[operators.busy_hours]
kind = "alert"
inputs = ["hourly"]
key = ["sensor_id"]
when = "ppv_max > 20 AND readings > 10"
cooldown = "3h"
alert = "busy_hour"
severity = "info"
fields = ["sensor_id", "site", "ppv_max", "readings"]

[sinks.days]
kind = "jsonl"
inputs = ["daily"]
path = "unused"

[sinks.hours]
kind = "parquet"
inputs = ["hourly"]
path = "unused"
partition_by = "date"

[sinks.busy]
kind = "jsonl"
inputs = ["busy_hours"]
path = "unused"
"#,
        &input,
    );
    let out = run_everywhere(tmp.path(), &job);

    // Oracle: hourly windows over the readings not late for their hour, then days over hours.
    let mut hours: BTreeMap<(i64, String), (String, Vec<f64>)> = BTreeMap::new();
    for r in readings(&input) {
        let start = r.ts - r.ts.rem_euclid(HOUR);
        if r.awm.is_some_and(|w| start + HOUR <= w) {
            continue; // late for its hour
        }
        hours
            .entry((start, r.sensor.clone()))
            .or_insert((r.site.clone(), vec![]))
            .1
            .push(r.ppv);
    }
    let mut days: BTreeMap<(i64, String), (i64, Vec<f64>)> = BTreeMap::new();
    for ((start, sensor), (_, ppv)) in &hours {
        let day = start - start.rem_euclid(DAY);
        let d = days.entry((day, sensor.clone())).or_default();
        d.0 += 1;
        d.1.extend(ppv);
    }
    let got = jsonl(&out.join("days.jsonl"));
    assert_eq!(got.len(), days.len());
    for row in &got {
        let key = (
            row["window_start"].as_i64().unwrap(),
            row["sensor_id"].as_str().unwrap().to_string(),
        );
        let (n_hours, ppv) = &days[&key];
        let mut sorted = ppv.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(row["hours"].as_i64().unwrap(), *n_hours, "{row}");
        assert_eq!(row["readings"].as_i64().unwrap(), sorted.len() as i64, "{row}");
        assert_eq!(row["ppv_max"].as_f64().unwrap(), *sorted.last().unwrap(), "{row}");
        for (col, q) in [("p50", 0.5), ("p99", 0.99)] {
            let exact = nearest_rank(&sorted, q);
            let got = row[col].as_f64().unwrap();
            assert!(
                ((got - exact) / exact).abs() <= 0.01,
                "{col} of {key:?}: {got} vs exact {exact}"
            );
        }
    }
    assert!(got.iter().any(|r| r["hours"] == 24), "a complete day is in the input");

    // The hourly Parquet keeps the sketch as a BINARY column next to the numbers.
    let files = parquet_files(&out.join("hours"));
    let batch = &read_batches(&files[0])[0];
    let schema = batch.schema();
    assert_eq!(
        schema.field_with_name("ppv").unwrap().data_type(),
        &arrow_schema::DataType::Binary
    );

    // Alert over window rows: per sensor, hours with ppv_max > 20 and > 10 readings, 3 h cooldown on the
    // rows' event time (window_start), applied in row order (by window end).
    let mut last: HashMap<String, i64> = HashMap::new();
    let mut want = Vec::new();
    for ((start, sensor), (site, ppv)) in &hours {
        let max = ppv.iter().cloned().fold(f64::MIN, f64::max);
        if !(max > 20.0 && ppv.len() > 10) {
            continue;
        }
        if last.get(sensor).is_none_or(|t| *start >= t + 3 * HOUR) {
            last.insert(sensor.clone(), *start);
            want.push((sensor.clone(), site.clone(), *start, max));
        }
    }
    let mut alerts: Vec<(String, String, i64, f64)> = jsonl(&out.join("busy.jsonl"))
        .iter()
        .map(|a| {
            assert_eq!(a["kind"], "busy_hour");
            (
                a["sensor_id"].as_str().unwrap().into(),
                a["site"].as_str().unwrap().into(),
                a["event_time"].as_i64().unwrap(),
                a["ppv_max"].as_f64().unwrap(),
            )
        })
        .collect();
    alerts.sort_by(|a, b| (&a.0, a.2).cmp(&(&b.0, b.2)));
    want.sort_by(|a, b| (&a.0, a.2).cmp(&(&b.0, b.2)));
    assert!(!want.is_empty(), "blasts exceed 20 mm/s in some hours");
    assert_eq!(alerts, want);
}

#[test]
fn session_windows_close_after_the_gap_and_send_late_records_to_dead_letters() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("sessions.jsonl");
    // Two sensors with bursts: a burst is readings 20 s apart; bursts are 10 min apart, except a pair of
    // bursts exactly `gap` apart (no merge: a session is [first, last + gap)) and one 1 ms closer (merge).
    let mut lines = Vec::new();
    let mut push = |sensor: &str, ts: i64, ppv: f64| {
        lines.push(format!(
            r#"{{"sensor_id":"{sensor}","site":"s","ts":{ts},"ppv_mm_s":{ppv},"freq_hz":1.0}}"#
        ));
    };
    let t0 = 1_800_000_000_000i64;
    let gap = 5 * 60_000;
    let mut t = t0;
    for burst in 0..12 {
        for i in 0..6 {
            push("a", t + i * 20_000, burst as f64 + i as f64 / 10.0);
            push("b", t + i * 20_000 + 7, 1.0);
        }
        let last = t + 5 * 20_000;
        t = match burst {
            3 => last + gap,     // next burst starts exactly at the gap: a new session
            6 => last + gap - 1, // 1 ms inside the gap: the two bursts are one session
            _ => last + 10 * 60_000,
        };
    }
    // A very late reading of sensor a, far behind the watermark: late for its own session.
    push("a", t0 + 30_000, 99.0);
    // And one more burst after it so the watermark has moved on.
    for i in 0..3 {
        push("a", t + i * 20_000, 1.0);
    }
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();

    let job = write_job(
        tmp.path(),
        "sessions",
        r#"
[operators.flagged]
kind = "derive"
inputs = ["vibration"]
fields = { loud = "ppv_mm_s > 2.0" }

[operators.bursts]
kind = "window"
inputs = ["flagged"]
window = { kind = "session", gap = "5m" }
key = ["sensor_id"]
aggregates = { n = "count", peak = "max(ppv_mm_s)", first_ppv = "first(ppv_mm_s)", loud_n = "count_if(loud)" }

[sinks.out]
kind = "jsonl"
inputs = ["bursts"]
path = "unused"
"#,
        &input,
    );
    let out = run_everywhere(tmp.path(), &job);

    // Oracle: per sensor, sorted by ts (no reading but the late one is out of order), split where the next
    // reading is at or beyond last + gap; the late reading is dropped (dead letter).
    let mut by_sensor: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for r in readings(&input) {
        if r.awm.is_some_and(|w| r.ts + gap <= w) {
            continue;
        }
        by_sensor.entry(r.sensor.clone()).or_default().push((r.ts, r.ppv));
    }
    let mut want: Vec<(String, i64, i64, i64, f64, f64, i64)> = Vec::new();
    for (sensor, mut rs) in by_sensor {
        rs.sort_by_key(|r| r.0);
        let mut cur: Vec<(i64, f64)> = Vec::new();
        let flush = |cur: &mut Vec<(i64, f64)>, want: &mut Vec<_>| {
            if cur.is_empty() {
                return;
            }
            let peak = cur.iter().map(|c| c.1).fold(f64::MIN, f64::max);
            want.push((
                sensor.clone(),
                cur[0].0,
                cur.last().unwrap().0 + gap,
                cur.len() as i64,
                peak,
                cur[0].1,
                cur.iter().filter(|c| c.1 > 2.0).count() as i64,
            ));
            cur.clear();
        };
        for r in rs {
            if cur.last().is_some_and(|l| r.0 >= l.0 + gap) {
                flush(&mut cur, &mut want);
            }
            cur.push(r);
        }
        flush(&mut cur, &mut want);
    }
    let mut got: Vec<(String, i64, i64, i64, f64, f64, i64)> = jsonl(&out.join("out.jsonl"))
        .iter()
        .map(|r| {
            (
                r["sensor_id"].as_str().unwrap().into(),
                r["window_start"].as_i64().unwrap(),
                r["window_end"].as_i64().unwrap(),
                r["n"].as_i64().unwrap(),
                r["peak"].as_f64().unwrap(),
                r["first_ppv"].as_f64().unwrap(),
                r["loud_n"].as_i64().unwrap(),
            )
        })
        .collect();
    got.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    want.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    assert_eq!(got, want);
    // 12 bursts + the last: one pair split at exactly the gap, one pair merged → 12 sessions for a.
    assert_eq!(got.iter().filter(|g| g.0 == "a").count(), 12);
    let dead = jsonl(&out.join("dead_letters.jsonl"));
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["reason"], "late");
    assert!(
        dead[0]["raw"].as_str().unwrap().contains("\"ppv_mm_s\":99,"),
        "{dead:?}"
    );
}
