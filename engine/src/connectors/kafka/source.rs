//! Kafka as a source: the `kind = "kafka"` source component, prepared once per process (wait for the topic,
//! learn its partitions, watch that it stays), then one source operator per worker reading partitions `p`
//! with `p mod W = worker`.
//!
//! Reading is in [`super::reader`]; watermarks, idleness and timely progress in [`super::source_op`];
//! decoding is the same as for files ([`crate::chunk::DecodedChunk::decode_messages`]).

pub use super::spec::KafkaSourceSpec;
use super::reader::{metadata_client, wait_for_partitions, KafkaPartitionReader, KafkaSourceError, ReportingContext};

use crate::checkpoint::{ResumeLog, ResumePoint};
use crate::component::{PreparedSource, SourceBuildContext, SourceComponent, SourcePrepareContext};
use crate::connectors::kafka::client::{topic_partitions, RateLimitedReport};
use crate::connectors::kafka::source_op::{kafka_source, KafkaSourceSetup, WorkerBounds};
use crate::error::{BuildError, RunError};
use crate::metrics::PartitionPositions;
use crate::record::RecordStream;
use parking_lot::Mutex;
use rdkafka::consumer::Consumer;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl SourceComponent for KafkaSourceSpec {
    fn kind(&self) -> &'static str {
        "kafka"
    }

    /// librdkafka crashes (SIGSEGV) when a topic it reads or writes is deleted.
    fn may_crash_process(&self) -> bool {
        true
    }

    fn ends(&self) -> bool {
        self.stop_at_end
    }

    fn describe(&self, workers: usize) -> String {
        format!(
            "kafka topic `{}` at {} (partition p on worker p mod {workers}; start {:?}{}{})",
            self.topic,
            self.brokers,
            self.start,
            self.idle_timeout
                .map(|d| format!("; idle after {}", humantime::format_duration(d)))
                .unwrap_or_default(),
            if self.stop_at_end {
                "; stops at the end of each partition"
            } else {
                ""
            }
        )
    }

    fn shape(&self) -> String {
        format!("kafka topic `{}`", self.topic)
    }

    /// Waits for the brokers and the topic (printing why it waits) and learns its partitions.
    fn prepare(&self, cx: SourcePrepareContext) -> Result<Arc<dyn PreparedSource>, RunError> {
        let name = &cx.source.name;
        let label = format!("source `{name}`");
        let partitions = wait_for_partitions(self, &label, || cx.ctx.stop.aborted()).map_err(|e| match e {
            KafkaSourceError::Stopped => RunError::StoppedBeforeStart(self.brokers.clone()),
            e => RunError::Source {
                source_name: name.clone(),
                cause: e.to_string(),
            },
        })?;
        for p in 0..partitions {
            // Each partition is read by the one worker that owns it.
            cx.ctx.progress.expect_final_reports(cx.index as u32, p, 1);
        }
        let resume_at = self.checked_resume_offsets(&cx, &label)?;
        let positions = Arc::new(PartitionPositions::default());
        cx.ctx.gauges.register_positions(name, &self.topic, positions.clone());
        let logs: BTreeMap<i32, Arc<ResumeLog>> = (0..partitions as i32)
            .filter_map(|p| Some((p, cx.coordinator.resume_log(name, p as u32)?)))
            .collect();
        // A checkpoint taken before a restored partition reads anything new resumes it where this run did
        // (without this it would leave the partition out, and the next restore would read it from the start).
        if let Some(points) = cx.restored.and_then(|c| c.sources.get(name)) {
            for (p, log) in &logs {
                if let Some(point) = points.get(&(*p as u32)) {
                    log.record(point.position, 0, point.clone());
                }
            }
        }
        let alive = Arc::new(());
        watch_topic(self.clone(), label, Arc::downgrade(&alive));
        Ok(Arc::new(KafkaConnection {
            spec: self.clone(),
            resume_at,
            partitions,
            bounds: Arc::new(Mutex::new(vec![None; cx.workers])),
            positions,
            logs,
            _watch: alive,
        }))
    }
}

impl KafkaSourceSpec {
    /// The offsets a restored run resumes each partition at: the checkpoint's, checked against what the
    /// partitions have now. An offset past a partition's end or before its start refuses the run (with the
    /// topic, partition and offsets) unless `--accept-topic-reset`, which goes on from the partition's end or
    /// start and says so.
    fn checked_resume_offsets(&self, cx: &SourcePrepareContext, label: &str) -> Result<BTreeMap<i32, i64>, RunError> {
        let name = &cx.source.name;
        let resume_at: BTreeMap<i32, i64> = match cx.restored.and_then(|c| c.sources.get(name)) {
            Some(points) => points.iter().map(|(p, r)| (*p as i32, r.position as i64)).collect(),
            None => return Ok(BTreeMap::new()),
        };
        let error = |cause: String| RunError::Source {
            source_name: name.clone(),
            cause,
        };
        let accept = cx
            .coordinator
            .topic_reset_accepted()
            .then_some(crate::connectors::kafka::client::TopicReset::Resume);
        crate::connectors::kafka::client::checked_resume_offsets(&self.brokers, &self.topic, resume_at, accept, label)
            .map_err(error)
    }
}

