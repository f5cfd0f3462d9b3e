//! Oracle test for the vibration-rollup job: a deliberately plain, independent implementation of DESIGN
//! §1–§4 (serde_json values, a running max, a map of vectors, exact nearest-rank quantiles) computes the
//! expected rollups, alerts, late and malformed records of a generated input with jitter, very late records
//! and malformed lines; the real `weir` binary must agree.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use support::*;

const HOUR: i64 = 3_600_000;

#[derive(Default)]
struct Window {
    site: String,
    ppv: Vec<f64>,
    freq_max: f64,
}

struct Oracle {
    windows: BTreeMap<(i64, String), Window>,
    alerts: Vec<(String, i64, f64)>,
    late: BTreeSet<u64>,
    malformed: BTreeSet<u64>,
}

fn valid(line: &str) -> Option<(String, String, i64, f64, f64)> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let o = v.as_object()?;
    let sensor = o.get("sensor_id")?.as_str()?.to_string();
    let site = o.get("site")?.as_str()?.to_string();
    let ts = o.get("ts")?;
    if !(ts.is_i64() || ts.is_u64()) {
        return None;
    }
    let ppv = o.get("ppv_mm_s")?.as_f64()?;
    let freq = o.get("freq_hz")?.as_f64()?;
    Some((sensor, site, ts.as_i64()?, ppv, freq))
}

fn oracle(input: &str) -> Oracle {
    let mut o = Oracle {
        windows: BTreeMap::new(),
        alerts: vec![],
        late: BTreeSet::new(),
        malformed: BTreeSet::new(),
    };
    let mut max_ts: Option<i64> = None;
    let mut last_alert: HashMap<String, i64> = HashMap::new();
    let body = input.strip_suffix('\n').unwrap_or(input);
    for (i, raw) in body.split('\n').enumerate() {
        let offset = i as u64 + 1;
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some((sensor, site, ts, ppv, freq)) = valid(line) else {
            o.malformed.insert(offset);
            continue;
        };
        let watermark = max_ts.map(|m| m - 30_000);
        max_ts = Some(max_ts.map_or(ts, |m| m.max(ts)));
        // alerts see every valid reading, late or not
        if ppv > 25.0 {
            let fire = last_alert.get(&sensor).is_none_or(|t| ts >= t + 600_000);
            if fire {
                last_alert.insert(sensor.clone(), ts);
                o.alerts.push((sensor.clone(), ts, ppv));
            }
        }
        let start = ts - ts.rem_euclid(HOUR);
        if watermark.is_some_and(|w| start + HOUR <= w) {
            o.late.insert(offset);
            continue;
        }
        let w = o.windows.entry((start, sensor)).or_default();
        if w.ppv.is_empty() {
            w.site = site;
            w.freq_max = freq;
        }
        w.ppv.push(ppv);
        w.freq_max = w.freq_max.max(freq);
    }
    o
}

fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1]
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / b.abs().max(1e-300)
    }
}

