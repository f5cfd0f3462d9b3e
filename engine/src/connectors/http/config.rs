//! The options of `[tables.NAME] kind = "http"` (`url`, `headers`, `interval`, `timeout`) and of
//! `[sources.NAME] kind = "http"` (`max_body_bytes`, `max_log_bytes`, `idempotency_window`,
//! `max_idempotency_keys`, `idle_timeout`).

use super::ingest::{HttpIngestSpec, DEFAULT_MAX_BODY_BYTES};
use super::table::HttpTable;
use crate::component::ingest::IngestOptions;
use crate::component::{SourceComponent, TableComponent};
use crate::schema::Schema;
use crate::config::Section;
use crate::table::kind::read_interval;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// `kind = "http"` table.
pub fn table(s: &Section, _: &Path, _key: &[usize]) -> Option<Arc<dyn TableComponent>> {
    let url = s.req_str("url");
    if let Some(u) = url {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            s.problem("url", format!("`{u}` is not an http:// or https:// URL"));
        }
    }
    let mut headers = Vec::new();
    if let Some(h) = s.table("headers") {
        for (k, v) in h.entries() {
            match v.as_str() {
                Some(v) => headers.push((k.clone(), v.to_string())),
                None => h.problem(k, "expected a string header value, e.g. authorization = \"Bearer ${TOKEN}\""),
            }
        }
    }
    let interval = read_interval(s, 60_000);
    let timeout = s.duration_ms("timeout").unwrap_or(10_000);
    if timeout <= 0 {
        s.problem("timeout", "must be positive, e.g. \"10s\"");
    }
    Some(Arc::new(HttpTable {
        url: url?.to_string(),
        headers,
        interval,
        timeout: Duration::from_millis(timeout.max(1) as u64),
    }))
}

/// `kind = "http"` source.
pub fn source(s: &Section, _: &Path) -> (Option<Arc<dyn SourceComponent>>, Option<Schema>) {
    let options = IngestOptions::read(s, None);
    let given = s.bytes("max_body_bytes");
    let max_body_bytes = given.unwrap_or(DEFAULT_MAX_BODY_BYTES.min(options.max_log_bytes));
    if given.is_some() && max_body_bytes > options.max_log_bytes {
        s.problem(
            "max_body_bytes",
            format!(
                "{max_body_bytes} is more than max_log_bytes ({}): such a request could never be taken",
                options.max_log_bytes
            ),
        );
    }
    let spec = HttpIngestSpec {
        options,
        max_body_bytes,
    };
    (Some(Arc::new(spec)), None)
}
