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

use crate::checkpoint::{ResumeLog, ResumePoint};
use crate::chunk::{DecodedChunk, StampedChunk};
use crate::connectors::kafka::reader::{KafkaPartitionReader, MessageBatch};
use crate::dataflow::pace::Pacer;
use crate::dataflow::{RunContext, Time};
use crate::decode::Decoder;
use crate::metrics::Metrics;
use crate::record::RecordStream;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::dataflow::operators::generic::operator::source;
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

pub fn kafka_source<'s>(scope: Scope<'s, Time>, setup: KafkaSourceSetup, ctx: RunContext) -> RecordStream<'s> {
    let KafkaSourceSetup {
        name,
        source_index,
        reader,
        mut decoder,
        max_out_of_orderness_ms: ooo,
        future,
        idle_timeout,
        max_in_flight,
        rate,
        bounds,
        probe,
        resumed,
        logs,
    } = setup;
    let skip_below = resumed.as_ref().map(|(t, _)| *t);
    source(scope, &format!("KafkaSource({name})"), move |capability, info| {
        let activator = scope.activator_for(info.address.clone());
        let worker = scope.worker().index();
        let id = (source_index, u32::MAX, worker);
        let mut cap = Some(capability);
        let mut reader = reader;
        let now = Instant::now();
        let mut partitions: BTreeMap<i32, PartitionState> = reader
            .iter()
            .flat_map(|r| r.partitions())
            .map(|p| {
                (
                    p,
                    PartitionState {
                        max_ts: resumed.as_ref().and_then(|(_, m)| m.get(&p).copied().flatten()),
                        last_data: now,
                    },
                )
            })
            .collect();
        // Records emitted per time, not yet passed by the probe.
        let mut in_flight: BTreeMap<Time, u64> = BTreeMap::new();
        let mut reported_bytes = 0u64;
        let mut pacer = rate.map(Pacer::new);
        // Paced, at most about a tenth of a second of messages per poll, so they arrive smoothly.
        let per_poll = rate.map_or(MESSAGES_PER_ACTIVATION, |r| {
            ((r / 10.0) as usize).clamp(1, MESSAGES_PER_ACTIVATION)
        });
        move |output| {
            let finish = |cap: &mut Option<_>| {
                *cap = None;
                {
                    let mut b = bounds.lock();
                    let n = b.len();
                    b[worker % n] = None;
                }
                ctx.publish_frontier(id, None);
            };
            if ctx.aborted() || partitions.is_empty() {
                finish(&mut cap);
                return;
            }
            let Some(c) = cap.as_mut() else { return };
            let Some(r) = reader.as_mut() else { return };

            // Back-pressure: retire what the end of the dataflow has passed.
            let probe_at = probe.with_frontier(|f| f.iter().min().copied());
            match probe_at {
                Some(p) => in_flight = in_flight.split_off(&p),
                None => in_flight.clear(),
            }
            let waiting: u64 = in_flight.range(..*c.time()).map(|(_, n)| n).sum();
            let mut polled = 0;
            let mut ended = Vec::new();
            let mut batches: BTreeMap<i32, MessageBatch> = BTreeMap::new();
            // Paced: what was read is not due yet; come back then rather than sleep (the worker goes on).
            let pacing = pacer
                .as_ref()
                .and_then(|p| p.due().checked_duration_since(Instant::now()));
            if waiting <= max_in_flight && pacing.is_none() {
                // Lowest next logical time first; over the limit, only those at the lowest.
                let mut order: Vec<(Time, i32)> = partitions.iter().map(|(p, s)| (s.next_time(ooo), *p)).collect();
                order.sort_unstable();
                let total: u64 = in_flight.values().sum();
                if total > max_in_flight {
                    let lowest = order[0].0;
                    order.retain(|(t, _)| *t == lowest);
                }
                let order: Vec<i32> = order.into_iter().map(|(_, p)| p).collect();
                let outcome = r.poll(&order, per_poll, BYTES_PER_ACTIVATION, &mut batches);
                polled = outcome.messages;
                ended = outcome.ended;
                if let Some(p) = pacer.as_mut() {
                    p.account(polled as u64);
                }
            }

            let now = Instant::now();
            for (p, b) in batches {
                let decoded = DecodedChunk::decode_messages(&mut decoder, b.raw.into(), &b.ranges, b.offsets);
                let state = partitions.get_mut(&p).expect("own partition");
                let mut stamped = StampedChunk {
                    source: source_index,
                    partition: p as u32,
                    line_base: 0,
                    prefix_max: state.max_ts,
                    max_out_of_orderness_ms: ooo,
                    floor: Some(*c.time() as i64),
                    chunk: decoded,
                };
                if let Some(bound) = &future {
                    stamped.reject_future(bound);
                }
                if let (Some(log), Some(&first)) = (logs.get(&p), stamped.chunk.offsets.first()) {
                    let point = ResumePoint {
                        position: first,
                        line_base: 0,
                        max_before: state.max_ts,
                    };
                    log.record(first, stamped.first_logical_time(), point);
                }
                state.max_ts = state.max_ts.max(stamped.chunk.max_ts);
                state.last_data = now;
                if let Some(at) = skip_below {
                    stamped.drop_before(at);
                }
                ctx.metrics.chunk_decoded(&name, &stamped.chunk);
                let t = stamped.first_logical_time().max(*c.time());
                *in_flight.entry(t).or_default() += stamped.chunk.lines;
                output.session(&c.delayed(&t)).give(Arc::new(stamped.into_batch()));
            }
            let bytes = r.bytes_read();
            Metrics::add(&ctx.metrics.bytes_read, bytes - reported_bytes);
            reported_bytes = bytes;

            for p in ended {
                if let Some(state) = partitions.remove(&p) {
                    let end = (source_index, p as u32, state.max_ts.map(|m| m.saturating_sub(ooo)));
                    output
                        .session(&*c)
                        .give(Arc::new(crate::record::Batch::end_of_partition(end)));
                    r.release(p);
                }
            }
            if partitions.is_empty() {
                finish(&mut cap);
                return;
            }

            let active = partitions
                .values()
                .filter(|s| idle_timeout.is_none_or(|d| now.duration_since(s.last_data) < d))
                .map(|s| s.next_time(ooo))
                .min();
            let bound = {
                let mut b = bounds.lock();
                let n = b.len();
                b[worker % n] = active.map(|t| t.max(*c.time()));
                // All idle: follow the other workers of this source, if any is active.
                active.or_else(|| b.iter().flatten().min().copied())
            };
            // Published before the downgrade: checkpoints rely on no capability being above what is known.
            let next = bound.filter(|t| t > c.time());
            ctx.publish_frontier(id, Some(next.unwrap_or(*c.time())));
            if let Some(t) = next {
                c.downgrade(&t);
            }
            if let Some(wait) = pacing {
                activator.activate_after(wait);
            } else if polled > 0 {
                activator.activate();
            } else {
                activator.activate_after(POLL_AGAIN);
            }
        }
    })
}
