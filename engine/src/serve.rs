//! The HTTP API of a job's live views (DESIGN §4), bound to 127.0.0.1 unless told otherwise:
//!
//! - `GET /v1/views/{view}/{key}` → 200 `{"key", …fields}` or 404 `{"error": …}`
//! - `GET /v1/views/{view}?limit=N` → `{"view", "count", "items": [...]}` (first N keys in key order)
//! - `GET /healthz` → `{"status":"ok","watermark":<ms|null>,"caught_up":<bool>}`
//! - `GET /metrics` → the run's Prometheus metrics (text exposition format)
//!
//! The server runs on its own small tokio runtime, reading the [`ViewStore`] without ever blocking the
//! dataflow for longer than a map lookup.

use crate::dataflow::RunContext;
use crate::views::ViewStore;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

/// A running HTTP server; stops when dropped.
pub struct HttpServer {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What the handlers read: the live views and the run's metrics.
#[derive(Clone)]
struct AppState {
    store: Arc<ViewStore>,
    ctx: RunContext,
}

async fn metrics(State(AppState { ctx, .. }): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        ctx.render_metrics(),
    )
        .into_response()
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn healthz(State(AppState { store, .. }): State<AppState>) -> Response {
    Json(serde_json::json!({"status": "ok", "watermark": store.watermark(), "caught_up": store.caught_up()}))
        .into_response()
}

fn unknown_view(store: &ViewStore, view: &str) -> Response {
    let mut names: Vec<&str> = store.views.keys().map(|s| s.as_str()).collect();
    names.sort();
    error(
        StatusCode::NOT_FOUND,
        format!("no view `{view}`; views: {}", names.join(", ")),
    )
}

async fn get_key(
    State(AppState { store, .. }): State<AppState>,
    Path((view, key)): Path<(String, String)>,
) -> Response {
    let Some(v) = store.views.get(&view) else {
        return unknown_view(&store, &view);
    };
    match v.get(&key) {
        Some(value) => Json(v.render(&key, &value)).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no key `{key}` in view `{view}`")),
    }
}

#[derive(Deserialize)]
struct ListParams {
    limit: Option<String>,
}

async fn list(
    State(AppState { store, .. }): State<AppState>,
    Path(view): Path<String>,
    Query(p): Query<ListParams>,
) -> Response {
    let Some(v) = store.views.get(&view) else {
        return unknown_view(&store, &view);
    };
    let limit = match p.limit.as_deref().map(str::parse::<usize>) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if n <= MAX_LIMIT => n,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("limit must be a whole number from 0 to {MAX_LIMIT}"),
            )
        }
    };
    let items: Vec<serde_json::Value> = v.list(limit).iter().map(|(k, val)| v.render(k, val)).collect();
    Json(serde_json::json!({"view": view, "count": v.len(), "items": items})).into_response()
}

impl HttpServer {
    /// Binds `listen` (e.g. `127.0.0.1:7878`, port 0 for any) and serves `store` and the metrics of `ctx`
    /// from a background thread.
    pub fn start(listen: &str, store: Arc<ViewStore>, ctx: RunContext) -> std::io::Result<HttpServer> {
        let listener = std::net::TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("weir-http")
            .enable_io()
            .build()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new()
            .route("/healthz", get(healthz))
            .route("/v1/views/{view}", get(list))
            .route("/v1/views/{view}/{key}", get(get_key))
            .route("/metrics", get(metrics))
            .with_state(AppState { store, ctx });
        let thread = std::thread::Builder::new().name("weir-http".into()).spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        })?;
        Ok(HttpServer {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
