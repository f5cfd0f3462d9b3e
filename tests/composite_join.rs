//! Joins on a key of several fields, one of them an expression of the stream's fields: readings from two
//! sites whose sensors share ids, joined with a versioned table keyed by (site, sensor_id) as of each
//! reading's event time, the sensor id lower-cased first. An independent oracle gives each reading's row;
//! the SQL job and its TOML twin write byte-identical outputs at 1 and 3 workers, and through SIGKILLs
//! (the table's history restored from checkpoints) the output is the uninterrupted run's.

#[path = "support/crash.rs"]
mod crash;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

const START: i64 = 1_795_219_200_000;
const MINUTE: i64 = 60_000;
const SITES: [&str; 2] = ["north", "south"];
const SENSORS: usize = 6;

/// One version of a (site, sensor) row.
struct Version {
    site: &'static str,
    sensor: String,
    zone: String,
    limit: f64,
    since: i64,
}

/// Every (site, sensor) but (south, vib-5) has a row from the start; most change zone and limit once, at
/// a different time per pair. The same sensor id has different rows at the two sites. Returns the versions
/// and the table file (plus a row without its site: a dead letter of the table).
fn table() -> (Vec<Version>, String) {
    let mut versions = Vec::new();
    for (s, site) in SITES.into_iter().enumerate() {
        for i in 0..SENSORS {
            if s == 1 && i == SENSORS - 1 {
                continue;
            }
            let sensor = format!("vib-{i}");
            versions.push(Version {
                site,
                sensor: sensor.clone(),
                zone: format!("{site}-z{}", i % 2),
                limit: 1.0 + 0.1 * i as f64 + 0.5 * s as f64,
                since: 0,
            });
            if (i + s) % 3 != 0 {
                versions.push(Version {
                    site,
                    sensor,
                    zone: format!("{site}-moved"),
                    limit: 0.9,
                    since: START + (7 * i as i64 + 11 * s as i64 + 5) * MINUTE,
                });
            }
        }
    }
    let mut lines: Vec<String> = versions
        .iter()
        .map(|v| {
            serde_json::json!({"site": v.site, "sensor_id": v.sensor, "zone": v.zone, "limit_ppv": v.limit,
                "since": v.since})
            .to_string()
        })
        .collect();
    lines.reverse();
    lines.push(r#"{"site":null,"sensor_id":"vib-0","zone":"x","limit_ppv":1.0,"since":0}"#.into());
    (versions, lines.join("\n") + "\n")
}

/// A reading: site, sensor id as the devices send it (upper case), event time, ppv.
type Reading = (String, String, i64, f64);

/// Two hours of readings, one per pair every 10 s, each up to 20 s out of order.
fn readings() -> (Vec<Reading>, String) {
    let mut out = Vec::new();
    for step in 0..720i64 {
        for (s, site) in SITES.into_iter().enumerate() {
            for i in 0..SENSORS {
                let k = step * 12 + (s * SENSORS + i) as i64;
                let ts = START + step * 10_000 - (k * 7919) % 20_000;
                let ppv = ((k * 37) % 200) as f64 / 100.0;
                out.push((site.to_string(), format!("VIB-{i}"), ts, ppv));
            }
        }
    }
    let text: String = out
        .iter()
        .map(|(site, sensor, ts, ppv)| {
            serde_json::json!({"site": site, "sensor": sensor, "ts": ts, "ppv": ppv}).to_string() + "\n"
        })
        .collect();
    (out, text)
}

const SQL: &str = "
CREATE TABLE readings (site STRING, sensor STRING, ts BIGINT, ppv DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '30' SECOND)
  WITH ('connector' = 'file', 'path' = '${IN}', 'format' = 'jsonl');
CREATE TABLE sensors (site STRING, sensor_id STRING, zone STRING, limit_ppv DOUBLE, since BIGINT,
  PRIMARY KEY (site, sensor_id) NOT ENFORCED, WATERMARK FOR since AS since)
  WITH ('connector' = 'file', 'path' = '${TABLE}');
CREATE TABLE tagged WITH ('connector' = 'jsonl', 'path' = '${OUT}/tagged.jsonl');
CREATE TABLE dead_letters WITH ('connector' = 'jsonl', 'path' = '${OUT}/dead_letters.jsonl');
INSERT INTO tagged
SELECT r.*, s.zone, s.limit_ppv
FROM readings AS r
JOIN sensors FOR SYSTEM_TIME AS OF r.ts AS s ON r.site = s.site AND LOWER(r.sensor) = s.sensor_id;
";

/// The SQL job in TOML, operator for operator.
const TOML: &str = r#"
[job]
name = "j"

[sources.readings]
kind = "file"
path = "${IN}"
format = "jsonl"
event_time = "ts"
max_out_of_orderness = "30s"
schema = { site = "string", sensor = "string", ts = "int", ppv = "float" }

[tables.sensors]
kind = "file"
path = "${TABLE}"
key = ["site", "sensor_id"]
version = "since"
schema = { site = "string", sensor_id = "string", zone = "string", limit_ppv = "float", since = "int" }

[operators.insert_into_tagged_on]
kind = "derive"
inputs = ["readings"]
fields = { on_sensor_id = "lower(sensor)" }

[operators.insert_into_tagged_join]
kind = "join"
inputs = ["insert_into_tagged_on", "sensors"]
on = { stream = ["site", "on_sensor_id"], table = ["site", "sensor_id"] }
fields = ["zone", "limit_ppv"]
mode = "inner"

[operators.insert_into_tagged]
kind = "derive"
inputs = ["insert_into_tagged_join"]
drop = ["on_sensor_id"]

[sinks.tagged]
kind = "jsonl"
inputs = ["insert_into_tagged"]
path = "${OUT}/tagged.jsonl"

[sinks.dead_letters]
kind = "jsonl"
path = "${OUT}/dead_letters.jsonl"
"#;

/// `weir run JOB` over the inputs in `dir`, its outputs under `out`.
fn command(job: &Path, dir: &Path, out: &Path, workers: usize) -> Command {
    let mut cmd = weir();
    cmd.arg("run")
        .arg(job)
        .args(["--workers", &workers.to_string(), "--quiet"])
        .env("IN", dir.join("readings.jsonl"))
        .env("TABLE", dir.join("sensors.jsonl"))
        .env("OUT", out);
    cmd
}

fn write_inputs(dir: &Path) -> (Vec<Version>, Vec<Reading>, PathBuf, PathBuf) {
    let (versions, table_text) = table();
    let (readings, text) = readings();
    std::fs::write(dir.join("sensors.jsonl"), table_text).unwrap();
    std::fs::write(dir.join("readings.jsonl"), text).unwrap();
    let (sql, toml) = (dir.join("job.sql"), dir.join("job.toml"));
    std::fs::write(&sql, SQL).unwrap();
    std::fs::write(&toml, TOML).unwrap();
    (versions, readings, sql, toml)
}

#[test]
fn each_reading_is_joined_with_its_site_and_sensor_row_as_of_its_event_time() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (versions, readings, sql, toml) = write_inputs(dir);
    let first = dir.join("toml-1");
    ok(&mut command(&toml, dir, &first, 1));
    for (job, workers) in [(&toml, 3), (&sql, 1), (&sql, 3)] {
        let out = dir.join(format!("{}-{workers}", job.extension().unwrap().to_str().unwrap()));
        ok(&mut command(job, dir, &out, workers));
        crash::assert_same_tree(&first, &out);
    }

    // The oracle: the version of (site, lower(sensor)) with the newest `since` at or before the reading.
    let version_at = |site: &str, sensor: &str, ts: i64| {
        versions
            .iter()
            .filter(|v| v.site == site && v.sensor == sensor.to_lowercase() && v.since <= ts)
            .max_by_key(|v| v.since)
    };
    let mut want: BTreeMap<(String, String, i64), (String, f64)> = BTreeMap::new();
    let mut unmatched = 0;
    let mut moved = 0;
    for (site, sensor, ts, _) in &readings {
        match version_at(site, sensor, *ts) {
            Some(v) => {
                moved += usize::from(v.since > 0);
                want.insert((site.clone(), sensor.clone(), *ts), (v.zone.clone(), v.limit));
            }
            None => unmatched += 1,
        }
    }
    assert!(moved > want.len() / 3, "the table changes mid-stream");
    let tagged = read_jsonl(&first.join("tagged.jsonl"));
    assert_eq!(tagged.len(), want.len());
    let got: BTreeMap<(String, String, i64), (String, f64)> = tagged
        .iter()
        .map(|t| {
            let key = (
                t["site"].as_str().unwrap().into(),
                t["sensor"].as_str().unwrap().into(),
                t["ts"].as_i64().unwrap(),
            );
            (
                key,
                (t["zone"].as_str().unwrap().into(), t["limit_ppv"].as_f64().unwrap()),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert!(
        tagged.iter().all(|t| t.get("on_sensor_id").is_none()),
        "the derived key is dropped"
    );

    // (south, VIB-5) has no row: each of its readings is a dead letter of the inner join; the table's row
    // without its site is the table's one dead letter.
    let dead = read_jsonl(&first.join("dead_letters.jsonl"));
    let no_match = dead
        .iter()
        .filter(|d| d["reason"] == "no match in table sensors")
        .count();
    assert_eq!(no_match, unmatched);
    assert_eq!(unmatched, 720);
    let table_dead: Vec<&serde_json::Value> = dead.iter().filter(|d| d["source"] == "sensors").collect();
    assert_eq!(table_dead.len(), 1, "{table_dead:?}");
    assert_eq!(table_dead[0]["reason"], "field `site`: expected a string, found null");
}

/// The table's history is part of every checkpoint: a run killed again and again, resuming with 1, 2 or 3
/// workers, looks readings up in the same versions and writes what one uninterrupted run writes.
#[test]
fn a_composite_key_table_restored_from_checkpoints_gives_the_uninterrupted_output() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_, _, sql, _) = write_inputs(dir);
    let reference = dir.join("ref");
    ok(&mut command(&sql, dir, &reference, 2));
    let (out, ckpt, logs) = (dir.join("out"), dir.join("ckpt"), dir.join("logs"));
    std::fs::create_dir_all(&logs).unwrap();
    let crashes = crash::run_with_kills(
        |attempt| {
            let mut cmd = command(&sql, dir, &out, 1 + attempt % 3);
            cmd.args(["--set", &format!("job.checkpoint.dir={}", ckpt.display())])
                .args(["--set", "job.checkpoint.interval=100ms"])
                .args(["--set", "sources.readings.rate=4000"]);
            cmd
        },
        3,
        0x5eed_00c0,
        (300, 700),
        &logs,
    );
    assert!(
        crashes.resumed >= 2,
        "runs should resume from checkpoints:\n{}",
        crashes.log
    );
    crash::assert_same_tree(&reference, &out);
}
