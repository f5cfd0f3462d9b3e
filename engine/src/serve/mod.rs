//! The HTTP API of a job's live views (DESIGN §4), bound to 127.0.0.1 unless told otherwise:
//!
//! - `GET /v1/views` → `{"views": [{"view", "key", "count"}, …]}`: the job's views
//! - `GET /v1/views/{view}/{key}` → 200 `{"key", …fields}` or 404 `{"error": …}`; the empty key is
//!   `GET /v1/views/{view}/`, a NULL key `\N` (keys are written as `Key::display` writes them)
//! - `GET /v1/views/{view}?limit=N&after=KEY` → `{"view", "count", "items": [...], "next"}`: the first N keys
//!   in key order after `KEY`; `next` is the last key given when more may follow (pass it as `after`)
//! - `GET /v1/tables/{table}/{key}` → `{"table", "key", "known_until", "versions": [{"since", "row"}]}`:
//!   every version of a table's key read so far (`row` null: deleted), for debugging joins; a key of
//!   several fields is written as `latest` views write theirs (`eu|7`, `\|` and `\\` escaped)
//! - `GET /healthz` → `{"status":"ok","watermark":<ms|null>,"caught_up":<bool>,"warnings":[…]}` (standing
//!   warnings, e.g. a table most of whose rows are dead letters)
//! - `GET /metrics` → the run's Prometheus metrics (text exposition format)
//! - `POST /v1/ingest/{source}` → records into an HTTP ingest source ([`ingest`]): 200 `{"accepted",
//!   "first_offset"}` once durable; 413, 503 + `Retry-After`, 404 otherwise
//!
//! A query parameter an endpoint does not take is a 400 naming it (a misspelt `?cursor=` is never ignored).
//!
//! With several processes `/healthz` and `/metrics` are this process's own, while the views answer for the
//! whole job: a key another process owns is fetched from it (one request, marked with `x-weir-forwarded`
//! so the owner answers from its own store), and a listing merges every process's first `limit` keys;
//! a process that cannot be reached gives 502 naming it. Tables are read by process 0, which answers
//! `/v1/tables` for every process.
//!
//! The server runs on its own small tokio runtime, reading the [`ViewStore`] without ever blocking the
//! dataflow for longer than a map lookup. It is built to stay up: running out of file descriptors backs off
//! and retries the accept, connections beyond `max_connections` are closed at once, and a connection that
//! sends no complete request head within `idle_timeout` (idle keep-alive, slowloris) is closed. With
//! `token`, every request needs `Authorization: Bearer TOKEN`. If the server ever ends on its own, the job
//! fails rather than running on without its API.

mod auth;
mod ingest;

use crate::dataflow::{JobFailure, RunContext};
use crate::plan::ServePlan;
use crate::views::ViewStore;
use auth::{bearer_credential, same_secret};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

/// A running HTTP server; stops when dropped.
pub struct HttpServer {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Set before a requested shutdown, so the server thread's end is not taken for a failure.
    stopping: Arc<AtomicBool>,
    failure: Arc<parking_lot::Mutex<Option<String>>>,
}

