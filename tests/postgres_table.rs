//! A `kind = "postgres"` table against a real PostgreSQL server (started by the test in a temp dir on a
//! free 127.0.0.1 port): rows updated and soft-deleted while the job runs are joined from their
//! `updated_at` on, the database going away mid-run is a clear retrying message with no record lost or
//! joined twice, and an unreachable database at start is a clear error. The reference job
//! `config/fleet-enriched.toml` against it, through the crash harness (≥ 10 SIGKILLs).
//!
//! Needs the PostgreSQL server binaries (tests/run.sh installs the Debian package and sets WEIR_PG_BIN).

#[path = "support/crash.rs"]
mod crash;
#[path = "support/http.rs"]
mod http_support;
#[path = "support/postgres.rs"]
mod postgres_server;
mod support;

use postgres_server::Postgres;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::*;

const VEHICLES: [&str; 4] = ["v1", "v2", "v3", "v4"];

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A vehicle's version: valid from `since` (ms), `None` when deleted.
type Versions = BTreeMap<String, Vec<(i64, Option<(String, f64)>)>>;

fn record_version(db: &mut postgres::Client, versions: &mut Versions, vehicle: &str) {
    let row = db
        .query_one(
            "SELECT vtype, max_speed, floor(extract(epoch from updated_at) * 1000)::bigint, deleted \
             FROM vehicles WHERE vehicle_id = $1",
            &[&vehicle],
        )
        .unwrap();
    let (vtype, max, since, deleted): (String, f64, i64, bool) = (row.get(0), row.get(1), row.get(2), row.get(3));
    let v = (!deleted).then_some((vtype, max));
    versions.entry(vehicle.to_string()).or_default().push((since, v));
}

fn version_at(versions: &Versions, vehicle: &str, ts: i64) -> Option<(String, f64)> {
    versions[vehicle]
        .iter()
        .filter(|(since, _)| *since <= ts)
        .max_by_key(|(since, _)| *since)
        .and_then(|(_, v)| v.clone())
}

