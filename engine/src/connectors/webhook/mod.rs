//! Webhook delivery of alerts for on-call: one JSON POST per alert, retried with exponential backoff, on
//! delivery threads of their own so that a slow or hanging endpoint never stalls the dataflow or other sinks.
//!
//! Only a 2xx answer is a delivery. A redirect is not followed (a POST silently turned into a GET to another
//! address would lose the page): it fails like any other status, naming where it pointed, so the user can put
//! the final address in `url`. An alert that still fails after the retries is not dropped: the sink turns it
//! into a dead letter with the error as its reason. After a few alerts in a row have failed, the endpoint is
//! treated as down and each further alert gets a single attempt until one succeeds.
//!
//! [`WebhookDelivery`] runs `concurrency` threads fed by a queue of at most `queue` alerts; alerts beyond
//! that wait in the sink operator. With `concurrency = 1` (the default) alerts arrive in output order. When
//! the job stops, deliveries continue for at most `stop_grace`; whatever is still undelivered then becomes a
//! dead letter (an alert whose request was already on the wire may then be delivered *and* dead-lettered —
//! delivery is at least once).
//!
//! With checkpoints, the alerts not answered when a checkpoint is cut are its state, submitted again after a
//! restore; the checkpoint never waits for the endpoint, so a hanging one holds back neither checkpoints nor
//! the other sinks (see `operator.rs`).
//!
//! A [`WebhookConfig`] is the `kind = "webhook"` sink component; what it fails to deliver is its
//! `NAME.failed` stream.
//!
//! **Bodies and TLS.** By default the body is weir's alert JSON. A [`BodyTemplate`] (`body`) shapes it for
//! Slack, Teams, PagerDuty or Opsgenie: `{{FIELD}}` is the alert's field, JSON-escaped (write it inside a JSON
//! string), `{{alert}}` the whole alert object. `https://` endpoints are verified against Mozilla's root
//! certificates (bundled, so no system store is needed), or against the PEM certificates of `ca_file` (a
//! private CA, a self-signed endpoint).

pub mod config;
mod operator;

use crate::component::{SinkBuildContext, SinkComponent};
use crate::error::BuildError;
use crate::record::RecordStream;
use operator::webhook_sink;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use timely::scheduling::SyncActivator;

/// How to reach the endpoint.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Alerts handed to the delivery threads and not yet answered, at most.
    pub queue: usize,
    /// How long a stopping job keeps delivering before the rest become dead letters.
    pub stop_grace: Duration,
    /// The body to send instead of the alert JSON.
    pub body: Option<BodyTemplate>,
    /// The certificates to verify an `https://` endpoint against instead of the bundled roots.
    pub ca: Option<RootCertificates>,
}

/// Root certificates for `https://` endpoints (`ca_file`), read once from PEM text.
#[derive(Clone, Debug)]
pub struct RootCertificates(Arc<Vec<ureq::tls::Certificate<'static>>>);

impl RootCertificates {
    /// The certificates in `pem` (other sections, such as a key, are skipped); PEM that cannot be read, or
    /// none of it a certificate, is an error.
    pub fn from_pem(pem: &[u8]) -> Result<RootCertificates, String> {
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(pem) {
            if let ureq::tls::PemItem::Certificate(c) = item.map_err(|e| format!("is not valid PEM ({e})"))? {
                certs.push(c);
            }
        }
        if certs.is_empty() {
            return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
        }
        Ok(RootCertificates(Arc::new(certs)))
    }
}

/// One piece of a [`BodyTemplate`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// An alert field's value, JSON-escaped (no quotes added).
    Field(String),
    /// The whole alert object.
    Alert,
}

/// A webhook body with `{{FIELD}}` and `{{alert}}` placeholders (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyTemplate {
    pieces: Vec<Piece>,
}

