//! Counters shared by all workers of a run: what came in, what went out, what was set aside — as plain
//! totals (progress line, run summary) and as labelled Prometheus families (`GET /metrics`).
//!
//! Updated once per chunk or per emitted batch (never per record on a hot path); dead letters and alerts,
//! which are rare, once each.

use parking_lot::Mutex;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

type Labels = Vec<(String, String)>;

#[derive(Debug, Default)]
pub struct Metrics {
    pub bytes_read: AtomicU64,
    pub records_in: AtomicU64,
    pub dead_letters: AtomicU64,
    pub late: AtomicU64,
    pub window_rows: AtomicU64,
    pub alerts: AtomicU64,
    /// Total input bytes of bounded sources, when known (for progress bars).
    pub bytes_total: AtomicU64,
    records_in_by_source: Family<Labels, Counter>,
    records_out_by_sink: Family<Labels, Counter>,
    dead_letters_by_reason: Family<Labels, Counter>,
    late_by_source: Family<Labels, Counter>,
    alerts_by_kind: Family<Labels, Counter>,
    late_table_versions: Family<Labels, Counter>,
    join_lookups: Family<Labels, Counter>,
    sink_retries: Family<Labels, Counter>,
    source_retries: Family<Labels, Counter>,
    ingest_log_full: Family<Labels, Counter>,
}

/// A short, bounded label for a dead letter's free-text reason.
pub fn reason_class(reason: &str) -> &'static str {
    if reason == "late" {
        "late"
    } else if reason.starts_with("invalid JSON") {
        "invalid_json"
    } else if reason.starts_with("missing field") {
        "missing_field"
    } else if reason.contains("not a finite number") {
        "non_finite"
    } else if reason.contains("unknown value") {
        "unknown_value"
    } else if reason.contains(": expected ") || reason.contains("out of range") {
        "wrong_type"
    } else if reason == "empty message" {
        "empty_message"
    } else if reason.starts_with("expression `") {
        "expression_failed"
    } else if reason.starts_with("no match in table") {
        "no_match"
    } else if reason.starts_with("the row has no") || reason.starts_with("a second row") {
        "bad_table_row"
    } else {
        "delivery_failed"
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// `n` valid records read by `source`.
    pub fn records_read(&self, source: &str, n: u64) {
        Self::add(&self.records_in, n);
        if n > 0 {
            self.records_in_by_source
                .get_or_create(&labels(&[("source", source)]))
                .inc_by(n);
        }
    }

    /// A chunk `source` decoded: its valid records, and a dead letter per invalid line.
    pub fn chunk_decoded(&self, source: &str, chunk: &crate::chunk::DecodedChunk) {
        self.records_read(source, chunk.len() as u64);
        for bad in &chunk.invalid {
            self.dead_letter(source, &bad.reason);
        }
    }

    /// `n` items written by `sink`.
    pub fn records_written(&self, sink: &str, n: u64) {
        if n > 0 {
            self.records_out_by_sink
                .get_or_create(&labels(&[("sink", sink)]))
                .inc_by(n);
        }
    }

    /// Items `sink` has written in this process.
    pub fn records_out_of(&self, sink: &str) -> u64 {
        self.records_out_by_sink.get_or_create(&labels(&[("sink", sink)])).get()
    }

    /// One dead letter from `source` (a source or a sink name) for `reason`.
    pub fn dead_letter(&self, source: &str, reason: &str) {
        Self::add(&self.dead_letters, 1);
        self.dead_letters_by_reason
            .get_or_create(&labels(&[("source", source), ("reason", reason_class(reason))]))
            .inc();
    }

    /// `n` records of `source` late for a window.
    pub fn late_records(&self, source: &str, n: u64) {
        Self::add(&self.late, n);
        if n > 0 {
            self.late_by_source
                .get_or_create(&labels(&[("source", source)]))
                .inc_by(n);
        }
    }

    /// `n` versions of `table` read after the table was already known past their version time.
    pub fn late_table_versions(&self, table: &str, n: u64) {
        self.late_table_versions
            .get_or_create(&labels(&[("table", table)]))
            .inc_by(n);
    }

    /// One failed attempt of `sink` to deliver, retried (its database or broker cannot be reached).
    pub fn sink_retry(&self, sink: &str) {
        self.sink_retries.get_or_create(&labels(&[("sink", sink)])).inc();
    }

    /// A source failed to reach its broker and tries again.
    pub fn source_retry(&self, source: &str) {
        self.source_retries.get_or_create(&labels(&[("source", source)])).inc();
    }

    /// An ingest source had to wait or refuse a request because its log was full.
    pub fn ingest_log_full(&self, source: &str) {
        self.ingest_log_full.get_or_create(&labels(&[("source", source)])).inc();
    }

    /// `n` records `join` looked up, `matched` of them found a row.
    pub fn join_lookups(&self, join: &str, n: u64, matched: u64) {
        self.join_lookups
            .get_or_create(&labels(&[("join", join), ("result", "matched")]))
            .inc_by(matched);
        self.join_lookups
            .get_or_create(&labels(&[("join", join), ("result", "unmatched")]))
            .inc_by(n - matched);
    }

    /// One alert of `kind`.
    pub fn alert(&self, kind: &str) {
        Self::add(&self.alerts, 1);
        self.alerts_by_kind.get_or_create(&labels(&[("kind", kind)])).inc();
    }

    /// The Prometheus text exposition of these counters plus the run's gauges.
    pub fn render(&self, gauges: &RunGauges) -> String {
        let mut r = Registry::with_prefix("weir");
        r.register(
            "records_in",
            "Valid records read, per source",
            self.records_in_by_source.clone(),
        );
        r.register(
            "records_out",
            "Rows, alerts and lines written, per sink",
            self.records_out_by_sink.clone(),
        );
        r.register(
            "dead_letters",
            "Records set aside as dead letters, per source and reason",
            self.dead_letters_by_reason.clone(),
        );
        r.register(
            "late_records",
            "Records late for a window, per source",
            self.late_by_source.clone(),
        );
        r.register("alerts", "Alerts raised, per kind", self.alerts_by_kind.clone());
        r.register(
            "table_late_versions",
            "Table versions read after the table was known past their version time (applied from then)",
            self.late_table_versions.clone(),
        );
        r.register(
            "join_lookups",
            "Records joins looked up, by result",
            self.join_lookups.clone(),
        );
        r.register(
            "sink_retries",
            "Failed attempts to deliver that a sink retries (its database cannot be reached), per sink",
            self.sink_retries.clone(),
        );
        r.register(
            "source_retries",
            "Failed attempts to reach a source's broker (MQTT), each retried, per source",
            self.source_retries.clone(),
        );
        r.register(
            "ingest_log_full",
            "Times an ingest source's log was full (HTTP 503 answers; MQTT waits before acknowledging), per source",
            self.ingest_log_full.clone(),
        );
        let bytes = Counter::<u64>::default();
        bytes.inc_by(Self::get(&self.bytes_read));
        r.register("input_bytes", "Bytes read from all sources", bytes);
        if let Some(w) = gauges.watermark_ms {
            let g = Gauge::<i64>::default();
            g.set(w);
            r.register(
                "job_watermark_milliseconds",
                "The job watermark (event time, epoch ms)",
                g,
            );
            let lag = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
            lag.set(((gauges.now_ms - w) as f64 / 1000.0).max(0.0));
            r.register(
                "job_watermark_lag_seconds",
                "Wall-clock time minus the job watermark",
                lag,
            );
        }
        let lag = Family::<Labels, Gauge>::default();
        let next = Family::<Labels, Gauge>::default();
        for (source, topic, partition, next_offset, partition_lag) in &gauges.partitions {
            let l = labels(&[
                ("source", source),
                ("topic", topic),
                ("partition", &partition.to_string()),
            ]);
            next.get_or_create(&l).set(*next_offset);
            if let Some(v) = partition_lag {
                lag.get_or_create(&l).set(*v);
            }
        }
        r.register(
            "kafka_consumer_lag",
            "Messages on the broker not yet read, per partition",
            lag,
        );
        r.register(
            "kafka_next_offset",
            "The next offset the job reads, per partition",
            next,
        );
        let mut out = String::new();
        encode(&mut out, &r).expect("writing to a String");
        out
    }
}

