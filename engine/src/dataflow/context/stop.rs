//! Stopping a run: the first fatal error, the stop flag every source polls, the job watermark at which a
//! stop was asked for, and the operators to wake so they see it.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::checkpoints::Checkpoints;
use crate::error::JobFailure;
use crate::record::Time;

/// The way to stop everything: on a fatal error ([`Stopping::fail`]) or without one ([`Stopping::stop`]).
#[derive(Clone)]
pub struct Stopping {
    abort: Arc<AtomicBool>,
    error: Arc<Mutex<Option<JobFailure>>>,
    /// Source operators to wake when the job stops (one blocked on another worker's chunk would otherwise
    /// never look at the stop flag).
    wake_on_stop: Arc<Mutex<Vec<timely::scheduling::SyncActivator>>>,
    /// The job watermark when a stop was asked for (`u64::MAX`: none).
    stopped_at: Arc<AtomicU64>,
    checkpoints: Checkpoints,
}

impl Stopping {
    /// A handle that, on [`Stopping::stop`], notes the job watermark of `checkpoints` and starts a final
    /// checkpoint there.
    pub fn new(checkpoints: Checkpoints) -> Self {
        Self {
            abort: Arc::default(),
            error: Arc::default(),
            wake_on_stop: Arc::default(),
            stopped_at: Arc::new(AtomicU64::new(u64::MAX)),
            checkpoints,
        }
    }

    /// Records a fatal error (the first one wins) and asks every source to stop.
    pub fn fail(&self, failure: JobFailure) {
        let mut e = self.error.lock();
        if e.is_none() {
            *e = Some(failure);
        }
        drop(e);
        self.abort.store(true, Ordering::SeqCst);
        self.wake_sources();
    }

    /// Asks every source to stop without an error (e.g. on SIGINT) — after noting the job watermark, which
    /// operators act up to and no further ([`crate::dataflow::ordered_frontier`]), and starting a final
    /// checkpoint when the job checkpoints, which operators and sinks complete as they stop.
    pub fn stop(&self) {
        if let Some(at) = self.checkpoints.begin_stop() {
            self.stopped_at.store(at, Ordering::SeqCst);
        }
        self.abort.store(true, Ordering::SeqCst);
        self.wake_sources();
    }

    /// The job watermark when the job was stopped (none before a stop, or if no source was live then).
    pub fn stopped_at(&self) -> Option<Time> {
        let at = self.stopped_at.load(Ordering::SeqCst);
        (at != u64::MAX && self.aborted()).then_some(at)
    }

    /// Registers an operator (a source, a sink with work in flight) to wake when the job stops.
    pub fn wake_on_stop(&self, activator: timely::scheduling::SyncActivator) {
        self.wake_on_stop.lock().push(activator);
    }

    fn wake_sources(&self) {
        for a in self.wake_on_stop.lock().iter() {
            let _ = a.activate();
        }
    }

    /// Whether the run was asked to stop (by an error or not).
    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }

    /// The fatal error that stopped the run, if one did.
    pub fn error(&self) -> Option<JobFailure> {
        self.error.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_wins_and_a_stop_without_sources_has_no_watermark() {
        let s = Stopping::new(Checkpoints::default());
        assert!(!s.aborted() && s.error().is_none());
        s.fail(JobFailure::Cluster("first".into()));
        s.fail(JobFailure::Cluster("second".into()));
        assert!(s.aborted());
        assert!(matches!(s.error(), Some(JobFailure::Cluster(r)) if r == "first"));
        let quiet = Stopping::new(Checkpoints::default());
        quiet.stop();
        assert!(quiet.aborted() && quiet.error().is_none());
        assert_eq!(quiet.stopped_at(), None);
    }
}
