//! The run's HTTP ingest endpoints: each HTTP ingest source registers itself here when it is prepared, and
//! the server hands it `POST /v1/ingest/NAME` requests (DESIGN §11).

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;

/// An HTTP ingest request, as the server read it.
pub struct IngestRequest<'a> {
    pub body: &'a [u8],
    pub content_type: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
}

/// What the server answers.
#[derive(Debug, PartialEq, Eq)]
pub enum IngestReply {
    /// 200 `{"accepted": n, "first_offset": o}`: durable.
    Accepted { accepted: u64, first_offset: u64 },
    /// 400: the body cannot be taken at all (an unknown `Content-Type`).
    BadRequest(String),
    /// 503 with `Retry-After`: the log is full.
    Full { reason: String, retry_after_s: u64 },
    /// 500: the log cannot be written.
    Failed(String),
}

/// A request's records appended to the log, not yet durable: the answer once `log` is durable up to `end`.
pub struct Appended {
    pub accepted: u64,
    pub first_offset: u64,
    pub end: u64,
    pub log: Arc<crate::ingest::IngestLog>,
}

impl Appended {
    /// Waits (without holding a thread) until the records are durable: then the request is answered 200.
    pub async fn durable(self) -> IngestReply {
        match self.log.durable(self.end).await {
            Ok(()) => IngestReply::Accepted {
                accepted: self.accepted,
                first_offset: self.first_offset,
            },
            Err(e) => IngestReply::Failed(e.to_string()),
        }
    }
}

/// An HTTP ingest source's way in.
pub trait IngestEndpoint: Send + Sync {
    /// Bodies longer than this are answered 413 before they are read.
    fn max_body_bytes(&self) -> usize;
    /// Appends the request's records (or finds its idempotency key): what to wait for, or the answer now.
    fn ingest(&self, request: IngestRequest) -> Result<Appended, IngestReply>;
}

/// The endpoints of a run by source name.
#[derive(Clone, Default)]
pub struct IngestEndpoints {
    endpoints: Arc<Mutex<BTreeMap<String, Arc<dyn IngestEndpoint>>>>,
}

impl IngestEndpoints {
    /// Registers source `name`'s endpoint (replacing an earlier run's).
    pub fn register(&self, name: &str, endpoint: Arc<dyn IngestEndpoint>) {
        self.endpoints.lock().insert(name.to_string(), endpoint);
    }

    /// Source `name`'s endpoint, once it is ready.
    pub fn get(&self, name: &str) -> Option<Arc<dyn IngestEndpoint>> {
        self.endpoints.lock().get(name).cloned()
    }

    /// Takes source `name`'s endpoint away (its source stopped).
    pub fn remove(&self, name: &str) {
        self.endpoints.lock().remove(name);
    }
}