#[test]
fn rollups_alerts_and_dead_letters_match_an_independent_oracle() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("vibration.jsonl");
    generate_vibration(&input, 40, 3.0, 11, 0.003, 0.002);
    // Edge cases a generator does not make: CRLF, an integer reading, extra fields, blank lines, a float ts;
    // and records placed exactly on the lateness and suppression boundaries, so an off-by-one anywhere in
    // the watermark, lateness or cooldown rules changes the outcome.
    {
        let max_ts = std::fs::read_to_string(&input)
            .unwrap()
            .lines()
            .filter_map(valid)
            .map(|r| r.2)
            .max()
            .unwrap();
        let h = max_ts - max_ts.rem_euclid(HOUR) + HOUR; // the next hour boundary
        let rec = |sensor: &str, ts: i64, ppv: f64| {
            format!(
                "{{\"sensor_id\":\"{sensor}\",\"site\":\"crusher\",\"ts\":{ts},\"ppv_mm_s\":{ppv},\"freq_hz\":12.5}}"
            )
        };
        let mut f = std::fs::OpenOptions::new().append(true).open(&input).unwrap();
        let t = max_ts - 1_000;
        writeln!(
            f,
            "{{\"sensor_id\":\"vib-0001\",\"site\":\"pit-south\",\"ts\":{t},\"ppv_mm_s\":30,\"freq_hz\":12}}\r"
        )
        .unwrap();
        writeln!(f).unwrap();
        writeln!(f, "{{\"note\":{{\"a\":[1,2]}},\"sensor_id\":\"vib-0002\",\"site\":\"decline-1\",\"ts\":{t},\"ppv_mm_s\":1.25,\"freq_hz\":19.5}}").unwrap();
        writeln!(
            f,
            "{{\"sensor_id\":\"vib-0003\",\"site\":\"decline-2\",\"ts\":{t}.5,\"ppv_mm_s\":1.25,\"freq_hz\":19.5}}"
        )
        .unwrap();
        writeln!(f, "   ").unwrap();
        // watermark becomes h − 1: a reading at h − 1 is still counted in [h − 1h, h)
        writeln!(f, "{}", rec("vib-0904", h + 29_999, 1.0)).unwrap();
        writeln!(f, "{}", rec("vib-0904", h - 1, 2.0)).unwrap();
        // watermark becomes h: a reading at h − 2 is late for [h − 1h, h)
        writeln!(f, "{}", rec("vib-0904", h + 30_000, 1.0)).unwrap();
        writeln!(f, "{}", rec("vib-0904", h - 2, 3.0)).unwrap();
        // suppression: alert, suppressed at +10 min − 1 ms, alert at exactly +10 min, older reading ignored
        let x = h + 40_000;
        writeln!(f, "{}", rec("vib-0905", x, 30.0)).unwrap();
        writeln!(f, "{}", rec("vib-0905", x + 599_999, 31.0)).unwrap();
        writeln!(f, "{}", rec("vib-0905", x + 600_000, 32.0)).unwrap();
        writeln!(f, "{}", rec("vib-0905", x + 1, 99.0)).unwrap();
        writeln!(f, "{}", rec("vib-0905", x + 600_000, 25.0)).unwrap();
    }
    let expect = verify_against_oracle(&input, &tmp.path().join("out"), 2, "65536");
    let boundary: Vec<_> = expect
        .alerts
        .iter()
        .filter(|a| a.0 == "vib-0905")
        .map(|a| a.2)
        .collect();
    assert_eq!(
        boundary,
        vec![30.0, 32.0],
        "the oracle itself applies the cooldown boundary"
    );
}

/// The shared workload script's output (the benchmarks' common ground) through the same oracle.
#[test]
fn gen_events_script_output_matches_the_oracle() {
    let script = repo_root().join("../shared/workload/gen_events.py");
    let strict = std::env::var("WEIR_REQUIRE_PY_READERS").is_ok_and(|v| v == "1");
    // The script lives beside the repository (the shared workload), not in it: a clone on its own has none.
    if !script.exists() {
        eprintln!(
            "note: {} not found (a clone without ../shared); skipped",
            script.display()
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("vibration.jsonl");
    let o = std::process::Command::new("python3")
        .arg(&script)
        .args([
            "vibration",
            "--sensors",
            "25",
            "--hours",
            "2",
            "--seed",
            "5",
            "--late-frac",
            "0.003",
            "--bad-frac",
            "0.002",
            "-o",
        ])
        .arg(&input)
        .output()
        .expect("python3");
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !strict && err.contains("No module named"),
            "gen_events.py failed: {err}"
        );
        eprintln!("note: gen_events.py needs numpy; skipped");
        return;
    }
    verify_against_oracle(&input, &tmp.path().join("out"), 2, "262144");
}

