//! `kind = "null"`: discards its inputs, counting their records (`weir_records_out_total`). For benchmarks
//! that measure a job without the cost of writing its output, and for trying a graph out. No options.

use crate::component::{SinkBuildContext, SinkComponent};
use crate::config::Section;
use crate::error::BuildError;
use crate::record::RecordStream;
use crate::schema::Schema;
use std::sync::Arc;
use timely::dataflow::operators::{Inspect, Probe};

/// The null sink component.
#[derive(Clone, Debug)]
pub struct NullSink;

impl SinkComponent for NullSink {
    fn kind(&self) -> &'static str {
        "null"
    }

    fn describe(&self, _name: &str) -> String {
        "discarded (counted only)".into()
    }

    fn build<'s>(&self, cx: SinkBuildContext<'s, '_>) -> Result<Option<RecordStream<'s>>, BuildError> {
        for (records, _) in cx.inputs {
            let (name, ctx) = (cx.name.to_string(), cx.ctx.clone());
            records
                .inspect(move |batch| ctx.metrics.records_written(&name, batch.records.len() as u64))
                .probe_with(cx.probe);
        }
        Ok(None)
    }
}

/// `kind = "null"`: no options.
pub fn sink(_: &Section, _: &[Option<Schema>]) -> Option<Arc<dyn SinkComponent>> {
    Some(Arc::new(NullSink))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::RunOptions;
    use crate::component::SourcePlan;
    use crate::connectors::generator::GeneratorSpec;
    use crate::dataflow::RunContext;
    use crate::plan::{Plan, SinkPlan, StreamRef};

    /// A generated hour read by two workers into a null sink: every valid record is counted as written, once.
    #[test]
    fn every_record_is_counted_and_nothing_is_written() {
        let source = SourcePlan {
            name: "vibration".into(),
            component: Arc::new(GeneratorSpec::vibration(5, 1.0)),
            schema: Schema::vibration(),
            max_out_of_orderness_ms: 0,
            max_record_bytes: crate::decode::DEFAULT_MAX_RECORD_BYTES,
            max_future_ms: None,
        };
        let plan = Plan {
            job_name: "null-sink".into(),
            workers: 2,
            sources: vec![source],
            tables: vec![],
            operators: vec![],
            sinks: vec![SinkPlan {
                name: "discard".into(),
                component: Arc::new(NullSink),
                inputs: vec![StreamRef::Source(0)],
            }],
            serve: None,
            checkpoint: None,
            cluster: None,
        };
        let ctx = RunContext::default();
        let summary = crate::runtime::run(plan, RunOptions::default(), ctx.clone()).expect("the job runs");
        assert!(summary.records_in > 15_000, "{}", summary.records_in);
        let page = ctx.render_metrics();
        let written = page
            .lines()
            .find(|l| l.starts_with("weir_records_out_total{sink=\"discard\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok());
        assert_eq!(written, Some(summary.records_in), "{page}");
    }
}