fn job(dir: &Path, input: &Path, url: &str) -> std::path::PathBuf {
    let text = format!(
        r#"[job]
name = "fleet-live"

[sources.pings]
kind = "file"
path = "{input}"
rate = 25
schema = {{ vehicle_id = "string", ts = "int", speed = "float" }}

[tables.vehicles]
kind = "postgres"
url = "{url}"
table = "vehicles"
interval = "200ms"
key = "vehicle_id"
version = "updated_at"
deleted = "deleted"
max_out_of_orderness = "1s"
schema = {{ vehicle_id = "string", vtype = "string", max_speed = "float", updated_at = "timestamp" }}

[operators.enriched]
kind = "join"
inputs = ["pings", "vehicles"]
on = "vehicle_id"
fields = ["vtype", "max_speed"]

[sinks.enriched]
kind = "jsonl"
inputs = ["enriched"]
path = "{out}"

[sinks.dead_letters]
kind = "jsonl"
path = "{dead}"
"#,
        input = input.display(),
        out = dir.join("enriched.jsonl").display(),
        dead = dir.join("dead_letters.jsonl").display(),
    );
    let path = dir.join("fleet.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn sleep_until(t: Instant) {
    if let Some(d) = t.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
}

#[test]
#[ignore = "needs PostgreSQL server binaries (tests/run.sh installs them and sets WEIR_PG_BIN)"]
fn rows_updated_while_the_job_runs_join_from_their_version_and_an_outage_loses_nothing() {
    let pg = Postgres::start();
    let mut db = pg.client();
    db.batch_execute(
        "CREATE TABLE vehicles (vehicle_id text PRIMARY KEY, vtype text NOT NULL, max_speed float8 NOT NULL, \
         updated_at timestamptz NOT NULL, deleted boolean NOT NULL DEFAULT false);
         INSERT INTO vehicles VALUES
           ('v1', 'car', 50, now() - interval '1 hour', false),
           ('v2', 'van', 60, now() - interval '1 hour', false),
           ('v3', 'bike', 25, now() - interval '1 hour', false),
           ('v4', 'car', 50, now() - interval '1 hour', false);",
    )
    .unwrap();
    let mut versions = Versions::new();
    for v in VEHICLES {
        record_version(&mut db, &mut versions, v);
    }

    // Pings with event times from 1.5 s after the job starts, every 40 ms for 14 s, read at 25 a second:
    // live records, each waiting for the table to be known at its time.
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("pings.jsonl");
    let t0 = now_ms() + 1500;
    let n = 350;
    let mut lines = String::new();
    for i in 0..n {
        let v = VEHICLES[i % 4];
        lines.push_str(&format!(
            r#"{{"vehicle_id":"{v}","ts":{},"speed":{}}}"#,
            t0 + 40 * i as i64,
            20 + i % 40
        ));
        lines.push('\n');
    }
    std::fs::write(&input, lines).unwrap();
    let job = job(tmp.path(), &input, &pg.url());
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("run")
        .arg(&job)
        .args(["--chunk-bytes", "1024", "--quiet"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
            .join("\n")
    });

    let at = |ms: u64| started + Duration::from_millis(ms);
    sleep_until(at(4_000));
    db.execute(
        "UPDATE vehicles SET vtype = 'truck', max_speed = 40, updated_at = now() WHERE vehicle_id = 'v1'",
        &[],
    )
    .unwrap();
    record_version(&mut db, &mut versions, "v1");
    sleep_until(at(6_000));
    db.execute(
        "UPDATE vehicles SET deleted = true, updated_at = now() WHERE vehicle_id = 'v2'",
        &[],
    )
    .unwrap();
    record_version(&mut db, &mut versions, "v2");
    // The database goes away for 3 s.
    sleep_until(at(7_000));
    drop(db);
    pg.stop();
    std::thread::sleep(Duration::from_secs(3));
    pg.start_again();
    let mut db = pg.client();
    sleep_until(at(11_500));
    db.execute(
        "UPDATE vehicles SET max_speed = 30, updated_at = now() WHERE vehicle_id = 'v3'",
        &[],
    )
    .unwrap();
    record_version(&mut db, &mut versions, "v3");

    let status = child.wait().unwrap();
    let errors = errors.join().unwrap();
    assert!(status.success(), "weir failed:\n{errors}");
    assert!(
        errors.contains("table `vehicles`") && errors.contains("retrying"),
        "the outage is reported as retried:\n{errors}"
    );

    let out = read_jsonl(&tmp.path().join("enriched.jsonl"));
    assert_eq!(out.len(), n, "every ping once");
    let mut seen = std::collections::BTreeSet::new();
    let mut changed = 0;
    for r in &out {
        let (v, ts) = (r["vehicle_id"].as_str().unwrap(), r["ts"].as_i64().unwrap());
        assert!(seen.insert((v.to_string(), ts)), "{v} at {ts} joined twice");
        let want = version_at(&versions, v, ts);
        let got = r["vtype"]
            .as_str()
            .map(|t| (t.to_string(), r["max_speed"].as_f64().unwrap()));
        assert_eq!(got, want, "{v} at {ts} (t0 {t0}); versions {versions:?}");
        if versions[v].len() > 1 && ts >= versions[v][1].0 {
            changed += 1;
        }
    }
    assert!(changed > 50, "records after the updates ({changed})");
    assert!(
        out.iter().any(|r| r["vehicle_id"] == "v2" && r["vtype"].is_null()),
        "soft delete seen"
    );
}

#[test]
fn an_unreachable_database_at_start_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("pings.jsonl");
    std::fs::write(&input, "{\"vehicle_id\":\"v1\",\"ts\":1,\"speed\":1}\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let job = job(
        tmp.path(),
        &input,
        &format!("postgresql://weir:secret@127.0.0.1:{port}/postgres"),
    );
    let out = weir().arg("run").arg(&job).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("table `vehicles`") && err.contains("PostgreSQL"), "{err}");
    assert!(!err.contains("secret"), "the password stays out of messages: {err}");
    assert!(!tmp.path().join("enriched.jsonl").exists(), "nothing written");
}

/// The fleet's vehicle table from config/fleet-vehicles.csv in database `fleet`; `d-0005` was re-registered
/// (its row holds from `changed_at` only, so its earlier pings find no row).
fn fleet_database(pg: &Postgres, changed_at: &str) -> String {
    fleet_database_typed(pg, "fleet", "float8", changed_at)
}

