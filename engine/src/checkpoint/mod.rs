//! Consistent checkpoints: what one holds, how it is taken, and how a run resumes from it.
//!
//! **The cut is a logical time.** Within a partition logical time never decreases (it is the arrival
//! watermark), so "every record with logical time `< T`" is a *prefix* of every partition. A checkpoint at
//! `T` is the state the job has after applying exactly those records, and the outputs it has written are
//! exactly the lines whose position is below `T` — nothing else, whatever the worker count or timing:
//! - ordered operators apply records with logical time `< f` and fire windows and timers due `< f` when their
//!   frontier reaches `f`; a participant whose frontier jumps past a pending `T` first acts on `T` exactly,
//!   snapshots, then goes on ([`coordinator::Participant`]);
//! - sinks write the lines below their frontier in position order, so at `T` they have written the lines
//!   below `T` and record their position (file length, Kafka offsets and output sequence number, Parquet
//!   files staged and rows buffered);
//! - each partition resumes at a chunk it had started before `T` (its byte offset or Kafka offset, line
//!   number and the event-time maximum before it — see [`resume`]), and the records below `T` that the chunk
//!   still holds are dropped when it is read again.
//!
//! **Alignment without pausing.** The coordinator picks `T` = the least capability any source instance has
//! published. Sources publish a new capability *before* downgrading to it, so when `T` is announced no
//! source holds a capability above it and no operator can have acted past it; sources never stop reading.
//! A participant hands in a *copy* of its state; when every participant of every worker has, the
//! coordinator reads the partitions' resume points and a writer thread encodes and stores the checkpoint ([`store`]: temp file, fsync, rename, checksum,
//! the last N kept), then publishes the Parquet files it covers (two-phase commit).
//!
//! **Restore.** State parts are per old worker; every new worker merges them and keeps the keys routed to it
//! (the same hash timely's exchange uses), so a checkpoint restores at any worker count. Sinks skip the
//! regenerated lines that the crashed run had already written after the checkpoint (they are identical:
//! output is deterministic), checking that they match. A job whose state-relevant definition changed is
//! refused with the differences ([`shape`]).

pub mod coordinator;
pub mod resume;
pub mod shape;
pub mod store;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use coordinator::{Coordinator, Participant};
pub use resume::{ResumeLog, ResumePoint};

/// `[job.checkpoint]`.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointConfig {
    pub dir: PathBuf,
    pub interval: Duration,
    /// Completed checkpoints kept on disk (the newest ones).
    pub keep: usize,
}

/// A sink's participant name in checkpoints: `sinks.NAME` (an operator may have the sink's name; their
/// parts must not mix).
pub fn sink_state_name(sink: &str) -> String {
    format!("sinks.{sink}")
}

/// What a participant (operator or sink instance) contributes to a checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Part {
    /// The participant's state, `bincode`-encoded; empty when it has none.
    pub state: Vec<u8>,
    /// Files to publish (temp → final name) once the checkpoint is durable.
    pub commits: Vec<(PathBuf, PathBuf)>,
}

/// A participant's part as handed in: its state may still be a copy to encode, which the writer thread does
/// (so a large state costs the worker a clone, not the encoding).
pub struct Contribution {
    pub state: Box<dyn FnOnce() -> Vec<u8> + Send>,
    pub commits: Vec<(PathBuf, PathBuf)>,
}

impl Contribution {
    /// A part whose state is a copy of `state`, encoded later.
    pub fn of<S: Serialize + Clone + Send + 'static>(state: &S) -> Self {
        let copy = state.clone();
        Self {
            state: Box::new(move || encode(&copy)),
            commits: Vec::new(),
        }
    }

    /// An empty part (a sink instance without a writer).
    pub fn empty() -> Self {
        Self {
            state: Box::new(Vec::new),
            commits: Vec::new(),
        }
    }

    /// Encodes the state: the part as stored.
    pub fn into_part(self) -> Part {
        Part {
            state: (self.state)(),
            commits: self.commits,
        }
    }
}

/// A completed checkpoint as stored on disk.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    pub job: String,
    pub epoch: u64,
    /// The logical time of the cut (the job watermark it was taken at).
    pub at: u64,
    /// Written after the input ended: nothing is left to resume.
    pub finished: bool,
    /// Identifies the run a chain of checkpoints belongs to (new on a fresh start); Kafka sinks mark their
    /// messages with it.
    pub run_id: u64,
    pub workers: usize,
    pub created_ms: i64,
    /// The state-relevant parts of the job definition (`Plan::shape`).
    pub shape: BTreeMap<String, String>,
    /// Per source name, per partition: where it resumes.
    pub sources: BTreeMap<String, BTreeMap<u32, ResumePoint>>,
    /// Per participant name: its part on each worker of the run that took it.
    pub parts: BTreeMap<String, Vec<Part>>,
}

impl Checkpoint {
    /// The state parts of participant `name`, one per old worker (empty ones left out).
    pub fn states(&self, name: &str) -> Vec<&[u8]> {
        self.parts
            .get(name)
            .map(|v| v.iter().map(|p| p.state.as_slice()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    /// The state parts of sink `sink` (stored as [`sink_state_name`]).
    pub fn sink_states(&self, sink: &str) -> Vec<&[u8]> {
        self.states(&sink_state_name(sink))
    }

    /// Where partition `partition` of source `source` resumes (its start when not recorded).
    pub fn resume_point(&self, source: &str, partition: u32) -> ResumePoint {
        self.sources
            .get(source)
            .and_then(|m| m.get(&partition))
            .cloned()
            .unwrap_or_default()
    }
}

/// Encodes a state for a [`Part`].
pub fn encode<T: Serialize>(state: &T) -> Vec<u8> {
    bincode::serialize(state).expect("operator state is serializable")
}

/// Decodes a state written by [`encode`].
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    bincode::deserialize(bytes).map_err(|e| e.to_string())
}
