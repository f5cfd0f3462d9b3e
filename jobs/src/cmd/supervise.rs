//! `weir run`'s crash supervisor for jobs that use Kafka.
//!
//! librdkafka (2.12 to 2.16 at least) dereferences a null topic name when a topic it reads is deleted while
//! it runs (review B4, confluentinc/librdkafka#4964's neighbourhood): the process dies of SIGSEGV inside a
//! librdkafka thread that blocks every signal, so the process itself can neither notice first nor say so.
//! A job that uses Kafka therefore runs as a child of its own `weir run`, which
//!
//! - names such a crash and what caused it, instead of a silent exit 139;
//! - restarts a checkpointing single-process job from its last checkpoint (at most [`MAX_CRASHES`] times in
//!   [`CRASH_WINDOW`]): the restart waits for the topic to exist again, as a start does, and refuses offsets
//!   a recreated topic lacks unless `--accept-topic-reset` — exactly-once holds as through any crash;
//! - passes SIGINT/SIGTERM on (the child runs in its own process group, so a terminal's Ctrl-C reaches it
//!   once, through here) and exits with the child's status;
//! - takes the child with it when it is killed itself (SIGKILL).
//!
//! Without checkpoints a restart would write the outputs again from the start, so the job stops with the
//! message. In cluster mode one process cannot rejoin its peers alone; it stops with the message and the
//! orchestrator restarts the job. `WEIR_SUPERVISED=1` runs the job in the process itself (set on the child).

use super::child::{dies_with_parent, exit_code, how_it_ended, signal_child, signal_name};
use anyhow::{Context, Result};
use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitCode};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use weir_engine::plan::Plan;

/// The environment variable that marks the supervised process (and lets a user run without a supervisor).
pub(crate) const SUPERVISED: &str = "WEIR_SUPERVISED";

/// Crashes within [`CRASH_WINDOW`] after which the supervisor stops restarting.
pub(crate) const MAX_CRASHES: usize = 3;

/// The window [`MAX_CRASHES`] counts in.
pub(crate) const CRASH_WINDOW: Duration = Duration::from_secs(600);

/// Whether this `weir run` should supervise the job instead of running it: a source, table or sink of the
/// job has a client that can crash the process (Kafka's), and this process is not the supervised child.
pub(crate) fn wanted(plan: &Plan) -> bool {
    std::env::var_os(SUPERVISED).is_none() && may_crash(plan)
}

fn may_crash(plan: &Plan) -> bool {
    plan.sources.iter().any(|s| s.component.may_crash_process())
        || plan.tables.iter().any(|t| t.component.may_crash_process())
        || plan.sinks.iter().any(|s| s.component.may_crash_process())
}

/// The child being run and the signals received so far, shared with the signal thread.
#[derive(Default)]
struct Forwarding {
    child: Option<u32>,
    signals: usize,
}

/// Runs this process's own command line as a supervised child until it ends other than by a crash.
pub(crate) fn supervise(plan: &Plan) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("finding the weir executable")?;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    // A restart continues from the checkpoint: `--fresh` would delete it.
    let restart_args: Vec<OsString> = args.iter().filter(|a| *a != "--fresh").cloned().collect();

    let forwarding = Arc::new(Mutex::new(Forwarding::default()));
    let mut signals =
        signal_hook::iterator::Signals::new([libc::SIGINT, libc::SIGTERM]).context("installing signal handlers")?;
    let f = forwarding.clone();
    std::thread::spawn(move || {
        for sig in signals.forever() {
            let mut f = lock(&f);
            f.signals += 1;
            if let Some(pid) = f.child {
                // SAFETY: kill(2) with the pid of the running child (cleared under this lock before it is
                // reaped); no memory is passed.
                unsafe { libc::kill(pid as libc::pid_t, sig) };
            }
        }
    });

    let mut crashes: Vec<Instant> = Vec::new();
    loop {
        let mut command = Command::new(&exe);
        command
            .args(if crashes.is_empty() { &args } else { &restart_args })
            .env(SUPERVISED, "1")
            .process_group(0);
        dies_with_parent(&mut command, libc::SIGKILL);
        let mut child = command.spawn().context("starting the job process")?;
        started(&forwarding, &child);
        let status = child.wait().context("waiting for the job process")?;
        let stopping = {
            let mut f = lock(&forwarding);
            f.child = None;
            f.signals > 0
        };
        let Some(sig @ (libc::SIGSEGV | libc::SIGBUS)) = status.signal() else {
            return Ok(ExitCode::from(exit_code(status)));
        };
        eprintln!(
            "weir: the job process died of {} ({}). In a job that uses Kafka this is librdkafka crashing when a \
             topic the job reads or writes is deleted while it runs (README: Kafka, \"Deleting a topic\").",
            signal_name(sig),
            how_it_ended(status)
        );
        crashes.retain(|t| t.elapsed() < CRASH_WINDOW);
        crashes.push(Instant::now());
        let refusal = if stopping {
            Some("it was stopping")
        } else if plan.cluster.is_some() {
            Some("one process of a cluster cannot rejoin its peers alone; restart the whole job")
        } else if plan.checkpoint.is_none() {
            Some(
                "the job does not checkpoint, and a restart would write its outputs again from the start; \
                  recreate the topic and run it again",
            )
        } else if crashes.len() > MAX_CRASHES {
            Some("it crashed more than 3 times in 10 minutes")
        } else {
            None
        };
        if let Some(reason) = refusal {
            eprintln!("weir: not restarting: {reason}.");
            return Ok(ExitCode::from(exit_code(status)));
        }
        eprintln!(
            "weir: restarting from the last checkpoint (crash {} of at most {MAX_CRASHES} in 10 minutes); the \
             restart waits for a deleted topic to exist again, and refuses offsets a recreated topic lacks unless \
             --accept-topic-reset",
            crashes.len()
        );
        std::thread::sleep(Duration::from_secs(1));
        if lock(&forwarding).signals > 0 {
            eprintln!("weir: not restarting: stopped by a signal.");
            return Ok(ExitCode::from(exit_code(status)));
        }
    }
}

fn lock(forwarding: &Mutex<Forwarding>) -> MutexGuard<'_, Forwarding> {
    forwarding.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Records the running child; a signal that arrived while no child ran is passed on now (as SIGTERM).
fn started(forwarding: &Mutex<Forwarding>, child: &Child) {
    let mut f = lock(forwarding);
    f.child = Some(child.id());
    if f.signals > 0 {
        signal_child(child, libc::SIGTERM);
    }
}
