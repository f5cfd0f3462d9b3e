//! `weir run` and `weir check`'s loading: a job definition to a plan, the run with progress, signals and the
//! HTTP server, and the summary.

use crate::*;
use anyhow::{Context, Result};
use std::io::Write as _;

pub(crate) fn load(job: &JobArgs) -> Result<weir_engine::plan::Plan> {
    let src = JobSource::from_file(&job.job)?;
    Ok(weir_jobs::load_plan(&src, &job.overrides(), job.workers)?)
}

/// A finished run, and its HTTP server if the job has `[serve]` (still serving).
pub(crate) struct Finished {
    pub(crate) server: Option<HttpServer>,
    stop: std::sync::mpsc::Receiver<()>,
    /// Held while the process serves: another instance must not write the same outputs meanwhile.
    _lock: Option<weir_engine::InstanceLock>,
}

impl Finished {
    /// Keeps serving until SIGINT or SIGTERM; fails if the server ends on its own.
    pub(crate) fn serve_until_signal(self) -> Result<()> {
        if let Some(server) = self.server {
            if self.stop.try_recv().is_ok() {
                return Ok(()); // stopped by a signal while the input was still being read
            }
            eprintln!(
                "inputs done; still serving on http://{} until SIGINT or SIGTERM",
                server.addr
            );
            loop {
                match self.stop.recv_timeout(Duration::from_millis(200)) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return Ok(()),
                }
                if let Some(cause) = server.failure() {
                    anyhow::bail!("the HTTP server on {} ended: {cause}", server.addr);
                }
            }
        }
        Ok(())
    }
}

/// How a run starts and stops, besides its plan.
pub(crate) struct StartFlags {
    /// Delete the checkpoints and start from the beginning.
    pub(crate) fresh: bool,
    /// Resume past Kafka offsets the checkpoint has and the partitions no longer have.
    pub(crate) accept_topic_reset: bool,
    /// How long a signalled job may take to stop before the process exits anyway.
    pub(crate) stop_timeout: Duration,
}

impl Default for StartFlags {
    fn default() -> Self {
        Self {
            fresh: false,
            accept_topic_reset: false,
            stop_timeout: Duration::from_secs(60),
        }
    }
}

/// Runs a plan to the end of its inputs, printing the summary. With `[serve]`, the views are served from
/// before the first record on; SIGINT/SIGTERM stops the inputs and flushes what was emitted. A second
/// signal exits at once.
pub(crate) fn run_plan(
    plan: weir_engine::plan::Plan,
    quiet: bool,
    options: RunOptions,
    start: StartFlags,
) -> Result<Finished> {
    // Inputs readable and output directories writable first: a run refused for those leaves no lock files.
    weir_engine::preflight(&plan)?;
    let lock = weir_engine::lock_outputs(&plan)?;
    let ctx = RunContext::default();
    let (stop_tx, stop) = std::sync::mpsc::channel::<()>();
    let loading = std::time::Instant::now();
    let coordinator = match weir_engine::open_checkpoints(&plan, start.fresh, |w| eprintln!("weir: {w}")) {
        Err(e @ weir_engine::RunError::Finished { .. }) => {
            eprintln!("weir: {e}");
            return Ok(Finished {
                server: None,
                stop,
                _lock: None,
            });
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
    if start.accept_topic_reset {
        coordinator.accept_topic_reset();
    }
    ctx.checkpoints.install(std::sync::Arc::new(coordinator));
    let views = weir_engine::view_store(&plan);
    let server = match &plan.serve {
        Some(s) => {
            let server = HttpServer::start(s, views.clone(), ctx.clone())
                .with_context(|| format!("serve.listen: cannot listen on `{}`", s.listen))?;
            eprintln!("serving on http://{}", server.addr);
            if !server.addr.ip().is_loopback() {
                let auth = if s.token.is_some() {
                    "requests need the bearer token"
                } else {
                    "anyone who can reach it can read every view; set [serve] token = \"${WEIR_TOKEN}\""
                };
                eprintln!(
                    "weir: warning: the API listens beyond this machine ({}); {auth}",
                    server.addr.ip()
                );
            }
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
            // A member of `weir cluster --local` whose supervisor was killed: its output pipes are closed.
            if super::child::supervisor_gone() {
                super::child::silence_output();
            }
            // Still connecting to the other processes: timely's connecting sees no stop, and nothing was read.
            if weir_engine::joining_cluster() {
                let _ = writeln!(
                    std::io::stderr(),
                    "weir: stopped while joining the other processes; nothing was read"
                );
                std::process::exit(0);
            }
            let timeout = start.stop_timeout;
            std::thread::spawn(move || {
                std::thread::sleep(timeout);
                // Not eprintln!: exiting must not depend on stderr being writable.
                let _ = writeln!(
                    std::io::stderr(),
                    "weir: the job did not stop within {} of the signal; exiting without finishing (a \
                     checkpointing job resumes from its last checkpoint)",
                    humantime::format_duration(timeout)
                );
                std::process::exit(1);
            });
            signal_ctx.stop.stop();
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
            return Ok(Finished {
                server: None,
                stop,
                _lock: None,
            });
        }
        other => other?,
    };
    print_summary(&summary);
    let lock = server.as_ref().map(|_| lock);
    Ok(Finished {
        server,
        stop,
        _lock: lock,
    })
}

/// Epoch milliseconds as RFC 3339 (UTC).
pub(crate) fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

pub(crate) fn print_summary(s: &RunSummary) {
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
    if !s.written_by_sink.is_empty() {
        let each: Vec<String> = s.written_by_sink.iter().map(|(k, n)| format!("{k} {n}")).collect();
        eprintln!("written here, per sink: {}", each.join(", "));
    }
}
