//! `kind = "postgres"` under `[sinks]`: a stream's rows written into a PostgreSQL table, exactly once.
//!
//! **Modes.** `mode = "append"` inserts every row; `mode = "upsert"` with `key = [...]` keeps one row per key
//! (`INSERT … ON CONFLICT (key) DO UPDATE`; of several rows of one key in a batch the last wins, as it would
//! one by one).
//!
//! **The table.** Created when missing — a column per field (`bigint`, `double precision`, `text` for strings
//! and enums, `boolean`, `timestamptz` for timestamps, `bytea` for sketches; `NOT NULL` unless the field is
//! nullable; `PRIMARY KEY (key)` for upserts) — or checked when it exists: every field needs a column of its
//! type, and an upsert's key a unique index; every mismatch is named before the job starts.
//!
//! **Exactly once.** The sink's output is a deterministic sequence of rows (the order every line sink writes
//! in), so a position — how many of its rows are in the table — says what the table holds. Rows are sent in
//! batches (one `INSERT … SELECT … FROM json_array_elements($1)` per batch, not a statement per row), and
//! each commit carries the new position in the same transaction, in `weir_sink_progress (job, sink, epoch,
//! rows)`. A checkpoint records the position after its commit; a restored run (or a new run of the same
//! job) skips the rows the progress row says are already in, whichever checkpoint it resumes from. So
//! nothing is written twice and, since a checkpoint completes only once its rows are committed, nothing is
//! lost. Re-running a finished job without checkpoints therefore adds nothing; delete its progress row (and
//! its rows) to write again.
//!
//! `commit_rows` (default 50 000) bounds what is held between commits: rows are also committed whenever that
//! many are pending.
//!
//! **A stopped database.** A commit that fails for want of a connection is retried with backoff (up to 5 s
//! apart): a warning naming the sink on stderr and in `/healthz` until a commit succeeds, each try counted in
//! `weir_sink_retries` of `/metrics`; the dataflow waits meanwhile, and no row is dropped. An
//! error of the data (a constraint the table adds) fails the job with PostgreSQL's message. A job told to stop
//! meanwhile (SIGTERM) does not wait for the database: its final checkpoint holds the rows not yet committed
//! (`SinkPosition::RowsWaiting`), it exits 0, and the restored run commits them first.

use super::{quoted as column, quoted_name, redact};
use crate::dataflow::sink_op::{LineWriter, SinkPosition};
use crate::dataflow::{Line, RunContext};
use crate::schema::{FieldType, Schema};
use postgres::{Client, NoTls};
use std::io;
use std::time::Duration;

/// `kind = "postgres"` (sink).
#[derive(Clone, Debug)]
pub struct PostgresSink {
    /// A libpq-style connection string or `postgresql://` URL.
    pub url: String,
    /// The table, optionally schema-qualified (`analytics.rollups`).
    pub table: String,
    /// The key of an upsert (field names); empty: append.
    pub key: Vec<String>,
    /// A commit once this many rows are pending (besides one at every checkpoint and at the end).
    pub commit_rows: usize,
}

/// The progress table's definition.
const PROGRESS_DDL: &str = "CREATE TABLE IF NOT EXISTS weir_sink_progress (job text NOT NULL, sink text NOT NULL, \
                            epoch bigint NOT NULL, rows bigint NOT NULL, PRIMARY KEY (job, sink))";

/// At most this many rows per statement.
const BATCH_ROWS: usize = 5_000;

/// The column type a field is written as.
fn column_type(ty: &FieldType) -> &'static str {
    match ty {
        FieldType::Int => "bigint",
        FieldType::Float => "double precision",
        FieldType::String | FieldType::Enum(_) => "text",
        FieldType::Bool => "boolean",
        FieldType::Timestamp => "timestamp with time zone",
        FieldType::Sketch => "bytea",
    }
}

/// The SQL reading field `name` of type `ty` from the JSON row `r` (as the line sinks render it).
fn from_json(name: &str, ty: &FieldType) -> String {
    let text = format!("(r->>'{}')", name.replace('\'', "''"));
    match ty {
        FieldType::Int => format!("{text}::bigint"),
        FieldType::Float => format!("{text}::double precision"),
        FieldType::String | FieldType::Enum(_) => text,
        FieldType::Bool => format!("{text}::boolean"),
        FieldType::Timestamp => format!("'epoch'::timestamptz + {text}::bigint * interval '1 millisecond'"),
        FieldType::Sketch => format!("decode({text}, 'hex')"),
    }
}

impl PostgresSink {
    fn connect(&self) -> Result<Client, postgres::Error> {
        let mut config: postgres::Config = self.url.parse()?;
        config.connect_timeout(Duration::from_secs(5));
        config.connect(NoTls)
    }

    /// The connection string without its password.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }

