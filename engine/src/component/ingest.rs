//! What every ingest-log source kind (MQTT, HTTP) shares: opening this process's log under the checkpoint
//! directory, starting the kind's feed into it, and building the operator that reads it on the process's
//! first worker (DESIGN §11).

use crate::checkpoint::ResumePoint;
use crate::component::{PreparedSource, SourceBuildContext, SourcePrepareContext};
use crate::dataflow::ingest_source::{ingest_source, IngestSourceSetup};
use crate::error::{BuildError, RunError};
use crate::ingest::{log_dir, IngestLog, LogOptions};
use crate::metrics::PartitionPositions;
use crate::record::RecordStream;
use crate::schema::{Field, FieldType};
use std::sync::Arc;
use std::time::Duration;

/// `max_log_bytes` when not given: 1 GiB.
pub const DEFAULT_MAX_LOG_BYTES: u64 = 1 << 30;
/// `max_idempotency_keys` when not given: a million keys (about 100 MB at most).
pub const DEFAULT_MAX_IDEMPOTENCY_KEYS: usize = 1_000_000;
/// Records in flight (emitted, not yet past every sink) per log, above which reading pauses.
const MAX_IN_FLIGHT: u64 = 50_000;

/// The options every ingest source kind has.
#[derive(Clone, Debug, PartialEq)]
pub struct IngestOptions {
    pub max_log_bytes: u64,
    /// How long an HTTP `Idempotency-Key` is remembered.
    pub idempotency_window: Duration,
    /// How many HTTP `Idempotency-Key`s are remembered at most (the oldest are forgotten first).
    pub max_idempotency_keys: usize,
    /// `topic_field`: the field the MQTT topic goes into (appended to the schema).
    pub topic_field: Option<String>,
    /// `idle_timeout`: after this long without records, the source's watermark follows the wall clock.
    pub idle_timeout: Option<Duration>,
}

impl IngestOptions {
    /// Reads `max_log_bytes`, `idempotency_window` (1 h by default) and `idle_timeout` (none).
    pub fn read(s: &crate::config::Section, topic_field: Option<String>) -> IngestOptions {
        IngestOptions {
            max_log_bytes: s.bytes("max_log_bytes").unwrap_or(DEFAULT_MAX_LOG_BYTES),
            idempotency_window: s.duration("idempotency_window").unwrap_or(Duration::from_secs(3600)),
            max_idempotency_keys: s
                .count("max_idempotency_keys", 1)
                .unwrap_or(DEFAULT_MAX_IDEMPOTENCY_KEYS as u64) as usize,
            topic_field,
            idle_timeout: s.duration("idle_timeout"),
        }
    }

    /// `weir explain`'s words for `idle_timeout` (empty without it).
    pub fn idle_words(&self) -> String {
        self.idle_timeout
            .map(|d| {
                format!(
                    "; idle after {}, its watermark then follows the wall clock",
                    humantime::format_duration(d)
                )
            })
            .unwrap_or_default()
    }

    /// The fields the source adds to its declared schema.
    pub fn added_fields(&self) -> Vec<Field> {
        self.topic_field
            .iter()
            .map(|name| Field::new(name.clone(), FieldType::String))
            .collect()
    }
}

/// What fills a log: an MQTT client, an HTTP endpoint.
pub trait IngestFeed: Send + Sync {
    /// Starts filling `log`; what comes back stops it when dropped.
    fn start(&self, log: Arc<IngestLog>, cx: &SourcePrepareContext) -> Result<Box<dyn Send + Sync>, RunError>;
}

