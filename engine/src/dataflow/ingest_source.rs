//! The source operator of an ingest log (MQTT, HTTP): on the worker that owns this process's log, it reads
//! what is durable in offset order, as a Kafka partition is read — decoded, stamped with arrival
//! watermarks, logged for checkpoints' resume points — and deletes the segments every kept checkpoint is
//! past. The other workers let go at once.
//!
//! The log is one partition (numbered by the process), so results are a function of its contents: the same
//! for any worker count, batch size and restart.
//!
//! **Idleness.** With `idle_timeout`, when nothing has been appended to the log for that long (and it has all
//! been read), the source appends a *tick* holding the wall-clock time, makes it durable and reads it back
//! like a record: the largest event time so far becomes at least that time, so the log's watermark follows
//! the wall clock (now − `max_out_of_orderness`) while it is quiet, and a quiet source — one of a union, or a
//! process in a cluster that the senders do not reach — does not hold the job's windows back; a record that
//! then comes later than that is late. Because the tick is in the log, a restored run replays it at the same
//! place and stamps every record as the first run did (a wall-clock floor kept only in memory did not: it
//! lost the first record after a restart). Without `idle_timeout` the watermark moves with the records
//! alone.

use crate::checkpoint::{ResumeLog, ResumePoint};
use crate::chunk::DecodedChunk;
use crate::dataflow::message_chunk::{stamp_messages, MessagePlace};
use crate::dataflow::source_step::{source_operator, SourceLogic, Step, Wake};
use crate::dataflow::{Checkpoints, RunContext, Stopping, Time};
use crate::decode::Decoder;
use crate::ingest::{IngestLog, LogBatch, LogReader};
use crate::metrics::{Metrics, PartitionPositions};
use crate::record::{RecordStream, SharedBatch};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::Scope;
use weir_operators::{logical_time, Value};

/// Records taken from the log per activation.
const RECORDS_PER_ACTIVATION: usize = 8_192;
/// Payload bytes taken per activation.
const BYTES_PER_ACTIVATION: usize = 128 << 10;
/// How soon to look again when nothing was durable (the log also wakes the operator when more is).
const LOOK_AGAIN: Duration = Duration::from_millis(100);
/// How often to delete segments the kept checkpoints are past.
const RELEASE_EVERY: Duration = Duration::from_secs(1);

/// Everything the owning worker's operator needs.
pub struct IngestSourceSetup {
    pub name: String,
    pub source_index: u32,
    /// This process's index: the log's partition number.
    pub partition: u32,
    /// `None` on the workers that do not read the log.
    pub log: Option<Arc<IngestLog>>,
    /// Where reading starts (the checkpoint's resume point, or the log's start).
    pub resume: ResumePoint,
    /// After a restore: the checkpoint's logical time (records below it are dropped).
    pub skip_below: Option<Time>,
    pub decoder: Decoder,
    /// `topic_field`: the field the record's MQTT topic goes into.
    pub topic_field: Option<usize>,
    pub max_out_of_orderness_ms: i64,
    pub idle_timeout: Option<Duration>,
    pub future: Option<crate::sequencer::FutureBound>,
    pub max_in_flight: u64,
    pub probe: ProbeHandle<Time>,
    pub resume_log: Option<Arc<ResumeLog>>,
    pub positions: Arc<PartitionPositions>,
}

/// Builds one worker's ingest-log source operator.
pub fn ingest_source<'s>(scope: Scope<'s, Time>, setup: IngestSourceSetup, ctx: RunContext) -> RecordStream<'s> {
    let name = format!("IngestSource({})", setup.name);
    source_operator(scope, &name, move |activator, worker| {
        ctx.stop.wake_on_stop(activator());
        if let Some(log) = &setup.log {
            let wake = activator();
            log.on_durable(Box::new(move || {
                let _ = wake.activate();
            }));
        }
        IngestSource::new(setup, worker, &ctx)
    })
}

struct IngestSource {
    setup: IngestSourceSetup,
    reader: Option<LogReader>,
    worker: usize,
    max_ts: Option<i64>,
    checkpoints: Checkpoints,
    stop: Stopping,
    metrics: Arc<Metrics>,
    /// Records emitted per time, not yet passed by the probe.
    in_flight: BTreeMap<Time, u64>,
    last_release: Instant,
}

impl IngestSource {
    fn new(setup: IngestSourceSetup, worker: usize, ctx: &RunContext) -> Self {
        let reader = setup.log.as_ref().map(|log| {
            let reader = LogReader::new(log.clone(), setup.resume.position).unwrap_or_else(|e| {
                ctx.stop.fail(crate::error::JobFailure::SourceRead {
                    source_name: setup.name.clone(),
                    cause: e.to_string(),
                });
                LogReader::new(log.clone(), log.durable_end()).expect("the log's end is readable")
            });
            match setup.topic_field {
                Some(_) => reader.with_topics(),
                None => reader,
            }
        });
        Self {
            max_ts: setup.resume.max_before,
            reader,
            worker,
            checkpoints: ctx.checkpoints.clone(),
            stop: ctx.stop.clone(),
            metrics: ctx.metrics.clone(),
            in_flight: BTreeMap::new(),
            last_release: Instant::now(),
            setup,
        }
    }

    fn id(&self) -> (u32, u32, usize) {
        (self.setup.source_index, u32::MAX, self.worker)
    }