    /// Creates the table (and the progress table) when missing, or names every way the existing one does not
    /// fit `schema`.
    pub fn prepare_table(&self, schema: &Schema) -> Result<(), String> {
        let mut db = self.connect().map_err(|e| super::describe(&e))?;
        db.batch_execute(PROGRESS_DDL).map_err(|e| super::describe(&e))?;
        let exists: bool = db
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&quoted_name(&self.table)])
            .map_err(|e| super::describe(&e))?
            .get(0);
        if !exists {
            let mut columns: Vec<String> = schema
                .fields
                .iter()
                .map(|f| {
                    let null = if f.nullable { "" } else { " NOT NULL" };
                    format!("{} {}{null}", column(&f.name), column_type(&f.ty))
                })
                .collect();
            if !self.key.is_empty() {
                let key: Vec<String> = self.key.iter().map(|k| column(k)).collect();
                columns.push(format!("PRIMARY KEY ({})", key.join(", ")));
            }
            let ddl = format!("CREATE TABLE {} ({})", quoted_name(&self.table), columns.join(", "));
            return db.batch_execute(&ddl).map_err(|e| super::describe(&e));
        }
        let rows = db
            .query(
                "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
                 WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
                &[&quoted_name(&self.table)],
            )
            .map_err(|e| super::describe(&e))?;
        let have: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let mut problems = Vec::new();
        for f in &schema.fields {
            let want = column_type(&f.ty);
            match have.iter().find(|(n, _)| *n == f.name) {
                None => problems.push(format!("it has no column `{}` ({want})", f.name)),
                Some((_, ty)) if ty != want => {
                    problems.push(format!("column `{}` is {ty}, the stream's field is {want}", f.name))
                }
                Some(_) => {}
            }
        }
        if !self.key.is_empty() {
            let unique: Vec<Vec<String>> = db
                .query(
                    "SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i \
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                     WHERE i.indrelid = to_regclass($1) AND i.indisunique GROUP BY i.indexrelid",
                    &[&quoted_name(&self.table)],
                )
                .map_err(|e| super::describe(&e))?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let mut key = self.key.clone();
            key.sort();
            if !unique.contains(&key) {
                problems.push(format!(
                    "an upsert needs a unique index on ({}): ALTER TABLE {} ADD PRIMARY KEY ({})",
                    self.key.join(", "),
                    self.table,
                    self.key.join(", ")
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("table `{}` does not fit the stream: {}", self.table, problems.join("; ")))
        }
    }

    /// The statement inserting one batch (`$1`: a JSON array of the rows as line sinks render them).
    fn insert_statement(&self, schema: &Schema) -> String {
        let names: Vec<String> = schema.fields.iter().map(|f| column(&f.name)).collect();
        let values: Vec<String> = schema.fields.iter().map(|f| from_json(&f.name, &f.ty)).collect();
        let table = quoted_name(&self.table);
        if self.key.is_empty() {
            return format!(
                "INSERT INTO {table} ({}) SELECT {} FROM json_array_elements($1::text::json) AS x(r)",
                names.join(", "),
                values.join(", ")
            );
        }
        // One row per key (the batch's last), as a row at a time would leave it.
        let key_text: Vec<String> = self
            .key
            .iter()
            .map(|k| format!("(r->>'{}')", k.replace('\'', "''")))
            .collect();
        let updates: Vec<String> = names.iter().map(|n| format!("{n} = EXCLUDED.{n}")).collect();
        let key_columns: Vec<String> = self.key.iter().map(|k| column(k)).collect();
        format!(
            "INSERT INTO {table} ({cols}) SELECT {cols} FROM (SELECT DISTINCT ON ({keys}) {values} \
             FROM json_array_elements($1::text::json) WITH ORDINALITY AS x(r, n) ORDER BY {keys}, n DESC) AS latest({cols}) \
             ON CONFLICT ({key}) DO UPDATE SET {updates}",
            cols = names.join(", "),
            keys = key_text.join(", "),
            values = values.join(", "),
            key = key_columns.join(", "),
            updates = updates.join(", ")
        )
    }

    /// The writer of sink `sink` of job `job`, resuming at `restored` rows (a checkpoint's position).
    pub fn writer(
        &self,
        job: &str,
        sink: &str,
        schema: &Schema,
        restored: u64,
        ctx: RunContext,
    ) -> Result<PostgresWriter, String> {
        let mut db = self.connect().map_err(|e| super::describe(&e))?;
        let progress = db
            .query_opt(
                "SELECT epoch, rows FROM weir_sink_progress WHERE job = $1 AND sink = $2",
                &[&job, &sink],
            )
            .map_err(|e| super::describe(&e))?;
        let (epoch, committed): (i64, i64) = progress.map_or((0, 0), |r| (r.get(0), r.get(1)));
        let committed = committed.max(0) as u64;
        if committed < restored {
            return Err(format!(
                "the checkpoint says {restored} rows are in table `{}`, but its progress row (job `{job}`, sink \
                 `{sink}` in weir_sink_progress) says {committed}: the table was changed since; start over with \
                 --fresh after deleting the progress row",
                self.table
            ));
        }
        Ok(PostgresWriter {
            statement: self.insert_statement(schema),
            sink: self.clone(),
            job: job.to_string(),
            name: sink.to_string(),
            client: Some(db),
            pending: Pending::default(),
            position: restored,
            committed,
            epoch,
            ctx,
        })
    }
}

