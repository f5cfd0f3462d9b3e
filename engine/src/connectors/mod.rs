//! Connectors: one folder per external system, holding everything weir does with it — its source, sink and
//! table kinds (each a typed config with defaults and a component impl), their I/O, their timely operators
//! where a kind needs its own, and their unit tests.
//!
//! [`KINDS`] is the registry: one line per connector declares its folder and the kinds it registers (name,
//! role, options reader). Adding a connector is its folder and that line; nothing else names a kind.

use crate::component::registry::{Kind, Role};

/// Declares each connector's folder and registers its kinds: a connector is one line here.
macro_rules! connectors {
    ($($folder:ident: [$($kind:literal => $role:ident($parse:path)),* $(,)?];)*) => {
        $(pub mod $folder;)*

        /// Every connector kind: its name in job definitions, its role and its options reader.
        pub const KINDS: &[Kind] = &[$($(($kind, Role::$role($parse))),*),*];
    };
}

connectors! {
    file: ["file" => Source(file::config::source), "file" => Table(file::config::table)];
    generator: ["generator" => Source(generator::config::source)];
    kafka: ["kafka" => Source(kafka::config::source), "kafka" => Sink(kafka::config::sink), "kafka" => Table(kafka::config::table)];
    http: ["http" => Source(http::config::source), "http" => Table(http::config::table)];
    jsonl: ["jsonl" => Sink(jsonl::sink)];
    mqtt: ["mqtt" => Source(mqtt::config::source)];
    null: ["null" => Sink(null::sink)];
    parquet: ["parquet" => Sink(parquet::config::sink), "delta" => Sink(parquet::config::delta)];
    postgres: ["postgres" => Table(postgres::config::table), "postgres" => Sink(postgres::config::sink)];
    stdout: ["stdout" => Sink(stdout::sink)];
    webhook: ["webhook" => Sink(webhook::config::sink)];
}
