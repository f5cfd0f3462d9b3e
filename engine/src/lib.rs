//! The weir runtime: event time on timely dataflow, sources that read and decode in parallel, and sinks that
//! write deterministic output.
//!
//! - [`schema`], [`decode`], [`chunk`], [`sequencer`]: from bytes to stamped records.
//! - [`source`]: files and built-in generators as chunk readers.
//! - [`dataflow`]: the timely operators.
//! - [`sink`]: Parquet, JSONL and stdout writers.
//! - [`table`]: reference tables (files, compacted topics, PostgreSQL) that joins look records up in.
//! - [`plan`], [`runtime`]: what to run and running it.

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
