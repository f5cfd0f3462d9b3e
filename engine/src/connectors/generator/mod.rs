//! Built-in workload generators: the vibration and locations streams of `shared/workload/gen_events.py`,
//! generated as JSONL in *arrival* order, deterministically per seed, in bounded memory.
//!
//! The model follows the script: events are made in event-time order, each is delayed by a jitter
//! (exponential, capped at 10× its mean) or, for a small share, by 2–15 minutes; a min-heap on arrival time
//! releases them once no later-generated event can arrive earlier. A small share of malformed lines (the
//! script's own examples) is mixed in. Same arguments and seed → byte-identical output.
//!
//! A [`GeneratorSpec`] is also the `kind = "generator"` source component: one partition, generated on
//! worker 0, regenerated from its start on restore (its resume point skips what was already read).

pub mod config;
mod arrival;

use crate::chunk::RawBytes;
use crate::component::ChunkPartitions;
use crate::component::{PreparedSource, SourceBuildContext, SourceComponent, SourcePrepareContext};
use crate::dataflow::pace::{chunk_bytes_for, paced};
use crate::dataflow::source_op::ChunkReader;
use crate::error::{BuildError, RunError};
use crate::record::RecordStream;
use arrival::ArrivalQueue;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp, LogNormal, Normal};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::io;
use std::sync::Arc;

/// 2026-11-21T00:00:00Z, the script's start.
pub const DEFAULT_START_MS: i64 = 1_795_219_200_000;
const SITES: [&str; 6] = [
    "pit-north",
    "pit-south",
    "decline-1",
    "decline-2",
    "crusher",
    "tailings",
];
const BAD_LINES: [&str; 6] = [
    r#"{"sensor_id":"vib-0001","ts":"#,
    r#"{"sensor_id":42,"ts":"yesterday","ppv_mm_s":"x"}"#,
    "not json at all",
    r#"{"order_id":"o-1","state":"teleported","ts":1}"#,
    "{}",
    r#"{"sensor_id":"vib-0001","site":"crusher","ts":1795219200000,"ppv_mm_s":NaN,"freq_hz":1}"#,
];
const LATE_MIN_MS: f64 = 120_000.0;
const LATE_MAX_MS: f64 = 900_000.0;

/// Which stream to generate, with its own knobs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Workload {
    Vibration {
        sensors: u32,
        hz: f64,
        blasts_per_hour: f64,
    },
    Locations {
        orders: u64,
        deliverers: u32,
        ping_s: f64,
        budget_min: f64,
    },
}

/// A generator's full configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratorSpec {
    pub workload: Workload,
    pub seed: u64,
    pub start_ms: i64,
    /// Event-time span to generate.
    pub duration_ms: i64,
    /// Stop after this many valid events (whichever comes first with the duration).
    pub count: Option<u64>,
    pub jitter_mean_ms: f64,
    pub late_frac: f64,
    pub bad_frac: f64,
    /// Events per second of wall-clock time; `None` = as fast as possible.
    pub rate: Option<f64>,
}

impl GeneratorSpec {
    pub fn vibration(sensors: u32, hours: f64) -> Self {
        Self::with(
            Workload::Vibration {
                sensors,
                hz: 1.0,
                blasts_per_hour: 2.0,
            },
            hours,
        )
    }
    pub fn locations(orders: u64, hours: f64) -> Self {
        Self::with(
            Workload::Locations {
                orders,
                deliverers: 150,
                ping_s: 15.0,
                budget_min: 30.0,
            },
            hours,
        )
    }
    fn with(workload: Workload, hours: f64) -> Self {
        GeneratorSpec {
            workload,
            seed: 7,
            start_ms: DEFAULT_START_MS,
            duration_ms: (hours * 3_600_000.0) as i64,
            count: None,
            jitter_mean_ms: 1500.0,
            late_frac: 0.0005,
            bad_frac: 0.0001,
            rate: None,
        }
    }
}

/// Event-time-ordered event source of one workload.
enum Model {
    Vibration {
        sensors: u32,
        period_ms: f64,
        tick: u64,
        base: Vec<f64>,
        blasts: Vec<(usize, f64, f64)>,
        noise: LogNormal<f64>,
        freq: Normal<f64>,
    },
    Locations {
        orders: u64,
        deliverers: u32,
        ping_s: f64,
        budget_min: f64,
        made: u64,
        next_start: f64,
        gap: Exp<f64>,
        /// Rows of started orders, by event time.
        pending: BinaryHeap<Reverse<(i64, u64, String)>>,
        row_seq: u64,
    },
}

