//! `kind = "kafka"`: a table in a compacted Kafka topic, read from the start of every partition.
//!
//! A message's value is the row (JSON, in the table's schema); a message without a value (a tombstone)
//! deletes the key its message key names (the key's text; for a key of several fields a JSON object of
//! them, as Flink's `key.format = 'json'` writes it). A row's version time is its `version` field, or else the
//! message's timestamp. The table is known up to a read's start only once every partition has been read
//! to its end; until the initial read gets there, joins wait.

use crate::component::{now_ms, TableComponent, TableReader};
use crate::connectors::kafka::client::ClosedInBackground;
use crate::decode::Decoder;
use crate::schema::Schema;
use crate::table::{parse_message_key, Found, Origin, TableError, TableRead};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// `kind = "kafka"`.
#[derive(Clone, Debug)]
pub struct KafkaTable {
    pub brokers: String,
    pub topic: String,
    /// How often the topic is read for new messages.
    pub interval: Duration,
    /// Extra librdkafka settings, applied last.
    pub properties: Vec<(String, String)>,
    /// The key's fields, by schema index (tombstones name their key in the message key: the value's text, or
    /// a JSON object of the key's fields).
    pub key: Vec<usize>,
}

impl TableComponent for KafkaTable {
    fn kind(&self) -> &'static str {
        "kafka"
    }

    /// librdkafka crashes (SIGSEGV) when a topic it reads or writes is deleted.
    fn may_crash_process(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!(
            "compacted Kafka topic `{}` at {}, from its start",
            self.topic, self.brokers
        )
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn open(&self, schema: &Schema) -> Result<Box<dyn TableReader>, TableError> {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", &self.brokers)
            // assign() only: the group id is never used for membership or commits.
            .set("group.id", "weir-table")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("fetch.wait.max.ms", "50")
            .set("reconnect.backoff.max.ms", "2000");
        for (k, v) in &self.properties {
            cfg.set(k, v);
        }
        let consumer: BaseConsumer = cfg
            .create()
            .map_err(|e| TableError::Kafka(format!("cannot create a client for {}: {e}", self.brokers)))?;
        Ok(Box::new(KafkaTableReader {
            table: self.clone(),
            decoder: Decoder::new(schema.clone()),
            schema: schema.clone(),
            consumer: ClosedInBackground::new(consumer),
            next: BTreeMap::new(),
        }))
    }
}

struct KafkaTableReader {
    table: KafkaTable,
    schema: Schema,
    decoder: Decoder,
    consumer: ClosedInBackground<BaseConsumer>,
    /// partition → next offset to read; empty until the partitions are assigned.
    next: BTreeMap<i32, i64>,
}

impl KafkaTableReader {
    fn kafka(&self, what: &str, e: impl std::fmt::Display) -> TableError {
        TableError::Kafka(format!(
            "topic `{}` at {}: {what}: {e}",
            self.table.topic, self.table.brokers
        ))
    }

    /// Assigns every partition at its start (once the topic exists).
    fn assign(&mut self) -> Result<(), TableError> {
        if !self.next.is_empty() {
            return Ok(());
        }
        let partitions = crate::connectors::kafka::client::topic_partitions(
            self.consumer.client(),
            &self.table.topic,
            Duration::from_secs(5),
        )
        .map_err(|e| self.kafka("the brokers do not answer", e))?
        .ok_or_else(|| self.kafka("no such topic", "create it (compacted) first"))?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions as i32 {
            tpl.add_partition_offset(&self.table.topic, p, Offset::Beginning)
                .expect("valid partition list");
            self.next.insert(p, 0);
        }
        self.consumer.assign(&tpl).map_err(|e| self.kafka("cannot assign", e))?;
        Ok(())
    }

    fn message(&mut self, m: &rdkafka::message::OwnedMessage) -> (Origin, Found) {
        let raw = m.payload().map(|p| String::from_utf8_lossy(p).into_owned());
        let origin = Origin {
            partition: m.partition() as u32,
            offset: m.offset().max(0) as u64,
            raw: raw.clone().unwrap_or_default(),
        };
        let ts = m.timestamp().to_millis();
        let found = match m.payload() {
            None => {
                let key_fields: Vec<_> = self.table.key.iter().map(|i| &self.schema.fields[*i]).collect();
                match m.key().map(String::from_utf8_lossy) {
                    Some(k) => match parse_message_key(&key_fields, &k) {
                        Ok(key) => Found::Delete { key, at: ts },
                        Err(e) => Found::Bad(format!("tombstone with an unusable key: {e}")),
                    },
                    None => Found::Bad("a tombstone without a message key deletes nothing".into()),
                }
            }
            Some(p) => Found::decoded(&mut self.decoder, p, ts),
        };
        (origin, found)
    }

    /// Whether every partition has been read to its end.
    fn at_end(&self) -> Result<bool, TableError> {
        for (p, next) in &self.next {
            let (_, high) = self
                .consumer
                .fetch_watermarks(&self.table.topic, *p, Duration::from_secs(5))
                .map_err(|e| self.kafka("cannot read the partition ends", e))?;
            if *next < high {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl TableReader for KafkaTableReader {
    fn read(&mut self) -> Result<TableRead, TableError> {
        let read_at = now_ms();
        self.assign()?;
        let mut found = Vec::new();
        let started = Instant::now();
        // Read until nothing more arrives (or for at most a second: the table's updates go out in steps).
        let quiet = loop {
            match self.consumer.poll(Duration::from_millis(200)) {
                None => break true,
                Some(Err(e)) => return Err(self.kafka("cannot read", e)),
                Some(Ok(m)) => {
                    let m = m.detach();
                    self.next.insert(m.partition(), m.offset() + 1);
                    found.push(self.message(&m));
                }
            }
            if started.elapsed() > Duration::from_secs(1) {
                break false;
            }
        };
        let caught_up = quiet && self.at_end()?;
        Ok(TableRead {
            found,
            complete: false,
            read_at,
            caught_up,
        })
    }

    fn check(&mut self) -> Result<(), TableError> {
        self.assign()
    }
}
