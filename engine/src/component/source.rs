//! The source role: a kind that brings records into the job graph (files, generated workloads, Kafka).
//!
//! A source is built in two steps. [`SourceComponent::prepare`] runs once per process before the workers
//! start and makes what the workers of that process share (a file partition's chunk sequencer, a Kafka
//! topic's partition count and positions); [`PreparedSource::build`] then builds one worker's operators.

use crate::checkpoint::{Checkpoint, Coordinator};
use crate::chunk::RunOptions;
use crate::dataflow::{RunContext, Time};
use crate::error::{BuildError, RunError};
use crate::record::RecordStream;
use crate::schema::Schema;
use std::sync::Arc;
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::Scope;

#[derive(Clone, Debug)]
pub struct SourcePlan {
    pub name: String,
    /// The source's kind and parameters.
    pub component: Arc<dyn SourceComponent>,
    pub schema: Schema,
    pub max_out_of_orderness_ms: i64,
    /// Longer records (lines, messages) are dead letters.
    pub max_record_bytes: usize,
    /// `max_future`: a record more than this far ahead of its arrival watermark is a dead letter (and does
    /// not move the watermark).
    pub max_future_ms: Option<i64>,
}

impl SourcePlan {
    /// The `max_future` rule, if the source has one.
    pub fn future_bound(&self) -> Option<crate::sequencer::FutureBound> {
        self.max_future_ms.map(|max_future_ms| crate::sequencer::FutureBound {
            max_out_of_orderness_ms: self.max_out_of_orderness_ms,
            max_future_ms,
        })
    }

    /// A decoder of this source's records.
    pub fn decoder(&self) -> crate::decode::Decoder {
        crate::decode::Decoder::new(self.schema.clone()).with_max_record_bytes(self.max_record_bytes)
    }

    /// Source operator instances per worker (partitions with their own watermark).
    pub fn instances_per_worker(&self) -> usize {
        self.component.instances_per_worker()
    }
}

/// What a source's per-process preparation gets.
pub struct SourcePrepareContext<'p> {
    pub source: &'p SourcePlan,
    /// The source's index in the plan (its id in watermarks and checkpoints).
    pub index: usize,
    /// Workers of the job.
    pub workers: usize,
    /// The checkpoint the run resumed from.
    pub restored: Option<&'p Arc<Checkpoint>>,
    pub coordinator: &'p Coordinator,
    pub ctx: &'p RunContext,
}

/// What one worker's build of a source gets.
pub struct SourceBuildContext<'s, 'p> {
    pub scope: Scope<'s, Time>,
    pub source: &'p SourcePlan,
    /// The source's index in the plan.
    pub index: usize,
    /// This worker's index and the number of workers (over all processes).
    pub worker: (usize, usize),
    /// This process's index and the number of processes (`(0, 1)` without a cluster).
    pub process: (usize, usize),
    pub options: &'p RunOptions,
    /// The checkpoint the run resumed from.
    pub restored: Option<&'p Arc<Checkpoint>>,
    /// What the sinks have consumed (a source may bound what it has in flight against it).
    pub probe: &'p ProbeHandle<Time>,
    pub ctx: &'p RunContext,
}

/// One source kind.
pub trait SourceComponent: std::fmt::Debug + Send + Sync + 'static {
    /// The kind's name in job definitions.
    fn kind(&self) -> &'static str;

    /// Whether its client library can take the whole process down (librdkafka on a topic deleted under
    /// it): `weir run` then runs the job under a supervisor that names the crash and restarts from the
    /// last checkpoint.
    fn may_crash_process(&self) -> bool {
        false
    }

    /// Where it reads and how the workers share it, for `weir explain`.
    fn describe(&self, workers: usize) -> String;

    /// What its checkpointed positions depend on (compared on restore; a change refuses the checkpoint).
    fn shape(&self) -> String;

    /// Whether the input ends by itself (a file, a generator, a Kafka source with `stop_at_end`); a job with
    /// one that does not runs until it is stopped, and its file sinks show their output as they go.
    fn ends(&self) -> bool {
        true
    }

    /// Fields the kind adds to the declared schema (an MQTT source's `topic_field`).
    fn added_fields(&self) -> Vec<crate::schema::Field> {
        Vec::new()
    }

    /// Whether it keeps what it receives under the checkpoint directory (an ingest log), so the job must
    /// checkpoint.
    fn needs_checkpoints(&self) -> bool {
        false
    }

    /// Whether it takes `POST /v1/ingest/NAME` on `[serve]`, so the job must serve.
    fn served(&self) -> bool {
        false
    }

    /// Partitions with their own watermark, per worker (a file source's files; 1 otherwise).
    fn instances_per_worker(&self) -> usize {
        1
    }

    /// Checks, before anything runs, that the input can be read; gives its size in bytes when known.
    fn preflight(&self, _name: &str) -> Result<Option<u64>, RunError> {
        Ok(None)
    }

    /// Prepares what the workers of this process share (may wait for a broker).
    fn prepare(&self, cx: SourcePrepareContext) -> Result<Arc<dyn PreparedSource>, RunError>;
}

/// A source ready to be built on each worker of the process.
pub trait PreparedSource: Send + Sync {
    fn build<'s>(&self, cx: SourceBuildContext<'s, '_>) -> Result<RecordStream<'s>, BuildError>;
}

/// The process that reads file partition `partition` of every file source.
pub fn partition_owner(partition: usize, processes: usize) -> usize {
    partition % processes.max(1)
}