/// Opens source `cx.source`'s log for this process and starts `feed` on it.
pub fn prepare_ingest(
    cx: &SourcePrepareContext,
    options: &IngestOptions,
    feed: &dyn IngestFeed,
) -> Result<Arc<dyn PreparedSource>, RunError> {
    let name = &cx.source.name;
    let error = |cause: String| RunError::Source {
        source_name: name.clone(),
        cause,
    };
    let Some(config) = cx.coordinator.config() else {
        return Err(error(
            "an MQTT or HTTP source keeps what it receives in an ingest log under the checkpoint directory: \
             add [job.checkpoint] with a dir"
                .into(),
        ));
    };
    let (process, processes) = cx.coordinator.meta().process;
    if let Some(orphan) = orphaned_log(cx, &log_dir(&config.dir, name), processes) {
        return Err(error(format!(
            "the ingest log of process {orphan} (p{orphan}-*.seg) holds records acknowledged to their senders, \
             and a run of {processes} process(es) would never read them: run with at least {} processes (a cluster \
             may grow, not shrink, while its sources keep ingest logs)",
            orphan + 1
        )));
    }
    let log_options = LogOptions {
        max_bytes: options.max_log_bytes,
        idempotency_window: options.idempotency_window,
        max_idempotency_keys: options.max_idempotency_keys,
    };
    let log = IngestLog::open(&log_dir(&config.dir, name), process, log_options).map_err(|e| error(e.to_string()))?;
    let log = Arc::new(log);
    let positions = Arc::new(PartitionPositions::default());
    cx.ctx.gauges.register_positions(name, "ingest log", positions.clone());
    let resume = match cx.restored {
        Some(c) => c.resume_point(name, process as u32),
        None => ResumePoint {
            position: log.first_offset(),
            ..Default::default()
        },
    };
    let resume_log = cx.coordinator.resume_log(name, process as u32);
    if let Some(r) = &resume_log {
        // A checkpoint taken before anything new is read resumes where this run did.
        r.record(resume.position, 0, resume.clone());
    }
    let feeding = feed.start(log.clone(), cx)?;
    Ok(Arc::new(PreparedIngest {
        log,
        process: process as u32,
        resume,
        topic_field: options.topic_field.clone(),
        idle_timeout: options.idle_timeout,
        positions,
        resume_log,
        _feeding: feeding,
    }))
}

/// A process number of `processes` or more that has an ingest log for this source — in the checkpoint the
/// run resumes from, or beside this process's own log (one machine, one volume) — whose acknowledged records
/// this run would lose.
fn orphaned_log(cx: &SourcePrepareContext, dir: &std::path::Path, processes: usize) -> Option<usize> {
    let in_checkpoint = cx
        .restored
        .and_then(|c| c.sources.get(&cx.source.name))
        .and_then(|partitions| partitions.keys().map(|p| *p as usize).find(|p| *p >= processes));
    let on_disk = || {
        std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
            let name = e.file_name();
            let number = name
                .to_str()?
                .strip_prefix('p')?
                .split_once('-')?
                .0
                .parse::<usize>()
                .ok()?;
            (number >= processes).then_some(number)
        })
    };
    in_checkpoint.or_else(on_disk)
}

/// A log open on this process, its feed running.
struct PreparedIngest {
    log: Arc<IngestLog>,
    process: u32,
    /// Where this run starts reading.
    resume: ResumePoint,
    topic_field: Option<String>,
    idle_timeout: Option<Duration>,
    positions: Arc<PartitionPositions>,
    resume_log: Option<Arc<crate::checkpoint::ResumeLog>>,
    _feeding: Box<dyn Send + Sync>,
}

impl PreparedSource for PreparedIngest {
    fn build<'s>(&self, cx: SourceBuildContext<'s, '_>) -> Result<RecordStream<'s>, BuildError> {
        let s = cx.source;
        let (worker, peers) = cx.worker;
        let (process, processes) = cx.process;
        let owner = worker == process * (peers / processes.max(1));
        let topic_field = self.topic_field.as_ref().and_then(|f| s.schema.index_of(f));
        // The topic is no part of the payload: the decoder lets it be missing, the operator fills it in.
        let mut schema = s.schema.clone();
        if let Some(i) = topic_field {
            schema.fields[i].nullable = true;
        }
        let setup = IngestSourceSetup {
            name: s.name.clone(),
            source_index: cx.index as u32,
            partition: self.process,
            log: owner.then(|| self.log.clone()),
            resume: self.resume.clone(),
            skip_below: cx.restored.map(|c| c.at),
            decoder: crate::decode::Decoder::new(schema).with_max_record_bytes(s.max_record_bytes),
            topic_field,
            max_out_of_orderness_ms: s.max_out_of_orderness_ms,
            idle_timeout: self.idle_timeout,
            future: s.future_bound(),
            max_in_flight: MAX_IN_FLIGHT,
            probe: cx.probe.clone(),
            resume_log: if owner { self.resume_log.clone() } else { None },
            positions: self.positions.clone(),
        };
        Ok(ingest_source(cx.scope, setup, cx.ctx.clone()))
    }
}
