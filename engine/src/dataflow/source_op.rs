//! The source operator: reads chunks, decodes them, and emits them once stamped, with timely capabilities
//! that never run ahead of the logical time of anything still to come.
//!
//! Several workers may decode chunks of the same partition in parallel (files), coordinated by a
//! [`ChunkSequencer`]. A worker's capability is the lowest logical time any of its future chunks can have:
//! `max(event times known before its next chunk) − max_out_of_orderness`, clamped at 0.

use crate::chunk::RawBytes;
use crate::chunk::{DecodedChunk, StampedChunk};
use crate::dataflow::source_step::{source_operator, SourceLogic, Step, Wake};
use crate::dataflow::{Checkpoints, JobFailure, RunContext, Stopping, Time};
use crate::decode::Decoder;
use crate::metrics::Metrics;
use crate::record::{Batch, RecordStream, SharedBatch};
use crate::sequencer::{ChunkSequencer, ChunkSummary, FutureBound};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::Scope;
use weir_operators::logical_time;

/// Chunks decoded ahead of stamping, per worker.
const MAX_PENDING: usize = 4;
/// Records a chunk source operator may have emitted beyond what the sinks have consumed before it pauses.
pub const MAX_IN_FLIGHT: u64 = 500_000;
/// Chunks read per activation, so downstream operators on this worker get their turn.
const CHUNKS_PER_ACTIVATION: usize = 2;

/// Everything one worker's source operator needs.
pub struct SourceSetup {
    pub name: String,
    pub source_index: u32,
    /// The partition this operator reads (a file source's files are its partitions).
    pub partition: u32,
    pub reader: Box<dyn ChunkReader>,
    pub decoder: Decoder,
    pub sequencer: Arc<ChunkSequencer>,
    pub max_out_of_orderness_ms: i64,
    /// `max_future`, if set.
    pub future: Option<FutureBound>,
    /// What the sinks have consumed, and how many records this operator may have emitted beyond it before it
    /// pauses (an operator that holds records back — a join waiting for its table — must not make the
    /// source buffer the whole input in it).
    pub probe: ProbeHandle<Time>,
    pub max_in_flight: u64,
    /// After a restore: the checkpoint's logical time (records below it are dropped; see
    /// [`StampedChunk::drop_before`]) and the largest event time before the resume point.
    pub resumed: Option<(Time, Option<i64>)>,
}

/// Builds one worker's source operator over `setup` (a [`ChunkSource`] in the shared shell).
pub fn chunk_source<'s>(scope: Scope<'s, Time>, setup: SourceSetup, ctx: RunContext) -> RecordStream<'s> {
    let name = format!("Source({})", setup.name);
    source_operator(scope, &name, move |activator, worker| {
        setup.sequencer.register(activator());
        ctx.stop.wake_on_stop(activator());
        ChunkSource::new(setup, worker, &ctx)
    })
}

/// One worker's reading of one partition, a step per activation: read and decode chunks, stamp those the
/// sequencer has placed, and say how low the operator's capability must stay.
struct ChunkSource {
    name: String,
    source_index: u32,
    partition: u32,
    worker_index: usize,
    reader: Box<dyn ChunkReader>,
    decoder: Decoder,
    sequencer: Arc<ChunkSequencer>,
    ooo: i64,
    future: Option<FutureBound>,
    probe: ProbeHandle<Time>,
    max_in_flight: u64,
    /// After a restore: records below this logical time were in the checkpoint.
    skip_below: Option<Time>,
    stop: Stopping,
    checkpoints: Checkpoints,
    metrics: Arc<Metrics>,
    /// Chunks decoded, not yet stamped (waiting for their place in the partition).
    pending: BTreeMap<u64, DecodedChunk>,
    exhausted: bool,
    reported_bytes: u64,
    /// Largest valid event time among the chunks this worker decoded.
    own_max: Option<i64>,
    /// Records emitted per time, not yet passed by the probe.
    in_flight: BTreeMap<Time, u64>,
}

