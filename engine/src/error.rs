//! The engine's errors, at the bottom of its layers so every layer can return them: why a worker could not
//! build its dataflow ([`BuildError`]), why a running job failed ([`JobFailure`], kept as data and returned
//! instead of a panic: the first fatal error any worker, sink thread or the checkpoint writer hit), and why a
//! job could not run to the end ([`RunError`]).

use std::path::PathBuf;
use std::sync::Arc;

/// Why a worker could not build its dataflow.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("source `{source_name}`: cannot read `{path}`: {cause}")]
    Input {
        source_name: String,
        path: std::path::PathBuf,
        cause: std::io::Error,
    },
    #[error("source `{source_name}`: {cause}")]
    Kafka { source_name: String, cause: String },
    #[error("sink `{sink}`: cannot write to `{path}`: {cause}")]
    Output {
        sink: String,
        path: std::path::PathBuf,
        cause: std::io::Error,
    },
    #[error("sink `{sink}`: {cause}")]
    Sink { sink: String, cause: String },
    #[error("`{name}`: the checkpoint's state cannot be read: {cause}")]
    Restore { name: String, cause: String },
}

/// A fatal error inside a running job.
#[derive(Clone, Debug, thiserror::Error)]
pub enum JobFailure {
    #[error("source `{source_name}`: read failed: {cause}")]
    SourceRead { source_name: String, cause: String },
    #[error("sink `{sink}`: {cause}")]
    SinkWrite { sink: String, cause: String },
    #[error("sink `{sink}`: delivery to Kafka topic `{topic}` failed: {cause}")]
    KafkaDelivery { sink: String, topic: String, cause: String },
    #[error("`{name}`: the checkpoint's state cannot be read: {cause}")]
    Restore { name: String, cause: String },
    #[error("{0}")]
    Checkpoint(String),
    #[error(
        "operator `{operator}`: more than {limit} windows open at once on one worker (keys × windows per record); \
         check the key and the window's size and slide, or raise max_open_windows"
    )]
    TooManyWindows { operator: String, limit: usize },
    #[error(
        "operator `{operator}`: emit_empty would write more than {limit} empty windows at once (the watermark \
         jumped far ahead, e.g. a record far in the future); use a larger window or leave emit_empty off"
    )]
    TooManyEmptyWindows { operator: String, limit: i64 },
    #[error("the HTTP server on {addr} ended: {cause}")]
    Http { addr: std::net::SocketAddr, cause: String },
    #[error("cluster: {0}")]
    Cluster(String),
    #[error("table `{table}`: {cause}")]
    Table { table: String, cause: String },
    #[error(transparent)]
    Build(Arc<BuildError>),
}

/// Why a job could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("source `{source_name}`: cannot read `{path}`: {cause}")]
    Input {
        source_name: String,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("sink `{sink}`: cannot write to `{path}`: {cause}")]
    Output {
        sink: String,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("source `{source_name}`: {cause}")]
    Source { source_name: String, cause: String },
    #[error("sink `{sink}`: {cause}")]
    Sink { sink: String, cause: String },
    #[error("table `{table}`: {cause}")]
    Table { table: String, cause: String },
    #[error(transparent)]
    Failed(JobFailure),
    /// Stopped (SIGINT/SIGTERM) while waiting for a broker, before anything was read.
    #[error("stopped while waiting for {0}")]
    StoppedBeforeStart(String),
    #[error(
        "the newest checkpoint in `{dir}` (checkpoint {epoch}) was taken after the input ended: the job is \
         finished. Run with --fresh to start over (its checkpoints are then deleted)"
    )]
    Finished { dir: PathBuf, epoch: u64 },
    #[error(
        "cannot resume from checkpoint {epoch} in `{dir}`: the job definition changed in a way its state \
         depends on:\n  - {}\nRevert these changes, or run with --fresh to start over without the checkpoint's \
         state", changes.join("\n  - ")
    )]
    IncompatibleCheckpoint {
        dir: PathBuf,
        epoch: u64,
        changes: Vec<String>,
    },
    #[error("checkpoints in `{dir}`: {cause}")]
    Checkpoint { dir: PathBuf, cause: std::io::Error },
    #[error("timely runtime: {0}")]
    Runtime(String),
}
