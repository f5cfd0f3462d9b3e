//! Running a plan: preflight checks, the timely workers, the dataflow each builds, and the run summary.
//!
//! Timely is started through its `execute` configuration (`Config::process(W)` today), so switching on its
//! multi-process cluster mode later is a configuration change, not a redesign.

use crate::checkpoint::coordinator::{commit_files, CheckpointMeta, CheckpointStats};
use crate::checkpoint::shape::{differences, job_shape};
use crate::checkpoint::store::CheckpointStore;
use crate::checkpoint::ResumeLog;
use crate::checkpoint::{Checkpoint, Coordinator};
use crate::dataflow::dead_letters::malformed;
use crate::dataflow::delivery_op::delivery_alerts;
use crate::dataflow::kafka_source_op::{kafka_source, KafkaSourceSetup, WorkerBounds};
use crate::dataflow::latest_op::latest;
use crate::dataflow::sink_op::{line_sink, parquet_sink, rows_as_lines, webhook_sink};
use crate::dataflow::source_op::{chunk_source, ChunkStream, SourceSetup};
use crate::dataflow::threshold_op::threshold;
use crate::dataflow::window_op::{window, FiredRow};
use crate::dataflow::{Line, RunContext, Time};
use crate::decode::Decoder;
use crate::metrics::Metrics;
use crate::plan::{OperatorKind, Plan, SinkKind, SourceKind, StreamRef};
use crate::sequencer::ChunkSequencer;
use crate::sink::jsonl::JsonlWriter;
use crate::sink::kafka::{ensure_topic, KafkaLineWriter};
use crate::sink::parquet::ParquetRowWriter;
use crate::sink::webhook::WebhookSender;
use crate::sink::{LineWriter, SinkPosition, StdoutWriter};
use crate::source::file::{FileChunkReader, DEFAULT_CHUNK_BYTES};
use crate::source::generator::GeneratorReader;
use crate::source::kafka::{wait_for_partitions, KafkaPartitionReader, KafkaSourceError, PartitionPositions};
use crate::source::pace::PacedReader;
use crate::source::ChunkReader;
use crate::views::{View, ViewStore};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::{Concatenate, Probe};
use timely::dataflow::{Scope, Stream};

/// Why a job could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("source `{source_name}`: cannot read `{path}`: {cause}")]
    Input {
        source_name: String,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("sink `{sink}`: cannot write to `{path}`: {cause}")]
    Output {
        sink: String,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{0}")]
    Failed(String),
    /// Stopped (SIGINT/SIGTERM) while waiting for a broker, before anything was read.
    #[error("stopped while waiting for {0}")]
    StoppedBeforeStart(String),
    #[error(
        "the newest checkpoint in `{dir}` (checkpoint {epoch}) was taken after the input ended: the job is \
         finished. Run with --fresh to start over (its checkpoints are then deleted)"
    )]
    Finished { dir: PathBuf, epoch: u64 },
    #[error(
        "cannot resume from checkpoint {epoch} in `{dir}`: the job definition changed in a way its state \
         depends on:\n  - {}\nRevert these changes, or run with --fresh to start over without the checkpoint's \
         state", changes.join("\n  - ")
    )]
    IncompatibleCheckpoint {
        dir: PathBuf,
        epoch: u64,
        changes: Vec<String>,
    },
    #[error("checkpoints in `{dir}`: {cause}")]
    Checkpoint { dir: PathBuf, cause: std::io::Error },
    #[error("timely runtime: {0}")]
    Runtime(String),
}

/// Tunables of one run that are not part of the job's meaning.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub chunk_bytes: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            chunk_bytes: DEFAULT_CHUNK_BYTES,
        }
    }
}

/// What a finished run did.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    pub records_in: u64,
    pub bytes_read: u64,
    pub dead_letters: u64,
    pub late: u64,
    pub window_rows: u64,
    pub alerts: u64,
    pub elapsed: Duration,
    /// Checkpoints written by this run.
    pub checkpoints: CheckpointStats,
    /// The checkpoint this run resumed from: (epoch, logical time).
    pub resumed_from: Option<(u64, u64)>,
}