/// Point-in-time figures that are not counters.
#[derive(Debug, Default)]
pub struct RunGauges {
    pub watermark_ms: Option<i64>,
    pub now_ms: i64,
    /// `(source, topic, partition, next offset, lag)`.
    pub partitions: Vec<(String, String, i32, i64, Option<i64>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labelled_counters_and_gauges() {
        let m = Metrics::default();
        m.records_read("vibration", 10);
        m.dead_letter("vibration", "missing field `ts`");
        m.dead_letter("vibration", "invalid JSON: EOF while parsing");
        m.alert("vibration_exceeded");
        m.late_records("vibration", 2);
        let text = m.render(&RunGauges {
            watermark_ms: Some(1_000),
            now_ms: 61_000,
            partitions: vec![("vibration".into(), "vib".into(), 3, 42, Some(7))],
        });
        for want in [
            "weir_records_in_total{source=\"vibration\"} 10",
            "weir_dead_letters_total{source=\"vibration\",reason=\"missing_field\"} 1",
            "weir_dead_letters_total{source=\"vibration\",reason=\"invalid_json\"} 1",
            "weir_alerts_total{kind=\"vibration_exceeded\"} 1",
            "weir_late_records_total{source=\"vibration\"} 2",
            "weir_job_watermark_milliseconds 1000",
            "weir_job_watermark_lag_seconds 60.0",
            "weir_kafka_consumer_lag{source=\"vibration\",topic=\"vib\",partition=\"3\"} 7",
            "weir_kafka_next_offset{source=\"vibration\",topic=\"vib\",partition=\"3\"} 42",
        ] {
            assert!(text.contains(want), "missing `{want}` in:\n{text}");
        }
    }
}

/// A partitioned source's read positions (next offset per partition) and the ends its broker reports (high
/// watermarks, e.g. from librdkafka's statistics), for the consumer-lag gauges.
#[derive(Debug, Default)]
pub struct PartitionPositions {
    /// partition → (next offset to read, high watermark as last reported by the broker).
    inner: Mutex<BTreeMap<i32, (i64, Option<i64>)>>,
}

impl PartitionPositions {
    pub fn set_next(&self, partition: i32, next: i64) {
        self.inner.lock().entry(partition).or_insert((0, None)).0 = next;
    }
    pub fn set_high(&self, partition: i32, high: i64) {
        if let Some(e) = self.inner.lock().get_mut(&partition) {
            e.1 = Some(high);
        }
    }
    /// `(partition, next offset, lag)` for every partition read so far; lag is `None` until the broker has
    /// reported a high watermark.
    pub fn snapshot(&self) -> Vec<(i32, i64, Option<i64>)> {
        self.inner
            .lock()
            .iter()
            .map(|(p, (next, high))| (*p, *next, high.map(|h| (h - next).max(0))))
            .collect()
    }
}