impl BodyTemplate {
    /// Parses `text`; a `{{` without its `}}`, or an empty placeholder, is an error.
    pub fn parse(text: &str) -> Result<BodyTemplate, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("`{{{{` at byte {} has no `}}}}`", text.len() - rest.len() + open))?;
            let name = after[..close].trim();
            if name.is_empty() {
                return Err("an empty `{{}}`: write `{{FIELD}}` or `{{alert}}`".into());
            }
            pieces.push(if name == "alert" {
                Piece::Alert
            } else {
                Piece::Field(name.to_string())
            });
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(BodyTemplate { pieces })
    }

    /// The alert fields the template names.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Field(f) => Some(f.as_str()),
            _ => None,
        })
    }

    /// The body for the alert whose JSON is `alert`: a string field JSON-escaped, a number or boolean as
    /// itself, a missing or NULL field as `null`.
    pub fn render(&self, alert: &str) -> String {
        let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(alert).unwrap_or_default();
        let mut out = String::with_capacity(alert.len() + 64);
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Alert => out.push_str(alert),
                Piece::Field(f) => match fields.get(f) {
                    Some(serde_json::Value::String(s)) => {
                        let quoted = serde_json::Value::String(s.clone()).to_string();
                        out.push_str(&quoted[1..quoted.len() - 1]);
                    }
                    Some(v) => out.push_str(&v.to_string()),
                    None => out.push_str("null"),
                },
            }
        }
        out
    }
}

impl SinkComponent for WebhookConfig {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn has_failures(&self) -> bool {
        true
    }

    fn describe(&self, name: &str) -> String {
        format!(
            "webhook POST {} (timeout {:?}, {} retries, {} at a time; only 2xx is delivered, redirects are not followed; undelivered → {name}.failed)",
            self.url, self.timeout, self.retries, self.concurrency
        )
    }

    fn build<'s>(&self, cx: SinkBuildContext<'s, '_>) -> Result<Option<RecordStream<'s>>, BuildError> {
        let config = cx.writes.then(|| self.clone());
        // The alerts the checkpoint held as unanswered (the writing worker's part).
        let restored = match cx.writes {
            true => cx.restored_state::<Vec<crate::dataflow::Line>>()?.unwrap_or_default(),
            false => Vec::new(),
        };
        let failed = webhook_sink(
            cx.lines(|_| None),
            cx.name.to_string(),
            config,
            restored,
            cx.ctx.clone(),
        );
        Ok(Some(failed))
    }
}

/// Consecutive failed alerts after which retries are skipped until an alert gets through.
const DOWN_AFTER: u32 = 3;

/// One alert to deliver: an id the sink chose and its JSON body.
struct Job {
    id: u64,
    body: String,
}

/// What the delivery threads share.
struct Shared {
    config: WebhookConfig,
    failed_in_a_row: AtomicU32,
    /// Set when the job gave up waiting: queued alerts are answered with an error without an attempt.
    given_up: AtomicBool,
}

/// The delivery threads of one webhook sink. Dropping it gives up on what is queued; the threads end once
/// their current request returns.
pub struct WebhookDelivery {
    jobs: Option<mpsc::SyncSender<Job>>,
    results: mpsc::Receiver<(u64, Result<(), String>)>,
    shared: Arc<Shared>,
}

impl WebhookDelivery {
    /// Starts `config.concurrency` delivery threads; `wake` is activated after each answered alert.
    pub fn start(config: WebhookConfig, wake: SyncActivator) -> std::io::Result<WebhookDelivery> {
        let (jobs, queue) = mpsc::sync_channel::<Job>(config.queue.max(1));
        let (answer, results) = mpsc::channel();
        let queue = Arc::new(Mutex::new(queue));
        let wake = Arc::new(wake);
        let shared = Arc::new(Shared {
            failed_in_a_row: AtomicU32::new(0),
            given_up: AtomicBool::new(false),
            config,
        });
        for i in 0..shared.config.concurrency.max(1) {
            let (queue, answer, wake, shared) = (queue.clone(), answer.clone(), wake.clone(), shared.clone());
            std::thread::Builder::new()
                .name(format!("weir-webhook-{i}"))
                .spawn(move || {
                    let sender = Sender::new(&shared);
                    loop {
                        let job = queue.lock().recv();
                        let Ok(job) = job else { return };
                        let result = sender.send(&job.body);
                        if answer.send((job.id, result)).is_err() {
                            return;
                        }
                        let _ = wake.activate();
                    }
                })?;
        }
        Ok(WebhookDelivery {
            jobs: Some(jobs),
            results,
            shared,
        })
    }

    /// Queues an alert; gives the body back when the queue is full.
    pub fn try_submit(&self, id: u64, body: String) -> Result<(), String> {
        let jobs = self.jobs.as_ref().expect("submitting after finish");
        match jobs.try_send(Job { id, body }) {
            Ok(()) => Ok(()),
            Err(mpsc::TrySendError::Full(j) | mpsc::TrySendError::Disconnected(j)) => Err(j.body),
        }
    }

