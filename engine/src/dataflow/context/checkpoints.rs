//! The run's checkpoint coordinator as a handle: installed once by the runtime, read by every participant
//! and by the sources that publish the job watermark.

use std::sync::{Arc, OnceLock};

use crate::checkpoint::Coordinator;
use crate::record::Time;

/// The run's checkpoint coordinator (a disabled one until the runtime installs the real one).
#[derive(Clone, Default)]
pub struct Checkpoints {
    coordinator: Arc<OnceLock<Arc<Coordinator>>>,
}

impl Checkpoints {
    /// Installs the run's checkpoint coordinator (once; later calls are ignored).
    pub fn install(&self, coordinator: Arc<Coordinator>) {
        let _ = self.coordinator.set(coordinator);
    }

    /// Whether a coordinator was installed.
    pub fn installed(&self) -> bool {
        self.coordinator.get().is_some()
    }

    /// The run's checkpoint coordinator (a disabled one before the runtime installed it).
    pub fn coordinator(&self) -> Arc<Coordinator> {
        self.coordinator
            .get_or_init(|| Arc::new(Coordinator::default()))
            .clone()
    }

    /// Publishes what a source operator instance (`id`) holds the job watermark at; `None` once it has let go.
    pub fn publish_frontier(&self, id: (u32, u32, usize), at: Option<Time>) {
        self.coordinator().publish_frontier(id, at);
    }

    /// The job watermark: the least time any source instance still holds (`None` when none holds one, or
    /// before a coordinator is installed).
    pub fn job_watermark(&self) -> Option<Time> {
        self.coordinator.get().and_then(|c| c.job_watermark())
    }

    /// Notes the job watermark and starts a final checkpoint (when the job checkpoints); returns the job
    /// watermark.
    pub(super) fn begin_stop(&self) -> Option<Time> {
        let c = self.coordinator.get()?;
        let at = c.job_watermark();
        c.maybe_start(true);
        at
    }
}
