//! Stamping a chunk of offset-addressed messages — a Kafka partition's, an ingest log's — the one way both
//! sources do it: after the partition's largest event time so far, at no time below the source's capability,
//! with the `max_future` rule applied and the chunk's resume point logged for checkpoints.

use crate::checkpoint::{ResumeLog, ResumePoint};
use crate::chunk::{DecodedChunk, StampedChunk};
use crate::record::Time;
use crate::sequencer::FutureBound;

/// Where a decoded chunk of messages sits: its source and partition, the partition's largest event time
/// before it, and the least time it may be given.
pub struct MessagePlace<'a> {
    pub source: u32,
    pub partition: u32,
    pub prefix_max: Option<i64>,
    pub max_out_of_orderness_ms: i64,
    pub floor: Time,
    pub future: Option<&'a FutureBound>,
    /// With checkpoints: the partition's resume log.
    pub resume_log: Option<&'a ResumeLog>,
}

/// Stamps `chunk` at `place` (logging where a restore would resume for it).
pub fn stamp_messages(chunk: DecodedChunk, place: MessagePlace) -> StampedChunk {
    let mut stamped = StampedChunk {
        source: place.source,
        partition: place.partition,
        line_base: 0,
        prefix_max: place.prefix_max,
        max_out_of_orderness_ms: place.max_out_of_orderness_ms,
        floor: Some(place.floor as i64),
        chunk,
    };
    if let Some(bound) = place.future {
        stamped.reject_future(bound);
    }
    if let (Some(log), Some(&first)) = (place.resume_log, stamped.chunk.offsets.first()) {
        let point = ResumePoint {
            position: first,
            line_base: 0,
            max_before: place.prefix_max,
        };
        log.record(first, stamped.first_logical_time(), point);
    }
    stamped
}
