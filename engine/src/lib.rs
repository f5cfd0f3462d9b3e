//! The weir runtime: event time on timely dataflow, sources that read and decode in parallel, and sinks that
//! write deterministic output.
//!
//! The crate is built in layers, each importing only from its own layer or lower ones (a test,
//! `tests/layers.rs`, keeps it so; no kind imports another, no module cycle):
//!
//! 1. foundation — [`error`], [`record`], [`schema`], [`words`];
//! 2. codecs and state — [`config`], [`expr`], [`decode`], [`chunk`], [`sequencer`], [`checkpoint`],
//!    [`metrics`], [`views`], [`table`], [`report`], [`sched`];
//! 3. dataflow machinery — [`dataflow`]: the kind-agnostic timely operators;
//! 4. component contract — [`component`]: the traits a kind implements and the registry's types;
//! 5. kinds — [`connectors`] (one folder per external system) and [`operators`] (one per operator kind),
//!    each module's `KINDS` the registry;
//! 6. [`plan`] — the job graph;
//! 7. runtime — [`runtime`], [`serve`], [`lock`], [`publish`].
//!
//! **The public face** is what the CLI (`weir-jobs`), the tests and the benchmarks use: the [`plan`], the
//! [`component`] contract and its registry, the kinds ([`kinds`]), the options reader ([`config`]),
//! [`schema`], the [`error`]s, and running a plan ([`run`], [`preflight`], [`RunContext`], …, re-exported
//! here). Every other module is `pub(crate)`.

// The docs describe the layers inside the crate as well as its public face: read them with
// `cargo doc --document-private-items`, where these links resolve.
#![allow(rustdoc::private_intra_doc_links)]

// The public face: what the CLI (`weir-jobs`), the tests and the benchmarks use — the plan and its parts,
// the registry and the contract a kind implements, the options reader, errors, and running a plan. The
// rest is the engine's own.
pub mod component;
pub mod config;
pub mod error;
pub mod plan;
pub mod schema;

pub(crate) mod checkpoint;
pub(crate) mod chunk;
pub(crate) mod connectors;
pub(crate) mod dataflow;
pub(crate) mod decode;
pub(crate) mod expr;
pub(crate) mod ingest;
pub(crate) mod lock;
pub(crate) mod metrics;
pub(crate) mod objects;
pub(crate) mod operators;
pub(crate) mod publish;
pub(crate) mod record;
pub(crate) mod report;
pub(crate) mod runtime;
pub(crate) mod sched;
pub(crate) mod sequencer;
pub(crate) mod serve;
pub(crate) mod table;
pub(crate) mod views;
pub(crate) mod words;

/// The kinds this build knows, one registry line each: read by the planner through
/// [`component::registry`].
pub mod kinds {
    pub use crate::connectors::KINDS as CONNECTORS;
    pub use crate::operators::KINDS as OPERATORS;
}

pub use checkpoint::CheckpointConfig;
pub use connectors::file::source::FileChunkReader;
pub use connectors::generator::{GeneratorReader, GeneratorSpec, Workload, DEFAULT_START_MS as GENERATOR_START_MS};
pub use connectors::stdout::StdoutSink;
pub use dataflow::source_op::ChunkReader;
pub use dataflow::RunContext;
pub use decode::DEFAULT_MAX_RECORD_BYTES;
pub use lock::{lock_outputs, InstanceLock};
pub use metrics::Metrics;
pub use publish::{publish, PublishOptions, PublishReport};
pub use runtime::{
    joining_cluster, open_checkpoints, preflight, run, run_with_views, view_store, RunError, RunOptions, RunSummary,
};
pub use sched::{prefer_latency, prefer_realtime};
pub use serve::HttpServer;
