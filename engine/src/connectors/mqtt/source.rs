//! The `kind = "mqtt"` source component and its client: a persistent session (`clean_session = false`, a
//! stable client id) with manual acknowledgements. Two threads per process:
//!
//! - the **connection** thread runs the client's event loop: it (re)subscribes on every connection, appends
//!   each message to the ingest log — unless it is a redelivery (DUP) of the latest record that came with the
//!   same packet id, topic and payload. A QoS 1 acknowledgement is never confirmed by the broker (one still
//!   in the socket's queue is lost when the process is killed), so the latest record of every packet id
//!   stays a candidate: byte-identical messages that reuse a packet id across a crash are indistinguishable
//!   from a redelivery (mosquitto numbers a session's messages in turn, so that takes 65 535 messages in
//!   between; give messages an id to be sure). A QoS 2 release (PUBREL) would end that candidacy; QoS 2 is
//!   refused by the options until the client can resume it after a restart;
//! - the **acknowledging** thread waits for the log's group `fsync` to cover what arrived, then has the
//!   client acknowledge it (PUBACK).
//!
//! A full log stops the appending (and so the acknowledging): the broker keeps the messages. An unreachable
//! broker is retried every second and reported as a warning in `/healthz` until it is back. With several
//! processes each subscribes through a shared subscription (`$share/weir-JOB-SOURCE/…`) with its own client id
//! (`…-pN`), so every message goes to one process's log.

use crate::component::ingest::{prepare_ingest, IngestFeed, IngestOptions};
use crate::component::{PreparedSource, SourceComponent, SourcePrepareContext};
use crate::dataflow::{Gauges, JobFailure, Stopping};
use crate::error::RunError;
use crate::ingest::{IngestError, IngestLog, LogRecord, Publish as Logged};
use rumqttc::{Client, Connection, Event, MqttOptions, Outgoing, Packet, Publish, QoS, SubscribeFilter, Transport};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

/// A `kind = "mqtt"` source.
#[derive(Clone, Debug, PartialEq)]
pub struct MqttSourceSpec {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// With TLS: the CA certificate (PEM) to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    pub topics: Vec<String>,
    pub qos: u8,
    /// `None`: `weir-JOB-SOURCE`.
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub keep_alive: Duration,
    pub options: IngestOptions,
}

impl SourceComponent for MqttSourceSpec {
    fn kind(&self) -> &'static str {
        "mqtt"
    }

    fn describe(&self, _workers: usize) -> String {
        format!(
            "MQTT topics {} at {}://{}:{} (QoS {}, persistent session{}), kept in an ingest log of up to {} bytes \
             per process, read by the process's first worker{}",
            self.topics.join(", "),
            if self.tls { "mqtts" } else { "mqtt" },
            self.host,
            self.port,
            self.qos,
            self.client_id.as_ref().map(|c| format!(" `{c}`")).unwrap_or_default(),
            self.options.max_log_bytes,
            self.options.idle_words()
        )
    }

    fn shape(&self) -> String {
        "mqtt ingest log".into()
    }

    fn ends(&self) -> bool {
        false
    }

    fn needs_checkpoints(&self) -> bool {
        true
    }

    fn added_fields(&self) -> Vec<crate::schema::Field> {
        self.options.added_fields()
    }

    fn prepare(&self, cx: SourcePrepareContext) -> Result<Arc<dyn PreparedSource>, RunError> {
        prepare_ingest(&cx, &self.options, self)
    }
}

fn qos(level: u8) -> QoS {
    match level {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

impl MqttSourceSpec {
    fn client_options(&self, job: &str, source: &str, process: (usize, usize)) -> Result<MqttOptions, String> {
        let mut id = self.client_id.clone().unwrap_or_else(|| format!("weir-{job}-{source}"));
        if process.1 > 1 {
            id += &format!("-p{}", process.0);
        }
        let mut o = MqttOptions::new(id, self.host.clone(), self.port);
        o.set_clean_session(false)
            .set_manual_acks(true)
            .set_keep_alive(self.keep_alive)
            .set_max_packet_size(16 << 20, 16 << 20);
        if let Some(user) = &self.username {
            o.set_credentials(user.clone(), self.password.clone().unwrap_or_default());
        }
        if self.tls {
            let transport = match &self.ca_file {
                Some(path) => {
                    let ca = std::fs::read(path).map_err(|e| format!("ca_file `{}`: {e}", path.display()))?;
                    Transport::tls(ca, None, None)
                }
                None => std::panic::catch_unwind(Transport::tls_with_default_config)
                    .map_err(|_| "mqtts://: the system's root certificates cannot be loaded; give ca_file")?,
            };
            o.set_transport(transport);
        }
        Ok(o)
    }

    fn filters(&self, job: &str, source: &str, processes: usize) -> Vec<SubscribeFilter> {
        self.topics
            .iter()
            .map(|t| {
                let path = if processes > 1 {
                    format!("$share/weir-{job}-{source}/{t}")
                } else {
                    t.clone()
                };
                SubscribeFilter::new(path, qos(self.qos))
            })
            .collect()
    }
}

impl IngestFeed for MqttSourceSpec {
    fn start(&self, log: Arc<IngestLog>, cx: &SourcePrepareContext) -> Result<Box<dyn Send + Sync>, RunError> {
        let name = cx.source.name.clone();
        let meta = cx.coordinator.meta();
        let options = self
            .client_options(&meta.job, &name, meta.process)
            .map_err(|cause| RunError::Source {
                source_name: name.clone(),
                cause,
            })?;
        let (client, connection) = Client::new(options, 1024);
        let stopping = Arc::new(AtomicBool::new(false));
        let (to_ack, acks) = std::sync::mpsc::channel();
        let session = Session {
            name: name.clone(),
            url: format!("{}://{}:{}", if self.tls { "mqtts" } else { "mqtt" }, self.host, self.port),
            filters: self.filters(&meta.job, &name, meta.process.1),
            log: log.clone(),
            client: client.clone(),
            to_ack,
            stopping: stopping.clone(),
            gauges: cx.ctx.gauges.clone(),
            metrics: cx.ctx.metrics.clone(),
            stop: cx.ctx.stop.clone(),
        };
        let spawn = |thread: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(format!("weir-mqtt-{thread}"))
                .spawn(f)
                .map_err(|e| RunError::Source {
                    source_name: name.clone(),
                    cause: format!("cannot start the MQTT client: {e}"),
                })
        };
        let acking = {
            let (log, client, stop) = (log, client.clone(), cx.ctx.stop.clone());
            let name = name.clone();
            spawn("ack", Box::new(move || acknowledge(acks, &log, &client, &stop, &name)))?
        };
        spawn("connection", Box::new(move || session.run(connection)))?;
        Ok(Box::new(Running {
            client,
            stopping,
            acking: Some(acking),
        }))
    }
}

/// The running client; disconnects (keeping the session) when dropped.
struct Running {
    client: Client,
    stopping: Arc<AtomicBool>,
    acking: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // The connection thread drops its sender as it ends; acknowledgements of what is durable go out first.
        let _ = self.client.disconnect();
        if let Some(a) = self.acking.take() {
            let _ = a.join();
        }
    }
}