    /// The alerts answered since the last call: their id and the outcome.
    pub fn answered(&self) -> Vec<(u64, Result<(), String>)> {
        self.results.try_iter().collect()
    }

    /// Stops attempting queued alerts (each is answered with an error at once).
    pub fn give_up(&self) {
        self.shared.given_up.store(true, Ordering::SeqCst);
    }

    /// The reason given to alerts not delivered because the job stopped.
    pub fn stop_reason(&self) -> String {
        stop_reason(&self.shared.config)
    }

    /// How long a stopping job keeps delivering.
    pub fn stop_grace(&self) -> Duration {
        self.shared.config.stop_grace
    }
}

impl Drop for WebhookDelivery {
    fn drop(&mut self) {
        self.give_up();
        self.jobs = None;
    }
}

fn stop_reason(config: &WebhookConfig) -> String {
    format!(
        "webhook {}: not delivered within the stop grace period ({:?})",
        config.url, config.stop_grace
    )
}

/// One thread's HTTP client.
struct Sender<'a> {
    shared: &'a Shared,
    agent: ureq::Agent,
}

impl<'a> Sender<'a> {
    fn new(shared: &'a Shared) -> Self {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(RootCertificates(certs)) = &shared.config.ca {
            tls = tls.root_certs(ureq::tls::RootCerts::Specific(certs.clone()));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(shared.config.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .tls_config(tls.build())
            .build()
            .into();
        Self { shared, agent }
    }

    fn attempt(&self, body: &str) -> Result<(), String> {
        let config = &self.shared.config;
        let mut req = self.agent.post(&config.url).header("content-type", "application/json");
        for (k, v) in &config.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.send(body) {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) if resp.status().is_redirection() => {
                let to = resp
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or("nowhere");
                Err(format!(
                    "HTTP {} redirect to {to} (redirects are not followed; set url to the final address)",
                    resp.status()
                ))
            }
            Ok(resp) => Err(format!("HTTP {}", resp.status())),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Delivers one alert; `Err` carries the last error after every attempt failed.
    fn send(&self, alert: &str) -> Result<(), String> {
        let config = &self.shared.config;
        let rendered = config.body.as_ref().map(|t| t.render(alert));
        let body = rendered.as_deref().unwrap_or(alert);
        let given_up = || self.shared.given_up.load(Ordering::SeqCst);
        let attempts = if self.shared.failed_in_a_row.load(Ordering::SeqCst) >= DOWN_AFTER {
            1
        } else {
            1 + config.retries
        };
        let mut delay = config.backoff;
        let mut last = String::new();
        let mut made = 0;
        for i in 0..attempts {
            if given_up() {
                break;
            }
            if i > 0 {
                std::thread::sleep(delay);
                delay = delay.saturating_mul(2);
            }
            made += 1;
            match self.attempt(body) {
                Ok(()) => {
                    self.shared.failed_in_a_row.store(0, Ordering::SeqCst);
                    return Ok(());
                }
                Err(e) => last = e,
            }
        }
        if made == 0 {
            return Err(stop_reason(config));
        }
        self.shared.failed_in_a_row.fetch_add(1, Ordering::SeqCst);
        Err(format!("webhook {} failed after {made} attempt(s): {last}", config.url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trap 5: Slack- and PagerDuty-shaped bodies from an alert, its strings JSON-escaped.
    #[test]
    fn a_template_fills_in_escaped_fields_and_the_whole_alert() {
        let alert = r#"{"kind":"vibration_exceeded","key":"vib-\"7\"","ppv":12.5,"site":null}"#;
        let t =
            BodyTemplate::parse(r#"{"text":"{{kind}} at {{ key }}: {{ppv}} mm/s, {{site}} {{nope}}","a":{{alert}}}"#)
                .unwrap();
        let body = t.render(alert);
        assert_eq!(
            body,
            r#"{"text":"vibration_exceeded at vib-\"7\": 12.5 mm/s, null null","a":"#.to_string() + alert + "}"
        );
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["text"], "vibration_exceeded at vib-\"7\": 12.5 mm/s, null null");
        assert_eq!(t.fields().collect::<Vec<_>>(), ["kind", "key", "ppv", "site", "nope"]);
        assert!(BodyTemplate::parse("{{kind").unwrap_err().contains("no `}}`"));
        assert!(BodyTemplate::parse("x {{ }} y").unwrap_err().contains("empty"));
    }
}
