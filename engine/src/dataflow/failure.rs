//! Why a running job failed: the first fatal error any worker, sink thread or the checkpoint writer hit,
//! as data the runtime returns (`RunError::Failed`) instead of a panic.

use std::sync::Arc;

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
    Build(Arc<crate::runtime::BuildError>),
}
