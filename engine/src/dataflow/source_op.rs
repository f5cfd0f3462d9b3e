//! The source operator: reads chunks, decodes them, and emits them once stamped, with timely capabilities
//! that never run ahead of the logical time of anything still to come.
//!
//! Several workers may decode chunks of the same partition in parallel (files), coordinated by a
//! [`ChunkSequencer`]. A worker's capability is the lowest logical time any of its future chunks can have:
//! `max(event times known before its next chunk) − max_out_of_orderness`, clamped at 0.

use crate::chunk::RawBytes;
use crate::chunk::{DecodedChunk, StampedChunk};
use crate::dataflow::{RunContext, Time};
use crate::decode::Decoder;
use crate::metrics::Metrics;
use crate::record::RecordStream;
use crate::sequencer::{ChunkSequencer, ChunkSummary, FutureBound};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use timely::dataflow::operators::generic::operator::source;
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

pub fn chunk_source<'s>(scope: Scope<'s, Time>, setup: SourceSetup, ctx: RunContext) -> RecordStream<'s> {
    let SourceSetup {
        name,
        source_index,
        partition,
        mut reader,
        mut decoder,
        sequencer,
        max_out_of_orderness_ms: ooo,
        future,
        probe,
        max_in_flight,
        resumed,
    } = setup;
    let skip_below = resumed.map(|(t, _)| t);
    source(scope, &format!("Source({name})"), move |capability, info| {
        let activator = scope.activator_for(info.address.clone());
        let worker_index = scope.worker().index();
        sequencer.register(scope.worker().sync_activator_for(info.address.to_vec()));
        ctx.wake_on_stop(scope.worker().sync_activator_for(info.address.to_vec()));
        let mut cap = Some(capability);
        let mut pending: BTreeMap<u64, DecodedChunk> = BTreeMap::new();
        let mut exhausted = false;
        let mut reported_bytes = 0u64;
        // Largest valid event time among the chunks this worker decoded.
        let mut own_max: Option<i64> = resumed.and_then(|(_, m)| m);
        // Records emitted per time, not yet passed by the probe.
        let mut in_flight: BTreeMap<Time, u64> = BTreeMap::new();
        move |output| {
            if ctx.aborted() {
                cap = None;
                ctx.publish_frontier((source_index, partition, worker_index), None);
                return;
            }
            let Some(c) = cap.as_mut() else { return };
            let mut progressed = false;
            // Back-pressure: retire what the end of the dataflow has passed; over the limit, read nothing
            // new until it catches up (chunks already read are still stamped, so other workers never wait).
            match probe.with_frontier(|f| f.iter().min().copied()) {
                Some(p) => in_flight = in_flight.split_off(&p),
                None => in_flight.clear(),
            }
            // Only records below this operator's own capability count: the later ones wait for it.
            let paused = in_flight.range(..*c.time()).map(|(_, n)| n).sum::<u64>() > max_in_flight;
            let mut budget = if paused { 0 } else { CHUNKS_PER_ACTIVATION };
            // A paced reader's next chunk not yet due: come back then.
            let mut pacing = false;
            while !exhausted && pending.len() < MAX_PENDING && budget > 0 {
                if let Some(wait) = reader
                    .ready_at()
                    .and_then(|at| at.checked_duration_since(Instant::now()))
                {
                    activator.activate_after(wait);
                    pacing = true;
                    break;
                }
                match reader.next_chunk() {
                    Ok(Some((k, bytes))) => {
                        let byte_start = match &bytes {
                            crate::chunk::RawBytes::Read { start, .. } => *start,
                            crate::chunk::RawBytes::Owned(_) => 0,
                        };
                        let decoded = DecodedChunk::decode(&mut decoder, bytes);
                        sequencer.publish(
                            k,
                            ChunkSummary {
                                lines: decoded.lines,
                                max_ts: decoded.max_ts,
                                byte_start,
                                event_times: future.map(|_| decoded.records.iter().map(|r| r.ts).collect()),
                            },
                        );
                        pending.insert(k, decoded);
                        budget -= 1;
                        progressed = true;
                    }
                    Ok(None) => exhausted = true,
                    Err(e) => {
                        ctx.fail(super::JobFailure::SourceRead {
                            source_name: name.clone(),
                            cause: e.to_string(),
                        });
                        cap = None;
                        return;
                    }
                }
            }
            let bytes = reader.bytes_read();
            Metrics::add(&ctx.metrics.bytes_read, bytes - reported_bytes);
            reported_bytes = bytes;

            while let Some((&k, _)) = pending.first_key_value() {
                let Some(prefix) = sequencer.take_prefix(k) else {
                    break;
                };
                let chunk = pending.remove(&k).expect("pending chunk");
                let mut stamped = StampedChunk {
                    source: source_index,
                    partition,
                    line_base: prefix.line_base,
                    prefix_max: prefix.max_before,
                    max_out_of_orderness_ms: ooo,
                    floor: None,
                    chunk,
                };
                if let Some(bound) = &future {
                    stamped.reject_future(bound);
                }
                own_max = own_max.max(stamped.chunk.max_ts);
                if let Some(at) = skip_below {
                    stamped.drop_before(at);
                }
                ctx.metrics.chunk_decoded(&name, &stamped.chunk);
                let t = stamped.first_logical_time().max(*c.time());
                *in_flight.entry(t).or_default() += stamped.chunk.records.len() as u64;
                output.session(&c.delayed(&t)).give(Arc::new(stamped.into_batch()));
                progressed = true;
            }

            if exhausted && pending.is_empty() {
                let end = (source_index, partition, own_max.map(|m| m.saturating_sub(ooo)));
                output
                    .session(&*c)
                    .give(Arc::new(crate::record::Batch::end_of_partition(end)));
                ctx.publish_frontier((source_index, partition, worker_index), None);
                cap = None;
                return;
            }
            let next = pending.first_key_value().map_or(reader.next_index(), |(k, _)| *k);
            let bound = logical_time(sequencer.known_max_before(next).map(|m| m.saturating_sub(ooo)));
            // Published before the downgrade: checkpoints rely on no capability being above what is known.
            ctx.publish_frontier((source_index, partition, worker_index), Some(bound.max(*c.time())));
            if bound > *c.time() {
                c.downgrade(&bound);
            }
            // Blocked on chunks other workers decode: the sequencer wakes us when they are published.
            if paused {
                activator.activate_after(std::time::Duration::from_millis(1));
            } else if progressed || (!exhausted && pending.len() < MAX_PENDING && !pacing) {
                activator.activate();
            }
        }
    })
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
