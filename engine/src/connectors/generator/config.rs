//! The options of `[sources.NAME] kind = "generator"`: the workload and its knobs (the distributions of
//! `shared/workload/gen_events.py`), `rate`.

use super::{GeneratorSpec, Workload, DEFAULT_START_MS};
use crate::component::SourceComponent;
use crate::config::Section;
use crate::dataflow::pace::rate_option;
use crate::schema::Schema;
use std::path::Path;
use std::sync::Arc;

/// `kind = "generator"`: its component and its built-in schema.
pub fn source(s: &Section, _: &Path) -> (Option<Arc<dyn SourceComponent>>, Option<Schema>) {
    let g = generator_spec(s);
    let builtin = g.as_ref().map(|g| match g.workload {
        Workload::Vibration { .. } => Schema::vibration(),
        Workload::Locations { .. } => Schema::locations(),
    });
    (g.map(|g| -> Arc<dyn SourceComponent> { Arc::new(g) }), builtin)
}

fn generator_spec(s: &Section) -> Option<GeneratorSpec> {
    let workload = s.req_str("workload");
    let duration = s.duration_ms("duration").unwrap_or(3 * 3_600_000);
    let count = s.count("count", 1);
    let seed = s.count("seed", 0).unwrap_or(7);
    let rate = rate_option(s);
    let jitter = s.duration_ms("jitter_mean").unwrap_or(1500) as f64;
    let late = s.float("late_fraction").unwrap_or(0.0005);
    let bad = s.float("malformed_fraction").unwrap_or(0.0001);
    let start = s.int("start_ms").unwrap_or(DEFAULT_START_MS);
    for (k, v) in [("late_fraction", late), ("malformed_fraction", bad)] {
        if !(0.0..=1.0).contains(&v) {
            s.problem(k, format!("must be between 0 and 1, found {v}"));
        }
    }
    let (sensors, hz, blasts) = (s.count("sensors", 1), s.float("hz"), s.float("blasts_per_hour"));
    let (orders, deliverers, ping, budget) = (
        s.count("orders", 1),
        s.count("deliverers", 1),
        s.duration_ms("ping_interval"),
        s.duration_ms("budget"),
    );
    let workload = match workload {
        Some("vibration") => Workload::Vibration {
            sensors: sensors.unwrap_or(120) as u32,
            hz: hz.unwrap_or(1.0),
            blasts_per_hour: blasts.unwrap_or(2.0),
        },
        Some("locations") => Workload::Locations {
            orders: orders.unwrap_or(2000),
            deliverers: deliverers.unwrap_or(150) as u32,
            ping_s: ping.unwrap_or(15_000) as f64 / 1000.0,
            budget_min: budget.unwrap_or(30 * 60_000) as f64 / 60_000.0,
        },
        Some(other) => {
            s.problem(
                "workload",
                format!("unknown workload \"{other}\"; allowed: vibration, locations"),
            );
            return None;
        }
        None => return None,
    };
    if let Workload::Vibration { hz, .. } = workload {
        if hz <= 0.0 {
            s.problem("hz", "must be positive");
        }
    }
    Some(GeneratorSpec {
        workload,
        seed,
        start_ms: start,
        duration_ms: duration,
        count,
        jitter_mean_ms: jitter,
        late_frac: late,
        bad_frac: bad,
        rate,
    })
}
