//! Connectors: one folder per external system, holding everything weir does with it — its source, sink and
//! table kinds (each a typed config with defaults and a component impl), their I/O, their timely operators
//! where a kind needs its own, and their unit tests.
//!
//! | folder | source | sink | table |
//! |---|---|---|---|
//! | `file` | JSONL files, read in parallel chunks | | a JSONL/CSV file, re-read when it changes |
//! | `generator` | the built-in workloads | | |
//! | `kafka` | a topic's partitions | alerts and changelogs | a compacted topic |
//! | `jsonl` | | a JSONL file | |
//! | `parquet` | | a Parquet dataset | |
//! | `stdout` | | standard output | |
//! | `webhook` | | an HTTP endpoint per alert | |
//! | `postgres` | | | a PostgreSQL query |

pub mod file;
pub mod generator;
pub mod jsonl;
pub mod kafka;
pub mod parquet;
pub mod postgres;
pub mod stdout;
pub mod webhook;
