//! Oracle tests for event-time enrichment joins: generated readings joined with a versioned sensor table
//! whose zones and limits change mid-stream. A plain implementation — for each reading, the table row with
//! the newest version at or before its event time — must agree with the real `weir` binary on the joined
//! records, on alerts comparing a reading with its joined limit, and on windows keyed by the joined zone;
//! 1, 2 and 4 workers (and any chunk size), and 2 processes × 2 workers, give byte-identical outputs.

#[path = "support/crash.rs"]
mod crash;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support::*;

const START: i64 = 1_795_219_200_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const OOO: i64 = 30_000;

/// One version of a sensor's row.
#[derive(Clone, Debug)]
struct Version {
    sensor: String,
    zone: String,
    limit: f64,
    since: i64,
}

/// Sensors 0..n-1 except the last have rows; each has an initial version and most change once or twice
/// mid-stream (zone and limit). Returns the versions and the file's lines (plus two bad rows).
fn sensor_table(sensors: u32) -> (Vec<Version>, String) {
    let mut versions = Vec::new();
    for i in 0..sensors - 1 {
        let sensor = format!("vib-{i:04}");
        versions.push(Version {
            sensor: sensor.clone(),
            zone: format!("zone-{}", i % 3),
            limit: 1.0 + 0.1 * i as f64,
            since: 0,
        });
        if i % 3 != 2 {
            versions.push(Version {
                sensor: sensor.clone(),
                zone: format!("zone-{}", (i + 1) % 3),
                limit: 0.8,
                since: START + HOUR / 2 + i as i64 * 7 * MINUTE,
            });
        }
        if i % 3 == 0 {
            versions.push(Version {
                sensor,
                zone: "zone-x".into(),
                limit: 2.5,
                since: START + 100 * MINUTE + i as i64 * MINUTE,
            });
        }
    }
    let mut lines: Vec<String> = versions
        .iter()
        .map(|v| {
            serde_json::json!({"sensor_id": v.sensor, "zone": v.zone, "limit_ppv": v.limit, "since": v.since})
                .to_string()
        })
        .collect();
    // Written newest first: the file's order must not matter.
    lines.reverse();
    lines.insert(3, r#"{"zone":"zone-0","limit_ppv":1.0,"since":0}"#.into());
    lines.push(r#"{"sensor_id":null,"zone":"zone-0","limit_ppv":1.0,"since":0}"#.into());
    (versions, lines.join("\n") + "\n")
}

/// The version of `sensor` valid at `ts`.
fn version_at<'a>(versions: &'a [Version], sensor: &str, ts: i64) -> Option<&'a Version> {
    versions
        .iter()
        .filter(|v| v.sensor == sensor && v.since <= ts)
        .max_by_key(|v| v.since)
}

/// A valid reading with its arrival watermark (`None` for the first).
struct Reading {
    line: u64,
    sensor: String,
    ts: i64,
    ppv: f64,
    awm: Option<i64>,
}

fn readings(input: &Path) -> Vec<Reading> {
    let mut max_ts: Option<i64> = None;
    let mut out = Vec::new();
    for (i, line) in std::fs::read_to_string(input).unwrap().lines().enumerate() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(sensor), Some(_), Some(ts), Some(ppv), Some(_)) = (
            v["sensor_id"].as_str(),
            v["site"].as_str(),
            v["ts"].as_i64(),
            v["ppv_mm_s"].as_f64(),
            v["freq_hz"].as_f64(),
        ) else {
            continue;
        };
        out.push(Reading {
            line: i as u64 + 1,
            sensor: sensor.into(),
            ts,
            ppv,
            awm: max_ts.map(|m| m - OOO),
        });
        max_ts = Some(max_ts.map_or(ts, |m| m.max(ts)));
    }
    out
}