/// [`fleet_database`] in database `name`, with its number columns of type `number`.
fn fleet_database_typed(pg: &Postgres, name: &str, number: &str, changed_at: &str) -> String {
    let mut db = pg.client();
    db.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let url = pg.url().replace("/postgres", &format!("/{name}"));
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    db.batch_execute(&format!(
        "CREATE TABLE vehicles (vehicle_id text PRIMARY KEY, vehicle_type text, depot_lat {number}, \
         depot_lon {number}, max_range_km {number}, updated_at timestamptz)"
    ))
    .unwrap();
    let csv = std::fs::read_to_string(repo_root().join("config/fleet-vehicles.csv")).unwrap();
    let mut copy = db
        .copy_in("COPY vehicles FROM STDIN WITH (FORMAT csv, HEADER true)")
        .unwrap();
    std::io::Write::write_all(&mut copy, csv.as_bytes()).unwrap();
    copy.finish().unwrap();
    db.execute(
        &format!("UPDATE vehicles SET updated_at = '{changed_at}' WHERE vehicle_id = 'd-0005'"),
        &[],
    )
    .unwrap();
    url
}

fn fleet_cmd(input: &Path, out: &Path, url: &str, ckpt: Option<&Path>) -> Command {
    let mut cmd = weir();
    cmd.arg("run")
        .arg(repo_root().join("config/fleet-enriched.toml"))
        .arg("--quiet")
        .env("WEIR_LOCATIONS_INPUT", input)
        .env("WEIR_OUT", out)
        .env("WEIR_FLEET_DB", url);
    if let Some(dir) = ckpt {
        cmd.args(["--set", &format!("job.checkpoint.dir={}", dir.display())])
            .args(["--set", "job.checkpoint.interval=100ms"]);
    }
    cmd
}

#[test]
#[ignore = "needs PostgreSQL server binaries (tests/run.sh installs them and sets WEIR_PG_BIN)"]
fn fleet_enriched_joins_every_ping_with_its_vehicle_and_survives_repeated_sigkill() {
    let pg = Postgres::start();
    let url = fleet_database(&pg, "2026-11-21 02:00:00+00");
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("locations.jsonl");
    ok(weir()
        .args([
            "generate",
            "locations",
            "--orders",
            "20000",
            "--hours",
            "6",
            "--count",
            "700000",
        ])
        .args(["--seed", "21", "-o", input.to_str().unwrap()]));

    let reference = tmp.path().join("ref");
    ok(&mut fleet_cmd(&input, &reference, &url, None));
    let out = reference.join("fleet-enriched");
    // Every ping of a known vehicle is counted by type (less late ones); d-0005's pings before its row's
    // version are dead letters.
    let dead = read_jsonl(&out.join("dead_letters.jsonl"));
    let no_match: Vec<_> = dead
        .iter()
        .filter(|d| d["reason"] == "no match in table vehicles")
        .collect();
    assert!(!no_match.is_empty());
    let changed = 1_795_219_200_000 + 2 * 3_600_000;
    for d in &no_match {
        let raw: serde_json::Value = serde_json::from_str(d["raw"].as_str().unwrap()).unwrap();
        assert_eq!(raw["deliverer_id"], "d-0005", "{d}");
        assert!(raw["ts"].as_i64().unwrap() < changed, "{d}");
    }
    let rows: usize = parquet_files(&out.join("dashboard"))
        .iter()
        .flat_map(|f| read_batches(f))
        .map(|b| b.num_rows())
        .sum();
    assert!(rows >= 4 * 8, "15-minute rows per vehicle type ({rows})");

    // The crash harness: ≥ 10 SIGKILLs, restarts with 1–3 workers, the outputs equal the reference's.
    let (crashed, ckpt, logs) = (tmp.path().join("out"), tmp.path().join("ckpt"), tmp.path().join("logs"));
    std::fs::create_dir_all(&logs).unwrap();
    let crashes = crash::run_with_kills(
        |attempt| {
            let mut cmd = fleet_cmd(&input, &crashed, &url, Some(&ckpt));
            cmd.args(["--set", "sources.locations.rate=150000"])
                .args(["--workers", &(1 + attempt % 3).to_string()]);
            cmd
        },
        10,
        0x5eed_0012,
        (250, 500),
        &logs,
    );
    assert!(crashes.resumed >= 5, "{}", crashes.log);
    crash::assert_same_tree(&reference, &crashed);
}