/// What the connection thread holds.
struct Session {
    name: String,
    url: String,
    filters: Vec<SubscribeFilter>,
    log: Arc<IngestLog>,
    client: Client,
    to_ack: Sender<(Publish, u64)>,
    stopping: Arc<AtomicBool>,
    gauges: Gauges,
    metrics: Arc<crate::metrics::Metrics>,
    stop: Stopping,
}

impl Session {
    fn about(&self) -> String {
        format!("source `{}`", self.name)
    }

    fn run(self, mut connection: Connection) {
        while !self.stopping.load(Ordering::SeqCst) {
            let event = match connection.recv() {
                Ok(e) => e,
                Err(_) => return,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    self.gauges.set_warning(&self.about(), None);
                    if self.client.try_subscribe_many(self.filters.clone()).is_err() {
                        self.gauges
                            .set_warning(&self.about(), Some("cannot subscribe: the client's queue is full".into()));
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if !self.append(p) {
                        return;
                    }
                }
                Ok(Event::Incoming(Packet::PubRel(r))) => {
                    if let Err(e) = self.log.released(r.pkid) {
                        self.fail(e);
                        return;
                    }
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                Ok(_) => {}
                Err(e) => {
                    if self.stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    self.metrics.source_retry(&self.name);
                    self.gauges.set_warning(
                        &self.about(),
                        Some(format!(
                            "MQTT broker {} unreachable ({e}); retrying every second, nothing is lost",
                            self.url
                        )),
                    );
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }

    /// Appends a message (waiting while the log is full); `false` when the source must stop.
    fn append(&self, p: Publish) -> bool {
        let record = LogRecord {
            payload: &p.payload,
            topic: Some(&p.topic),
            packet_id: (p.qos != QoS::AtMostOnce).then_some(p.pkid),
            tick: false,
        };
        let mut full_reported = false;
        loop {
            match self.log.append_publish(&record, p.dup) {
                Ok(Logged::Appended(offset) | Logged::Known(offset)) => {
                    if full_reported {
                        self.gauges.set_warning(&self.about(), None);
                    }
                    if p.qos != QoS::AtMostOnce {
                        let _ = self.to_ack.send((p, offset + 1));
                    }
                    return true;
                }
                Err(e @ IngestError::Full { .. }) => {
                    if !full_reported {
                        self.metrics.ingest_log_full(&self.name);
                        self.gauges
                            .set_warning(&self.about(), Some(format!("{e}; not acknowledging until it has room")));
                        full_reported = true;
                    }
                    if self.stopping.load(Ordering::SeqCst) {
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => {
                    self.fail(e);
                    return false;
                }
            }
        }
    }

    fn fail(&self, e: IngestError) {
        self.stop.fail(JobFailure::SourceRead {
            source_name: self.name.clone(),
            cause: e.to_string(),
        });
    }
}

/// Acknowledges messages once the log's `fsync` covers them, as many at a time as have arrived.
fn acknowledge(acks: Receiver<(Publish, u64)>, log: &IngestLog, client: &Client, stop: &Stopping, name: &str) {
    while let Ok(first) = acks.recv() {
        let mut batch = vec![first];
        batch.extend(acks.try_iter());
        let end = batch.iter().map(|(_, e)| *e).max().unwrap_or(0);
        if let Err(e) = log.wait_durable(end) {
            stop.fail(JobFailure::SourceRead {
                source_name: name.to_string(),
                cause: e.to_string(),
            });
            return;
        }
        for (p, _) in batch {
            if client.ack(&p).is_err() {
                // The client is gone (the job stops): the broker redelivers what was not acknowledged.
                return;
            }
        }
    }
}