/// Writes one sink's rows (on worker 0).
pub struct PostgresWriter {
    sink: PostgresSink,
    statement: String,
    job: String,
    name: String,
    client: Option<Client>,
    /// Rows given but not yet committed, as the JSON arrays sent (at most `BATCH_ROWS` rows each).
    pending: Pending,
    /// Rows of the output accounted for: committed, or skipped because the table had them.
    position: u64,
    /// Rows the table holds by its progress row.
    committed: u64,
    epoch: i64,
    /// The stop flag, the retry counter and the standing warning while the database cannot be reached.
    ctx: RunContext,
}

/// Rows waiting for a commit, written straight into the JSON arrays each statement sends (no copy per row,
/// none per retry).
#[derive(Default)]
struct Pending {
    /// Closed arrays, then the open one (its `]` added by [`Pending::close`]).
    arrays: Vec<String>,
    rows: usize,
    /// Rows in the last array, and whether it is still open.
    in_last: usize,
    open: bool,
}

impl Pending {
    fn push(&mut self, row: &str) {
        if !self.open || self.in_last == BATCH_ROWS {
            self.close();
            self.arrays.push(String::from("["));
            self.open = true;
            self.in_last = 0;
        } else {
            self.arrays.last_mut().expect("an open array").push(',');
        }
        self.arrays.last_mut().expect("an open array").push_str(row);
        self.in_last += 1;
        self.rows += 1;
    }

    /// Ends the open array, so every array is whole.
    fn close(&mut self) {
        if self.open {
            self.arrays.last_mut().expect("an open array").push(']');
            self.open = false;
        }
    }

    fn clear(&mut self) {
        *self = Pending::default();
    }
}

/// Whether a PostgreSQL error is the connection's (retry) rather than the data's (fail).
fn transient(e: &postgres::Error) -> bool {
    match e.code() {
        None => true,
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || c.starts_with("57") || c == "53300"
        }
    }
}

/// Whether a commit happened or was left to a restored run.
#[derive(Debug, PartialEq)]
enum Committed {
    Yes,
    /// The job is stopping and the database cannot be reached: the rows stay pending.
    Deferred,
}

