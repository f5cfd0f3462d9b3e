//! What a run shows about itself besides its counters: the read positions of partitioned sources (for
//! `/metrics` and lag) and standing warnings (for `/healthz`), registered by whichever kind has them.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::metrics::PartitionPositions;

/// A source's read positions as registered: (source name, topic or path, positions).
type RegisteredPositions = (String, String, Arc<PartitionPositions>);

/// One partition's gauge row: (source, topic, partition, next offset, lag).
pub type PartitionGauge = (String, String, i32, i64, Option<i64>);

/// The run's gauges, registered by the kinds that have them.
#[derive(Clone, Default)]
pub struct Gauges {
    positions: Arc<Mutex<Vec<RegisteredPositions>>>,
    /// Standing warnings by what they are about (e.g. `table \`zones\``).
    warnings: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Gauges {
    /// Registers a source's partition positions (Kafka's, today) for the metrics endpoint.
    pub fn register_positions(&self, source: &str, topic: &str, positions: Arc<PartitionPositions>) {
        self.positions
            .lock()
            .push((source.to_string(), topic.to_string(), positions));
    }

    /// Every registered partition's position and lag, now.
    pub fn partitions(&self) -> Vec<PartitionGauge> {
        let mut rows = Vec::new();
        for (source, topic, p) in self.positions.lock().iter() {
            for (partition, next, lag) in p.snapshot() {
                rows.push((source.clone(), topic.clone(), partition, next, lag));
            }
        }
        rows
    }

    /// Sets (or, with `None`, clears) the standing warning about `about`; says a new one on stderr.
    pub fn set_warning(&self, about: &str, warning: Option<String>) {
        let mut all = self.warnings.lock();
        match warning {
            Some(w) => {
                if all.get(about) != Some(&w) {
                    eprintln!("weir: warning: {about}: {w}");
                    all.insert(about.to_string(), w);
                }
            }
            None => {
                all.remove(about);
            }
        }
    }

    /// The standing warnings, as `ABOUT: WARNING`.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().iter().map(|(a, w)| format!("{a}: {w}")).collect()
    }
}
