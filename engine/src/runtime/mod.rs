//! Running a plan: preflight checks, the timely workers, the dataflow each builds, and the run summary.
//!
//! Timely is started through its `execute` configuration (`Config::process(W)` today), so switching on its
//! multi-process cluster mode later is a configuration change, not a redesign.

use crate::checkpoint::coordinator::{commit_files, CheckpointMeta, CheckpointStats};
use crate::checkpoint::shape::differences;
use crate::checkpoint::store::CheckpointStore;
use crate::checkpoint::{Checkpoint, Coordinator};
use crate::component::{PreparedSource, SinkPrepareContext, SourcePrepareContext};
use crate::dataflow::{JobFailure, RunContext, Time};
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::views::{View, ViewStore};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod build;
mod cluster;
pub use crate::chunk::RunOptions;
pub use crate::error::RunError;
pub use cluster::joining_cluster;

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
    /// Items each sink wrote in this process (in cluster mode, file sinks spread their files over all).
    pub written_by_sink: std::collections::BTreeMap<String, u64>,
}

impl RunSummary {
    pub fn events_per_second(&self) -> f64 {
        self.records_in as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Checks inputs and outputs before any worker starts, so a bad path fails fast with nothing written; gives
/// the total size of the inputs whose size is known.
pub fn preflight(plan: &Plan) -> Result<u64, RunError> {
    let mut total = 0;
    for s in &plan.sources {
        total += s.component.preflight(&s.name)?.unwrap_or(0);
    }
    for t in &plan.tables {
        t.component.preflight(&t.name, &t.schema)?;
    }
    for k in &plan.sinks {
        let existing = k.component.path().and_then(|p| Some((p, std::fs::metadata(p).ok()?)));
        if let Some((path, meta)) = existing {
            let wrong = match (k.component.path_is_directory(), meta.is_dir()) {
                (false, true) => Some("it is a directory, and this sink writes one file: name a file (inside it)"),
                (true, false) => Some("it is a file, and this sink writes a directory of files there"),
                _ => None,
            };
            if let Some(what) = wrong {
                return Err(RunError::Output {
                    sink: k.name.clone(),
                    path: path.to_path_buf(),
                    cause: std::io::Error::other(what),
                });
            }
        }
        if let Some(dir) = k.component.output_dir() {
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
    Ok(total)
}

/// Prepares a plan's checkpoints: with `[job.checkpoint]`, finds the newest intact checkpoint (unless
/// `fresh`, which deletes them), checks the job still fits it and publishes the Parquet files it covers.
/// `warn` hears of checkpoint files passed over as unreadable.
pub fn open_checkpoints(plan: &Plan, fresh: bool, mut warn: impl FnMut(String)) -> Result<Coordinator, RunError> {
    let meta = CheckpointMeta {
        job: plan.job_name.clone(),
        shape: plan.shape(),
        workers: plan.workers.max(1) * plan.process().1,
        run_id: rand::random::<u64>() >> 1,
        process: plan.process(),
    };
    let Some(cfg) = &plan.checkpoint else {
        return Ok(Coordinator::new(None, meta, None));
    };
    let io = |cause: std::io::Error| RunError::Checkpoint {
        dir: cfg.dir.clone(),
        cause,
    };
    let store = CheckpointStore::for_process(&cfg.dir, plan.process());
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
    let mut changes = differences(&restored.shape, &meta.shape);
    if restored.job != meta.job {
        // Another job's state (or a renamed job, whose alerts would change `job` and `alert_id` mid-output).
        changes.insert(
            0,
            format!(
                "`job.name` changed\n      was: {}\n      now: {}",
                restored.job, meta.job
            ),
        );
    }
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
        if let (Some(fields), Some(key)) = (op.component.view_fields(), op.component.view_key()) {
            views.insert(op.name.clone(), Arc::new(View::new(fields.to_vec(), key.clone())));
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
    let total = preflight(&plan)?;
    let started = Instant::now();
    if !ctx.checkpoints.installed() {
        ctx.checkpoints
            .install(Arc::new(open_checkpoints(&plan, false, |w| eprintln!("weir: {w}"))?));
    }
    let coord = ctx.checkpoints.coordinator();
    let restored = coord.restored().cloned();
    let sink_names: Vec<String> = plan.sinks.iter().map(|k| k.name.clone()).collect();
    let plan = Arc::new(plan);
    let workers = plan.workers.max(1);
    let instances = plan
        .sources
        .iter()
        .enumerate()
        .map(|(i, s)| (i as u32, s.instances_per_worker() * workers))
        .collect();
    let participants = plan.operators.iter().filter(|o| o.component.is_stateful()).count()
        + plan.sinks.iter().map(|k| k.component.participants()).sum::<usize>();
    // A table's history is one part (worker 0's, on process 0).
    let table_parts = if plan.process().0 == 0 { plan.tables.len() } else { 0 };
    coord.expect(instances, participants * workers + table_parts);
    let writer_thread = {
        let ctx = ctx.clone();
        coord.spawn_writer(move |e| ctx.stop.fail(JobFailure::Checkpoint(e)))
    };
    let mut sources: Vec<Arc<dyn PreparedSource>> = Vec::new();
    for (index, source) in plan.sources.iter().enumerate() {
        sources.push(source.component.prepare(SourcePrepareContext {
            source,
            index,
            workers,
            restored: restored.as_ref(),
            coordinator: &coord,
            ctx: &ctx,
        })?);
    }
    let sources = Arc::new(sources);
    for k in &plan.sinks {
        k.component.prepare(SinkPrepareContext {
            name: &k.name,
            job: &plan.job_name,
            checkpoint_dir: plan.checkpoint.as_ref().map(|c| c.dir.as_path()),
            stopped: &|| ctx.stop.aborted(),
            restored: restored.as_ref(),
            accept_topic_reset: coord.topic_reset_accepted(),
        })?;
    }
    Metrics::add(&ctx.metrics.bytes_total, total);
    let worker_ctx = ctx.clone();
    // A dataflow one worker failed to build never makes progress on the others: all of them stop then.
    let build_failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let config = cluster::timely_config(&plan);
    if let Some(c) = &plan.cluster {
        cluster::stop_on_lost_peer(c);
    }
    let guards = timely::execute(config, move |worker| {
        let plan = plan.clone();
        let ctx = worker_ctx.clone();
        let sources = sources.clone();
        let views = views.clone();
        let build_failed = build_failed.clone();
        let index = worker.index();
        let peers = worker.peers();
        if plan.serve.as_ref().is_some_and(|s| s.reads_first) && !views.views.is_empty() {
            crate::sched::prefer_throughput();
        }
        match cluster::handshake(worker, &plan, views.http_port()) {
            Err(reason) => {
                ctx.stop.fail(JobFailure::Cluster(reason));
                build_failed.store(true, std::sync::atomic::Ordering::SeqCst);
                return;
            }
            Ok(http) if !http.is_empty() => views.set_peers(crate::views::ViewPeers {
                process: plan.process().0,
                workers: plan.workers.max(1),
                http,
            }),
            Ok(_) => {}
        }
        // With several processes, process 0 announces each checkpoint to all of them over timely.
        let mut announce = plan
            .cluster
            .is_some()
            .then(|| cluster::checkpoint_announcements(worker, ctx.checkpoints.coordinator()))
            .filter(|_| index == 0);
        let built = worker.dataflow::<Time, _, _>(|scope| {
            let shared = build::Shared {
                sources: &sources,
                views: &views,
            };
            build::build(scope, &plan, &shared, (index, peers), &options, &ctx)
        });
        if let Err(e) = built {
            ctx.stop.fail(JobFailure::Build(Arc::new(e)));
            build_failed.store(true, std::sync::atomic::Ordering::SeqCst);
            abandon_dataflows(worker);
            return;
        }
        let coord = ctx.checkpoints.coordinator();
        while !build_failed.load(std::sync::atomic::Ordering::SeqCst)
            && worker.step_or_park(Some(Duration::from_millis(20)))
        {
            if index == 0 {
                coord.maybe_start(false);
                if let Some(input) = announce.as_mut() {
                    for a in coord.take_announcements() {
                        input.send(a);
                        // Advancing the input's time sends what it buffered.
                        input.advance_to(a.0);
                    }
                    // Only the announcements are left: the job is done, let them end too.
                    if worker.installed_dataflows().len() <= 1 {
                        announce = None;
                    }
                }
            }
        }
        if build_failed.load(std::sync::atomic::Ordering::SeqCst) {
            abandon_dataflows(worker);
        }
    })
    .map_err(RunError::Runtime)?;
    let joined: Result<Vec<()>, String> = guards.join().into_iter().collect();
    coord.close_writer();
    if let Some(t) = writer_thread {
        let _ = t.join();
    }
    joined.map_err(RunError::Runtime)?;
    if let Some(e) = ctx.stop.error() {
        return Err(RunError::Failed(e));
    }
    if let (Some(cfg), false) = (coord.config(), ctx.stop.aborted()) {
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
        written_by_sink: sink_names
            .into_iter()
            .map(|k| (m.records_out_of(&k), k))
            .map(|(n, k)| (k, n))
            .filter(|(_, n)| *n > 0)
            .collect(),
    })
}

/// Drops every dataflow of a worker whose job cannot run (one worker failed to build its copy): timely steps
/// a worker until its dataflows complete, and a dataflow missing its peers' operators never does (review B1:
/// two workers parked for ever, silently, after one could not reopen a sink).
fn abandon_dataflows(worker: &mut timely::worker::Worker) {
    for id in worker.installed_dataflows() {
        worker.drop_dataflow(id);
    }
}

/// Writes the checkpoint that says the job finished (nothing to resume).
fn write_finished(coord: &Coordinator, cfg: &crate::checkpoint::CheckpointConfig) -> std::io::Result<()> {
    let store = CheckpointStore::for_process(&cfg.dir, coord.meta().process);
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
