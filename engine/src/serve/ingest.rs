//! `POST /v1/ingest/{source}`: hands the body to the HTTP ingest source's endpoint and answers with what it
//! says — 200 once durable, 413 over its `max_body_bytes` (told before the body is read when
//! `Content-Length` says so), 503 + `Retry-After` while the log is full or the source is not ready yet,
//! 404 for a name that is no HTTP ingest source. The token, when `[serve]` has one, is checked before.

use super::{error, AppState};
use crate::dataflow::{IngestReply, IngestRequest};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

fn retry_after(status: StatusCode, message: String, seconds: u64) -> Response {
    let mut r = error(status, message);
    r.headers_mut()
        .insert(header::RETRY_AFTER, seconds.to_string().parse().expect("header value"));
    r
}

fn too_large(limit: usize) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the body is longer than this source's max_body_bytes ({limit}); send smaller batches"),
    )
}

pub(super) async fn ingest(
    State(AppState {
        ctx, ingest_sources, ..
    }): State<AppState>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(endpoint) = ctx.ingest.get(&source) else {
        if ingest_sources.contains(&source) {
            return retry_after(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("source `{source}` is starting"),
                1,
            );
        }
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "no HTTP ingest source `{source}`; this job has: {}",
                ingest_sources.join(", ")
            ),
        );
    };
    let limit = endpoint.max_body_bytes();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit);
    }
    let bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => return too_large(limit),
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("the body could not be read: {e}")),
    };
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let content_type = text(header::CONTENT_TYPE);
    let key = text(header::HeaderName::from_static("idempotency-key"));
    // Appending is quick (the log's lock and a write to the page cache); the group fsync is awaited.
    let appended = endpoint.ingest(IngestRequest {
        body: &bytes,
        content_type: content_type.as_deref(),
        idempotency_key: key.as_deref(),
    });
    let reply = match appended {
        Ok(pending) => pending.durable().await,
        Err(reply) => reply,
    };
    match reply {
        IngestReply::Accepted { accepted, first_offset } => {
            axum::Json(serde_json::json!({"accepted": accepted, "first_offset": first_offset})).into_response()
        }
        IngestReply::BadRequest(m) => error(StatusCode::BAD_REQUEST, m),
        IngestReply::Full { reason, retry_after_s } => {
            retry_after(StatusCode::SERVICE_UNAVAILABLE, reason, retry_after_s)
        }
        IngestReply::Failed(m) => error(StatusCode::INTERNAL_SERVER_ERROR, m),
    }
}
