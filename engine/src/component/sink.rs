//! The sink role: a kind that writes streams of the job graph somewhere outside it (files, Kafka, HTTP).
//!
//! Sinks are built last on every worker; only worker 0's instance writes (`cx.writes`), so output does not
//! depend on the worker count — except file sinks, whose file groups are spread over the workers by a route
//! that does not depend on the count either. A sink whose position is checkpointed restores it from `cx.restored_state()`.

use crate::checkpoint::Checkpoint;
use crate::component::WindowTiming;
use crate::dataflow::render::{render_lines, MessageFields};
use crate::dataflow::sink_op::JobEnd;
use crate::dataflow::{Line, RunContext, Time};
use crate::error::{BuildError, RunError};
use crate::record::RecordStream;
use crate::schema::Schema;
use std::path::Path;
use std::sync::Arc;
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::{Concatenate, Probe};
use timely::dataflow::{Scope, Stream};

/// What a sink's once-per-process preparation gets.
pub struct SinkPrepareContext<'p> {
    /// The sink's name.
    pub name: &'p str,
    /// The job's name.
    pub job: &'p str,
    /// The job's checkpoint directory (`None`: it does not checkpoint).
    pub checkpoint_dir: Option<&'p Path>,
    /// Whether the run was asked to stop meanwhile.
    pub stopped: &'p dyn Fn() -> bool,
    /// The checkpoint the run resumes from.
    pub restored: Option<&'p Arc<Checkpoint>>,
    /// `--accept-topic-reset`.
    pub accept_topic_reset: bool,
}

/// What one worker's build of a sink gets.
pub struct SinkBuildContext<'s, 'p> {
    pub scope: Scope<'s, Time>,
    /// The sink's name (its state's name in checkpoints).
    pub name: &'p str,
    /// The job's name (a database sink's progress is kept under it).
    pub job: &'p str,
    /// Its input streams with their schemas, in `inputs` order.
    pub inputs: Vec<(RecordStream<'s>, Schema)>,
    /// If the first input is a window operator's rows: the window.
    pub window: Option<WindowTiming>,
    /// Whether this worker's instance writes (worker 0); the others only pass progress on.
    pub writes: bool,
    /// Whether the job runs until it is stopped (a source does not end by itself): without checkpoints a
    /// file sink then shows its output as it goes instead of publishing it at the end.
    pub live: bool,
    /// The checkpoint the run resumed from.
    pub restored: Option<&'p Arc<Checkpoint>>,
    /// Every record a sink consumes must pass this probe (sources measure what is in flight against it).
    pub probe: &'p ProbeHandle<Time>,
    /// Ends when every source and operator stream has: a sink publishes its output only then.
    pub job_end: &'p JobEnd<'s>,
    pub ctx: &'p RunContext,
}

impl<'s> SinkBuildContext<'s, '_> {
    /// Whether the job checkpoints (outputs are then written in two phases).
    pub fn checkpoints(&self) -> bool {
        self.ctx.checkpoints.coordinator().enabled()
    }

    /// The sink's state in the checkpoint the run resumed from (worker 0's part), if any.
    pub fn restored_state<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, BuildError> {
        let Some(c) = self.restored else { return Ok(None) };
        match c.sink_states(self.name).first() {
            Some(bytes) => crate::checkpoint::decode(bytes)
                .map(Some)
                .map_err(|e| BuildError::Restore {
                    name: self.name.to_string(),
                    cause: e.to_string(),
                }),
            None => Ok(None),
        }
    }

    /// Every input encoded as lines (JSON in schema order; `message` picks Kafka key/headers per schema),
    /// merged into one stream that passes the probe.
    pub fn lines(&self, message: impl Fn(&Schema) -> Option<MessageFields>) -> Stream<'s, Time, Vec<Line>> {
        let encoded: Vec<_> = self
            .inputs
            .iter()
            .enumerate()
            .map(|(i, (records, schema))| render_lines(records.clone(), schema.clone(), i as u32, message(schema)))
            .collect();
        self.scope.concatenate(encoded).probe_with(self.probe)
    }

    /// Maps an I/O error on `path` to this sink's build error.
    pub fn output_error(&self, path: &Path) -> impl FnOnce(std::io::Error) -> BuildError {
        let (sink, path) = (self.name.to_string(), path.to_path_buf());
        move |cause| BuildError::Output { sink, path, cause }
    }
}

/// One sink kind.
pub trait SinkComponent: std::fmt::Debug + Send + Sync + 'static {
    /// The kind's name in job definitions.
    fn kind(&self) -> &'static str;

    /// Whether its client library can take the whole process down (librdkafka on a topic deleted under
    /// it): `weir run` then runs the job under a supervisor that names the crash and restarts from the
    /// last checkpoint.
    fn may_crash_process(&self) -> bool {
        false
    }

    /// The file or directory the sink writes (`None`: it writes no local files); two sinks may not share one.
    fn path(&self) -> Option<&Path> {
        None
    }

    /// The object-storage URL the sink writes under (`s3://bucket/prefix`), if it writes to one; two sinks may
    /// not share one or nest.
    fn object_url(&self) -> Option<&str> {
        None
    }

    /// Whether [`path`](Self::path) names a directory the sink fills with files (else it is one file).
    fn path_is_directory(&self) -> bool {
        false
    }

    /// The directory that must be writable before the job starts.
    fn output_dir(&self) -> Option<&Path> {
        None
    }

    /// Whether the sink has a `NAME.failed` output (records it could not deliver); such sinks are built
    /// before the others, which may read that stream.
    fn has_failures(&self) -> bool {
        false
    }

    /// Whether the sink's position is part of checkpoints.
    fn checkpoints(&self) -> bool {
        true
    }

    /// How many checkpoint participants the sink has on each worker.
    fn participants(&self) -> usize {
        self.checkpoints() as usize
    }

    /// Whether it writes exactly one stream (its columns are that stream's fields).
    fn reads_one_stream(&self) -> bool {
        false
    }

    /// What the sink writes where, for `weir explain`.
    fn describe(&self, name: &str) -> String;

    /// The sink's options that decide what its checkpointed output means (e.g. a file layout), as
    /// `(option, value)` pairs: part of the job's shape, so a restore that changes one is refused.
    fn shape_details(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// Runs once per process before the workers start (e.g. creates a Kafka topic, checks that a restored
    /// position still exists).
    fn prepare(&self, _cx: SinkPrepareContext<'_>) -> Result<(), RunError> {
        Ok(())
    }

    /// Builds the sink on one worker; a sink with [`has_failures`](Self::has_failures) returns that stream.
    fn build<'s>(&self, cx: SinkBuildContext<'s, '_>) -> Result<Option<RecordStream<'s>>, BuildError>;
}