impl PostgresWriter {
    /// Commits the pending rows with the new position, retrying while the database cannot be reached —
    /// unless the job is stopping, when they are left pending ([`Committed::Deferred`]).
    fn commit(&mut self) -> io::Result<Committed> {
        if self.pending.rows == 0 {
            return Ok(Committed::Yes);
        }
        self.pending.close();
        let mut wait = Duration::from_millis(200);
        loop {
            match self.try_commit() {
                Ok(()) => break,
                Err(e) if transient(&e) => {
                    self.client = None;
                    if self.ctx.stop.aborted() {
                        let warning = format!(
                            "PostgreSQL {}: {}; stopping with {} rows not committed (the final checkpoint holds \
                             them; the next run commits them)",
                            self.sink.redacted_url(),
                            super::describe(&e),
                            self.pending.rows
                        );
                        self.ctx.gauges.set_warning(&self.about(), Some(warning));
                        return Ok(Committed::Deferred);
                    }
                    // Said once (and shown by /healthz) until a commit succeeds; each try counted in /metrics.
                    self.ctx.metrics.sink_retry(&self.name);
                    let warning = format!(
                        "PostgreSQL {}: {}; retrying with backoff (rows wait, none is dropped)",
                        self.sink.redacted_url(),
                        super::describe(&e)
                    );
                    self.ctx.gauges.set_warning(&self.about(), Some(warning));
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(io::Error::other(format!("PostgreSQL: {}", super::describe(&e)))),
            }
        }
        self.ctx.gauges.set_warning(&self.about(), None);
        self.position += self.pending.rows as u64;
        self.committed = self.position;
        self.epoch += 1;
        self.pending.clear();
        Ok(Committed::Yes)
    }

    /// Takes the rows a stopped run's final checkpoint could not commit, as if written again (those the
    /// table has by its progress row are skipped), and commits them.
    pub fn resume_waiting(&mut self, waiting: &[String]) -> io::Result<()> {
        if waiting.is_empty() {
            return Ok(());
        }
        for row in waiting {
            if self.position < self.committed {
                self.position += 1;
            } else {
                self.pending.push(row);
            }
        }
        self.commit().map(drop)
    }

    /// The pending rows one by one (each a JSON row).
    fn pending_rows(&self) -> io::Result<Vec<String>> {
        let mut rows = Vec::with_capacity(self.pending.rows);
        for array in &self.pending.arrays {
            let parsed: Vec<Box<serde_json::value::RawValue>> = serde_json::from_str(array).map_err(io::Error::other)?;
            rows.extend(parsed.into_iter().map(|r| r.get().to_string()));
        }
        Ok(rows)
    }

    /// What the sink's standing warning is about.
    fn about(&self) -> String {
        format!("sink `{}`", self.name)
    }

    fn try_commit(&mut self) -> Result<(), postgres::Error> {
        if self.client.is_none() {
            self.client = Some(self.sink.connect()?);
        }
        let db = self.client.as_mut().expect("connected");
        let mut tx = db.transaction()?;
        for json in &self.pending.arrays {
            tx.execute(self.statement.as_str(), &[json])?;
        }
        let rows = (self.position + self.pending.rows as u64) as i64;
        tx.execute(
            "INSERT INTO weir_sink_progress (job, sink, epoch, rows) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (job, sink) DO UPDATE SET epoch = EXCLUDED.epoch, rows = EXCLUDED.rows",
            &[&self.job, &self.name, &(self.epoch + 1), &rows],
        )?;
        tx.commit()
    }
}

impl LineWriter for PostgresWriter {
    fn write(&mut self, lines: &[Line]) -> io::Result<()> {
        for l in lines {
            // Rows a previous run committed after the checkpoint this run resumed from.
            if self.position < self.committed {
                self.position += 1;
                continue;
            }
            self.pending.push(&l.text);
        }
        if self.pending.rows >= self.sink.commit_rows {
            self.commit()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        match self.commit()? {
            Committed::Yes => Ok(()),
            Committed::Deferred => Err(io::Error::other(format!(
                "stopped while PostgreSQL {} could not take {} rows; they are written again from the last checkpoint",
                self.sink.redacted_url(),
                self.pending.rows
            ))),
        }
    }

    fn abort(&mut self) {
        self.pending.clear();
    }

    fn checkpoint(&mut self) -> io::Result<SinkPosition> {
        match self.commit()? {
            Committed::Yes => Ok(SinkPosition::Rows { rows: self.position }),
            Committed::Deferred => Ok(SinkPosition::RowsWaiting {
                rows: self.position,
                waiting: self.pending_rows()?,
            }),
        }
    }

    /// Rows after the last checkpoint that cannot be committed now are written again by the restored run.
    fn suspend(&mut self) -> io::Result<()> {
        if self.commit()? == Committed::Deferred {
            self.pending.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Field;

    fn sink(key: &[&str]) -> PostgresSink {
        PostgresSink {
            url: "postgresql://u:secret@h/db".into(),
            table: "analytics.stats".into(),
            key: key.iter().map(|k| k.to_string()).collect(),
            commit_rows: 10,
        }
    }

    fn schema() -> Schema {
        Schema {
            fields: vec![
                Field::new("courier", FieldType::String),
                Field::new("window_start", FieldType::Timestamp),
                Field::nullable("top", FieldType::Float),
            ],
            event_time: 1,
        }
    }

    #[test]
    fn rows_are_read_from_json_by_type_and_an_upsert_keeps_a_batch_s_last_row_per_key() {
        let append = sink(&[]).insert_statement(&schema());
        assert_eq!(
            append,
            "INSERT INTO \"analytics\".\"stats\" (\"courier\", \"window_start\", \"top\") SELECT (r->>'courier'), \
             'epoch'::timestamptz + (r->>'window_start')::bigint * interval '1 millisecond', \
             (r->>'top')::double precision FROM json_array_elements($1::text::json) AS x(r)"
        );
        let upsert = sink(&["courier"]).insert_statement(&schema());
        assert!(upsert.contains("SELECT DISTINCT ON ((r->>'courier'))"), "{upsert}");
        assert!(upsert.contains("ORDER BY (r->>'courier'), n DESC"), "{upsert}");
        assert!(
            upsert.ends_with("ON CONFLICT (\"courier\") DO UPDATE SET \"courier\" = EXCLUDED.\"courier\", \
             \"window_start\" = EXCLUDED.\"window_start\", \"top\" = EXCLUDED.\"top\""),
            "{upsert}"
        );
        assert_eq!(sink(&[]).redacted_url(), "postgresql://u:***@h/db");
        assert_eq!(quoted_name("we\"ird"), "\"we\"\"ird\"");
    }
}