impl SourceLogic for ChunkSource {
    fn step(&mut self, cap: Option<Time>) -> Step {
        if self.stop.aborted() {
            self.checkpoints.publish_frontier(self.instance(), None);
            return Step::Stopped;
        }
        let Some(cap) = cap else { return Step::Idle };
        // Back-pressure: retire what the end of the dataflow has passed; over the limit, read nothing new
        // until it catches up (chunks already read are still stamped, so other workers never wait).
        match self.probe.with_frontier(|f| f.iter().min().copied()) {
            Some(p) => self.in_flight = self.in_flight.split_off(&p),
            None => self.in_flight.clear(),
        }
        // Only records below this operator's own capability count: the later ones wait for it.
        let paused = self.in_flight.range(..cap).map(|(_, n)| n).sum::<u64>() > self.max_in_flight;
        let read = match self.read(if paused { 0 } else { CHUNKS_PER_ACTIVATION }) {
            Ok(read) => read,
            Err(e) => {
                self.stop.fail(JobFailure::SourceRead {
                    source_name: self.name.clone(),
                    cause: e.to_string(),
                });
                return Step::Stopped;
            }
        };
        let bytes = self.reader.bytes_read();
        Metrics::add(&self.metrics.bytes_read, bytes - self.reported_bytes);
        self.reported_bytes = bytes;

        let batches = self.stamp_placed(cap);
        let progressed = read.decoded > 0 || !batches.is_empty();
        if self.exhausted && self.pending.is_empty() {
            let end = (
                self.source_index,
                self.partition,
                self.own_max.map(|m| m.saturating_sub(self.ooo)),
            );
            self.checkpoints.publish_frontier(self.instance(), None);
            return Step::Going {
                batches,
                ends: vec![Arc::new(Batch::end_of_partition(end))],
                finished: true,
                lower_bound: None,
                wake: Wake::default(),
            };
        }
        let next = self
            .pending
            .first_key_value()
            .map_or(self.reader.next_index(), |(k, _)| *k);
        let bound = logical_time(
            self.sequencer
                .known_max_before(next)
                .map(|m| m.saturating_sub(self.ooo)),
        );
        // Published before the downgrade: checkpoints rely on no capability being above what is known.
        self.checkpoints.publish_frontier(self.instance(), Some(bound.max(cap)));
        // Blocked on chunks other workers decode: the sequencer wakes us when they are published.
        let wake = Wake {
            now: !paused
                && (progressed || (!self.exhausted && self.pending.len() < MAX_PENDING && read.pacing.is_none())),
            after: if paused {
                Some(Duration::from_millis(1))
            } else {
                read.pacing
            },
        };
        Step::Going {
            batches,
            ends: Vec::new(),
            finished: false,
            lower_bound: Some(bound),
            wake,
        }
    }
}

impl ChunkSource {
    fn new(setup: SourceSetup, worker_index: usize, ctx: &RunContext) -> Self {
        Self {
            name: setup.name,
            source_index: setup.source_index,
            partition: setup.partition,
            worker_index,
            reader: setup.reader,
            decoder: setup.decoder,
            sequencer: setup.sequencer,
            ooo: setup.max_out_of_orderness_ms,
            future: setup.future,
            probe: setup.probe,
            max_in_flight: setup.max_in_flight,
            skip_below: setup.resumed.map(|(t, _)| t),
            stop: ctx.stop.clone(),
            checkpoints: ctx.checkpoints.clone(),
            metrics: ctx.metrics.clone(),
            pending: BTreeMap::new(),
            exhausted: false,
            reported_bytes: 0,
            own_max: setup.resumed.and_then(|(_, m)| m),
            in_flight: BTreeMap::new(),
        }
    }

    fn instance(&self) -> (u32, u32, usize) {
        (self.source_index, self.partition, self.worker_index)
    }

