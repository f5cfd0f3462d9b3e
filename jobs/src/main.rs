//! The `weir` command line: run, check and explain job definitions, generate workloads, and the demo. This
//! file holds the arguments and the dispatch; each command lives in `cmd/`.

use anyhow::Result;

/// How `weir explain` prints the graph.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ExplainFormat {
    Text,
    Dot,
    Sql,
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
use weir_engine::HttpServer;
use weir_engine::{GeneratorReader, GeneratorSpec, Workload};
use weir_engine::{RunContext, RunOptions, RunSummary};
use weir_jobs::definition::{DefinitionError, JobSource};
use weir_jobs::progress::ProgressReporter;

mod cmd;

use cmd::demo::demo;
use cmd::generate::generate;
use cmd::publish::publish;
use cmd::run::{load, run_plan, StartFlags};

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
    /// Override any value of the job by its dotted path, e.g. --set sources.vibration.path=in.jsonl; an
    /// inline table replaces a whole section: --set 'sources.vibration={ kind = "file", path = "v.jsonl" }'
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Remove a key or a whole section of the job (applied before the --set's), e.g. --unset sinks.oncall
    #[arg(long = "unset", value_name = "KEY")]
    unsets: Vec<String>,
    /// Worker threads (overrides [job] workers); per process with several processes.
    #[arg(long)]
    workers: Option<usize>,
    /// Processes running this job together (timely cluster mode; sets [job.cluster] processes).
    #[arg(long, env = "WEIR_PROCESSES")]
    processes: Option<usize>,
    /// This process's index, 0 to processes − 1 — or a name ending in it, like a StatefulSet pod's
    /// `weir-2` (sets [job.cluster] process).
    #[arg(long, env = "WEIR_PROCESS")]
    process: Option<String>,
    /// One `host:port` per line, in process order (sets [job.cluster] hostfile).
    #[arg(long, env = "WEIR_HOSTFILE")]
    hostfile: Option<PathBuf>,
}

impl JobArgs {
    /// `--unset`s, and `--set`s plus the cluster flags as `job.cluster.*` overrides.
    fn overrides(&self) -> weir_jobs::definition::Overrides {
        weir_jobs::definition::Overrides {
            unset: self.unsets.clone(),
            set: self.all_sets(),
        }
    }

