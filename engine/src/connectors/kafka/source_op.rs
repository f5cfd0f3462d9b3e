//! The Kafka source operator: one instance per worker, reading the partitions `p` with `p mod W = worker`,
//! turning each poll's messages into one stamped chunk per partition.
//!
//! **Watermarks (DESIGN §2).** Each partition keeps the largest valid event time read so far; a record's
//! arrival watermark is that maximum before it minus `max_out_of_orderness`. A worker's capability is the
//! least next logical time over its partitions, so the job watermark (timely's frontier) is the minimum over
//! all partitions, and results are a function of the partitions' contents alone.
//!
//! **Idleness.** A partition that delivered nothing for `idle_timeout` stops holding the capability back. A
//! worker whose partitions are all idle follows the least capability of the other workers of this source.
//! When an idle partition's data resumes, its records arrive no earlier than the worker's capability (the
//! chunk's `floor`): windows the job watermark already closed see them as late, as they would in Flink.
//! Idleness depends on wall-clock time, so it is the one thing that can make two runs differ; without an
//! `idle_timeout` it never happens.
//!
//! **Reading order and back-pressure.** Each partition has its own librdkafka queue (bounded: the fetcher
//! stops when it is full). The source reads the partitions holding the watermark back first, lowest next
//! logical time first, so partitions advance together in event time (watermark alignment) instead of one
//! running ahead. Records the source emitted at a time the end of the dataflow (a probe on every sink input)
//! has not passed yet are *in flight*; above `max_in_flight` (default 50 000) per worker the source reads
//! only the partition(s) at its lowest next time — which must advance for anything to leave the dataflow —
//! and above it in records the watermark has already passed it reads nothing until the sinks catch up.

use crate::checkpoint::ResumeLog;
use crate::chunk::DecodedChunk;
use crate::dataflow::message_chunk::{stamp_messages, MessagePlace};
use crate::connectors::kafka::reader::{KafkaPartitionReader, MessageBatch};
use crate::dataflow::pace::Pacer;
use crate::dataflow::source_step::{source_operator, SourceLogic, Step, Wake};
use crate::dataflow::{Checkpoints, RunContext, Stopping, Time};
use crate::decode::Decoder;
use crate::metrics::Metrics;
use crate::record::{Batch, RecordStream, SharedBatch};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::Scope;
use weir_operators::logical_time;

/// Messages taken from the consumer per activation, so the operators downstream get their turn.
const MESSAGES_PER_ACTIVATION: usize = 8_192;
/// Bytes of message values taken per activation: as much as a file source's chunk. Measured on
/// vibration-rollup from 4 partitions with 2 workers, batches of up to 8 192 messages (~0.8 MB) cost
/// 2.1 system-s per run and batches of ~128 kB 0.9–1.3: fewer fresh pages to fault in.
const BYTES_PER_ACTIVATION: usize = 128 << 10;
/// How soon to look again when nothing was ready.
const POLL_AGAIN: Duration = Duration::from_millis(5);

/// Per worker of one Kafka source: the capability it holds, or `None` when all its partitions are idle.
pub type WorkerBounds = Arc<Mutex<Vec<Option<Time>>>>;

/// Everything one worker's Kafka source operator needs.
pub struct KafkaSourceSetup {
    pub name: String,
    pub source_index: u32,
    /// `None` when this worker owns no partition.
    pub reader: Option<KafkaPartitionReader>,
    pub decoder: Decoder,
    pub max_out_of_orderness_ms: i64,
    /// `max_future`, if set.
    pub future: Option<crate::sequencer::FutureBound>,
    pub idle_timeout: Option<Duration>,
    pub max_in_flight: u64,
    /// Messages per second this worker reads at most.
    pub rate: Option<f64>,
    pub bounds: WorkerBounds,
    pub probe: ProbeHandle<Time>,
    /// After a restore: the checkpoint's logical time (records below it are dropped) and, per partition,
    /// the largest event time before its resume offset.
    pub resumed: Option<(Time, BTreeMap<i32, Option<i64>>)>,
    /// With checkpoints: each partition's resume log.
    pub logs: BTreeMap<i32, Arc<ResumeLog>>,
}

struct PartitionState {
    max_ts: Option<i64>,
    last_data: Instant,
}

impl PartitionState {
    /// The least logical time the partition's next record can have.
    fn next_time(&self, ooo: i64) -> Time {
        logical_time(self.max_ts.map(|m| m.saturating_sub(ooo)))
    }
}

