//! Oracle test for `config/sensor-health.toml`: generated vibration readings with gaps cut out of three
//! sensors, out-of-range readings and bursts of malformed lines injected. A plain simulation of the arrival
//! watermark (§2) gives every alert the job must raise — silences and resumptions, out-of-range readings,
//! 5-minute windows with too few readings, 5-minute windows with too many malformed records — and the job
//! must raise exactly those, byte-identically for 1 and 3 workers.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use support::*;

const MIN: i64 = 60_000;
const OOO: i64 = 30_000;
const SILENCE: i64 = 2 * MIN;
const WINDOW: i64 = 5 * MIN;

struct Reading {
    sensor: String,
    ts: i64,
    ppv: f64,
    freq: f64,
}

fn parse(line: &str) -> Option<Reading> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    v.get("site")?.as_str()?;
    Some(Reading {
        sensor: v.get("sensor_id")?.as_str()?.to_string(),
        ts: v.get("ts")?.as_i64()?,
        ppv: v.get("ppv_mm_s")?.as_f64()?,
        freq: v.get("freq_hz")?.as_f64()?,
    })
}

/// (kind, key, event_time) of every alert the job must raise.
fn oracle(lines: &[String]) -> BTreeSet<(String, String, i64)> {
    let mut out = BTreeSet::new();
    let mut add = |kind: &str, key: &str, t: i64| assert!(out.insert((kind.to_string(), key.to_string(), t)));
    let mut max_ts: Option<i64> = None;
    // absence per sensor: (newest ts, silent, timer)
    let mut absence: BTreeMap<String, (i64, bool, Option<i64>)> = BTreeMap::new();
    let mut last_out_of_range: BTreeMap<String, i64> = BTreeMap::new();
    let mut volume: BTreeMap<(String, i64), u64> = BTreeMap::new();
    let mut malformed: BTreeMap<i64, u64> = BTreeMap::new();
    for line in lines {
        let lt = max_ts.map_or(0, |m| (m - OOO).max(0));
        let Some(r) = parse(line) else {
            *malformed.entry(lt - lt % WINDOW).or_default() += 1;
            continue;
        };
        // absence: the key's timer fires before a record at or after its time
        match absence.get_mut(&r.sensor) {
            None => {
                absence.insert(r.sensor.clone(), (r.ts, false, Some(r.ts + SILENCE)));
            }
            Some((newest, silent, timer)) => {
                if let Some(t) = *timer {
                    if t <= lt {
                        *timer = None;
                        *silent = true;
                        add("sensor_silent", &r.sensor, t);
                    }
                }
                if r.ts > *newest {
                    *newest = r.ts;
                    if *silent {
                        *silent = false;
                        add("sensor_resumed", &r.sensor, r.ts);
                    }
                    *timer = Some(r.ts + SILENCE);
                }
            }
        }
        if r.ppv < 0.0 || r.ppv > 200.0 || r.freq <= 0.0 || r.freq > 500.0 {
            // cooldown 0: an older reading than the sensor's last alert does not alert again
            if last_out_of_range.get(&r.sensor).is_none_or(|t| r.ts >= *t) {
                last_out_of_range.insert(r.sensor.clone(), r.ts);
                add("reading_out_of_range", &r.sensor, r.ts);
            }
        }
        let start = r.ts - r.ts.rem_euclid(WINDOW);
        if start + WINDOW > lt {
            *volume.entry((r.sensor.clone(), start)).or_default() += 1;
        }
        max_ts = max_ts.max(Some(r.ts));
    }
    // the end of input fires every timer
    for (sensor, (_, _, timer)) in &absence {
        if let Some(t) = timer {
            add("sensor_silent", sensor, *t);
        }
    }
    for ((sensor, start), n) in &volume {
        if *n < 150 {
            add("low_volume", sensor, *start);
        }
    }
    for (start, n) in &malformed {
        if *n >= 50 {
            add("malformed_burst", "vibration", *start);
        }
    }
    out
}