/// Trap 3: a `numeric` column made every table row a dead letter and the left join silently gave NULLs. It
/// now reads as a float (the same doubles as `float8`: the outputs are identical), and a table whose rows are
/// (mostly) dead letters is a warning on stderr and in `/healthz`.
#[test]
#[ignore = "needs PostgreSQL server binaries (tests/run.sh installs them and sets WEIR_PG_BIN)"]
fn numeric_columns_read_as_floats_and_a_table_of_dead_letters_is_a_warning() {
    let pg = Postgres::start();
    let changed = "2026-11-21 02:00:00+00";
    let float8 = fleet_database(&pg, changed);
    let numeric = fleet_database_typed(&pg, "fleet_numeric", "numeric", changed);
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("locations.jsonl");
    ok(weir()
        .args([
            "generate",
            "locations",
            "--orders",
            "200",
            "--hours",
            "3",
            "--seed",
            "5",
            "-o",
        ])
        .arg(&input));
    let (a, b) = (tmp.path().join("float8"), tmp.path().join("numeric"));
    ok(&mut fleet_cmd(&input, &a, &float8, None));
    let o = ok(&mut fleet_cmd(&input, &b, &numeric, None));
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("warning"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    crash::assert_same_tree(&a, &b);

    // Every row unusable: numbers the `float` fields cannot hold.
    let text = fleet_database_typed(&pg, "fleet_text", "text", changed);
    let mut db = postgres::Client::connect(&text, postgres::NoTls).unwrap();
    db.batch_execute("UPDATE vehicles SET max_range_km = 'far'").unwrap();
    let o = fleet_cmd(&input, &tmp.path().join("text"), &text, None)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: table `vehicles`:") && err.contains("rows of its last read are dead letters"),
        "{err}"
    );
    // The same warning stands in /healthz while the job serves (paced: a job without views serves while it
    // runs).
    let mut serving = fleet_cmd(&input, &tmp.path().join("served"), &text, None);
    serving.args([
        "--set",
        "serve.listen=127.0.0.1:0",
        "--set",
        "sources.locations.rate=2000",
    ]);
    let server = http_support::Server::spawn(serving);
    let deadline = Instant::now() + Duration::from_secs(30);
    let warnings = loop {
        let (_, health) = http_support::get(&server.addr, "/healthz");
        let w = health["warnings"].as_array().cloned().unwrap_or_default();
        if !w.is_empty() || Instant::now() > deadline {
            break w;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = warnings[0].as_str().unwrap();
    assert!(w.starts_with("table `vehicles`:") && w.contains("dead letters"), "{w}");
    assert!(server.terminate().success());
}

#[test]
#[ignore = "needs PostgreSQL server binaries (tests/run.sh installs them and sets WEIR_PG_BIN)"]
fn fleet_enriched_sql_writes_what_its_toml_file_writes_at_1_and_3_workers() {
    let pg = Postgres::start();
    let url = fleet_database(&pg, "2026-11-21 02:00:00+00");
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("locations.jsonl");
    generate_locations(
        &input,
        &[
            "--orders",
            "2000",
            "--hours",
            "4",
            "--seed",
            "21",
            "--bad-frac",
            "0.002",
        ],
    );
    let mut runs = Vec::new();
    for workers in [1, 3] {
        for job in ["fleet-enriched.toml", "fleet-enriched.sql"] {
            let out = tmp.path().join(format!("{job}-{workers}"));
            ok(weir()
                .arg("run")
                .arg(repo_root().join("config").join(job))
                .args(["--quiet", "--workers", &workers.to_string()])
                .env("WEIR_LOCATIONS_INPUT", &input)
                .env("WEIR_OUT", &out)
                .env("WEIR_FLEET_DB", &url));
            runs.push((format!("{job} at {workers} workers"), file_tree(&out)));
        }
    }
    let (first, expected) = &runs[0];
    assert!(expected.iter().any(|(f, _)| f.ends_with(".parquet")), "{expected:?}");
    assert!(expected
        .iter()
        .any(|(f, b)| f.ends_with("dead_letters.jsonl") && !b.is_empty()));
    for (name, files) in &runs[1..] {
        let names = |t: &[(String, Vec<u8>)]| t.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>();
        assert_eq!(names(files), names(expected), "{name} vs {first}");
        for ((f, bytes), (_, want)) in files.iter().zip(expected) {
            assert!(bytes == want, "{f}: {name} differs from {first}");
        }
    }
}