fn job(dir: &Path, input: &Path, table: &Path) -> PathBuf {
    let text = format!(
        r#"[job]
name = "join-oracle"
dead_letters = "dead_letters"

[sources.vibration]
kind = "file"
path = "{input}"
max_out_of_orderness = "30s"
schema = "vibration"

[tables.sensors]
kind = "file"
path = "{table}"
key = "sensor_id"
version = "since"
schema = {{ sensor_id = "string", zone = "string", limit_ppv = "float", since = "timestamp" }}

[operators.tagged]
kind = "join"
inputs = ["vibration", "sensors"]
on = "sensor_id"
fields = ["zone", "limit_ppv AS sensor_limit"]

[operators.known]
kind = "join"
inputs = ["vibration", "sensors"]
on = {{ stream = "sensor_id", table = "sensor_id" }}
fields = ["zone", "limit_ppv"]
mode = "inner"

[operators.over_limit]
kind = "alert"
inputs = ["known"]
key = ["sensor_id"]
when = "ppv_mm_s > limit_ppv"
cooldown = "5m"
alert = "over_sensor_limit"
severity = "warning"
fields = ["sensor_id", "zone", "ppv_mm_s", "limit_ppv"]

[operators.by_zone]
kind = "window"
inputs = ["known"]
window = {{ kind = "tumbling", size = "1h" }}
key = ["zone"]

[operators.by_zone.aggregates]
readings = "count"
ppv_max = "max(ppv_mm_s)"

[sinks.tagged]
kind = "jsonl"
inputs = ["tagged"]
path = "out/tagged.jsonl"

[sinks.alerts]
kind = "jsonl"
inputs = ["over_limit"]
path = "out/alerts.jsonl"

[sinks.zones]
kind = "jsonl"
inputs = ["by_zone"]
path = "out/zones.jsonl"

[sinks.dead_letters]
kind = "jsonl"
path = "out/dead_letters.jsonl"
"#,
        input = input.display(),
        table = table.display()
    );
    let path = dir.join("join.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `--set`s that put every sink of the job under `out`.
fn sink_sets(out: &Path) -> Vec<String> {
    let mut sets = Vec::new();
    for sink in ["tagged", "alerts", "zones", "dead_letters"] {
        sets.push("--set".to_string());
        sets.push(format!(
            "sinks.{sink}.path={}",
            out.join(format!("{sink}.jsonl")).display()
        ));
    }
    sets
}

fn run(job: &Path, out: &Path, workers: usize, chunk: &str) {
    ok(weir().arg("run").arg(job).args(sink_sets(out)).args([
        "--workers",
        &workers.to_string(),
        "--quiet",
        "--chunk-bytes",
        chunk,
    ]));
}

#[test]
fn joins_see_the_table_version_valid_at_each_event_time_for_any_worker_count() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("vibration.jsonl");
    let sensors = 8;
    generate_vibration(&input, sensors, 3.0, 5, 0.003, 0.001);
    let (versions, table_text) = sensor_table(sensors);
    let table = tmp.path().join("sensors.jsonl");
    std::fs::write(&table, table_text).unwrap();
    let job = job(tmp.path(), &input, &table);

    let first = tmp.path().join("run0");
    run(&job, &first, 1, "1048576");
    for (i, (workers, chunk)) in [(2usize, "8192"), (4, "65536")].iter().enumerate() {
        let out = tmp.path().join(format!("run{}", i + 1));
        run(&job, &out, *workers, chunk);
        crash::assert_same_tree(&first, &out);
    }
    // Two processes of two workers (process 0 reads the table; every worker joins with it).
    let cluster = tmp.path().join("cluster");
    let hosts = hostfile(tmp.path(), 2);
    let members: Vec<_> = (0..2)
        .map(|i| {
            let mut cmd = weir();
            cmd.arg("run")
                .arg(&job)
                .args(sink_sets(&cluster))
                .args(["--workers", "2", "--quiet"]);
            cmd.args(["--processes", "2", "--process", &i.to_string(), "--hostfile"])
                .arg(&hosts);
            cmd.spawn().unwrap()
        })
        .collect();
    for mut m in members {
        assert!(m.wait().unwrap().success(), "a cluster process failed");
    }
    crash::assert_same_tree(&first, &cluster);

    let readings = readings(&input);
    // The left join: every reading, with the version valid at its event time (nulls without a row).
    let tagged = read_jsonl(&first.join("tagged.jsonl"));
    assert_eq!(tagged.len(), readings.len());
    let mut by_line: BTreeMap<(String, i64), Vec<&serde_json::Value>> = BTreeMap::new();
    for t in &tagged {
        by_line
            .entry((t["sensor_id"].as_str().unwrap().to_string(), t["ts"].as_i64().unwrap()))
            .or_default()
            .push(t);
    }
    let mut changed_mid_stream = 0;
    for r in &readings {
        let got = &by_line[&(r.sensor.clone(), r.ts)];
        let want = version_at(&versions, &r.sensor, r.ts);
        assert!(
            got.iter().all(|g| match want {
                Some(v) => g["zone"] == v.zone.as_str() && g["sensor_limit"].as_f64() == Some(v.limit),
                None => g["zone"].is_null() && g["sensor_limit"].is_null(),
            }),
            "reading {} of {} at {}: got {got:?}, want {want:?}",
            r.line,
            r.sensor,
            r.ts
        );
        if want.is_some_and(|v| v.since > 0) {
            changed_mid_stream += 1;
        }
    }
    assert!(changed_mid_stream > readings.len() / 4, "the table changes mid-stream");

    // Alerts on the joined limit: the cooldown rule applied in input order.
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    let mut want_alerts = Vec::new();
    for r in &readings {
        let Some(v) = version_at(&versions, &r.sensor, r.ts) else {
            continue;
        };
        if r.ppv > v.limit {
            let admit = last.get(&r.sensor).is_none_or(|l| r.ts >= l + 5 * MINUTE);
            if admit {
                last.insert(r.sensor.clone(), r.ts);
                want_alerts.push((r.sensor.clone(), r.ts, v.zone.clone(), v.limit));
            }
        }
    }
    let mut got_alerts: Vec<(String, i64, String, f64)> = read_jsonl(&first.join("alerts.jsonl"))
        .iter()
        .map(|a| {
            (
                a["sensor_id"].as_str().unwrap().to_string(),
                a["event_time"].as_i64().unwrap(),
                a["zone"].as_str().unwrap().to_string(),
                a["limit_ppv"].as_f64().unwrap(),
            )
        })
        .collect();
    got_alerts.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    want_alerts.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    assert!(
        want_alerts.len() > 20,
        "the workload raises alerts ({})",
        want_alerts.len()
    );
    assert_eq!(got_alerts, want_alerts);

    // Windows keyed by the joined zone (inner join: sensors without a row are not counted); late readings
    // (window end at or before their arrival watermark) are not counted either.
    let mut want_zones: BTreeMap<(i64, String), (i64, f64)> = BTreeMap::new();
    for r in &readings {
        let Some(v) = version_at(&versions, &r.sensor, r.ts) else {
            continue;
        };
        let start = r.ts.div_euclid(HOUR) * HOUR;
        if r.awm.is_some_and(|w| start + HOUR <= w) {
            continue;
        }
        let e = want_zones.entry((start, v.zone.clone())).or_insert((0, f64::MIN));
        e.0 += 1;
        e.1 = e.1.max(r.ppv);
    }
    let got_zones: BTreeMap<(i64, String), (i64, f64)> = read_jsonl(&first.join("zones.jsonl"))
        .iter()
        .map(|z| {
            (
                (
                    z["window_start"].as_i64().unwrap(),
                    z["zone"].as_str().unwrap().to_string(),
                ),
                (z["readings"].as_i64().unwrap(), z["ppv_max"].as_f64().unwrap()),
            )
        })
        .collect();
    assert_eq!(got_zones, want_zones);
    assert!(
        got_zones.keys().any(|(_, z)| z == "zone-x"),
        "a zone that exists only mid-stream"
    );

    // Dead letters: the table's rows without a key, and the inner join's readings of the sensor with no row.
    let dead = read_jsonl(&first.join("dead_letters.jsonl"));
    let table_bad: Vec<_> = dead.iter().filter(|d| d["source"] == "sensors").collect();
    assert_eq!(table_bad.len(), 2, "{table_bad:?}");
    assert_eq!(table_bad[0]["offset"], 4, "the line of the row without a key");
    let unmatched = readings
        .iter()
        .filter(|r| version_at(&versions, &r.sensor, r.ts).is_none())
        .count();
    let no_match: Vec<_> = dead
        .iter()
        .filter(|d| d["reason"] == "no match in table sensors")
        .collect();
    assert_eq!(no_match.len(), unmatched);
    assert!(no_match.iter().all(|d| d["source"] == "known"));
    assert!(unmatched > 100);
}

/// Wall-clock now, epoch ms.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn table_files_are_reread_when_they_change_and_live_records_wait_for_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Live readings: event times from 1.5 s after now, 20 ms apart, read at 50 a second.
    let t0 = now_ms() + 1_500;
    let n = 400;
    let sensors = ["vib-0000", "vib-0001"];
    let mut lines = String::new();
    for i in 0..n {
        let line = serde_json::json!({"sensor_id": sensors[i % 2], "site": "s", "ts": t0 + 20 * i as i64,
            "ppv_mm_s": 1.0, "freq_hz": 10.0});
        lines.push_str(&format!("{line}\n"));
    }
    let input = dir.join("live.jsonl");
    std::fs::write(&input, lines).unwrap();
    // A versioned CSV table (appended to) and an unversioned JSONL one (replaced by a rename).
    let limits = dir.join("limits.csv");
    std::fs::write(&limits, "sensor_id,limit_ppv,since\nvib-0000,1.0,0\nvib-0001,2.0,0\n").unwrap();
    let zones = dir.join("zones.jsonl");
    let zone_lines = |z: &str| {
        format!("{{\"sensor_id\":\"vib-0000\",\"zone\":\"a\"}}\n{{\"sensor_id\":\"vib-0001\",\"zone\":\"{z}\"}}\n")
    };
    std::fs::write(&zones, zone_lines("b")).unwrap();
    let job = dir.join("live.toml");
    std::fs::write(
        &job,
        format!(
            r#"[job]
name = "live"
[sources.vibration]
kind = "file"
path = "{input}"
rate = 50
schema = "vibration"
[tables.limits]
kind = "file"
path = "{limits}"
interval = "100ms"
key = "sensor_id"
version = "since"
schema = {{ sensor_id = "string", limit_ppv = "float", since = "timestamp" }}
[tables.zones]
kind = "file"
path = "{zones}"
interval = "100ms"
key = "sensor_id"
schema = {{ sensor_id = "string", zone = "string" }}
[operators.limited]
kind = "join"
inputs = ["vibration", "limits"]
on = "sensor_id"
fields = ["limit_ppv"]
[operators.zoned]
kind = "join"
inputs = ["limited", "zones"]
on = "sensor_id"
fields = ["zone"]
[sinks.out]
kind = "jsonl"
inputs = ["zoned"]
path = "{out}"
[sinks.dead_letters]
kind = "jsonl"
path = "{dead}"
"#,
            input = input.display(),
            limits = limits.display(),
            zones = zones.display(),
            out = dir.join("out.jsonl").display(),
            dead = dir.join("dead.jsonl").display()
        ),
    )
    .unwrap();
    let mut child = weir()
        .arg("run")
        .arg(&job)
        .args(["--quiet", "--chunk-bytes", "1024"])
        .spawn()
        .unwrap();
    // 3 s in: a new version of vib-0000's limit, valid from 1.5 s later; vib-0001's zone changes.
    std::thread::sleep(std::time::Duration::from_millis(3_000));
    let since = now_ms() + 1_500;
    let mut f = std::fs::OpenOptions::new().append(true).open(&limits).unwrap();
    std::io::Write::write_all(&mut f, format!("vib-0000,5.0,{since}\n").as_bytes()).unwrap();
    drop(f);
    let replaced_at = now_ms();
    std::fs::write(dir.join("zones.tmp"), zone_lines("c")).unwrap();
    std::fs::rename(dir.join("zones.tmp"), &zones).unwrap();
    assert!(child.wait().unwrap().success());

    let out = read_jsonl(&dir.join("out.jsonl"));
    assert_eq!(out.len(), n, "every reading once");
    let (mut new_limit, mut new_zone) = (0, 0);
    for r in &out {
        let (s, ts) = (r["sensor_id"].as_str().unwrap(), r["ts"].as_i64().unwrap());
        let limit = r["limit_ppv"].as_f64().unwrap();
        match s {
            "vib-0000" => {
                assert_eq!(
                    limit,
                    if ts >= since { 5.0 } else { 1.0 },
                    "limit of {s} at {ts} (since {since})"
                );
                new_limit += (ts >= since) as usize;
                assert_eq!(r["zone"], "a");
            }
            _ => {
                assert_eq!(limit, 2.0);
                // Unversioned: the change holds from about when the file was read again.
                let zone = r["zone"].as_str().unwrap();
                if ts < replaced_at - 1_000 {
                    assert_eq!(zone, "b", "{s} at {ts}, replaced at {replaced_at}");
                } else if ts > replaced_at + 2_000 {
                    assert_eq!(zone, "c", "{s} at {ts}, replaced at {replaced_at}");
                }
                new_zone += (zone == "c") as usize;
            }
        }
    }
    assert!(new_limit > 20 && new_zone > 20, "{new_limit} {new_zone}");
}
