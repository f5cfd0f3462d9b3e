//! The options of `[sinks.NAME] kind = "webhook"`: `url`, `headers`, `body`, `ca_file`, `timeout`,
//! `retries`, `backoff`, `concurrency`, `queue`, `stop_grace`.

use super::{BodyTemplate, RootCertificates, WebhookConfig};
use crate::component::SinkComponent;
use crate::config::Section;
use crate::schema::Schema;
use std::sync::Arc;

/// `kind = "webhook"`.
pub fn sink(s: &Section, schemas: &[Option<Schema>]) -> Option<Arc<dyn SinkComponent>> {
    Some(Arc::new(webhook_config(s, schemas)?))
}

/// `kind = "webhook"`: where and how to POST alerts: `url` (http:// or https://), `body` (a template of the
/// alert's fields, see [`BodyTemplate`]), `ca_file` (PEM roots for https).
fn webhook_config(s: &Section, schemas: &[Option<Schema>]) -> Option<WebhookConfig> {
    let url = s.req_str("url");
    let timeout = s.duration_ms("timeout").unwrap_or(2_000);
    let retries = s.count("retries", 0).unwrap_or(3) as u32;
    let backoff = s.duration_ms("backoff").unwrap_or(200);
    let concurrency = s.count("concurrency", 1).unwrap_or(1);
    let queue = s.count("queue", 1).unwrap_or(1000);
    let stop_grace = s.duration_ms("stop_grace").unwrap_or(5_000);
    if concurrency > 64 {
        s.problem("concurrency", format!("{concurrency}: at most 64 requests at a time"));
    }
    let mut headers = Vec::new();
    if let Some(h) = s.table("headers") {
        for (k, v) in h.entries() {
            match v.as_str() {
                Some(v) => headers.push((k.clone(), v.to_string())),
                None => h.problem(k, "expected a string header value"),
            }
        }
    }
    let body = s.str("body").and_then(|text| match BodyTemplate::parse(text) {
        Ok(t) => {
            // Every placeholder must be a field of every input's alerts (schemas unknown here are not checked).
            for schema in schemas.iter().flatten() {
                for f in t.fields().filter(|f| schema.index_of(f).is_none()) {
                    s.problem("body", format!("`{{{{{f}}}}}` is not a field of the alerts; they have {}, or write `{{{{alert}}}}` for the whole alert", schema.names()));
                }
            }
            Some(t)
        }
        Err(e) => {
            s.problem("body", e);
            None
        }
    });
    let ca = s.str("ca_file").and_then(|path| match std::fs::read(path) {
        Ok(pem) => RootCertificates::from_pem(&pem)
            .map_err(|e| s.problem("ca_file", format!("`{path}` {e}")))
            .ok(),
        Err(e) => {
            s.problem("ca_file", format!("cannot read `{path}`: {e}"));
            None
        }
    });
    let url = url?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        s.problem("url", format!("\"{url}\": write an http:// or https:// URL"));
        return None;
    }
    if ca.is_some() && !url.starts_with("https://") {
        s.problem("ca_file", "is for https:// endpoints; the url is http://");
    }
    Some(WebhookConfig {
        url: url.to_string(),
        headers,
        timeout: std::time::Duration::from_millis(timeout.max(1) as u64),
        retries,
        backoff: std::time::Duration::from_millis(backoff.max(0) as u64),
        concurrency: concurrency as usize,
        queue: queue as usize,
        stop_grace: std::time::Duration::from_millis(stop_grace.max(0) as u64),
        body,
        ca,
    })
}