    /// Reads and decodes up to `budget` chunks (fewer when enough are pending or the reader is paced).
    fn read(&mut self, mut budget: usize) -> std::io::Result<Read> {
        let mut read = Read::default();
        while !self.exhausted && self.pending.len() < MAX_PENDING && budget > 0 {
            if let Some(wait) = self
                .reader
                .ready_at()
                .and_then(|at| at.checked_duration_since(Instant::now()))
            {
                read.pacing = Some(wait);
                break;
            }
            match self.reader.next_chunk()? {
                Some((k, bytes)) => {
                    let byte_start = match &bytes {
                        RawBytes::Read { start, .. } => *start,
                        RawBytes::Owned(_) => 0,
                    };
                    let decoded = DecodedChunk::decode(&mut self.decoder, bytes);
                    self.sequencer.publish(
                        k,
                        ChunkSummary {
                            lines: decoded.lines,
                            max_ts: decoded.max_ts,
                            byte_start,
                            event_times: self.future.map(|_| decoded.records.iter().map(|r| r.ts).collect()),
                        },
                    );
                    self.pending.insert(k, decoded);
                    budget -= 1;
                    read.decoded += 1;
                }
                None => self.exhausted = true,
            }
        }
        Ok(read)
    }

    /// Stamps the pending chunks whose place in the partition the sequencer knows, in chunk order, each at
    /// its first record's logical time (never below `cap`).
    fn stamp_placed(&mut self, cap: Time) -> Vec<(Time, SharedBatch)> {
        let mut batches = Vec::new();
        while let Some((&k, _)) = self.pending.first_key_value() {
            let Some(prefix) = self.sequencer.take_prefix(k) else {
                break;
            };
            let chunk = self.pending.remove(&k).expect("pending chunk");
            let mut stamped = StampedChunk {
                source: self.source_index,
                partition: self.partition,
                line_base: prefix.line_base,
                prefix_max: prefix.max_before,
                max_out_of_orderness_ms: self.ooo,
                floor: None,
                chunk,
            };
            if let Some(bound) = &self.future {
                stamped.reject_future(bound);
            }
            self.own_max = self.own_max.max(stamped.chunk.max_ts);
            if let Some(at) = self.skip_below {
                stamped.drop_before(at);
            }
            self.metrics.chunk_decoded(&self.name, &stamped.chunk);
            let t = stamped.first_logical_time().max(cap);
            *self.in_flight.entry(t).or_default() += stamped.chunk.records.len() as u64;
            batches.push((t, Arc::new(stamped.into_batch())));
        }
        batches
    }
}

/// What one [`ChunkSource::read`] did.
#[derive(Default)]
struct Read {
    decoded: usize,
    /// A paced reader's next chunk is not due for this long.
    pacing: Option<Duration>,
}

/// A partition another process reads (cluster mode): no chunks here.
pub struct NoChunks;

impl ChunkReader for NoChunks {
    fn next_chunk(&mut self) -> std::io::Result<Option<(u64, RawBytes)>> {
        Ok(None)
    }
    fn next_index(&self) -> u64 {
        0
    }
    fn bytes_read(&self) -> u64 {
        0
    }
}

/// Produces the chunks one worker is responsible for, in increasing chunk index.
pub trait ChunkReader {
    /// The next chunk `(index, bytes)`, or `None` when this worker has no more.
    fn next_chunk(&mut self) -> std::io::Result<Option<(u64, RawBytes)>>;
    /// The index of the next chunk this worker will produce (for progress lower bounds).
    fn next_index(&self) -> u64;
    /// Bytes produced so far by this reader.
    fn bytes_read(&self) -> u64;
    /// For a paced reader: not before when the next chunk may be read. The source operator waits by asking
    /// to be scheduled again then, never by sleeping, so its worker goes on exchanging data and progress.
    fn ready_at(&self) -> Option<std::time::Instant> {
        None
    }
}
