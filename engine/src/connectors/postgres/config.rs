//! The options of `kind = "postgres"`: a table's (`url`, `table` or `query`, `deleted`, `interval`) and a
//! sink's (`url`, `table`, `mode`, `key`), and the sink's component.

use super::sink::PostgresSink;
use super::PostgresTable;
use crate::component::{SinkBuildContext, SinkComponent, TableComponent};
use crate::dataflow::sink_op::{line_sink, LineWriter, SinkPosition};
use crate::error::BuildError;
use crate::record::RecordStream;
use crate::schema::Schema;
use crate::config::Section;
use crate::table::kind::read_interval;
use std::path::Path;
use std::sync::Arc;

/// `kind = "postgres"`.
pub fn table(s: &Section, _: &Path, key: &[usize]) -> Option<Arc<dyn TableComponent>> {
    let url = s.req_str("url");
    let query = match (s.str("table"), s.str("query")) {
        (Some(_), Some(_)) => {
            s.problem("query", "give either `table` (all its rows) or `query`, not both");
            None
        }
        (Some(t), None) => Some(format!("SELECT * FROM {}", super::quoted_name(t))),
        (None, Some(q)) => Some(q.to_string()),
        (None, None) => {
            s.problem(
                "table",
                "is required (or `query`): the PostgreSQL table to poll, e.g. table = \"vehicles\"",
            );
            None
        }
    };
    let interval = read_interval(s, 10_000);
    let deleted = s.str("deleted").map(str::to_string);
    Some(Arc::new(PostgresTable {
        url: url?.to_string(),
        query: query?,
        interval,
        deleted,
        key: key.to_vec(),
    }))
}

/// `kind = "postgres"` under `[sinks]`: `url`, `table`, `mode = "append" | "upsert"`, `key` (an upsert's),
/// `commit_rows`.
pub fn sink(s: &Section, inputs: &[Option<Schema>]) -> Option<Arc<dyn SinkComponent>> {
    let url = s.req_str("url");
    let table = s.req_str("table");
    let upsert = match s.str("mode").unwrap_or("append") {
        "append" => Some(false),
        "upsert" => Some(true),
        other => {
            s.problem("mode", format!("unknown mode \"{other}\"; allowed: append, upsert"));
            None
        }
    };
    let key: Vec<String> = match s.value("key") {
        None => Vec::new(),
        Some(_) => s.str_list("key")?.iter().map(|k| k.to_string()).collect(),
    };
    match (upsert, key.is_empty()) {
        (Some(true), true) => s.problem(
            "key",
            "an upsert needs the key its rows replace each other by, e.g. key = [\"courier_id\"]",
        ),
        (Some(false), false) => s.problem("key", "only an upsert has a key: add mode = \"upsert\""),
        _ => {}
    }
    if let Some(Some(schema)) = inputs.first() {
        for k in &key {
            match schema.index_of(k) {
                None => s.problem(
                    "key",
                    format!("field `{k}` is not in the input's schema; available: {}", schema.names()),
                ),
                Some(i) if schema.fields[i].nullable => s.problem(
                    "key",
                    format!("field `{k}` may be NULL, and a key column may not"),
                ),
                Some(_) => {}
            }
        }
    }
    let commit_rows = s.count("commit_rows", 1).unwrap_or(50_000) as usize;
    upsert?;
    Some(Arc::new(PostgresSink {
        url: url?.to_string(),
        table: table?.to_string(),
        key,
        commit_rows,
    }))
}

impl SinkComponent for PostgresSink {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn reads_one_stream(&self) -> bool {
        true
    }

    fn describe(&self, _name: &str) -> String {
        let mode = if self.key.is_empty() {
            "append".to_string()
        } else {
            format!("upsert on {}", self.key.join(", "))
        };
        format!("postgres {} table `{}` ({mode}), exactly once", self.redacted_url(), self.table)
    }

    /// A checkpoint counts the rows in this very table.
    fn shape_details(&self) -> Vec<(&'static str, String)> {
        vec![("table", self.table.clone()), ("key", self.key.join(", "))]
    }

    fn build<'s>(&self, cx: SinkBuildContext<'s, '_>) -> Result<Option<RecordStream<'s>>, BuildError> {
        let lines = cx.lines(|_| None);
        let writer: Option<Box<dyn LineWriter>> = if cx.writes {
            let fail = |cause: String| BuildError::Sink {
                sink: cx.name.to_string(),
                cause: format!("PostgreSQL {}: {cause}", self.redacted_url()),
            };
            let schema = &cx.inputs[0].1;
            self.prepare_table(schema).map_err(fail)?;
            let (restored, waiting) = match cx.restored_state()? {
                Some(SinkPosition::Rows { rows }) => (rows, Vec::new()),
                Some(SinkPosition::RowsWaiting { rows, waiting }) => (rows, waiting),
                _ => (0, Vec::new()),
            };
            let mut writer = self
                .writer(cx.job, cx.name, schema, restored, cx.ctx.clone())
                .map_err(fail)?;
            writer.resume_waiting(&waiting).map_err(|e| fail(e.to_string()))?;
            Some(Box::new(writer))
        } else {
            None
        };
        line_sink(lines, cx.job_end, cx.name.to_string(), writer, cx.ctx.clone());
        Ok(None)
    }
}