impl RunSummary {
    pub fn events_per_second(&self) -> f64 {
        self.records_in as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Checks inputs and outputs before any worker starts, so a bad path fails fast with nothing written.
pub fn preflight(plan: &Plan) -> Result<(), RunError> {
    for s in &plan.sources {
        let paths = match &s.kind {
            SourceKind::File { paths, .. } => paths.as_slice(),
            _ => &[],
        };
        for path in paths {
            let check = std::fs::File::open(path).and_then(|f| {
                if f.metadata()?.is_dir() {
                    Err(std::io::Error::other("it is a directory, not a file"))
                } else {
                    Ok(())
                }
            });
            check.map_err(|cause| RunError::Input {
                source_name: s.name.clone(),
                path: path.clone(),
                cause,
            })?;
        }
    }
    for k in &plan.sinks {
        let dir: Option<&Path> = match &k.kind {
            SinkKind::Parquet { path, .. } => Some(path),
            SinkKind::Jsonl { path } => path.parent().filter(|p| !p.as_os_str().is_empty()),
            SinkKind::Stdout | SinkKind::Webhook(_) | SinkKind::Kafka(_) => None,
        };
        if let Some(dir) = dir {
            let probe = dir.join(format!(".weir-write-check-{}", std::process::id()));
            let check = std::fs::create_dir_all(dir)
                .and_then(|_| std::fs::write(&probe, b""))
                .and_then(|_| std::fs::remove_file(&probe));
            check.map_err(|cause| RunError::Output {
                sink: k.name.clone(),
                path: dir.to_path_buf(),
                cause,
            })?;
        }
    }
    Ok(())
}

/// Prepares a plan's checkpoints: with `[job.checkpoint]`, finds the newest intact checkpoint (unless
/// `fresh`, which deletes them), checks the job still fits it and publishes the Parquet files it covers.
/// `warn` hears of checkpoint files passed over as unreadable.
pub fn open_checkpoints(plan: &Plan, fresh: bool, mut warn: impl FnMut(String)) -> Result<Coordinator, RunError> {
    let meta = CheckpointMeta {
        job: plan.job_name.clone(),
        shape: job_shape(plan),
        workers: plan.workers.max(1),
        run_id: rand::random::<u64>() >> 1,
    };
    let Some(cfg) = &plan.checkpoint else {
        return Ok(Coordinator::new(None, meta, None));
    };
    let io = |cause: std::io::Error| RunError::Checkpoint {
        dir: cfg.dir.clone(),
        cause,
    };
    let store = CheckpointStore::new(&cfg.dir);
    if fresh {
        store.clear().map_err(io)?;
    }
    let latest = store
        .latest(|path, e| {
            warn(format!(
                "checkpoint `{}` is unusable ({e}); falling back to the previous one",
                path.display()
            ))
        })
        .map_err(io)?;
    let Some((_, restored)) = latest else {
        let present = store.list().map_err(io)?.len();
        if present > 0 {
            // Starting over silently would publish every alert again.
            return Err(RunError::Checkpoint {
                dir: cfg.dir.clone(),
                cause: std::io::Error::other(format!(
                    "none of its {present} checkpoint file(s) is usable (see above); run with --fresh to start \
                     over from the beginning"
                )),
            });
        }
        return Ok(Coordinator::new(Some(cfg.clone()), meta, None));
    };
    if restored.finished {
        return Err(RunError::Finished {
            dir: cfg.dir.clone(),
            epoch: restored.epoch,
        });
    }
    let changes = differences(&restored.shape, &meta.shape);
    if !changes.is_empty() {
        return Err(RunError::IncompatibleCheckpoint {
            dir: cfg.dir.clone(),
            epoch: restored.epoch,
            changes,
        });
    }
    // Files the checkpoint covers may still wait for their rename if the previous run died right after
    // writing it.
    let commits: Vec<_> = restored
        .parts
        .values()
        .flatten()
        .flat_map(|p| p.commits.clone())
        .collect();
    commit_files(&commits).map_err(io)?;
    let meta = CheckpointMeta {
        run_id: restored.run_id,
        ..meta
    };
    Ok(Coordinator::new(Some(cfg.clone()), meta, Some(restored)))
}

/// Runs a plan to the end of its (bounded) inputs.
pub fn run(plan: Plan, options: RunOptions, ctx: RunContext) -> Result<RunSummary, RunError> {
    let views = view_store(&plan);
    run_with_views(plan, options, ctx, views)
}

/// The live views of a plan's `latest` operators, for an HTTP server to read while the job runs.
pub fn view_store(plan: &Plan) -> Arc<ViewStore> {
    let mut views = HashMap::new();
    let mut n = 0;
    for op in &plan.operators {
        if let OperatorKind::Latest(_) = op.kind {
            let fields = plan.sources[op.source]
                .schema
                .fields
                .iter()
                .map(|f| f.name.clone())
                .collect();
            views.insert(op.name.clone(), Arc::new(View::new(fields)));
            n += 1;
        }
    }
    Arc::new(ViewStore::new(views, n * plan.workers.max(1)))
}

/// Runs a plan, publishing its views into `views` (from [`view_store`]).
pub fn run_with_views(
    plan: Plan,
    options: RunOptions,
    ctx: RunContext,
    views: Arc<ViewStore>,
) -> Result<RunSummary, RunError> {
    preflight(&plan)?;
    let started = Instant::now();
    if !ctx.checkpoints_installed() {
        ctx.install_checkpoints(Arc::new(open_checkpoints(&plan, false, |w| eprintln!("weir: {w}"))?));
    }
    let coord = ctx.checkpoints();
    let restored = coord.restored().cloned();
    let plan = Arc::new(plan);
    let workers = plan.workers.max(1);
    let sequencers: Arc<Vec<Vec<Arc<ChunkSequencer>>>> = Arc::new(
        plan.sources
            .iter()
            .map(|s| {
                (0..s.instances_per_worker() as u32)
                    .map(|p| {
                        let start = restored
                            .as_ref()
                            .map(|c| c.resume_point(&s.name, p))
                            .unwrap_or_default();
                        let log = match &s.kind {
                            // Generated input is regenerated from its start on restore.
                            SourceKind::File { .. } => coord.resume_log(&s.name, p),
                            _ => None,
                        };
                        Arc::new(ChunkSequencer::new(&start, log.map(|l| (l, s.max_out_of_orderness_ms))))
                    })
                    .collect()
            })
            .collect(),
    );
    let instances = plan
        .sources
        .iter()
        .enumerate()
        .map(|(i, s)| (i as u32, s.instances_per_worker() * workers))
        .collect();
    let participants = plan.operators.len()
        + plan
            .sinks
            .iter()
            .filter(|k| !matches!(k.kind, SinkKind::Webhook(_)))
            .count();
    coord.expect(instances, participants * workers);
    let writer_thread = {
        let ctx = ctx.clone();
        coord.spawn_writer(move |e| ctx.fail(e))
    };
    let total: u64 = plan
        .sources
        .iter()
        .filter_map(|s| match &s.kind {
            SourceKind::File { paths, .. } => Some(
                paths
                    .iter()
                    .filter_map(|p| std::fs::metadata(p).ok())
                    .map(|m| m.len())
                    .sum::<u64>(),
            ),
            _ => None,
        })
        .sum::<u64>();
    let kafka = connect_kafka_sources(&plan, &ctx)?;
    for k in &plan.sinks {
        if let SinkKind::Kafka(spec) = &k.kind {
            let label = format!("sink `{}`", k.name);
            ensure_topic(spec, &label, || ctx.aborted()).map_err(|e| {
                if ctx.aborted() {
                    RunError::StoppedBeforeStart(spec.brokers.clone())
                } else {
                    RunError::Failed(format!("{label}: {e}"))
                }
            })?;
        }
    }
    Metrics::add(&ctx.metrics.bytes_total, total);
    let worker_ctx = ctx.clone();
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let plan = plan.clone();
        let ctx = worker_ctx.clone();
        let sequencers = sequencers.clone();
        let views = views.clone();
        let kafka = kafka.clone();
        let index = worker.index();
        let peers = worker.peers();
        if plan.serve.is_some() && !views.views.is_empty() {
            yield_to_readers();
        }
        let built = worker.dataflow::<Time, _, _>(|scope| {
            let shared = Shared {
                sequencers: &sequencers,
                views: &views,
                kafka: &kafka,
            };
            build(scope, &plan, &shared, (index, peers), &options, &ctx)
        });
        if let Err(e) = built {
            ctx.fail(e);
        }
        let coord = ctx.checkpoints();
        while worker.step_or_park(Some(Duration::from_millis(20))) {
            if index == 0 {
                coord.maybe_start(false);
            }
        }
    })
    .map_err(RunError::Runtime)?;
    let joined: Result<Vec<()>, String> = guards.join().into_iter().collect();
    coord.close_writer();
    if let Some(t) = writer_thread {
        let _ = t.join();
    }
    joined.map_err(RunError::Runtime)?;
    if let Some(e) = ctx.error() {
        return Err(RunError::Failed(e));
    }
    if let (Some(cfg), false) = (coord.config(), ctx.aborted()) {
        // The input ended and every output is final: mark the job finished.
        write_finished(&coord, cfg).map_err(|cause| RunError::Checkpoint {
            dir: cfg.dir.clone(),
            cause,
        })?;
    }
    let stats = coord.stats.lock().clone();
    let m = &ctx.metrics;
    Ok(RunSummary {
        records_in: Metrics::get(&m.records_in),
        bytes_read: Metrics::get(&m.bytes_read),
        dead_letters: Metrics::get(&m.dead_letters),
        late: Metrics::get(&m.late),
        window_rows: Metrics::get(&m.window_rows),
        alerts: Metrics::get(&m.alerts),
        elapsed: started.elapsed(),
        checkpoints: stats,
        resumed_from: restored.map(|c| (c.epoch, c.at)),
    })
}

