//! HTTP ingest: `kind = "http"` under `[sources]`, fed by `POST /v1/ingest/NAME` on `[serve]` (DESIGN §11).
//!
//! A request's records are appended to the source's ingest log and answered `200 {"accepted": n,
//! "first_offset": o}` only once an `fsync` covers them. The body's shape follows `Content-Type`:
//! `application/json` (or none) is one JSON object or a JSON array of them; `application/x-ndjson` and
//! `text/plain` are JSON lines (blank lines skipped). A record that is not a valid event is still accepted
//! (counted in `accepted`) and becomes a dead letter with its log offset; a body that is not JSON at all is
//! one such record. An `Idempotency-Key` seen within `idempotency_window` gets the first answer again and
//! appends nothing.

use crate::component::ingest::{prepare_ingest, IngestFeed, IngestOptions};
use crate::component::{PreparedSource, SourceComponent, SourcePrepareContext};
use crate::dataflow::{Appended, IngestEndpoint, IngestEndpoints, IngestReply, IngestRequest};
use crate::error::RunError;
use crate::ingest::{IngestError, IngestLog, LogRecord};
use std::sync::Arc;

/// `max_body_bytes` when not given: 16 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 << 20;

/// A `kind = "http"` source.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpIngestSpec {
    pub options: IngestOptions,
    pub max_body_bytes: u64,
}

impl SourceComponent for HttpIngestSpec {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn describe(&self, _workers: usize) -> String {
        format!(
            "HTTP ingest: POST /v1/ingest/NAME on [serve] (bodies up to {} bytes), kept in an ingest log of up to \
             {} bytes per process, read by the process's first worker{}",
            self.max_body_bytes,
            self.options.max_log_bytes,
            self.options.idle_words()
        )
    }

    fn shape(&self) -> String {
        "http ingest log".into()
    }

    fn ends(&self) -> bool {
        false
    }

    fn needs_checkpoints(&self) -> bool {
        true
    }

    fn served(&self) -> bool {
        true
    }

    fn prepare(&self, cx: SourcePrepareContext) -> Result<Arc<dyn PreparedSource>, RunError> {
        prepare_ingest(&cx, &self.options, self)
    }
}

impl IngestFeed for HttpIngestSpec {
    fn start(&self, log: Arc<IngestLog>, cx: &SourcePrepareContext) -> Result<Box<dyn Send + Sync>, RunError> {
        let name = cx.source.name.clone();
        let endpoints = cx.ctx.ingest.clone();
        endpoints.register(
            &name,
            Arc::new(HttpEndpoint {
                log,
                max_body_bytes: self.max_body_bytes as usize,
                name: name.clone(),
                metrics: cx.ctx.metrics.clone(),
            }),
        );
        Ok(Box::new(Registered { endpoints, name }))
    }
}

/// Takes the endpoint away when the source is done with.
struct Registered {
    endpoints: IngestEndpoints,
    name: String,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.endpoints.remove(&self.name);
    }
}

/// One HTTP ingest source's endpoint.
struct HttpEndpoint {
    log: Arc<IngestLog>,
    max_body_bytes: usize,
    name: String,
    metrics: Arc<crate::metrics::Metrics>,
}

impl IngestEndpoint for HttpEndpoint {
    fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    fn ingest(&self, request: IngestRequest) -> Result<Appended, IngestReply> {
        let payloads = split_body(request.body, request.content_type).map_err(IngestReply::BadRequest)?;
        let records: Vec<LogRecord> = payloads
            .iter()
            .map(|p| LogRecord {
                payload: p,
                ..Default::default()
            })
            .collect();
        match self.log.append(&records, request.idempotency_key) {
            Ok((answer, end, _)) => Ok(Appended {
                accepted: answer.accepted,
                first_offset: answer.first_offset,
                end,
                log: self.log.clone(),
            }),
            Err(e @ IngestError::Full { .. }) => {
                self.metrics.ingest_log_full(&self.name);
                Err(IngestReply::Full {
                    reason: e.to_string(),
                    retry_after_s: 1,
                })
            }
            Err(e) => Err(IngestReply::Failed(e.to_string())),
        }
    }
}

/// The records of a request body, by its content type.
fn split_body<'a>(body: &'a [u8], content_type: Option<&str>) -> Result<Vec<&'a [u8]>, String> {
    let media = content_type
        .map(|c| c.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .unwrap_or_else(|| "application/json".into());
    match media.as_str() {
        "application/json" => Ok(json_records(body)),
        "application/x-ndjson" | "application/jsonl" | "text/plain" => Ok(body
            .split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .collect()),
        other => Err(format!(
            "Content-Type `{other}` is not taken; send application/json (an object or an array of them) or \
             application/x-ndjson (JSON lines)"
        )),
    }
}

/// A JSON body's records: an array's elements (each as sent), else the whole body as one record.
fn json_records(body: &[u8]) -> Vec<&[u8]> {
    let trimmed = body.trim_ascii();
    if trimmed.first() == Some(&b'[') {
        if let Ok(items) = serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(trimmed) {
            return items
                .into_iter()
                .map(|raw| {
                    // The element's bytes within the body, as sent.
                    let start = raw.get().as_ptr() as usize - trimmed.as_ptr() as usize;
                    &trimmed[start..start + raw.get().len()]
                })
                .collect();
        }
    }
    if trimmed.is_empty() {
        Vec::new()
    } else {
        vec![trimmed]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_split_by_content_type() {
        let array = br#" [{"a":1}, {"a": [2, 3]} ,"x"] "#;
        let got = split_body(array, Some("application/json; charset=utf-8")).unwrap();
        assert_eq!(got, vec![&br#"{"a":1}"#[..], br#"{"a": [2, 3]}"#, br#""x""#]);
        assert_eq!(split_body(br#"{"a":1}"#, None).unwrap(), vec![&br#"{"a":1}"#[..]]);
        // Not JSON: one record, which becomes a dead letter.
        assert_eq!(split_body(b"[oops", None).unwrap(), vec![&b"[oops"[..]]);
        let lines = b"{\"a\":1}\r\n\n  \n{bad\n";
        assert_eq!(
            split_body(lines, Some("application/x-ndjson")).unwrap(),
            vec![&b"{\"a\":1}"[..], b"{bad"]
        );
        assert!(split_body(b"a,b", Some("text/csv")).unwrap_err().contains("text/csv"));
    }
}
