//! The resolved, validated shape of a job as the runtime executes it.
//!
//! `weir-jobs` turns a job definition (TOML) into a [`Plan`]: names resolved to indices, durations to
//! milliseconds, field names to schema positions. The runtime trusts a plan; all user-facing validation
//! happens before one is built.

use crate::schema::Schema;
use crate::source::generator::GeneratorSpec;
use std::path::PathBuf;
use weir_operators::value::ValueType;
use weir_operators::{AggregateSpec, WindowSpec};

/// A whole job.
#[derive(Clone, Debug)]
pub struct Plan {
    pub job_name: String,
    pub workers: usize,
    pub sources: Vec<SourcePlan>,
    pub operators: Vec<OperatorPlan>,
    pub sinks: Vec<SinkPlan>,
    pub serve: Option<ServePlan>,
    /// `[job.checkpoint]`: `None` when the job does not checkpoint.
    pub checkpoint: Option<crate::checkpoint::CheckpointConfig>,
}

#[derive(Clone, Debug)]
pub struct SourcePlan {
    pub name: String,
    pub kind: SourceKind,
    pub schema: Schema,
    pub max_out_of_orderness_ms: i64,
}

impl SourcePlan {
    /// Source operator instances per worker: one per file (each file is a partition), one otherwise (a
    /// Kafka source's worker reads its share of the topic's partitions).
    pub fn instances_per_worker(&self) -> usize {
        match &self.kind {
            SourceKind::File { paths, .. } => paths.len(),
            _ => 1,
        }
    }
}

#[derive(Clone, Debug)]
pub enum SourceKind {
    /// One partition per file, in this order.
    File {
        paths: Vec<PathBuf>,
        /// Replay at most this many lines per second per file.
        rate: Option<f64>,
    },
    Generator(GeneratorSpec),
    Kafka(crate::source::kafka::KafkaSourceSpec),
}

/// A stream a sink (or operator) can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamRef {
    /// Malformed records of source `i` (`NAME.dead_letters`).
    DeadLetters(usize),
    /// The main output of operator `i`.
    Output(usize),
    /// Late records of window operator `i` (`NAME.late`).
    Late(usize),
    /// Alerts webhook sink `i` could not deliver (`NAME.failed`).
    SinkFailures(usize),
}

#[derive(Clone, Debug)]
pub struct OperatorPlan {
    pub name: String,
    /// The source whose records this operator reads.
    pub source: usize,
    pub kind: OperatorKind,
}

#[derive(Clone, Debug)]
pub enum OperatorKind {
    Window(WindowPlan),
    Threshold(ThresholdPlan),
    DeliveryAlerts(DeliveryPlan),
    Latest(LatestPlan),
}

/// A live view of the newest record per key, served over HTTP under the operator's name.
#[derive(Clone, Debug)]
pub struct LatestPlan {
    pub key: usize,
    /// The field and values that make a record terminal (for `expiry.ttl_ms`).
    pub terminal: Option<(usize, Vec<String>)>,
    pub expiry: weir_operators::Expiry,
}

/// The HTTP server of a job (`[serve]`).
#[derive(Clone, Debug)]
pub struct ServePlan {
    pub listen: String,
}

/// The delivery rules (DESIGN §4) per order, by schema index of the fields they read.
#[derive(Clone, Debug)]
pub struct DeliveryPlan {
    pub key: usize,
    pub state: usize,
    pub deliverer: usize,
    pub lat: usize,
    pub lon: usize,
    pub rules: weir_operators::delivery::DeliveryRules,
}

/// A keyed event-time window aggregation.
#[derive(Clone, Debug)]
pub struct WindowPlan {
    pub window: WindowSpec,
    pub allowed_lateness_ms: i64,
    /// Schema indices of the key fields.
    pub key: Vec<usize>,
    /// Schema indices of fields carried into the output (from the first record of each window).
    pub carry: Vec<usize>,
    /// Schema indices of the fields aggregates read; `AggregateSpec::input` indexes this list.
    pub values: Vec<usize>,
    pub aggregates: Vec<AggregateSpec>,
    pub row_schema: RowSchema,
}

/// The columns of a window operator's rows (after `window_start`, `window_end`).
#[derive(Clone, Debug, PartialEq)]
pub struct RowSchema {
    pub columns: Vec<(String, ValueType)>,
}

/// Per-key threshold alerts with suppression.
#[derive(Clone, Debug)]
pub struct ThresholdPlan {
    pub key: Vec<usize>,
    pub field: usize,
    pub above: f64,
    pub cooldown_ms: i64,
    pub alert_kind: String,
    pub severity: String,
    /// Fields copied into each alert, by schema index, with their names.
    pub fields: Vec<(String, usize)>,
}

#[derive(Clone, Debug)]
pub struct SinkPlan {
    pub name: String,
    pub kind: SinkKind,
    pub inputs: Vec<StreamRef>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionBy {
    Hour,
    Date,
    None,
}

#[derive(Clone, Debug)]
pub enum SinkKind {
    Parquet {
        path: PathBuf,
        partition_by: PartitionBy,
        max_rows_per_file: usize,
        /// Roll a file once the watermark is this far (event time) past its first row's window.
        max_file_age_ms: Option<i64>,
        row_group_rows: usize,
    },
    Jsonl {
        path: PathBuf,
    },
    Stdout,
    Webhook(crate::sink::webhook::WebhookConfig),
    Kafka(crate::sink::kafka::KafkaSinkSpec),
}

impl Plan {
    /// The operator feeding a parquet sink (validation guarantees exactly one window operator).
    pub fn window_of(&self, input: StreamRef) -> Option<&WindowPlan> {
        match input {
            StreamRef::Output(i) => match &self.operators[i].kind {
                OperatorKind::Window(w) => Some(w),
                _ => None,
            },
            _ => None,
        }
    }
}
