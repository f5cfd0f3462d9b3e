//! What the operators of a run share, as narrow handles: [`Stopping`] (the stop flag and the first fatal
//! error), [`Progress`] (how partitions ended), [`Checkpoints`] (the coordinator and the job watermark),
//! the counters ([`Metrics`]), [`Gauges`] (partition positions, warnings) and [`Tallies`] (named counts
//! kinds meet on) and [`IngestEndpoints`] (HTTP ingest sources, for the server). An operator clones the handles it uses, not the whole context.

mod checkpoints;
mod gauges;
mod ingest;
mod progress;
mod stop;
mod tallies;

pub use checkpoints::Checkpoints;
pub use gauges::Gauges;
pub use ingest::{Appended, IngestEndpoint, IngestEndpoints, IngestReply, IngestRequest};
pub use progress::Progress;
pub use stop::Stopping;
pub use tallies::{Tallies, TallyKey};

use std::sync::Arc;

use crate::metrics::Metrics;

/// Every handle of a run, as the runtime hands them to the graph it builds.
#[derive(Clone)]
pub struct RunContext {
    pub stop: Stopping,
    pub progress: Progress,
    pub checkpoints: Checkpoints,
    pub metrics: Arc<Metrics>,
    pub gauges: Gauges,
    pub tallies: Tallies,
    /// HTTP ingest sources' endpoints, for the server.
    pub ingest: IngestEndpoints,
}

impl Default for RunContext {
    fn default() -> Self {
        let checkpoints = Checkpoints::default();
        Self {
            stop: Stopping::new(checkpoints.clone()),
            progress: Progress::default(),
            checkpoints,
            metrics: Arc::default(),
            gauges: Gauges::default(),
            tallies: Tallies::default(),
            ingest: IngestEndpoints::default(),
        }
    }
}

impl RunContext {
    /// The Prometheus exposition of this run's counters and gauges.
    pub fn render_metrics(&self) -> String {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.metrics.render(&crate::metrics::RunGauges {
            watermark_ms: self.checkpoints.job_watermark().map(|t| t as i64),
            now_ms,
            partitions: self.gauges.partitions(),
        })
    }
}