fn verify_against_oracle(input: &std::path::Path, out_dir: &std::path::Path, workers: usize, chunk: &str) -> Oracle {
    let text = std::fs::read_to_string(input).unwrap();
    let expect = oracle(&text);
    assert!(
        expect.late.len() > 20,
        "the input must exercise late records ({})",
        expect.late.len()
    );
    assert!(expect.malformed.len() > 20, "the input must exercise malformed records");
    assert!(expect.alerts.len() > 5, "the input must exercise alerts");

    let out = run_vibration(input, out_dir, workers, &["--chunk-bytes", chunk]);

    // Rollups.
    let rows = read_rollups(&out.rollups());
    assert_eq!(rows.len(), expect.windows.len(), "one row per (hour, sensor)");
    for (row, ((start, sensor), w)) in rows.iter().zip(&expect.windows) {
        let ctx = format!("{sensor} @ {start}");
        assert_eq!((row.window_start, &row.sensor_id), (*start, sensor), "{ctx}");
        assert_eq!(row.window_end, start + HOUR, "{ctx}");
        assert_eq!(row.site, w.site, "{ctx}");
        let mut sorted = w.ppv.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        assert_eq!(row.readings, sorted.len() as i64, "{ctx}");
        assert_eq!(row.ppv_min, sorted[0], "{ctx}");
        assert_eq!(row.ppv_max, *sorted.last().unwrap(), "{ctx}");
        assert_eq!(row.freq_max, w.freq_max, "{ctx}");
        assert_eq!(
            row.over_limit,
            w.ppv.iter().filter(|p| **p > 5.0).count() as i64,
            "{ctx}"
        );
        let mean = w.ppv.iter().sum::<f64>() / n;
        let rms = (w.ppv.iter().map(|p| p * p).sum::<f64>() / n).sqrt();
        assert!(
            rel(row.ppv_mean, mean) <= 1e-9,
            "{ctx}: mean {} vs {mean}",
            row.ppv_mean
        );
        assert!(rel(row.ppv_rms, rms) <= 1e-9, "{ctx}: rms {} vs {rms}", row.ppv_rms);
        for (got, q) in [(row.ppv_p50, 0.5), (row.ppv_p90, 0.9), (row.ppv_p99, 0.99)] {
            let exact = nearest_rank(&sorted, q);
            assert!(rel(got, exact) <= 0.01, "{ctx}: p{q} {got} vs exact {exact}");
        }
        let dt = chrono_like_partition(*start);
        assert_eq!(row.partition, dt, "{ctx}: hive partition of window_start");
    }

    // Alerts: exactly the oracle's, in a deterministic order, with unique deterministic ids.
    let alerts = read_jsonl(&out.alerts());
    let mut got: Vec<(String, i64, f64)> = alerts
        .iter()
        .map(|a| {
            (
                a["sensor_id"].as_str().unwrap().to_string(),
                a["event_time"].as_i64().unwrap(),
                a["ppv_mm_s"].as_f64().unwrap(),
            )
        })
        .collect();
    let mut want = expect.alerts.clone();
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(got, want);
    for a in &alerts {
        assert_eq!(a["kind"], "vibration_exceeded");
        assert_eq!(a["severity"], "critical");
        assert_eq!(a["job"], "vibration-rollup");
        assert_eq!(a["key"], a["sensor_id"]);
        assert!(a["site"].is_string());
    }
    let ids: BTreeSet<&str> = alerts.iter().map(|a| a["alert_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), alerts.len(), "alert ids are unique");

    // Dead letters: every malformed line and every late record, with its line number and raw bytes.
    let dead = read_jsonl(&out.dead_letters());
    let lines: Vec<&str> = text.strip_suffix('\n').unwrap().split('\n').collect();
    let mut late = BTreeSet::new();
    let mut malformed = BTreeSet::new();
    for d in &dead {
        let offset = d["offset"].as_u64().unwrap();
        assert_eq!(d["source"], "vibration");
        assert_eq!(d["partition"], 0);
        assert_eq!(
            d["raw"].as_str().unwrap(),
            lines[offset as usize - 1].trim_end_matches('\r'),
            "raw bytes of line {offset}"
        );
        if d["reason"] == "late" {
            late.insert(offset);
        } else {
            assert!(!d["reason"].as_str().unwrap().is_empty());
            malformed.insert(offset);
        }
    }
    assert_eq!(late, expect.late, "late records");
    assert_eq!(malformed, expect.malformed, "malformed records");
    expect
}

/// `date=YYYY-MM-DD/hour=HH` of an epoch-millisecond time, computed without a date library.
fn chrono_like_partition(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let hour = ms.rem_euclid(86_400_000) / HOUR;
    // civil_from_days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("date={y:04}-{m:02}-{d:02}/hour={hour:02}")
}