/// Builds one worker's Kafka source operator over `setup` (a [`KafkaSource`] in the shared shell).
pub fn kafka_source<'s>(scope: Scope<'s, Time>, setup: KafkaSourceSetup, ctx: RunContext) -> RecordStream<'s> {
    let name = format!("KafkaSource({})", setup.name);
    source_operator(scope, &name, move |_, worker| KafkaSource::new(setup, worker, &ctx))
}

/// One worker's reading of its Kafka partitions, a step per activation.
struct KafkaSource {
    name: String,
    source_index: u32,
    worker: usize,
    reader: Option<KafkaPartitionReader>,
    decoder: Decoder,
    ooo: i64,
    future: Option<crate::sequencer::FutureBound>,
    idle_timeout: Option<Duration>,
    max_in_flight: u64,
    bounds: WorkerBounds,
    probe: ProbeHandle<Time>,
    /// After a restore: records below this logical time were in the checkpoint.
    skip_below: Option<Time>,
    logs: BTreeMap<i32, Arc<ResumeLog>>,
    checkpoints: Checkpoints,
    stop: Stopping,
    metrics: Arc<Metrics>,
    /// The partitions still read, with what is known of each.
    partitions: BTreeMap<i32, PartitionState>,
    /// Records emitted per time, not yet passed by the probe.
    in_flight: BTreeMap<Time, u64>,
    reported_bytes: u64,
    pacer: Option<Pacer>,
    /// Messages per poll.
    per_poll: usize,
}

impl KafkaSource {
    fn new(setup: KafkaSourceSetup, worker: usize, ctx: &RunContext) -> Self {
        let now = Instant::now();
        let resumed = setup.resumed;
        let partitions = setup
            .reader
            .iter()
            .flat_map(|r| r.partitions())
            .map(|p| {
                let max_ts = resumed.as_ref().and_then(|(_, m)| m.get(&p).copied().flatten());
                (p, PartitionState { max_ts, last_data: now })
            })
            .collect();
        Self {
            name: setup.name,
            source_index: setup.source_index,
            worker,
            reader: setup.reader,
            decoder: setup.decoder,
            ooo: setup.max_out_of_orderness_ms,
            future: setup.future,
            idle_timeout: setup.idle_timeout,
            max_in_flight: setup.max_in_flight,
            bounds: setup.bounds,
            probe: setup.probe,
            skip_below: resumed.as_ref().map(|(t, _)| *t),
            logs: setup.logs,
            checkpoints: ctx.checkpoints.clone(),
            stop: ctx.stop.clone(),
            metrics: ctx.metrics.clone(),
            partitions,
            in_flight: BTreeMap::new(),
            reported_bytes: 0,
            pacer: setup.rate.map(Pacer::new),
            // Paced, at most about a tenth of a second of messages per poll, so they arrive smoothly.
            per_poll: setup.rate.map_or(MESSAGES_PER_ACTIVATION, |r| {
                ((r / 10.0) as usize).clamp(1, MESSAGES_PER_ACTIVATION)
            }),
        }
    }

    /// The instance's id for the job watermark.
    fn id(&self) -> (u32, u32, usize) {
        (self.source_index, u32::MAX, self.worker)
    }

    /// Lets go: this worker no longer bounds the source, nor the job watermark.
    fn finish(&mut self) {
        {
            let mut b = self.bounds.lock();
            let n = b.len();
            b[self.worker % n] = None;
        }
        self.checkpoints.publish_frontier(self.id(), None);
    }

    /// Polls the partitions in watermark order (back-pressured), into one message batch per partition.
    fn poll(&mut self, waiting: u64) -> (usize, Vec<i32>, BTreeMap<i32, MessageBatch>) {
        let mut batches = BTreeMap::new();
        let Some(r) = self.reader.as_mut() else {
            return (0, Vec::new(), batches);
        };
        if waiting > self.max_in_flight {
            return (0, Vec::new(), batches);
        }
        // Lowest next logical time first; over the limit, only those at the lowest.
        let mut order: Vec<(Time, i32)> = self
            .partitions
            .iter()
            .map(|(p, s)| (s.next_time(self.ooo), *p))
            .collect();
        order.sort_unstable();
        let total: u64 = self.in_flight.values().sum();
        if total > self.max_in_flight {
            let lowest = order[0].0;
            order.retain(|(t, _)| *t == lowest);
        }
        let order: Vec<i32> = order.into_iter().map(|(_, p)| p).collect();
        let outcome = r.poll(&order, self.per_poll, BYTES_PER_ACTIVATION, &mut batches);
        if let Some(p) = self.pacer.as_mut() {
            p.account(outcome.messages as u64);
        }
        (outcome.messages, outcome.ended, batches)
    }

