//! The options of `[tables.NAME] kind = "postgres"`: `url`, `table` or `query`, `deleted`, `interval`.

use super::PostgresTable;
use crate::component::TableComponent;
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
        (Some(t), None) => {
            let quoted: Vec<String> = t
                .split('.')
                .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
                .collect();
            Some(format!("SELECT * FROM {}", quoted.join(".")))
        }
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