#[test]
fn sensor_health_raises_every_expected_alert_and_no_other() {
    let tmp = tempfile::tempdir().unwrap();
    let generated = tmp.path().join("generated.jsonl");
    generate_vibration(&generated, 12, 1.0, 11, 0.0005, 0.0);
    let text = std::fs::read_to_string(&generated).unwrap();
    let first_ts = parse(text.lines().next().unwrap()).unwrap().ts;
    let at = |m: i64| first_ts + m * MIN;
    let mut lines: Vec<String> = Vec::new();
    let mut injected_range = 0;
    for (i, line) in text.lines().enumerate() {
        let r = parse(line).unwrap();
        // gaps: vib-0003 for 4 min, vib-0007 for 3 min, vib-0011 for 2.5 min (across a window boundary)
        let cut = (r.sensor == "vib-0003" && (at(20)..at(24)).contains(&r.ts))
            || (r.sensor == "vib-0007" && (at(31)..at(34)).contains(&r.ts))
            || (r.sensor == "vib-0011" && (at(43)..at(45) + 30_000).contains(&r.ts));
        if cut {
            continue;
        }
        if i % 9_001 == 4_000 {
            lines.push(line.replace(&format!("\"ppv_mm_s\":{}", r.ppv), "\"ppv_mm_s\":900.5"));
            injected_range += 1;
        } else if i == 20_000 {
            lines.push(line.replace(&format!("\"freq_hz\":{}", r.freq), "\"freq_hz\":-1.0"));
            injected_range += 1;
        } else {
            lines.push(line.to_string());
        }
        // a burst of 60 malformed lines, and 3 elsewhere (too few for an alert)
        if i == 15_000 {
            for k in 0..60 {
                lines.push(format!(
                    "{{\"sensor_id\":\"vib-0001\",\"site\":\"pit-north\",\"ts\":{k}"
                ));
            }
        }
        if i == 30_000 {
            lines.push("not json".into());
            lines.push("{}".into());
            lines.push("{\"sensor_id\":1}".into());
        }
    }
    assert!(injected_range >= 4);
    let input = tmp.path().join("vibration.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let expect = oracle(&lines);
    let kinds: BTreeSet<&str> = expect.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "low_volume",
            "malformed_burst",
            "reading_out_of_range",
            "sensor_resumed",
            "sensor_silent"
        ]
        .into(),
        "the input exercises every check"
    );

    let mut first: Option<String> = None;
    for workers in [1, 3] {
        let out = tmp.path().join(format!("out{workers}"));
        ok(weir()
            .arg("run")
            .arg(repo_root().join("config/sensor-health.toml"))
            .arg("--set")
            .arg(format!("sources.vibration.path={}", input.display()))
            .arg("--set")
            .arg(format!("sinks.alerts.path={}", out.join("alerts.jsonl").display()))
            .arg("--set")
            .arg(format!("sinks.dead_letters.path={}", out.join("dead.jsonl").display()))
            .args(["--workers", &workers.to_string(), "--quiet", "--chunk-bytes", "65536"]));
        let text = std::fs::read_to_string(out.join("alerts.jsonl")).unwrap();
        let got: Vec<(String, String, i64)> = read_jsonl(&out.join("alerts.jsonl"))
            .iter()
            .map(|a| {
                assert_eq!(a["job"], "sensor-health");
                (
                    a["kind"].as_str().unwrap().to_string(),
                    a["key"].as_str().unwrap().to_string(),
                    a["event_time"].as_i64().unwrap(),
                )
            })
            .collect();
        let got_set: BTreeSet<_> = got.iter().cloned().collect();
        assert_eq!(got_set.len(), got.len(), "no alert twice");
        let missing: Vec<_> = expect.difference(&got_set).take(5).collect();
        let extra: Vec<_> = got_set.difference(&expect).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{workers} workers: missing {missing:?}, extra {extra:?}"
        );
        // the malformed lines are dead letters too, each once
        let dead = read_jsonl(&out.join("dead.jsonl"));
        let malformed = dead
            .iter()
            .filter(|d| d["source"] == "vibration" && d["reason"] != "late")
            .count();
        assert_eq!(malformed, 63);
        match &first {
            None => first = Some(text),
            Some(f) => assert_eq!(f, &text, "{workers} workers differ from 1"),
        }
    }
}