    /// Decodes and stamps one partition's messages, at no time below `cap`.
    fn stamp(&mut self, p: i32, b: MessageBatch, cap: Time, now: Instant) -> (Time, SharedBatch) {
        let decoded = DecodedChunk::decode_messages(&mut self.decoder, b.raw.into(), &b.ranges, b.offsets);
        let state = self.partitions.get_mut(&p).expect("own partition");
        let place = MessagePlace {
            source: self.source_index,
            partition: p as u32,
            prefix_max: state.max_ts,
            max_out_of_orderness_ms: self.ooo,
            floor: cap,
            future: self.future.as_ref(),
            resume_log: self.logs.get(&p).map(|l| &**l),
        };
        let mut stamped = stamp_messages(decoded, place);
        state.max_ts = state.max_ts.max(stamped.chunk.max_ts);
        state.last_data = now;
        if let Some(at) = self.skip_below {
            stamped.drop_before(at);
        }
        self.metrics.chunk_decoded(&self.name, &stamped.chunk);
        let t = stamped.first_logical_time().max(cap);
        *self.in_flight.entry(t).or_default() += stamped.chunk.lines;
        (t, Arc::new(stamped.into_batch()))
    }

    /// The least time this worker's capability may move to: its active partitions' least next time, or
    /// with all idle, the least of the other workers of this source.
    fn lower_bound(&self, cap: Time, now: Instant) -> Option<Time> {
        let active = self
            .partitions
            .values()
            .filter(|s| self.idle_timeout.is_none_or(|d| now.duration_since(s.last_data) < d))
            .map(|s| s.next_time(self.ooo))
            .min();
        let mut b = self.bounds.lock();
        let n = b.len();
        b[self.worker % n] = active.map(|t| t.max(cap));
        // All idle: follow the other workers of this source, if any is active.
        active.or_else(|| b.iter().flatten().min().copied())
    }
}

impl SourceLogic for KafkaSource {
    fn step(&mut self, cap: Option<Time>) -> Step {
        if self.stop.aborted() || self.partitions.is_empty() {
            self.finish();
            return Step::Stopped;
        }
        let Some(cap) = cap else { return Step::Idle };
        if self.reader.is_none() {
            return Step::Idle;
        }
        // Back-pressure: retire what the end of the dataflow has passed.
        match self.probe.with_frontier(|f| f.iter().min().copied()) {
            Some(p) => self.in_flight = self.in_flight.split_off(&p),
            None => self.in_flight.clear(),
        }
        let waiting: u64 = self.in_flight.range(..cap).map(|(_, n)| n).sum();
        // Paced: what was read is not due yet; come back then rather than sleep (the worker goes on).
        let pacing = self
            .pacer
            .as_ref()
            .and_then(|p| p.due().checked_duration_since(Instant::now()));
        let (polled, ended, polled_batches) = if pacing.is_none() {
            self.poll(waiting)
        } else {
            (0, Vec::new(), BTreeMap::new())
        };

        let now = Instant::now();
        let batches = polled_batches
            .into_iter()
            .map(|(p, b)| self.stamp(p, b, cap, now))
            .collect();
        let r = self.reader.as_mut().expect("reader");
        let bytes = r.bytes_read();
        Metrics::add(&self.metrics.bytes_read, bytes - self.reported_bytes);
        self.reported_bytes = bytes;

        let mut ends = Vec::new();
        for p in ended {
            if let Some(state) = self.partitions.remove(&p) {
                let end = (self.source_index, p as u32, state.max_ts.map(|m| m.saturating_sub(self.ooo)));
                ends.push(Arc::new(Batch::end_of_partition(end)));
                r.release(p);
            }
        }
        if self.partitions.is_empty() {
            self.finish();
            return Step::Going {
                batches,
                ends,
                finished: true,
                lower_bound: None,
                wake: Wake::default(),
            };
        }
        let next = self.lower_bound(cap, now).filter(|t| *t > cap);
        // Published before the downgrade: checkpoints rely on no capability being above what is known.
        self.checkpoints.publish_frontier(self.id(), Some(next.unwrap_or(cap)));
        let wake = match pacing {
            Some(wait) => Wake { now: false, after: Some(wait) },
            None if polled > 0 => Wake { now: true, after: None },
            None => Wake { now: false, after: Some(POLL_AGAIN) },
        };
        Step::Going {
            batches,
            ends,
            finished: false,
            lower_bound: next,
            wake,
        }
    }
}