/// Writes the checkpoint that says the job finished (nothing to resume).
fn write_finished(coord: &Coordinator, cfg: &crate::checkpoint::CheckpointConfig) -> std::io::Result<()> {
    let store = CheckpointStore::new(&cfg.dir);
    let last = store.list()?.first().map_or(0, |(e, _)| *e);
    let epoch = last.max(coord.restored().map_or(0, |c| c.epoch)) + 1;
    let meta = coord.meta();
    store.write(&Checkpoint {
        job: meta.job.clone(),
        epoch,
        at: u64::MAX,
        finished: true,
        run_id: meta.run_id,
        workers: meta.workers,
        created_ms: crate::checkpoint::coordinator::now_ms(),
        shape: meta.shape.clone(),
        sources: Default::default(),
        parts: Default::default(),
    })?;
    store.prune(cfg.keep)
}

/// Lowers this worker thread's scheduling priority (nice +10): ingestion is throughput work, while HTTP reads
/// of the live views are latency work that should get a core first when both want one.
fn yield_to_readers() {
    // SAFETY: plain syscalls on the calling thread.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// A Kafka source's topic, resolved before the workers start, and what its worker instances share.
#[derive(Clone)]
struct KafkaConnection {
    partitions: u32,
    bounds: WorkerBounds,
    positions: Arc<PartitionPositions>,
    /// With checkpoints: each partition's resume log.
    logs: BTreeMap<i32, Arc<ResumeLog>>,
}

/// Waits for every Kafka source's brokers and topic (printing why it waits) and learns its partitions.
fn connect_kafka_sources(plan: &Plan, ctx: &RunContext) -> Result<Arc<HashMap<usize, KafkaConnection>>, RunError> {
    let mut out = HashMap::new();
    for (i, s) in plan.sources.iter().enumerate() {
        if let SourceKind::Kafka(spec) = &s.kind {
            let label = format!("source `{}`", s.name);
            let partitions = wait_for_partitions(spec, &label, || ctx.aborted()).map_err(|e| match e {
                KafkaSourceError::Stopped => RunError::StoppedBeforeStart(spec.brokers.clone()),
                e => RunError::Failed(format!("{label}: {e}")),
            })?;
            let positions = Arc::new(PartitionPositions::default());
            ctx.register_positions(&s.name, &spec.topic, positions.clone());
            let coord = ctx.checkpoints();
            let logs = (0..partitions as i32)
                .filter_map(|p| Some((p, coord.resume_log(&s.name, p as u32)?)))
                .collect();
            out.insert(
                i,
                KafkaConnection {
                    partitions,
                    bounds: Arc::new(parking_lot::Mutex::new(vec![None; plan.workers.max(1)])),
                    positions,
                    logs,
                },
            );
        }
    }
    Ok(Arc::new(out))
}

/// What the workers of one process share while building their dataflows.
struct Shared<'a> {
    sequencers: &'a [Vec<Arc<ChunkSequencer>>],
    views: &'a Arc<ViewStore>,
    kafka: &'a HashMap<usize, KafkaConnection>,
}