/// The generator as a chunk reader: one partition, produced by worker 0.
pub struct GeneratorReader {
    spec: GeneratorSpec,
    rng: Pcg64Mcg,
    model: Model,
    queue: ArrivalQueue,
    /// Event time up to which events have been made.
    made_until: i64,
    done_making: bool,
    valid_made: u64,
    emitted: u64,
    next: u64,
    active: bool,
    bytes: u64,
    chunk_bytes: usize,
}

impl GeneratorReader {
    /// The generator for worker `worker`; only worker 0 produces data.
    pub fn new(spec: GeneratorSpec, worker: usize, chunk_bytes: usize) -> Self {
        let mut rng = Pcg64Mcg::seed_from_u64(spec.seed);
        let hours = spec.duration_ms as f64 / 3_600_000.0;
        let model = match spec.workload {
            Workload::Vibration {
                sensors,
                hz,
                blasts_per_hour,
            } => {
                let base_d = LogNormal::new(-0.7, 0.5).expect("valid");
                let base = (0..sensors).map(|_| base_d.sample(&mut rng)).collect();
                let blasts = (0..(hours * blasts_per_hour) as usize)
                    .map(|_| {
                        let site = rng.random_range(0..SITES.len());
                        let t0 = spec.start_ms as f64 + rng.random::<f64>() * spec.duration_ms as f64;
                        (site, t0, rng.random_range(5.0..60.0))
                    })
                    .collect();
                Model::Vibration {
                    sensors,
                    period_ms: 1000.0 / hz,
                    tick: 0,
                    base,
                    blasts,
                    noise: LogNormal::new(0.0, 0.35).expect("valid"),
                    freq: Normal::new(18.0, 6.0).expect("valid"),
                }
            }
            Workload::Locations {
                orders,
                deliverers,
                ping_s,
                budget_min,
            } => {
                let span = spec.duration_ms as f64 * 0.95;
                let gap = Exp::new(orders.max(1) as f64 / span.max(1.0)).expect("positive rate");
                let first = gap.sample(&mut rng);
                Model::Locations {
                    orders,
                    deliverers,
                    ping_s,
                    budget_min,
                    made: 0,
                    next_start: spec.start_ms as f64 + first,
                    gap,
                    pending: BinaryHeap::new(),
                    row_seq: 0,
                }
            }
        };
        let queue = ArrivalQueue::new(spec.jitter_mean_ms, spec.late_frac);
        GeneratorReader {
            made_until: spec.start_ms,
            spec,
            rng,
            model,
            queue,
            done_making: false,
            valid_made: 0,
            emitted: 0,
            next: 0,
            active: worker == 0,
            bytes: 0,
            chunk_bytes,
        }
    }

    fn count_reached(&self) -> bool {
        self.spec.count.is_some_and(|c| self.valid_made >= c)
    }

    /// Makes the next batch of events (one vibration tick, or one order start); false when done.
    fn make_more(&mut self) -> bool {
        let end = self.spec.start_ms + self.spec.duration_ms;
        if self.count_reached() {
            return false;
        }
        match &mut self.model {
            Model::Vibration {
                sensors,
                period_ms,
                tick,
                base,
                blasts,
                noise,
                freq,
            } => {
                let t0 = self.spec.start_ms as f64 + *tick as f64 * *period_ms;
                if t0 >= end as f64 {
                    return false;
                }
                for (s, sensor_base) in base.iter().enumerate().take(*sensors as usize) {
                    if self.spec.count.is_some_and(|c| self.valid_made >= c) {
                        break;
                    }
                    let ts = (t0 + self.rng.random::<f64>() * *period_ms * 0.5) as i64;
                    let mut ppv = sensor_base * noise.sample(&mut self.rng);
                    let site = s % SITES.len();
                    for (bsite, bt0, mult) in blasts.iter() {
                        if *bsite == site && ts as f64 >= *bt0 && (ts as f64) < bt0 + 20_000.0 {
                            ppv *= mult;
                        }
                    }
                    let f = freq.sample(&mut self.rng).clamp(2.0, 120.0);
                    let mut line = String::with_capacity(100);
                    let _ = write!(
                        line,
                        r#"{{"sensor_id":"vib-{s:04}","site":"{}","ts":{ts},"ppv_mm_s":{},"freq_hz":{}}}"#,
                        SITES[site],
                        round(ppv, 3),
                        round(f, 2)
                    );
                    self.valid_made += 1;
                    self.queue.push(&mut self.rng, ts, line);
                }
                *tick += 1;
                self.made_until = (self.spec.start_ms as f64 + *tick as f64 * *period_ms) as i64;
                true
            }
            Model::Locations {
                orders,
                deliverers,
                ping_s,
                budget_min,
                made,
                next_start,
                gap,
                pending,
                row_seq,
            } => {
                let more_orders =
                    *made < *orders && *next_start < self.spec.start_ms as f64 + self.spec.duration_ms as f64 * 0.95;
                let horizon = if more_orders { *next_start as i64 } else { i64::MAX };
                // Release the rows of started orders that happen before the next order starts.
                while let Some(Reverse((ts, _, _))) = pending.peek() {
                    if *ts >= horizon || self.spec.count.is_some_and(|c| self.valid_made >= c) {
                        break;
                    }
                    let Reverse((ts, _, line)) = pending.pop().expect("peeked");
                    self.valid_made += 1;
                    self.queue.push(&mut self.rng, ts, line);
                }
                if !more_orders {
                    self.made_until = i64::MAX;
                    return false;
                }
                let o = *made;
                let rows = order_rows(&mut self.rng, o, *deliverers, *next_start, *ping_s, *budget_min);
                for (ts, line) in rows {
                    *row_seq += 1;
                    pending.push(Reverse((ts, *row_seq, line)));
                }
                *made += 1;
                self.made_until = *next_start as i64;
                *next_start += gap.sample(&mut self.rng);
                true
            }
        }
    }

