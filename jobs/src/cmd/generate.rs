//! `weir generate`: a workload (the schema of shared/workload/gen_events.py) as JSONL.

use crate::*;
use anyhow::{Context, Result};
impl WorkloadArgs {
    pub(crate) fn spec(&self, stream: Stream) -> GeneratorSpec {
        let g = self;
        let workload = match stream {
            Stream::Vibration => Workload::Vibration {
                sensors: g.sensors,
                hz: g.hz,
                blasts_per_hour: g.blasts_per_hour,
            },
            Stream::Locations => Workload::Locations {
                orders: g.orders,
                deliverers: g.deliverers,
                ping_s: g.ping_s,
                budget_min: g.budget_min,
            },
        };
        GeneratorSpec {
            workload,
            seed: g.seed,
            start_ms: weir_engine::GENERATOR_START_MS,
            duration_ms: (g.hours * 3_600_000.0) as i64,
            count: g.count,
            jitter_mean_ms: g.jitter_mean_ms,
            late_frac: g.late_frac,
            bad_frac: g.bad_frac,
            rate: None,
        }
    }
}

pub(crate) fn generate(g: GenerateArgs) -> Result<ExitCode> {
    let spec = g.workload.spec(g.stream);
    let reader = GeneratorReader::new(spec, 0, 1 << 20);
    let n = match &g.out {
        Some(path) => {
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(path).with_context(|| format!("cannot create `{}`", path.display()))?,
            );
            let n = reader.write_all(&mut f)?;
            std::io::Write::flush(&mut f)?;
            n
        }
        None => reader.write_all(&mut std::io::stdout().lock())?,
    };
    if let Some(path) = &g.out {
        eprintln!("wrote {n} events to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a generated workload to `path`.
pub(crate) fn generate_to(spec: GeneratorSpec, path: &Path) -> Result<u64> {
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot create `{}`", path.display()))?,
    );
    let n = GeneratorReader::new(spec, 0, 1 << 20).write_all(&mut f)?;
    std::io::Write::flush(&mut f)?;
    Ok(n)
}