/// A Kafka source's topic, resolved before the workers start, and what its worker instances share.
struct KafkaConnection {
    spec: KafkaSourceSpec,
    /// Where a restored run resumes each partition (checked against the broker).
    resume_at: BTreeMap<i32, i64>,
    partitions: u32,
    bounds: WorkerBounds,
    positions: Arc<PartitionPositions>,
    /// With checkpoints: each partition's resume log.
    logs: BTreeMap<i32, Arc<ResumeLog>>,
    /// Keeps [`watch_topic`] going while the source is in use.
    _watch: Arc<()>,
}

/// How often a running job checks that its source topics still exist.
const TOPIC_WATCH_EVERY: Duration = Duration::from_secs(2);

/// Checks every [`TOPIC_WATCH_EVERY`], while `alive` lives, that the source's topic still exists, and says
/// so (at most every 10 s) while it does not: a topic deleted, or lost by a broker restarted without its
/// storage, used to stall a running job without a word (review B16). Each check asks a new metadata-only
/// client by the topic's name, so no client of the watch ever caches the topic's id.
fn watch_topic(spec: KafkaSourceSpec, label: String, alive: std::sync::Weak<()>) {
    let watch = move || {
        let reporter = RateLimitedReport::new(label);
        let mut missing = false;
        loop {
            let deadline = Instant::now() + TOPIC_WATCH_EVERY;
            while Instant::now() < deadline {
                if alive.strong_count() == 0 {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let ctx = ReportingContext::new(String::new(), spec.topic.clone(), Arc::default());
            let Ok(client) = metadata_client(&spec, ctx) else {
                continue;
            };
            match topic_partitions(client.client(), &spec.topic, Duration::from_secs(3)) {
                Ok(None) => {
                    missing = true;
                    reporter.report(&format!(
                        "topic `{}` no longer exists on {} (deleted, or lost by a broker restarted without its \
                         data); the job waits for it and reads on when it is back",
                        spec.topic, spec.brokers
                    ));
                }
                Ok(Some(_)) if missing => {
                    missing = false;
                    reporter.force(&format!("topic `{}` exists again; reading on", spec.topic));
                }
                // Unreachable brokers are reported by the reading consumers themselves.
                Ok(Some(_)) | Err(_) => {}
            }
        }
    };
    if let Err(e) = std::thread::Builder::new().name("weir-topic-watch".into()).spawn(watch) {
        eprintln!("weir: cannot start the topic watch ({e}); a deleted topic will stall the job silently");
    }
}

impl PreparedSource for KafkaConnection {
    fn build<'s>(&self, cx: SourceBuildContext<'s, '_>) -> Result<RecordStream<'s>, BuildError> {
        let (index, peers) = cx.worker;
        let s = cx.source;
        let mine: Vec<i32> = (0..self.partitions as i32)
            .filter(|p| *p as usize % peers == index)
            .collect();
        // After a restore, partitions the checkpoint has a resume point for continue there.
        let points: BTreeMap<i32, ResumePoint> = match cx.restored {
            Some(c) => mine
                .iter()
                .filter_map(|p| Some((*p, c.sources.get(&s.name)?.get(&(*p as u32))?.clone())))
                .collect(),
            None => BTreeMap::new(),
        };
        let resume_at = points
            .keys()
            .map(|p| (*p, self.resume_at.get(p).copied().unwrap_or(points[p].position as i64)))
            .collect();
        let reader = if mine.is_empty() {
            None
        } else {
            let label = format!("source `{}` (worker {index})", s.name);
            let opened =
                KafkaPartitionReader::open(&self.spec, label, mine.clone(), &resume_at, self.positions.clone());
            Some(opened.map_err(|e| BuildError::Kafka {
                source_name: s.name.clone(),
                cause: e.to_string(),
            })?)
        };
        let setup = KafkaSourceSetup {
            name: s.name.clone(),
            source_index: cx.index as u32,
            reader,
            decoder: s.decoder(),
            max_out_of_orderness_ms: s.max_out_of_orderness_ms,
            future: s.future_bound(),
            idle_timeout: self.spec.idle_timeout,
            max_in_flight: self.spec.max_in_flight,
            rate: self.spec.rate.map(|r| r / peers as f64),
            bounds: self.bounds.clone(),
            probe: cx.probe.clone(),
            resumed: cx
                .restored
                .map(|c| (c.at, points.iter().map(|(p, r)| (*p, r.max_before)).collect())),
            logs: self
                .logs
                .iter()
                .filter(|(p, _)| mine.contains(p))
                .map(|(p, l)| (*p, l.clone()))
                .collect(),
        };
        Ok(kafka_source(cx.scope, setup, cx.ctx.clone()))
    }
}