    /// Appends the next line in arrival order, if any.
    fn next_line(&mut self, out: &mut Vec<u8>) -> bool {
        loop {
            let bound = if self.done_making { None } else { Some(self.made_until) };
            if let Some(line) = self.queue.pop_before(bound) {
                if self.spec.bad_frac > 0.0 && self.rng.random::<f64>() < self.spec.bad_frac {
                    out.extend_from_slice(BAD_LINES[self.rng.random_range(0..BAD_LINES.len())].as_bytes());
                    out.push(b'\n');
                }
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
                self.emitted += 1;
                return true;
            }
            if self.done_making {
                return false;
            }
            if !self.make_more() {
                self.done_making = true;
            }
        }
    }

    /// Generates the whole stream into `out` (for `weir generate`).
    pub fn write_all(mut self, out: &mut impl io::Write) -> io::Result<u64> {
        while let Some((_, chunk)) = self.next_chunk()? {
            out.write_all(&chunk[..])?;
        }
        Ok(self.emitted)
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

fn order_rows(
    rng: &mut Pcg64Mcg,
    o: u64,
    deliverers: u32,
    start: f64,
    ping_s: f64,
    budget_min: f64,
) -> Vec<(i64, String)> {
    let lat0 = 37.8715;
    let lon0 = -122.2730;
    let n01 = Normal::new(0.0, 0.01).expect("valid");
    let noise = Normal::new(0.0, 2e-5).expect("valid");
    let d = rng.random_range(0..deliverers.max(1));
    let src = (lat0 + n01.sample(rng), lon0 + n01.sample(rng));
    let dst = (lat0 + n01.sample(rng), lon0 + n01.sample(rng));
    let mut rows = Vec::new();
    let line = |ts: f64, state: &str, lat: f64, lon: f64| {
        (
            ts as i64,
            format!(
                r#"{{"order_id":"o-{o:07}","deliverer_id":"d-{d:04}","state":"{state}","ts":{},"lat":{lat:.6},"lon":{lon:.6}}}"#,
                ts as i64
            ),
        )
    };
    rows.push(line(start, "assigned", src.0, src.1));
    let t = start + rng.random_range(2.0..10.0) * 60_000.0;
    rows.push(line(t, "picked_up", src.0, src.1));
    // 85 % on time, 12 % over budget, 3 % go silent mid-route and never deliver
    let kind: f64 = rng.random();
    let trip = if kind < 0.85 {
        rng.random_range(8.0..budget_min * 0.9)
    } else {
        rng.random_range(budget_min * 1.05..budget_min * 2.0)
    };
    let silent_after = (kind > 0.97).then(|| rng.random_range(0.2..0.8) * trip);
    let pings = (trip * 60.0 / ping_s) as u64;
    for k in 1..=pings {
        let dt = k as f64 * ping_s * 1000.0;
        if silent_after.is_some_and(|s| dt > s * 60_000.0) {
            break;
        }
        let f = k as f64 / (pings + 1) as f64;
        let lat = src.0 + (dst.0 - src.0) * f + noise.sample(rng);
        let lon = src.1 + (dst.1 - src.1) * f + noise.sample(rng);
        rows.push(line(t + dt, "en_route", lat, lon));
    }
    if silent_after.is_none() {
        rows.push(line(t + trip * 60_000.0, "delivered", dst.0, dst.1));
    }
    rows
}

impl ChunkReader for GeneratorReader {
    fn next_chunk(&mut self) -> io::Result<Option<(u64, RawBytes)>> {
        if !self.active {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(self.chunk_bytes + 256);
        while out.len() < self.chunk_bytes && self.next_line(&mut out) {}
        if out.is_empty() {
            self.active = false;
            return Ok(None);
        }
        let k = self.next;
        self.next += 1;
        self.bytes += out.len() as u64;
        Ok(Some((k, RawBytes::Owned(out))))
    }

    fn next_index(&self) -> u64 {
        self.next
    }

    fn bytes_read(&self) -> u64 {
        self.bytes
    }
}

impl SourceComponent for GeneratorSpec {
    fn kind(&self) -> &'static str {
        "generator"
    }

    fn describe(&self, _workers: usize) -> String {
        format!(
            "generator {:?}, seed {} (1 partition, on worker 0)",
            self.workload, self.seed
        )
    }

    fn shape(&self) -> String {
        format!("generator {self:?}")
    }

    fn prepare(&self, cx: SourcePrepareContext) -> Result<Arc<dyn PreparedSource>, RunError> {
        Ok(Arc::new(PreparedGenerator {
            spec: self.clone(),
            partitions: ChunkPartitions::new(&cx, 1, false),
        }))
    }
}

struct PreparedGenerator {
    spec: GeneratorSpec,
    partitions: ChunkPartitions,
}

impl PreparedSource for PreparedGenerator {
    fn build<'s>(&self, cx: SourceBuildContext<'s, '_>) -> Result<RecordStream<'s>, BuildError> {
        // Worker 0 generates the whole stream, so it reads at the whole source's rate.
        let chunk_bytes = chunk_bytes_for(self.spec.rate, cx.options.chunk_bytes);
        let reader = GeneratorReader::new(self.spec.clone(), cx.worker.0, chunk_bytes as usize);
        Ok(self
            .partitions
            .build(&cx, vec![paced(Box::new(reader), self.spec.rate)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(spec: GeneratorSpec) -> Vec<u8> {
        let mut out = Vec::new();
        GeneratorReader::new(spec, 0, 1 << 16).write_all(&mut out).unwrap();
        out
    }

    #[test]
    fn vibration_is_deterministic_and_shaped_like_the_script() {
        let mut spec = GeneratorSpec::vibration(10, 0.1);
        spec.bad_frac = 0.01;
        let a = generate(spec.clone());
        assert_eq!(a, generate(spec.clone()));
        let text = String::from_utf8(a).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let valid: Vec<serde_json::Value> = lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|v: &serde_json::Value| v.get("ppv_mm_s").is_some_and(|p| p.is_number()))
            .collect();
        assert_eq!(valid.len(), 10 * 360);
        assert!(lines.len() > valid.len(), "malformed lines are mixed in");
        let v = &valid[0];
        for f in ["sensor_id", "site", "ts", "ppv_mm_s", "freq_hz"] {
            assert!(v.get(f).is_some(), "{f}");
        }
        // arrival order differs from event-time order
        let ts: Vec<i64> = valid.iter().map(|v| v["ts"].as_i64().unwrap()).collect();
        assert!(ts.windows(2).any(|w| w[1] < w[0]));
        spec.seed = 8;
        assert_ne!(generate(spec).len(), 0);
    }

    #[test]
    fn locations_have_full_order_lifecycles() {
        let mut spec = GeneratorSpec::locations(50, 2.0);
        spec.bad_frac = 0.0;
        let a = generate(spec.clone());
        assert_eq!(a, generate(spec));
        let text = String::from_utf8(a).unwrap();
        let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let count = |s: &str| rows.iter().filter(|r| r["state"] == s).count();
        assert_eq!(count("assigned"), 50);
        assert_eq!(count("picked_up"), 50);
        assert!(count("delivered") >= 40 && count("en_route") > 1000);
    }

    #[test]
    fn count_limits_valid_events() {
        let mut spec = GeneratorSpec::vibration(10, 1.0);
        spec.count = Some(1234);
        spec.bad_frac = 0.0;
        assert_eq!(String::from_utf8(generate(spec)).unwrap().lines().count(), 1234);
    }
}
