//! The table role (re-exported by `crate::component`): a kind that reads a reference table (files, compacted Kafka topics, PostgreSQL) for
//! `join` operators to look records up in.
//!
//! A table kind only *reads*: [`TableComponent::open`] makes a [`TableReader`], which the runtime calls on a
//! thread of its own every `interval`. What a read means — versions, deletions, how far the table is known
//! — is decided in one place for every kind ([`crate::table::TableHistory`]).

use crate::error::RunError;
use crate::schema::Schema;
use crate::table::{TableError, TableRead};
use std::sync::Arc;
use std::time::Duration;

/// `[tables.NAME]`: a keyed, versioned reference table.
#[derive(Clone, Debug)]
pub struct TablePlan {
    pub name: String,
    /// The table's kind and parameters.
    pub component: Arc<dyn TableComponent>,
    /// The row's fields; `event_time` is the version field (or `NO_EVENT_TIME`).
    pub schema: Schema,
    /// The primary key's fields (schema indices, in key order; one or more).
    pub key: Vec<usize>,
    /// The field whose value is a row's version time.
    pub version: Option<usize>,
    /// How long after its version time a version may still be written (the table's watermark stays this
    /// far behind its reads).
    pub max_out_of_orderness_ms: i64,
    /// `lookup = "latest"`: joins look records up in the newest version read when they are processed,
    /// without waiting for the table to be known at their event time (results then depend on timing).
    pub lookup_latest: bool,
}

/// One table kind.
pub trait TableComponent: std::fmt::Debug + Send + Sync + 'static {
    /// The kind's name in job definitions.
    fn kind(&self) -> &'static str;

    /// Whether its client library can take the whole process down (librdkafka on a topic deleted under
    /// it): `weir run` then runs the job under a supervisor that names the crash and restarts from the
    /// last checkpoint.
    fn may_crash_process(&self) -> bool {
        false
    }

    /// Where it reads, for `weir explain`.
    fn describe(&self) -> String;

    /// How long between two reads.
    fn interval(&self) -> Duration;

    /// Checks, before anything runs, that the table can be read (the file exists, the database answers).
    fn preflight(&self, name: &str, schema: &Schema) -> Result<(), RunError> {
        self.open(schema)
            .and_then(|mut r| r.check())
            .map_err(|cause| RunError::Table {
                table: name.to_string(),
                cause: cause.to_string(),
            })
    }

    /// A reader of the table's rows in `schema`.
    fn open(&self, schema: &Schema) -> Result<Box<dyn TableReader>, TableError>;
}

/// Reads one table, again and again.
pub trait TableReader: Send {
    /// One read: the rows found (all of them, or what changed, as the read says).
    fn read(&mut self) -> Result<TableRead, TableError>;

    /// Whether the table can be read at all (run once before the job starts).
    fn check(&mut self) -> Result<(), TableError>;
}

/// Wall-clock now, epoch ms.
pub fn now_ms() -> i64 {
    crate::checkpoint::coordinator::now_ms()
}

/// A table kind's `interval` option: how often it is read (`default_ms` when absent).
pub fn read_interval(s: &crate::config::Section, default_ms: i64) -> Duration {
    let ms = s.duration_ms("interval").unwrap_or(default_ms);
    if ms <= 0 {
        s.problem("interval", "must be positive, e.g. \"10s\"");
    }
    Duration::from_millis(ms.max(1) as u64)
}
