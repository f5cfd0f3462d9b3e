//! The options of `[tables.NAME] kind = "http"`: `url`, `headers`, `interval`, `timeout`.

use super::table::HttpTable;
use crate::component::TableComponent;
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
