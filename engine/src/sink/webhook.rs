//! Webhook delivery of alerts for on-call: one JSON POST per alert, retried with exponential backoff.
//!
//! An alert that still fails after the retries is not dropped: the caller turns it into a dead letter with the
//! HTTP error as its reason. After a few alerts in a row have failed, the endpoint is treated as down and each
//! further alert gets a single attempt until one succeeds — so a dead endpoint delays the dataflow by at most
//! one timeout per alert, never indefinitely.
//!
//! A [`WebhookConfig`] is the `kind = "webhook"` sink component; what it fails to deliver is its
//! `NAME.failed` stream. Delivery is at least once (not checkpointed).

use crate::component::{SinkBuildContext, SinkComponent};
use crate::dataflow::sink_op::webhook_sink;
use crate::record::RecordStream;
use crate::runtime::BuildError;
use std::time::Duration;

/// How to reach the endpoint.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
}

impl SinkComponent for WebhookConfig {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn has_failures(&self) -> bool {
        true
    }

    fn checkpoints(&self) -> bool {
        false
    }

    fn describe(&self, name: &str) -> String {
        format!(
            "webhook POST {} (timeout {:?}, {} retries; undelivered → {name}.failed)",
            self.url, self.timeout, self.retries
        )
    }

    fn build<'s>(&self, cx: SinkBuildContext<'s, '_>) -> Result<Option<RecordStream<'s>>, BuildError> {
        let sender = cx.writes.then(|| WebhookSender::new(self.clone()));
        let failed = webhook_sink(cx.lines(|_| None), cx.name.to_string(), sender, cx.ctx.clone());
        Ok(Some(failed))
    }
}

/// Consecutive failed alerts after which retries are skipped until an alert gets through.
const DOWN_AFTER: u32 = 3;

pub struct WebhookSender {
    config: WebhookConfig,
    agent: ureq::Agent,
    failed_in_a_row: u32,
}

impl WebhookSender {
    pub fn new(config: WebhookConfig) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            config,
            agent,
            failed_in_a_row: 0,
        }
    }

    fn attempt(&self, body: &str) -> Result<(), String> {
        let mut req = self
            .agent
            .post(&self.config.url)
            .header("content-type", "application/json");
        for (k, v) in &self.config.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.send(body) {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) => Err(format!("HTTP {}", resp.status())),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Delivers one alert; `Err` carries the last error after every attempt failed.
    pub fn send(&mut self, body: &str) -> Result<(), String> {
        let attempts = if self.failed_in_a_row >= DOWN_AFTER {
            1
        } else {
            1 + self.config.retries
        };
        let mut delay = self.config.backoff;
        let mut last = String::new();
        for i in 0..attempts {
            if i > 0 {
                std::thread::sleep(delay);
                delay = delay.saturating_mul(2);
            }
            match self.attempt(body) {
                Ok(()) => {
                    self.failed_in_a_row = 0;
                    return Ok(());
                }
                Err(e) => last = e,
            }
        }
        self.failed_in_a_row += 1;
        Err(format!(
            "webhook {} failed after {attempts} attempt(s): {last}",
            self.config.url
        ))
    }
}
