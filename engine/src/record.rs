//! Typed records as they flow between the operators of a job, in batches.
//!
//! A [`Record`] is a row of [`Value`]s in its stream's schema order plus what the deterministic order needs:
//! its [`Position`] (logical time first), a `seq` ranking the outputs one step produced, its event time and
//! its arrival watermark (for window lateness). Records travel in shared [`Batch`]es: a stream read by
//! several operators hands each the same batch instead of copying records, and a batch cut from a source
//! chunk keeps that chunk alive so a dead letter can still show the record's raw bytes.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::sync::Arc;
use weir_operators::{alert_id, Position, Value};

/// Logical time: epoch milliseconds.
pub type Time = u64;

/// A record's field values, in schema order (inline up to six fields: the typical event).
pub type Row = smallvec::SmallVec<[Value; 6]>;

/// One typed record and its place in the deterministic order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub pos: Position,
    /// Rank among the records one step produced at the same position (0 for source records).
    pub seq: u32,
    /// Event time, epoch milliseconds.
    pub ts: i64,
    /// Arrival watermark (DESIGN's lateness rule reads it); `None` before any valid record.
    pub awm: Option<i64>,
    pub values: Row,
    /// Index of the record's line in its batch's source chunk (`u32::MAX`: not from a source line).
    pub line: u32,
}

/// No source line behind a record.
pub const NO_LINE: u32 = u32::MAX;

impl Record {
    /// A record an operator produced at `pos` (its logical time is also its arrival watermark).
    pub fn derived(pos: Position, seq: u32, ts: i64, values: Row) -> Record {
        Record {
            pos,
            seq,
            ts,
            awm: Some(pos.lt as i64),
            values,
            line: NO_LINE,
        }
    }

    /// The record's place and times with no values (for an operator that builds new values for it).
    pub fn clone_header(&self) -> Record {
        Record {
            pos: self.pos,
            seq: self.seq,
            ts: self.ts,
            awm: self.awm,
            values: Row::new(),
            line: self.line,
        }
    }

    /// The record's logical time.
    pub fn lt(&self) -> Time {
        self.pos.lt
    }

    /// The deterministic output order: position, then rank, then the values themselves (so records of two
    /// workers at the same position still order the same way in every run).
    pub fn order(&self, other: &Record) -> Ordering {
        self.pos
            .cmp(&other.pos)
            .then(self.seq.cmp(&other.seq))
            .then_with(|| cmp_rows(&self.values, &other.values))
    }
}

/// Compares two rows value by value in [`Value::total_cmp`] order.
pub fn cmp_rows(a: &[Value], b: &[Value]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = x.total_cmp(y);
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// Records of one stream that travel together, all at logical times at or after the batch's timely time.
#[derive(Debug, Default)]
pub struct Batch {
    pub records: Vec<Record>,
    /// The source chunk the records were read from, if they were (for their raw bytes).
    pub origin: Option<Arc<dyn BatchOrigin>>,
    /// Set on the (record-less) batch a source operator sends as it lets go of a partition: how the
    /// partition ended ([`PartitionEnd`]), sent at the operator's last capability.
    pub ended: Option<PartitionEnd>,
}

/// A source operator instance let go of a partition: `(source, partition, final arrival watermark)` (`None`:
/// no valid record). Carried in the source's stream so that it crosses processes like any data, and so that
/// nothing downstream sees the frontier pass the point where it was sent before it arrived.
pub type PartitionEnd = (u32, u32, Option<i64>);

/// What a batch of source records was read from (a stamped source chunk): the raw bytes of its lines, and
/// its malformed lines, for dead letters. The record model names only this; the chunk implements it.
pub trait BatchOrigin: Send + Sync + std::fmt::Debug {
    /// The raw bytes of a record's line (see [`Record::line`]).
    fn raw_line(&self, line: u32) -> Option<&[u8]>;
    /// Calls `f` with the position, reason and raw bytes of each malformed line, in order.
    fn for_each_malformed(&self, f: &mut dyn FnMut(Position, &str, &[u8]));
}

impl Batch {
    pub fn new(records: Vec<Record>, origin: Option<Arc<dyn BatchOrigin>>) -> Batch {
        Batch {
            records,
            origin,
            ended: None,
        }
    }

    /// The record-less batch that says a partition ended (see [`Batch::ended`]).
    pub fn end_of_partition(end: PartitionEnd) -> Batch {
        Batch {
            records: Vec::new(),
            origin: None,
            ended: Some(end),
        }
    }

    /// The raw bytes a record was decoded from, if it came from a source line.
    pub fn raw(&self, r: &Record) -> Option<&[u8]> {
        self.origin.as_ref()?.raw_line(r.line)
    }
}

/// The fixed fields of an alert (its id is derived from them).
pub struct AlertHead<'a> {
    pub job: &'a str,
    pub kind: &'a str,
    pub severity: &'a str,
    pub key: &'a str,
    pub event_time: i64,
}

/// An alert as a record of [`crate::schema::Schema::alerts`] at `pos` (rank `seq`): the fixed fields, then the rule's
/// `fields`.
pub fn alert_record(pos: Position, seq: u32, head: AlertHead, fields: impl IntoIterator<Item = Value>) -> Record {
    let AlertHead {
        job,
        kind,
        severity,
        key,
        event_time,
    } = head;
    let mut values: Row = [
        Value::Str(alert_id(job, kind, key, event_time).into()),
        Value::Str(kind.into()),
        Value::Str(severity.into()),
        Value::Str(key.into()),
        Value::Int(event_time),
        Value::Str(job.into()),
    ]
    .into_iter()
    .collect();
    values.extend(fields);
    Record::derived(pos, seq, event_time, values)
}

/// What streams carry: shared batches.
pub type SharedBatch = Arc<Batch>;

/// A typed record stream in a dataflow scope.
pub type RecordStream<'s> = timely::dataflow::Stream<'s, Time, Vec<SharedBatch>>;