    /// The least time the next record can have: after the largest event time read (ticks included).
    fn next_time(&self) -> Time {
        logical_time(
            self.max_ts
                .map(|m| m.saturating_sub(self.setup.max_out_of_orderness_ms)),
        )
    }

    /// With `idle_timeout`: a log read to its end and quiet for that long gets a tick of the wall clock
    /// (made durable here, read back like a record) when that would move the watermark on.
    fn tick_if_idle(&mut self, position: u64) -> Result<(), crate::ingest::IngestError> {
        let (Some(idle), Some(log)) = (self.setup.idle_timeout, &self.setup.log) else {
            return Ok(());
        };
        let now = crate::checkpoint::coordinator::now_ms();
        if position < log.durable_end() || log.quiet_ms() < idle.as_millis() as i64 || self.max_ts >= Some(now) {
            return Ok(());
        }
        match log.append_tick(now)? {
            Some(end) => log.wait_durable(end),
            None => Ok(()),
        }
    }

    /// Decodes and stamps a batch read from the log, at no time below `cap`.
    fn stamp(&mut self, batch: LogBatch, cap: Time) -> (Time, SharedBatch) {
        let s = &mut self.setup;
        let mut decoded = DecodedChunk::decode_messages(&mut s.decoder, batch.raw.into(), &batch.ranges, batch.offsets);
        if let Some(field) = s.topic_field {
            for r in &mut decoded.records {
                let message = decoded.line[r.line as usize] as usize;
                let topic = batch.topics[message].as_deref().unwrap_or_default();
                r.values[field] = Value::Str(topic.into());
            }
        }
        let place = MessagePlace {
            source: s.source_index,
            partition: s.partition,
            prefix_max: self.max_ts,
            max_out_of_orderness_ms: s.max_out_of_orderness_ms,
            floor: cap,
            future: s.future.as_ref(),
            resume_log: s.resume_log.as_deref(),
        };
        let mut stamped = stamp_messages(decoded, place);
        self.max_ts = self.max_ts.max(stamped.chunk.max_ts);
        if let Some(at) = s.skip_below {
            stamped.drop_before(at);
        }
        self.metrics.chunk_decoded(&s.name, &stamped.chunk);
        let t = stamped.first_logical_time().max(cap);
        *self.in_flight.entry(t).or_default() += stamped.chunk.lines;
        (t, Arc::new(stamped.into_batch()))
    }

    /// Deletes the log's segments below every kept checkpoint's position.
    fn release(&mut self) {
        if self.last_release.elapsed() < RELEASE_EVERY {
            return;
        }
        self.last_release = Instant::now();
        let coord = self.checkpoints.coordinator();
        let (Some(log), Some(floor)) = (
            &self.setup.log,
            coord.kept_floor(&self.setup.name, self.setup.partition),
        ) else {
            return;
        };
        if let Err(e) = log.release_below(floor) {
            self.stop.fail(crate::error::JobFailure::SourceRead {
                source_name: self.setup.name.clone(),
                cause: e.to_string(),
            });
        }
    }
}

impl SourceLogic for IngestSource {
    fn step(&mut self, cap: Option<Time>) -> Step {
        if self.stop.aborted() || self.reader.is_none() {
            self.checkpoints.publish_frontier(self.id(), None);
            return Step::Stopped;
        }
        let Some(cap) = cap else { return Step::Idle };
        self.release();
        match self.setup.probe.with_frontier(|f| f.iter().min().copied()) {
            Some(p) => self.in_flight = self.in_flight.split_off(&p),
            None => self.in_flight.clear(),
        }
        let waiting: u64 = self.in_flight.values().sum();
        let mut batch = LogBatch::default();
        if waiting <= self.setup.max_in_flight {
            let reader = self.reader.as_mut().expect("reader");
            if let Err(e) = reader.read(&mut batch, RECORDS_PER_ACTIVATION, BYTES_PER_ACTIVATION) {
                self.stop.fail(crate::error::JobFailure::SourceRead {
                    source_name: self.setup.name.clone(),
                    cause: e.to_string(),
                });
                return Step::Stopped;
            }
        }
        let read = batch.offsets.len() + batch.tick.is_some() as usize;
        let tick = batch.tick.take();
        let batches = if batch.is_empty() {
            Vec::new()
        } else {
            vec![self.stamp(batch, cap)]
        };
        if let Some((_, ms)) = tick {
            self.max_ts = self.max_ts.max(Some(ms));
        }
        let position = self.reader.as_ref().expect("reader").position();
        if let Err(e) = self.tick_if_idle(position) {
            self.stop.fail(crate::error::JobFailure::SourceRead {
                source_name: self.setup.name.clone(),
                cause: e.to_string(),
            });
            return Step::Stopped;
        }
        let durable = self.setup.log.as_ref().map_or(0, |l| l.durable_end());
        self.setup
            .positions
            .set_next(self.setup.partition as i32, position as i64);
        self.setup
            .positions
            .set_high(self.setup.partition as i32, durable as i64);
        let next = Some(self.next_time()).filter(|t| *t > cap);
        self.checkpoints.publish_frontier(self.id(), Some(next.unwrap_or(cap)));
        let wake = if read > 0 || position < durable && waiting <= self.setup.max_in_flight {
            Wake { now: true, after: None }
        } else {
            Wake {
                now: false,
                after: Some(LOOK_AGAIN.min(RELEASE_EVERY)),
            }
        };
        Step::Going {
            batches,
            ends: Vec::new(),
            finished: false,
            lower_bound: next,
            wake,
        }
    }
}