/// Builds one worker's copy of the dataflow.
fn build<'s>(
    scope: Scope<'s, Time>,
    plan: &Plan,
    shared: &Shared,
    (index, peers): (usize, usize),
    options: &RunOptions,
    ctx: &RunContext,
) -> Result<(), String> {
    let views = shared.views;
    let coord = ctx.checkpoints();
    let restored = coord.restored().cloned();
    // Everything sinks consume passes this probe: sources measure what is still in flight against it.
    let probe = ProbeHandle::<Time>::new();
    // Sources: one operator per partition for files (so each has its own watermark), one per worker for
    // Kafka (its partitions are spread over the workers).
    let mut chunks: Vec<ChunkStream<'s>> = Vec::new();
    for (i, s) in plan.sources.iter().enumerate() {
        let readers: Vec<Box<dyn ChunkReader>> = match &s.kind {
            SourceKind::File { paths, rate } => paths
                .iter()
                .enumerate()
                .map(|(p, path)| {
                    let base = restored
                        .as_ref()
                        .map_or(0, |c| c.resume_point(&s.name, p as u32).position);
                    FileChunkReader::open_at(path, base, index, peers, options.chunk_bytes)
                        .map(|r| match rate {
                            Some(rate) => Box::new(PacedReader::new(Box::new(r), rate / peers as f64)),
                            None => Box::new(r) as Box<dyn ChunkReader>,
                        })
                        .map_err(|e| format!("source `{}`: cannot read `{}`: {e}", s.name, path.display()))
                })
                .collect::<Result<_, _>>()?,
            SourceKind::Generator(spec) => vec![Box::new(GeneratorReader::new(
                spec.clone(),
                index,
                options.chunk_bytes as usize,
            ))],
            SourceKind::Kafka(spec) => {
                let conn = &shared.kafka[&i];
                let mine: Vec<i32> = (0..conn.partitions as i32)
                    .filter(|p| *p as usize % peers == index)
                    .collect();
                // After a restore, partitions the checkpoint has a resume point for continue there.
                let points: BTreeMap<i32, crate::checkpoint::ResumePoint> = match &restored {
                    Some(c) => mine
                        .iter()
                        .filter_map(|p| Some((*p, c.sources.get(&s.name)?.get(&(*p as u32))?.clone())))
                        .collect(),
                    None => BTreeMap::new(),
                };
                let resume_at = points.iter().map(|(p, r)| (*p, r.position as i64)).collect();
                let reader = if mine.is_empty() {
                    None
                } else {
                    let label = format!("source `{}` (worker {index})", s.name);
                    Some(
                        KafkaPartitionReader::open(spec, label, mine.clone(), &resume_at, conn.positions.clone())
                            .map_err(|e| format!("source `{}`: {e}", s.name))?,
                    )
                };
                let setup = KafkaSourceSetup {
                    name: s.name.clone(),
                    source_index: i as u32,
                    reader,
                    decoder: Decoder::new(s.schema.clone()),
                    max_out_of_orderness_ms: s.max_out_of_orderness_ms,
                    idle_timeout: spec.idle_timeout,
                    max_in_flight: spec.max_in_flight,
                    rate: spec.rate.map(|r| r / peers as f64),
                    bounds: conn.bounds.clone(),
                    probe: probe.clone(),
                    resumed: restored
                        .as_ref()
                        .map(|c| (c.at, points.iter().map(|(p, r)| (*p, r.max_before)).collect())),
                    logs: conn
                        .logs
                        .iter()
                        .filter(|(p, _)| mine.contains(p))
                        .map(|(p, l)| (*p, l.clone()))
                        .collect(),
                };
                chunks.push(kafka_source(scope, setup, ctx.clone()));
                continue;
            }
        };
        let mut parts = Vec::new();
        for (partition, reader) in readers.into_iter().enumerate() {
            let setup = SourceSetup {
                name: s.name.clone(),
                source_index: i as u32,
                partition: partition as u32,
                reader,
                decoder: Decoder::new(s.schema.clone()),
                sequencer: shared.sequencers[i][partition].clone(),
                max_out_of_orderness_ms: s.max_out_of_orderness_ms,
                resumed: restored
                    .as_ref()
                    .map(|c| (c.at, c.resume_point(&s.name, partition as u32).max_before)),
            };
            parts.push(chunk_source(scope, setup, ctx.clone()));
        }
        chunks.push(if parts.len() == 1 {
            parts.pop().expect("one partition")
        } else {
            scope.concatenate(parts)
        });
    }

    // Operators.
    let mut line_streams: HashMap<StreamRefKey, Stream<'s, Time, Vec<Line>>> = HashMap::new();
    let mut row_streams: HashMap<usize, Stream<'s, Time, Vec<FiredRow>>> = HashMap::new();
    for (i, s) in plan.sources.iter().enumerate() {
        line_streams.insert(
            key(StreamRef::DeadLetters(i)),
            malformed(chunks[i].clone(), s.name.clone()),
        );
    }
    for (i, op) in plan.operators.iter().enumerate() {
        let input = chunks[op.source].clone();
        let source_name = plan.sources[op.source].name.clone();
        match &op.kind {
            OperatorKind::Window(w) => {
                let (rows, late) = window(input, op.name.clone(), w.clone(), source_name, ctx.clone());
                row_streams.insert(i, rows);
                line_streams.insert(key(StreamRef::Late(i)), late);
            }
            OperatorKind::Threshold(t) => {
                line_streams.insert(
                    key(StreamRef::Output(i)),
                    threshold(input, op.name.clone(), t.clone(), plan.job_name.clone(), ctx.clone()),
                );
            }
            OperatorKind::DeliveryAlerts(d) => {
                let alerts = delivery_alerts(input, op.name.clone(), d.clone(), plan.job_name.clone(), ctx.clone());
                line_streams.insert(key(StreamRef::Output(i)), alerts);
            }
            OperatorKind::Latest(l) => {
                let ordinal = plan.operators[..i]
                    .iter()
                    .filter(|o| matches!(o.kind, OperatorKind::Latest(_)))
                    .count();
                let instance = index * views.views.len() + ordinal;
                let changes = latest(
                    input,
                    op.name.clone(),
                    l.clone(),
                    views.clone(),
                    instance,
                    plan.sources.len(),
                    ctx.clone(),
                );
                line_streams.insert(key(StreamRef::Output(i)), changes);
            }
        }
    }

    // Webhook sinks first: what they fail to deliver feeds the dead-letter sink.
    for (i, sink) in plan.sinks.iter().enumerate() {
        if let SinkKind::Webhook(config) = &sink.kind {
            let inputs: Vec<_> = sink.inputs.iter().map(|r| line_streams[&key(*r)].clone()).collect();
            let sender = (index == 0).then(|| WebhookSender::new(config.clone()));
            let merged = scope.concatenate(inputs).probe_with(&probe);
            let failed = webhook_sink(merged, sink.name.clone(), sender, ctx.clone());
            line_streams.insert(key(StreamRef::SinkFailures(i)), failed);
        }
    }

    // Sinks.
    for sink in &plan.sinks {
        let on_writer = index == 0;
        match &sink.kind {
            SinkKind::Webhook(_) => {}
            SinkKind::Parquet {
                path,
                partition_by,
                max_rows_per_file,
                max_file_age_ms,
                row_group_rows,
            } => {
                let StreamRef::Output(op) = sink.inputs[0] else {
                    return Err(format!("sink `{}`: parquet takes window rows", sink.name));
                };
                let w = plan
                    .window_of(sink.inputs[0])
                    .ok_or_else(|| format!("sink `{}`: parquet takes window rows", sink.name))?;
                let writer = if on_writer {
                    let cannot =
                        |e: std::io::Error| format!("sink `{}`: cannot write to `{}`: {e}", sink.name, path.display());
                    let mut writer = ParquetRowWriter::create(
                        path,
                        *partition_by,
                        *max_rows_per_file,
                        *row_group_rows,
                        w.row_schema.clone(),
                        w.window,
                        w.allowed_lateness_ms,
                    )
                    .map_err(cannot)?;
                    writer.set_max_file_age(*max_file_age_ms);
                    if coord.enabled() {
                        writer
                            .two_phase(restored_part(&restored, &sink.name)?)
                            .map_err(cannot)?;
                    }
                    Some(writer)
                } else {
                    None
                };
                parquet_sink(
                    row_streams[&op].clone().probe_with(&probe),
                    sink.name.clone(),
                    writer,
                    ctx.clone(),
                );
            }
            SinkKind::Jsonl { .. } | SinkKind::Stdout | SinkKind::Kafka(_) => {
                let mut inputs = Vec::new();
                for r in &sink.inputs {
                    match r {
                        StreamRef::Output(op) if row_streams.contains_key(op) => {
                            let w = plan.window_of(*r).expect("window operator");
                            let names = w.row_schema.columns.iter().map(|(n, _)| n.clone()).collect();
                            inputs.push(rows_as_lines(row_streams[op].clone(), names));
                        }
                        other => inputs.push(line_streams[&key(*other)].clone()),
                    }
                }
                let position: Option<SinkPosition> = if on_writer {
                    restored_part(&restored, &sink.name)?
                } else {
                    None
                };
                let writer: Option<Box<dyn LineWriter>> = match (&sink.kind, on_writer) {
                    (SinkKind::Jsonl { path }, true) => {
                        let opened = match position {
                            Some(SinkPosition::File { bytes }) => JsonlWriter::resume(path, bytes),
                            _ if coord.enabled() => JsonlWriter::create_in_place(path),
                            _ => JsonlWriter::create(path),
                        };
                        Some(Box::new(opened.map_err(|e| {
                            format!("sink `{}`: cannot write to `{}`: {e}", sink.name, path.display())
                        })?))
                    }
                    (SinkKind::Stdout, true) => Some(Box::new(StdoutWriter)),
                    (SinkKind::Kafka(spec), true) => {
                        let (fail, name, topic) = (ctx.clone(), sink.name.clone(), spec.topic.clone());
                        let hook = Box::new(move |e: String| {
                            fail.fail(format!("sink `{name}`: delivery to Kafka topic `{topic}` failed: {e}"))
                        });
                        let label = format!("sink `{}`", sink.name);
                        let run = coord.meta().run_id;
                        let opened = match position {
                            Some(SinkPosition::Kafka { seq, offsets }) => {
                                KafkaLineWriter::resume(spec, label, run, seq, offsets, hook)
                            }
                            _ => KafkaLineWriter::create(spec, label, run, hook),
                        };
                        Some(Box::new(opened.map_err(|e| format!("sink `{}`: {e}", sink.name))?))
                    }
                    _ => None,
                };
                let merged = scope.concatenate(inputs).probe_with(&probe);
                line_sink(merged, sink.name.clone(), writer, ctx.clone());
            }
        }
    }
    Ok(())
}

/// A sink's state in the checkpoint the run resumed from (worker 0's part), if any.
fn restored_part<T: serde::de::DeserializeOwned>(
    restored: &Option<Arc<Checkpoint>>,
    sink: &str,
) -> Result<Option<T>, String> {
    let Some(c) = restored else { return Ok(None) };
    match c.states(sink).first() {
        Some(bytes) => crate::checkpoint::decode(bytes)
            .map(Some)
            .map_err(|e| format!("sink `{sink}`: the checkpoint's state cannot be read: {e}")),
        None => Ok(None),
    }
}

type StreamRefKey = (u8, usize);

fn key(r: StreamRef) -> StreamRefKey {
    match r {
        StreamRef::DeadLetters(i) => (0, i),
        StreamRef::Output(i) => (1, i),
        StreamRef::Late(i) => (2, i),
        StreamRef::SinkFailures(i) => (3, i),
    }
}
