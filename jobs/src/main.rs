//! The `weir` command line: run, check and explain job definitions, generate workloads, and the demo.

use anyhow::{Context, Result};

/// How `weir explain` prints the graph.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ExplainFormat {
    Text,
    Dot,
}

/// mimalloc: faster than glibc malloc for the many small cross-thread allocations of exchanged batches,
/// and it returns memory instead of fragmenting per-thread arenas.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Args, Parser, Subcommand, ValueEnum};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use weir_engine::serve::HttpServer;
use weir_engine::source::generator::{GeneratorReader, GeneratorSpec, Workload};
use weir_engine::{RunContext, RunOptions, RunSummary};
use weir_jobs::definition::{DefinitionError, JobSource};
use weir_jobs::progress::ProgressReporter;

const VIBRATION_JOB: &str = include_str!("../../config/vibration-rollup.toml");
const DELIVERY_JOB: &str = include_str!("../../config/delivery-alerts.toml");
const VIBRATION_DAILY_JOB: &str = include_str!("../../config/vibration-daily.toml");
const LAST_LOCATION_JOB: &str = include_str!("../../config/last-location.toml");

#[derive(Parser)]
#[command(
    name = "weir",
    version,
    about = "Deterministic event-time stream processing: job definitions in, Parquet and alerts out."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct JobArgs {
    /// The job definition (TOML).
    job: PathBuf,
    /// Override any scalar of the job by its dotted path, e.g. --set sources.vibration.path=in.jsonl
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Worker threads (overrides [job] workers).
    #[arg(long)]
    workers: Option<usize>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a job to the end of its inputs.
    Run {
        #[command(flatten)]
        job: JobArgs,
        /// No progress output.
        #[arg(long)]
        quiet: bool,
        /// Bytes per input chunk (a tuning knob; results do not depend on it).
        #[arg(long, hide = true)]
        chunk_bytes: Option<u64>,
        /// Ignore (and delete) the job's checkpoints and start from the beginning.
        #[arg(long)]
        fresh: bool,
    },
    /// Validate a job definition: exit 0 if it is valid, 2 with every problem listed if not.
    Check {
        #[command(flatten)]
        job: JobArgs,
    },
    /// Print a job's dataflow graph: sources → operators → sinks.
    Explain {
        #[command(flatten)]
        job: JobArgs,
        /// `text` (streams, schemas, keys, windows) or `dot` (Graphviz: `weir explain JOB --format dot | dot -Tsvg`).
        #[arg(long, value_enum, default_value = "text")]
        format: ExplainFormat,
    },
    /// Generate a workload as JSONL (the schema of shared/workload/gen_events.py).
    Generate(GenerateArgs),
    /// Publish a JSONL file or a generated workload to a Kafka topic, keyed by a field.
    Publish(PublishArgs),
    /// Run the reference jobs (vibration-rollup, vibration-daily, delivery-alerts, last-location) on data it generates.
    Demo {
        /// Output directory.
        #[arg(long, default_value = "out/demo")]
        out: PathBuf,
        /// Hours of event time to generate.
        #[arg(long, default_value_t = 6.0)]
        hours: f64,
        /// Number of sensors.
        #[arg(long, default_value_t = 120)]
        sensors: u32,
        #[arg(long, default_value_t = 2)]
        workers: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Stream {
    Vibration,
    Locations,
}

#[derive(Args)]
struct GenerateArgs {
    stream: Stream,
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Output file (default: standard output).
    #[arg(short, long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct PublishArgs {
    /// Kafka bootstrap servers.
    #[arg(long, env = "WEIR_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// The topic (created with --partitions if it does not exist).
    #[arg(long)]
    topic: String,
    /// Field whose value keys each message (e.g. order_id, sensor_id), so each key stays in one partition.
    #[arg(long)]
    key: Option<String>,
    /// A JSONL file to publish, one message per line.
    #[arg(long, conflicts_with = "generate", required_unless_present = "generate")]
    file: Option<PathBuf>,
    /// Publish a built-in workload instead of a file.
    #[arg(long)]
    generate: Option<Stream>,
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Partitions, if the topic has to be created.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Target messages per second (default: as fast as the broker takes them).
    #[arg(long)]
    rate: Option<f64>,
    /// Send messages in bursts of N back to back (with --rate: N at each tick).
    #[arg(long, default_value_t = 1)]
    burst: u64,
    /// Stop after this many messages.
    #[arg(long)]
    limit: Option<u64>,
    /// Send everything to this partition instead of choosing by key.
    #[arg(long)]
    partition: Option<i32>,
}

/// The built-in generator's knobs (the schema and distributions of shared/workload/gen_events.py).
#[derive(Args)]
struct WorkloadArgs {
    #[arg(long, default_value_t = 120)]
    sensors: u32,
    #[arg(long, default_value_t = 1.0)]
    hz: f64,
    #[arg(long, default_value_t = 2.0)]
    blasts_per_hour: f64,
    #[arg(long, default_value_t = 2000)]
    orders: u64,
    #[arg(long, default_value_t = 150)]
    deliverers: u32,
    #[arg(long, default_value_t = 15.0)]
    ping_s: f64,
    #[arg(long, default_value_t = 30.0)]
    budget_min: f64,
    #[arg(long, default_value_t = 3.0)]
    hours: f64,
    /// Stop after this many valid events.
    #[arg(long)]
    count: Option<u64>,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[arg(long, default_value_t = 1500.0)]
    jitter_mean_ms: f64,
    /// Share of events arriving 2–15 min late.
    #[arg(long, default_value_t = 0.0005)]
    late_frac: f64,
    /// Share of extra malformed lines.
    #[arg(long, default_value_t = 0.0001)]
    bad_frac: f64,
}

extern "C" {
    /// mimalloc's option setter (linked in by the `mimalloc` crate).
    fn mi_option_set(option: i32, value: std::os::raw::c_long);
}

/// `mi_option_purge_delay` in mimalloc 2.x's option enum.
const MI_OPTION_PURGE_DELAY: i32 = 15;

fn main() -> ExitCode {
    // Return freed memory to the OS after a few milliseconds instead of mimalloc's default 10 ms: chunks are
    // allocated and freed at a high rate, and without this the allocator's cache, not live data, sets the
    // peak RSS. WEIR_ALLOC_PURGE_MS overrides it for experiments.
    let purge_ms = std::env::var("WEIR_ALLOC_PURGE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    // SAFETY: plain option store, called before any other thread exists.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, purge_ms) };
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            if let Some(d) = e.downcast_ref::<DefinitionError>() {
                eprint!("error: {d}");
                return ExitCode::from(2);
            }
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn dispatch(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Check { job } => {
            let plan = load(&job)?;
            println!(
                "{}: ok — job `{}`: {} source(s), {} operator(s), {} sink(s)",
                job.job.display(),
                plan.job_name,
                plan.sources.len(),
                plan.operators.len(),
                plan.sinks.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { job, format } => {
            let plan = load(&job)?;
            match format {
                ExplainFormat::Text => print!("{}", weir_jobs::explain::explain(&plan)),
                ExplainFormat::Dot => print!("{}", weir_jobs::explain::dot(&plan)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            job,
            quiet,
            chunk_bytes,
            fresh,
        } => {
            let plan = load(&job)?;
            let mut options = RunOptions::default();
            if let Some(c) = chunk_bytes {
                options.chunk_bytes = c.max(1);
            }
            run_plan(plan, quiet, options, fresh)?.serve_until_signal();
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate(g) => generate(g),
        Command::Publish(p) => publish(p),
        Command::Demo {
            out,
            hours,
            sensors,
            workers,
        } => demo(&out, hours, sensors, workers),
    }
}

fn load(job: &JobArgs) -> Result<weir_engine::plan::Plan> {
    let src = JobSource::from_file(&job.job)?;
    Ok(weir_jobs::load_plan(&src, &job.sets, job.workers)?)
}

/// A finished run, and its HTTP server if the job has `[serve]` (still serving).
struct Finished {
    server: Option<HttpServer>,
    stop: std::sync::mpsc::Receiver<()>,
}

impl Finished {
    /// Keeps serving until SIGINT or SIGTERM.
    fn serve_until_signal(self) {
        if let Some(server) = self.server {
            if self.stop.try_recv().is_ok() {
                return; // stopped by a signal while the input was still being read
            }
            eprintln!(
                "inputs done; still serving on http://{} until SIGINT or SIGTERM",
                server.addr
            );
            let _ = self.stop.recv();
        }
    }
}

/// Runs a plan to the end of its inputs, printing the summary. With `[serve]`, the views are served from
/// before the first record on; SIGINT/SIGTERM stops the inputs and flushes what was emitted. A second
/// signal exits at once.
fn run_plan(plan: weir_engine::plan::Plan, quiet: bool, options: RunOptions, fresh: bool) -> Result<Finished> {
    let ctx = RunContext::default();
    let (stop_tx, stop) = std::sync::mpsc::channel::<()>();
    let loading = std::time::Instant::now();
    let coordinator = match weir_engine::runtime::open_checkpoints(&plan, fresh, |w| eprintln!("weir: {w}")) {
        Err(e @ weir_engine::RunError::Finished { .. }) => {
            eprintln!("weir: {e}");
            return Ok(Finished { server: None, stop });
        }
        other => other?,
    };
    if let Some(cfg) = coordinator.config() {
        match coordinator.restored() {
            Some(c) => eprintln!(
                "resuming from checkpoint {} in `{}` (job watermark {}, taken {} with {} worker(s); read in {} ms)",
                c.epoch,
                cfg.dir.display(),
                format_ms(c.at as i64),
                format_ms(c.created_ms),
                c.workers,
                loading.elapsed().as_millis()
            ),
            None => eprintln!(
                "checkpointing every {} to `{}` (none there yet: starting from the beginning)",
                humantime::format_duration(cfg.interval),
                cfg.dir.display()
            ),
        }
    }
    ctx.install_checkpoints(std::sync::Arc::new(coordinator));
    let views = weir_engine::view_store(&plan);
    let server = match &plan.serve {
        Some(s) => {
            let server = HttpServer::start(&s.listen, views.clone(), ctx.clone())
                .with_context(|| format!("serve.listen: cannot listen on `{}`", s.listen))?;
            eprintln!("serving on http://{}", server.addr);
            Some(server)
        }
        None => None,
    };
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("installing signal handlers")?;
    let handle = signals.handle();
    let signal_ctx = ctx.clone();
    std::thread::spawn(move || {
        for (n, _) in signals.forever().enumerate() {
            if n > 0 {
                std::process::exit(130);
            }
            signal_ctx.stop();
            let _ = stop_tx.send(());
        }
    });
    let summary = {
        let _progress = (!quiet).then(|| ProgressReporter::start(ctx.metrics.clone(), Duration::from_secs(10)));
        weir_engine::run_with_views(plan, options, ctx, views.clone())
    };
    // After a bounded input, keep serving only what is still worth reading: the final views.
    let server = server.filter(|_| !views.views.is_empty());
    if server.is_none() {
        handle.close();
    }
    let summary = match summary {
        Err(weir_engine::RunError::StoppedBeforeStart(brokers)) => {
            eprintln!("stopped while waiting for Kafka at {brokers}; nothing was read");
            return Ok(Finished { server: None, stop });
        }
        other => other?,
    };
    print_summary(&summary);
    Ok(Finished { server, stop })
}

/// Epoch milliseconds as RFC 3339 (UTC).
fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn print_summary(s: &RunSummary) {
    let c = &s.checkpoints;
    if c.written > 0 {
        eprintln!(
            "{} checkpoint(s) written; the last: {} at job watermark {} ({} bytes); slowest write {} ms, slowest alignment {} ms",
            c.written,
            c.last_epoch,
            format_ms(c.last_at as i64),
            c.last_bytes,
            c.max_write.as_millis(),
            c.max_align.as_millis()
        );
    }
    eprintln!(
        "done in {:.2}s: {} events read ({:.0} events/s, {:.1} MB), {} windows written, {} alerts, {} late, {} dead letters",
        s.elapsed.as_secs_f64(),
        s.records_in,
        s.events_per_second(),
        s.bytes_read as f64 / 1e6,
        s.window_rows,
        s.alerts,
        s.late,
        s.dead_letters
    );
}

impl WorkloadArgs {
    fn spec(&self, stream: Stream) -> GeneratorSpec {
        let g = self;
        let workload = match stream {
            Stream::Vibration => Workload::Vibration {
                sensors: g.sensors,
                hz: g.hz,
                blasts_per_hour: g.blasts_per_hour,
            },
            Stream::Locations => Workload::Locations {
                orders: g.orders,
                deliverers: g.deliverers,
                ping_s: g.ping_s,
                budget_min: g.budget_min,
            },
        };
        GeneratorSpec {
            workload,
            seed: g.seed,
            start_ms: weir_engine::source::generator::DEFAULT_START_MS,
            duration_ms: (g.hours * 3_600_000.0) as i64,
            count: g.count,
            jitter_mean_ms: g.jitter_mean_ms,
            late_frac: g.late_frac,
            bad_frac: g.bad_frac,
            rate: None,
        }
    }
}

fn publish(p: PublishArgs) -> Result<ExitCode> {
    use weir_engine::publish::{publish, PublishOptions};
    use weir_engine::source::file::FileChunkReader;
    let (reader, what): (Box<dyn weir_engine::source::ChunkReader>, String) = match (&p.file, p.generate) {
        (Some(path), _) => (
            Box::new(
                FileChunkReader::open(path, 0, 1, 1 << 20)
                    .with_context(|| format!("cannot read `{}`", path.display()))?,
            ),
            path.display().to_string(),
        ),
        (None, Some(stream)) => (
            Box::new(GeneratorReader::new(p.workload.spec(stream), 0, 1 << 20)),
            "generated events".to_string(),
        ),
        (None, None) => anyhow::bail!("give --file FILE or --generate vibration|locations"),
    };
    let options = PublishOptions {
        brokers: p.brokers.clone(),
        topic: p.topic.clone(),
        key_field: p.key.clone(),
        partitions: p.partitions,
        rate: p.rate,
        burst: p.burst,
        limit: p.limit,
        partition: p.partition,
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    signal_hook::flag::register(SIGINT, stop.clone())?;
    signal_hook::flag::register(SIGTERM, stop.clone())?;
    eprintln!("publishing {what} to topic `{}` at {}", p.topic, p.brokers);
    let r =
        publish(reader, &options, || stop.load(std::sync::atomic::Ordering::Relaxed)).map_err(anyhow::Error::msg)?;
    let parts: Vec<String> = r.per_partition.iter().map(|(p, n)| format!("{p}:{n}")).collect();
    println!(
        "sent {} messages ({:.1} MB) to `{}` in {:.2}s: {:.0} msg/s; keyed by {}{}; per partition {}",
        r.messages,
        r.bytes as f64 / 1e6,
        p.topic,
        r.elapsed.as_secs_f64(),
        r.rate(),
        p.key.as_deref().unwrap_or("(none)"),
        if r.unkeyed > 0 && p.key.is_some() {
            format!(" ({} lines without the field sent unkeyed)", r.unkeyed)
        } else {
            String::new()
        },
        parts.join(" ")
    );
    Ok(ExitCode::SUCCESS)
}

fn generate(g: GenerateArgs) -> Result<ExitCode> {
    let spec = g.workload.spec(g.stream);
    let reader = GeneratorReader::new(spec, 0, 1 << 20);
    let n = match &g.out {
        Some(path) => {
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(path).with_context(|| format!("cannot create `{}`", path.display()))?,
            );
            let n = reader.write_all(&mut f)?;
            std::io::Write::flush(&mut f)?;
            n
        }
        None => reader.write_all(&mut std::io::stdout().lock())?,
    };
    if let Some(path) = &g.out {
        eprintln!("wrote {n} events to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a generated workload to `path`.
fn generate_to(spec: GeneratorSpec, path: &Path) -> Result<u64> {
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot create `{}`", path.display()))?,
    );
    let n = GeneratorReader::new(spec, 0, 1 << 20).write_all(&mut f)?;
    std::io::Write::flush(&mut f)?;
    Ok(n)
}

/// Loads a built-in reference job with `--set` overrides.
fn builtin(name: &str, text: &str, sets: Vec<String>, workers: usize) -> Result<weir_engine::plan::Plan> {
    let src = JobSource {
        name: format!("config/{name}.toml (built in)"),
        text: text.into(),
        base_dir: ".".into(),
    };
    Ok(weir_jobs::load_plan(&src, &sets, Some(workers))?)
}

fn demo(out: &Path, hours: f64, sensors: u32, workers: usize) -> Result<ExitCode> {
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
    run_plan(plan, false, RunOptions::default(), false)?;

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
    run_plan(plan, false, RunOptions::default(), false)?;

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
    run_plan(plan, false, RunOptions::default(), false)?;

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
    let finished = run_plan(plan, false, RunOptions::default(), false)?;
    let addr = finished.server.as_ref().map(|s| s.addr.to_string()).unwrap_or_default();

    println!("\nvibration-rollup:");
    println!(
        "  rollups (Parquet)   {}/date=*/hour=*/part-*.parquet",
        vib.join("rollups").display()
    );
    println!("  alerts              {}", vib.join("alerts.jsonl").display());
    println!("  dead letters        {}", vib.join("dead_letters.jsonl").display());
    println!("  read the rollups:   duckdb -c \"SELECT sensor_id, max(ppv_max) AS peak, sum(over_limit) AS over_5mm FROM read_parquet('{}/**/*.parquet', hive_partitioning=true) GROUP BY ALL ORDER BY peak DESC LIMIT 5\"", vib.join("rollups").display());
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
    println!("  read the days:      duckdb -c \"SELECT sensor_id, window_start AS day, readings, ppv_p50, ppv_p99 FROM read_parquet('{}/**/*.parquet') ORDER BY ppv_p99 DESC LIMIT 5\"", daily.join("daily").display());
    println!("delivery-alerts:");
    println!("  alerts              {}", del.join("alerts.jsonl").display());
    println!("  dead letters        {}", del.join("dead_letters.jsonl").display());
    println!("last-location:");
    println!("  changelog           {}", last.join("changelog.jsonl").display());
    println!("  HTTP API            curl http://{addr}/v1/views/orders/o-0000042");
    println!("                      curl 'http://{addr}/v1/views/deliverers?limit=3'");
    println!("                      curl http://{addr}/healthz");
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        println!("\nserving the views until Ctrl-C");
        finished.serve_until_signal();
    } else {
        let body = http_get(&addr, "/v1/views/orders/o-0000042").unwrap_or_else(|e| format!("(request failed: {e})"));
        println!("\n$ curl http://{addr}/v1/views/orders/o-0000042\n{body}");
    }
    Ok(ExitCode::SUCCESS)
}

/// One plain HTTP GET, for the demo's own request when nobody is there to run curl.
fn http_get(addr: &str, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    Ok(raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or(raw))
}
