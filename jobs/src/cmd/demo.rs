//! `weir demo`: generates sensor and courier data and runs the reference jobs on it, printing where every
//! output went.

use crate::cmd::generate::generate_to;
use crate::cmd::run::run_plan;
use crate::*;
use anyhow::{Context, Result};

const VIBRATION_JOB: &str = include_str!("../../../config/vibration-rollup.toml");
const DELIVERY_JOB: &str = include_str!("../../../config/delivery-alerts.toml");
const VIBRATION_DAILY_JOB: &str = include_str!("../../../config/vibration-daily.toml");
const SENSOR_HEALTH_JOB: &str = include_str!("../../../config/sensor-health.toml");
const LAST_LOCATION_JOB: &str = include_str!("../../../config/last-location.toml");

/// Loads a built-in reference job with `--set` overrides.
pub(crate) fn builtin(name: &str, text: &str, sets: Vec<String>, workers: usize) -> Result<weir_engine::plan::Plan> {
    let src = JobSource {
        name: format!("config/{name}.toml (built in)"),
        text: text.into(),
        base_dir: ".".into(),
    };
    Ok(weir_jobs::load_plan(
        &src,
        &weir_jobs::definition::Overrides::sets(sets),
        Some(workers),
    )?)
}

pub(crate) fn demo(out: &Path, hours: f64, sensors: u32, workers: usize) -> Result<ExitCode> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create `{}`", out.display()))?;
    let vibration = out.join("vibration.jsonl");
    let locations = out.join("locations.jsonl");
    let orders = (hours * 400.0).max(50.0) as u64;
    eprintln!(
        "generating {hours} h of readings from {sensors} sensors → {}",
        vibration.display()
    );
    let mut spec = GeneratorSpec::vibration(sensors, hours);
    spec.bad_frac = 0.0005;
    generate_to(spec, &vibration)?;
    eprintln!(
        "generating {hours} h of courier pings for {orders} orders → {}",
        locations.display()
    );
    generate_to(GeneratorSpec::locations(orders, hours), &locations)?;

    let (vib, del, last) = (out.join("vibration"), out.join("delivery"), out.join("last-location"));
    eprintln!("\n▶ vibration-rollup ({workers} workers)");
    let plan = builtin(
        "vibration-rollup",
        VIBRATION_JOB,
        vec![
            format!("sources.vibration.path={}", vibration.display()),
            format!("sinks.rollups.path={}", vib.join("rollups").display()),
            format!("sinks.alerts.path={}", vib.join("alerts.jsonl").display()),
            format!("sinks.dead_letters.path={}", vib.join("dead_letters.jsonl").display()),
        ],
        workers,
    )?;
    run_plan(plan, false, RunOptions::default(), StartFlags::default())?;

    let daily = out.join("vibration-daily");
    eprintln!("\n▶ vibration-daily ({workers} workers)");
    let plan = builtin(
        "vibration-daily",
        VIBRATION_DAILY_JOB,
        vec![
            format!("sources.vibration.path={}", vibration.display()),
            format!("sinks.raw.path={}", daily.join("raw").display()),
            format!("sinks.hourly_rollups.path={}", daily.join("hourly").display()),
            format!("sinks.daily_rollups.path={}", daily.join("daily").display()),
            format!("sinks.dead_letters.path={}", daily.join("dead_letters.jsonl").display()),
        ],
        workers,
    )?;
    run_plan(plan, false, RunOptions::default(), StartFlags::default())?;

    let health = out.join("sensor-health");
    eprintln!("\n▶ sensor-health ({workers} workers)");
    let plan = builtin(
        "sensor-health",
        SENSOR_HEALTH_JOB,
        vec![
            format!("sources.vibration.path={}", vibration.display()),
            format!("sinks.alerts.path={}", health.join("alerts.jsonl").display()),
            format!(
                "sinks.dead_letters.path={}",
                health.join("dead_letters.jsonl").display()
            ),
        ],
        workers,
    )?;
    run_plan(plan, false, RunOptions::default(), StartFlags::default())?;

    eprintln!("\n▶ delivery-alerts ({workers} workers)");
    let plan = builtin(
        "delivery-alerts",
        DELIVERY_JOB,
        vec![
            format!("sources.locations.path={}", locations.display()),
            format!("sinks.alerts.path={}", del.join("alerts.jsonl").display()),
            format!("sinks.dead_letters.path={}", del.join("dead_letters.jsonl").display()),
        ],
        workers,
    )?;
    run_plan(plan, false, RunOptions::default(), StartFlags::default())?;

    eprintln!("\n▶ last-location ({workers} workers)");
    let listen = if std::net::TcpListener::bind("127.0.0.1:7878").is_ok() {
        "127.0.0.1:7878"
    } else {
        "127.0.0.1:0"
    };
    let plan = builtin(
        "last-location",
        LAST_LOCATION_JOB,
        vec![
            format!("sources.locations.path={}", locations.display()),
            format!("serve.listen={listen}"),
            format!("sinks.changelog.path={}", last.join("changelog.jsonl").display()),
            format!("sinks.dead_letters.path={}", last.join("dead_letters.jsonl").display()),
        ],
        workers,
    )?;
    let finished = run_plan(plan, false, RunOptions::default(), StartFlags::default())?;
    let addr = finished.server.as_ref().map(|s| s.addr.to_string()).unwrap_or_default();

    println!("\nvibration-rollup:");
    println!(
        "  rollups (Parquet)   {}/date=*/hour=*/part-*.parquet",
        vib.join("rollups").display()
    );
    println!("  alerts              {}", vib.join("alerts.jsonl").display());
    println!("  dead letters        {}", vib.join("dead_letters.jsonl").display());
    println!("  read the rollups:   {}", duckdb_line(&format!("SELECT sensor_id, max(ppv_max) AS peak, sum(over_limit) AS over_5mm FROM read_parquet('{}/**/*.parquet', hive_partitioning=true) GROUP BY ALL ORDER BY peak DESC LIMIT 5", vib.join("rollups").display())));
    println!("vibration-daily:");
    println!(
        "  raw readings        {}/date=*/hour=*/part-*.parquet",
        daily.join("raw").display()
    );
    println!(
        "  hourly, with sketch {}/date=*/part-*.parquet",
        daily.join("hourly").display()
    );
    println!(
        "  daily from hourly   {}/date=*/part-*.parquet",
        daily.join("daily").display()
    );
    println!("  read the days:      {}", duckdb_line(&format!("SELECT sensor_id, window_start AS day, readings, ppv_p50, ppv_p99 FROM read_parquet('{}/**/*.parquet') ORDER BY ppv_p99 DESC LIMIT 5", daily.join("daily").display())));
    println!("sensor-health:");
    println!("  alerts              {}", health.join("alerts.jsonl").display());
    println!("  dead letters        {}", health.join("dead_letters.jsonl").display());
    println!("delivery-alerts:");
    println!("  alerts              {}", del.join("alerts.jsonl").display());
    println!("  dead letters        {}", del.join("dead_letters.jsonl").display());
    println!("last-location:");
    println!("  changelog           {}", last.join("changelog.jsonl").display());
    println!("  HTTP API            curl http://{addr}/v1/views/orders/o-0000042");
    println!("                      curl 'http://{addr}/v1/views/deliverers?limit=3'");
    println!("                      curl http://{addr}/healthz");
    println!("\nThe generated data carries deliberate faults (malformed lines and late readings):");
    println!("the dead letters and late records counted above are those, each dead letter with its reason.");
    println!(
        "The queries above use DuckDB from Python (python3 -m pip install duckdb); the duckdb CLI takes the same SQL."
    );
    // The binary as this shell can run it (`cargo run` puts it under target/, not on the PATH).
    let weir = std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let here = std::env::current_dir().ok()?;
            Some(exe.strip_prefix(here).ok()?.display().to_string())
        })
        .unwrap_or_else(|| "weir".to_string());
    println!("\nWhat next:");
    println!("  {weir} explain config/vibration-rollup.toml");
    println!("      what a job does, in words");
    println!("  {weir} run config/vibration-rollup.toml --set sources.vibration.path=YOUR.jsonl");
    println!("      the same job on your own file");
    println!("  {weir} check MY-JOB.toml");
    println!("      every mistake in a job of your own, at once");
    println!("  README.md, \"Writing a job\": sources, operators, sinks, expressions");
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        println!("\nserving the views until Ctrl-C");
        finished.serve_until_signal()?;
    } else {
        let body = http_get(&addr, "/v1/views/orders/o-0000042").unwrap_or_else(|e| format!("(request failed: {e})"));
        println!("\n$ curl http://{addr}/v1/views/orders/o-0000042\n{body}");
    }
    Ok(ExitCode::SUCCESS)
}

/// One plain HTTP GET, for the demo's own request when nobody is there to run curl.
pub(crate) fn http_get(addr: &str, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    Ok(raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or(raw))
}

/// A shell line that runs `sql` with DuckDB's Python package (what the test suite installs; a fresh machine
/// has no `duckdb` CLI).
fn duckdb_line(sql: &str) -> String {
    format!("python3 -c \"import duckdb; duckdb.sql(\\\"{sql}\\\").show()\"")
}