/// What the handlers read: the live views and the run's metrics.
#[derive(Clone)]
struct AppState {
    store: Arc<ViewStore>,
    ctx: RunContext,
    /// The client for requests to the other processes of a cluster (keeps their connections open).
    peers: ureq::Agent,
    /// The job's HTTP ingest sources.
    ingest_sources: Arc<Vec<String>>,
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

async fn healthz(State(AppState { store, ctx, .. }): State<AppState>) -> Response {
    Json(serde_json::json!({
        "status": "ok",
        "watermark": store.watermark(),
        "caught_up": store.caught_up(),
        "warnings": ctx.gauges.warnings(),
    }))
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

/// The header that marks a request one process made of another (answered from the receiver's own store).
const FORWARDED: &str = "x-weir-forwarded";

/// How long a process waits for another's answer.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// `GET http://{addr}{path}` as a forwarded request with the caller's `Authorization`: (status, JSON body).
async fn fetch_peer(
    agent: &ureq::Agent,
    process: usize,
    addr: &str,
    path: String,
    auth: Option<String>,
) -> Result<(StatusCode, serde_json::Value), Response> {
    let url = format!("http://{addr}{path}");
    let agent = agent.clone();
    let fetched = tokio::task::spawn_blocking(move || -> Result<(u16, String), String> {
        let mut req = agent.get(&url).header(FORWARDED, "1");
        if let Some(a) = &auth {
            req = req.header("authorization", a.as_str());
        }
        let mut resp = req.call().map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().map_err(|e| e.to_string())?;
        Ok((status, body))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    let unreachable = |cause: String| {
        error(
            StatusCode::BAD_GATEWAY,
            format!("process {process} ({addr}) did not answer: {cause}"),
        )
    };
    let (status, body) = fetched.map_err(unreachable)?;
    let json = serde_json::from_str(&body).map_err(|e| unreachable(format!("unreadable answer: {e}")))?;
    Ok((StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY), json))
}

fn forwarded(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key(FORWARDED)
}

fn authorization(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// What a path segment escapes: everything but RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `key` as one path segment.
fn path_segment(key: &str) -> String {
    percent_encoding::utf8_percent_encode(key, SEGMENT).to_string()
}

async fn get_key(
    State(state): State<AppState>,
    Path((view, key)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> Response {
    view_key(state, view, key, headers).await
}

/// `GET /v1/views/{view}/`: the empty key.
async fn get_empty_key(
    State(state): State<AppState>,
    Path(view): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    view_key(state, view, String::new(), headers).await
}

/// `GET /v1/views`: every view, with its key field and size.
async fn list_views(State(AppState { store, .. }): State<AppState>) -> Response {
    let mut views: Vec<serde_json::Value> = store
        .views
        .iter()
        .map(|(name, v)| serde_json::json!({"view": name, "key": v.key.name, "count": v.len()}))
        .collect();
    views.sort_by(|a, b| a["view"].as_str().cmp(&b["view"].as_str()));
    Json(serde_json::json!({ "views": views })).into_response()
}

async fn view_key(
    AppState { store, peers, .. }: AppState,
    view: String,
    key: String,
    headers: axum::http::HeaderMap,
) -> Response {
    let Some(v) = store.views.get(&view) else {
        return unknown_view(&store, &view);
    };
    if !forwarded(&headers) {
        match store.owner(v, &key) {
            Ok(None) => {}
            Ok(Some((process, addr))) => {
                let path = format!("/v1/views/{}/{}", path_segment(&view), path_segment(&key));
                return match fetch_peer(&peers, process, addr, path, authorization(&headers)).await {
                    Ok((status, json)) => (status, Json(json)).into_response(),
                    Err(response) => response,
                };
            }
            Err(e) => return error(StatusCode::BAD_GATEWAY, e),
        }
    }
    match v.get(&key) {
        Some(value) => Json(v.render(&key, &value)).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no key `{key}` in view `{view}`")),
    }
}

async fn table_key(
    State(AppState {
        store, peers: agent, ..
    }): State<AppState>,
    Path((table, key)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> Response {
    let (found, names) = store.table(&table);
    // Process 0 reads every table.
    let reader = store.peers().filter(|p| p.process != 0 && !forwarded(&headers));
    if let (None, Some(peers)) = (&found, reader) {
        let Some(addr) = peers.http.first().cloned().flatten() else {
            return error(
                StatusCode::BAD_GATEWAY,
                "process 0 reads the tables but serves no HTTP API".into(),
            );
        };
        let path = format!("/v1/tables/{}/{}", path_segment(&table), path_segment(&key));
        return match fetch_peer(&agent, 0, &addr, path, authorization(&headers)).await {
            Ok((status, json)) => (status, Json(json)).into_response(),
            Err(response) => response,
        };
    }
    let Some(t) = found else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no table `{table}`; tables: {}", names.join(", ")),
        );
    };
    match t.render(&table, &key) {
        Ok(v) => Json(v).into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, e),
    }
}

#[derive(Deserialize)]
struct ListParams {
    limit: Option<String>,
    after: Option<String>,
}

/// The query parameters each route takes; any other is a 400 naming it.
fn query_parameters(route: &str) -> &'static [&'static str] {
    match route {
        "/v1/views/{view}" => &["limit", "after"],
        _ => &[],
    }
}

/// Answers 400 for a query parameter the route does not take, naming it and the ones it does.
async fn known_query_parameters(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("", |m| m.as_str());
    let allowed = query_parameters(route);
    let unknown: Vec<String> = request
        .uri()
        .query()
        .map(|q| url_pairs(q).filter(|name| !allowed.contains(&name.as_str())).collect())
        .unwrap_or_default();
    if unknown.is_empty() {
        return next.run(request).await;
    }
    let takes = if allowed.is_empty() {
        "this endpoint takes no query parameters".to_string()
    } else {
        format!("this endpoint takes {}", allowed.join(", "))
    };
    error(
        StatusCode::BAD_REQUEST,
        format!("unknown query parameter `{}`: {takes}", unknown.join("`, `")),
    )
}

/// The (percent-decoded) names of a query string's parameters.
fn url_pairs(query: &str) -> impl Iterator<Item = String> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|p| {
        let name = p.split('=').next().unwrap_or("");
        percent_encoding::percent_decode_str(name)
            .decode_utf8_lossy()
            .into_owned()
    })
}

async fn list(
    State(AppState {
        store, peers: agent, ..
    }): State<AppState>,
    Path(view): Path<String>,
    Query(p): Query<ListParams>,
    headers: axum::http::HeaderMap,
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
    let after = p.after.as_deref();
    let mut items: Vec<(String, serde_json::Value)> = v
        .list(after, limit)
        .iter()
        .map(|(k, val)| (k.to_string(), v.render(k, val)))
        .collect();
    let mut count = v.len() as u64;
    if let Some(peers) = store.peers().filter(|_| !forwarded(&headers)) {
        // Every other process's first `limit` keys (after `after`), merged in key order.
        let mut path = format!("/v1/views/{}?limit={limit}", path_segment(&view));
        if let Some(a) = after {
            path.push_str(&format!("&after={}", path_segment(a)));
        }
        for (process, addr) in peers.http.iter().enumerate() {
            if process == peers.process {
                continue;
            }
            let Some(addr) = addr else {
                return error(
                    StatusCode::BAD_GATEWAY,
                    format!("process {process} holds part of this view but serves no HTTP API"),
                );
            };
            let json = match fetch_peer(&agent, process, addr, path.clone(), authorization(&headers)).await {
                Ok((StatusCode::OK, json)) => json,
                Ok((status, json)) => return (status, Json(json)).into_response(),
                Err(response) => return response,
            };
            count += json["count"].as_u64().unwrap_or(0);
            if let Some(theirs) = json["items"].as_array() {
                items.extend(
                    theirs
                        .iter()
                        .map(|i| (i["key"].as_str().unwrap_or_default().to_string(), i.clone())),
                );
            }
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        items.truncate(limit);
    }
    // The last key given, when a page came back full (more keys may follow it).
    let next = (limit > 0 && items.len() == limit).then(|| items[items.len() - 1].0.clone());
    let items: Vec<serde_json::Value> = items.into_iter().map(|(_, i)| i).collect();
    Json(serde_json::json!({"view": view, "count": count, "items": items, "next": next})).into_response()
}

/// Accept errors that concern one connection only (the next accept may well succeed at once).
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// How long the accept loop backs off after an error such as EMFILE (out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts connections until `shutdown` fires: at most `max_connections` at once (more are closed at
/// once), each closed when it sends no complete request head within `idle_timeout`. Running out of file
/// descriptors or memory backs off and retries instead of ending the server.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    plan: ServePlan,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(plan.max_connections.max(1)));
    let mut failing = false;
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                if !failing {
                    eprintln!("weir: HTTP accept failed ({e}); retrying every {ACCEPT_BACKOFF:?}");
                    failing = true;
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        failing = false;
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue; // over the connection cap: closed at once
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let idle = plan.idle_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(idle)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Answers 401 unless the request carries `Authorization: Bearer TOKEN` (the scheme in any case, RFC 7235).
async fn require_token(State(token): State<Arc<str>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_credential);
    if given.is_some_and(|g| same_secret(g.as_bytes(), token.as_bytes())) {
        return next.run(request).await;
    }
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "this API needs `Authorization: Bearer <token>` ([serve] token)".into(),
    );
    response.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        "Bearer".parse().expect("header value"),
    );
    response
}

impl HttpServer {
    /// Binds `plan.listen` (e.g. `127.0.0.1:7878`, port 0 for any) and serves `store` and the metrics of
    /// `ctx` from a background thread. Should the server ever end on its own, the job fails
    /// ([`JobFailure::Http`]) and [`HttpServer::failure`] says why.
    pub fn start(plan: &ServePlan, store: Arc<ViewStore>, ctx: RunContext) -> std::io::Result<HttpServer> {
        let listener = std::net::TcpListener::bind(&plan.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        store.set_http_port(addr.port());
        let (reads_first, realtime) = (plan.reads_first, plan.realtime_reads);
        let prioritise = move || crate::sched::prefer_for_reads(reads_first, realtime);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("weir-http")
            .on_thread_start(move || {
                prioritise();
            })
            .enable_io()
            .enable_time()
            .build()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut app = Router::new()
            .route("/healthz", get(healthz))
            .route("/v1/views", get(list_views))
            .route("/v1/views/{view}", get(list))
            .route("/v1/views/{view}/", get(get_empty_key))
            .route("/v1/views/{view}/{key}", get(get_key))
            .route("/v1/tables/{table}/{key}", get(table_key))
            .route("/metrics", get(metrics))
            .route(
                "/v1/ingest/{source}",
                axum::routing::post(ingest::ingest).layer(axum::extract::DefaultBodyLimit::disable()),
            )
            .route_layer(axum::middleware::from_fn(known_query_parameters))
            .with_state(AppState {
                store,
                ctx: ctx.clone(),
                peers: ureq::Agent::config_builder()
                    .timeout_global(Some(FORWARD_TIMEOUT))
                    .http_status_as_error(false)
                    .max_redirects(0)
                    .build()
                    .into(),
                ingest_sources: Arc::new(plan.ingest_sources.clone()),
            });
        if let Some(token) = &plan.token {
            let token: Arc<str> = token.as_str().into();
            app = app.layer(axum::middleware::from_fn_with_state(token, require_token));
        }
        let stopping = Arc::new(AtomicBool::new(false));
        let failure = Arc::new(parking_lot::Mutex::new(None));
        let (plan, flag, died) = (plan.clone(), stopping.clone(), failure.clone());
        let thread = std::thread::Builder::new().name("weir-http".into()).spawn(move || {
            if !prioritise() {
                eprintln!(
                    "weir: warning: realtime_reads: the kernel refused real-time priority for the HTTP threads \
                     (grant CAP_SYS_NICE or `ulimit -r 1`); they run {}",
                    if reads_first {
                        "with a short time slice"
                    } else {
                        "at default priority"
                    }
                );
            }
            let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    accept_loop(listener, app, plan, rx).await;
                    Ok::<_, std::io::Error>(())
                })
            }));
            if flag.load(Ordering::SeqCst) {
                return;
            }
            let cause = match served {
                Ok(Ok(())) => "the server stopped".to_string(),
                Ok(Err(e)) => e.to_string(),
                Err(panic) => panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "it panicked".into()),
            };
            *died.lock() = Some(cause.clone());
            ctx.stop.fail(JobFailure::Http { addr, cause });
        })?;
        Ok(HttpServer {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
            stopping,
            failure,
        })
    }

    /// Why the server ended on its own, if it did (the job has failed then).
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().clone()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameter_names_are_decoded() {
        let names: Vec<String> = url_pairs("limit=3&cur%73or=x&&after").collect();
        assert_eq!(names, ["limit", "cursor", "after"]);
    }
}