    /// `--set`s plus the cluster flags as `job.cluster.*` overrides.
    fn all_sets(&self) -> Vec<String> {
        let mut sets = self.sets.clone();
        if let Some(n) = self.processes {
            sets.push(format!("job.cluster.processes={n}"));
        }
        if let Some(p) = &self.process {
            sets.push(format!("job.cluster.process={p}"));
        }
        if let Some(h) = &self.hostfile {
            sets.push(format!("job.cluster.hostfile={}", h.display()));
        }
        sets
    }
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
        /// Resume even where the checkpoint's Kafka offsets are gone (topic recreated, retention): go on
        /// from the offsets the partitions have now, reporting each gap.
        #[arg(long)]
        accept_topic_reset: bool,
        /// After SIGINT/SIGTERM, exit (status 1) if the job has not stopped within this long.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        stop_timeout: Duration,
    },
    /// Run a job as several local processes (timely cluster mode on 127.0.0.1), supervising them.
    Cluster {
        /// How many processes to start on this machine.
        #[arg(long)]
        local: usize,
        /// The job and any `weir run` flags (`--workers`, `--set`, `--quiet`, …), passed to every process.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        run: Vec<String>,
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
        /// `text` (streams, schemas, keys, windows), `dot` (Graphviz: `weir explain JOB --format dot | dot
        /// -Tsvg`) or `sql` (the job as a SQL job that plans to the same graph).
        #[arg(long, value_enum, default_value = "text")]
        format: ExplainFormat,
    },
    /// Run a query over a file for a quick look, rows to stdout as JSON lines: `weir sql "SELECT … FROM
    /// vibration WHERE ppv_mm_s > 20" --source vibration=data/vibration.jsonl`. The columns are inferred
    /// from the first records; the inferred CREATE TABLE is printed on stderr.
    Sql(SqlArgs),
    /// Generate a workload as JSONL (the schema of shared/workload/gen_events.py).
    Generate(GenerateArgs),
    /// Publish a JSONL file or a generated workload to a Kafka topic, keyed by a field.
    Publish(PublishArgs),
    /// Run the five reference jobs (vibration-rollup, vibration-daily, sensor-health, delivery-alerts,
    /// last-location) on data it generates.
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
struct SqlArgs {
    /// The query: what follows INSERT INTO in a SQL job (SELECT …, windows, joins of the sources).
    query: String,
    /// A source as NAME=PATH (JSON lines, or .csv with a header); repeat for several.
    #[arg(long = "source", value_name = "NAME=PATH", required = true)]
    sources: Vec<String>,
    /// The event-time column (default: the first of ts, timestamp, event_time, time).
    #[arg(long)]
    event_time: Option<String>,
    /// How late records may arrive, in seconds (the watermark's delay).
    #[arg(long, default_value_t = 60)]
    lateness: u64,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
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
    cmd::child::note_parent();
    // Return freed memory to the OS after a few milliseconds instead of mimalloc's default 10 ms: chunks are
    // allocated and freed at a high rate, and without this the allocator's cache, not live data, sets the
    // peak RSS. WEIR_ALLOC_PURGE_MS overrides it for experiments.
    let purge_ms = std::env::var("WEIR_ALLOC_PURGE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    // SAFETY: plain option store, called before any other thread exists.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, purge_ms) };
    // No transparent huge pages: mimalloc advises its arena for them, and every freed range it hands back
    // (above) then costs a 2 MiB page to zero when touched again — measured: a third of delivery-alerts'
    // system time, and 25 % more peak RSS. PR_SET_THP_DISABLE only changes this process's page size policy.
    // SAFETY: prctl with integer arguments; no memory is passed.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
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
        Command::Cluster { local, run } => cmd::cluster::cluster_local(local, &run),
        Command::Check { job } => {
            let plan = load(&job)?;
            for warning in weir_jobs::explain::latency_warnings(&plan) {
                eprintln!("weir: warning: {warning}");
            }
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
                ExplainFormat::Sql => {
                    let source = weir_jobs::definition::JobSource::from_file(&job.job)?;
                    let table = weir_jobs::definition::load_as_written(&source, &job.overrides())?;
                    match weir_jobs::sql::job_sql(&table, &plan) {
                        Ok(text) => print!("{text}"),
                        Err(problems) => anyhow::bail!(
                            "{} has no SQL form yet:\n  {}",
                            job.job.display(),
                            problems.join("\n  ")
                        ),
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            job,
            quiet,
            chunk_bytes,
            fresh,
            accept_topic_reset,
            stop_timeout,
        } => {
            let plan = load(&job)?;
            if cmd::supervise::wanted(&plan) {
                return cmd::supervise::supervise(&plan);
            }
            let mut options = RunOptions::default();
            if let Some(c) = chunk_bytes {
                options.chunk_bytes = c.max(1);
            }
            let start = StartFlags {
                fresh,
                accept_topic_reset,
                stop_timeout,
            };
            run_plan(plan, quiet, options, start)?.serve_until_signal()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sql(q) => {
            let tables = q
                .sources
                .iter()
                .map(|spec| cmd::sql::source_table(spec, q.event_time.as_deref(), q.lateness))
                .collect::<Result<Vec<_>>>()?;
            for t in &tables {
                eprintln!("-- the source as weir reads it (copy it into a job):\n{t}");
            }
            let source = JobSource {
                name: "query.sql".into(),
                text: cmd::sql::query_job(&q.query, &tables),
                base_dir: std::env::current_dir()?,
            };
            let plan = weir_jobs::load_plan(&source, &weir_jobs::definition::Overrides::default(), Some(q.workers))?;
            match run_plan(plan, true, RunOptions::default(), StartFlags::default()) {
                Ok(finished) => finished.serve_until_signal()?,
                // `weir sql … | head`: the reader has seen enough.
                Err(e) if format!("{e:#}").contains("Broken pipe") => {}
                Err(e) => return Err(e),
            }
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
