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

pub mod checkpoint;
pub mod chunk;
pub mod component;
pub mod config;
pub mod connectors;
pub mod dataflow;
pub mod decode;
pub mod error;
pub mod expr;
pub mod lock;
pub mod metrics;
pub mod operators;
pub mod plan;
pub mod publish;
pub mod record;
pub mod report;
pub mod runtime;
pub mod sched;
pub mod schema;
pub mod sequencer;
pub mod serve;
pub mod table;
pub mod views;
pub mod words;

pub use dataflow::RunContext;
pub use runtime::{run, run_with_views, view_store, RunError, RunOptions, RunSummary};
