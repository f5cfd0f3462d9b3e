//! Building one worker's copy of a job's dataflow from its [`Plan`]: sources, then operators in dependency
//! order (each reads the streams built before it), then sinks — each through its component.
//!
//! Every stream of the job graph is a [`RecordStream`] kept in a map by [`StreamRef`], so any operator or
//! sink reads any stream; only sinks encode records.

use crate::checkpoint::Checkpoint;
use crate::chunk::RunOptions;
use crate::component::{BuildContext, PreparedSource, RuleMember, SinkBuildContext, SourceBuildContext};
use crate::dataflow::dead_letters::{counted, malformed};
use crate::dataflow::partition_ends::{partition_ends, EndsStream};
use crate::dataflow::sink_op::job_end;
use crate::dataflow::table_op::{table, BuiltTable};
use crate::dataflow::{RunContext, Time};
use crate::error::BuildError;
use crate::plan::{Plan, StreamRef};
use crate::record::RecordStream;
use crate::views::ViewStore;
use std::collections::HashMap;
use std::sync::Arc;
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::Scope;

/// What the workers of one process share while building their dataflows.
pub(super) struct Shared<'a> {
    /// Per source, in plan order.
    pub sources: &'a [Arc<dyn PreparedSource>],
    pub views: &'a Arc<ViewStore>,
}

/// The streams built so far, by reference.
type Streams<'s> = HashMap<StreamRef, RecordStream<'s>>;

/// Builds one worker's copy of the dataflow.
pub(super) fn build<'s>(
    scope: Scope<'s, Time>,
    plan: &Plan,
    shared: &Shared,
    worker: (usize, usize),
    options: &RunOptions,
    ctx: &RunContext,
) -> Result<(), BuildError> {
    let restored = ctx.checkpoints.coordinator().restored().cloned();
    // Everything sinks consume passes this probe: sources measure what is still in flight against it.
    let probe = ProbeHandle::<Time>::new();
    let mut streams: Streams<'s> = HashMap::new();
    for (i, source) in plan.sources.iter().enumerate() {
        let records = shared.sources[i].build(SourceBuildContext {
            scope,
            source,
            index: i,
            worker,
            process: plan.process(),
            options,
            restored: restored.as_ref(),
            probe: &probe,
            ctx,
        })?;
        streams.insert(
            StreamRef::SourceDeadLetters(i),
            malformed(records.clone(), source.name.clone()),
        );
        streams.insert(StreamRef::Source(i), records);
    }
    let source_streams: Vec<RecordStream<'s>> = (0..plan.sources.len())
        .map(|i| streams[&StreamRef::Source(i)].clone())
        .collect();
    let ends = partition_ends(
        scope,
        &source_streams,
        worker.0.is_multiple_of(plan.workers.max(1)),
        &ctx.progress,
    );
    let tables: Vec<BuiltTable<'s>> = plan
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let users = plan.operators.iter().filter(|o| o.component.table() == Some(i)).count() * plan.workers.max(1);
            let built = table(scope, t, i, &source_streams, users, ctx);
            if worker.0 == 0 {
                shared.views.register_table(
                    &t.name,
                    crate::views::TableView {
                        schema: t.schema.clone(),
                        key: t.key.clone(),
                        history: built.history.clone(),
                    },
                );
            }
            streams.insert(StreamRef::TableDeadLetters(i), built.dead_letters.clone());
            built
        })
        .collect();
    operators(
        plan,
        &mut streams,
        &tables,
        shared.views,
        &ends,
        worker.0 % plan.workers.max(1),
        ctx,
    );
    sinks(scope, plan, &mut streams, worker.0, restored.as_ref(), &probe, ctx)
}

/// The job's operators, in dependency order: each reads streams already in `streams` and adds its own.
fn operators<'s>(
    plan: &Plan,
    streams: &mut Streams<'s>,
    tables: &[BuiltTable<'s>],
    views: &Arc<ViewStore>,
    ends: &EndsStream<'s>,
    local_index: usize,
    ctx: &RunContext,
) {
    let mut view_ordinal = 0;
    let sets = plan.rule_sets();
    let source_names: Vec<String> = plan.sources.iter().map(|s| s.name.clone()).collect();
    for (i, op) in plan.operators.iter().enumerate() {
        // The view store is this process's: its instances are numbered by local worker.
        let view_instance = local_index * views.views.len() + view_ordinal;
        if op.component.view_fields().is_some() {
            view_ordinal += 1;
        }
        let cx = BuildContext {
            name: &op.name,
            inputs: op.inputs.iter().map(|r| streams[r].clone()).collect(),
            input_schema: plan.schema_of(op.inputs[0]),
            input_name: plan.stream_name(op.inputs[0]),
            job_name: &plan.job_name,
            sources: &source_names,
            tables,
            views,
            view_instance,
            partition_ends: ends,
            ctx,
        };
        let built = match sets.get(&i) {
            // Built with the first rule of its set.
            Some(members) if members[0] != i => continue,
            Some(members) => {
                let rules: Vec<RuleMember> = members
                    .iter()
                    .map(|m| {
                        let o = &plan.operators[*m];
                        (o.name.as_str(), o.component.keyed_rule().expect("a keyed rule"))
                    })
                    .collect();
                members.iter().copied().zip(rules[0].1.build_set(cx, &rules)).collect()
            }
            None => vec![(i, op.component.build(cx))],
        };
        for (i, out) in built {
            streams.insert(StreamRef::Output(i), out.main);
            if let Some(late) = out.late {
                streams.insert(StreamRef::Late(i), late);
            }
            if let Some(failed) = out.dead_letters {
                let failed = counted(failed, ctx.metrics.clone());
                streams.insert(StreamRef::OperatorDeadLetters(i), failed);
            }
        }
    }
}

/// The job's sinks: those with a `NAME.failed` stream first (other sinks may read it), then the rest.
fn sinks<'s>(
    scope: Scope<'s, Time>,
    plan: &Plan,
    streams: &mut Streams<'s>,
    index: usize,
    restored: Option<&Arc<Checkpoint>>,
    probe: &ProbeHandle<Time>,
    ctx: &RunContext,
) -> Result<(), BuildError> {
    // Every stream built so far, in one order on every worker: sinks publish once all of them have ended.
    let mut refs: Vec<StreamRef> = streams.keys().copied().collect();
    refs.sort();
    let job_end = job_end(scope, refs.iter().map(|r| streams[r].clone()));
    let (first, rest): (Vec<_>, Vec<_>) = plan
        .sinks
        .iter()
        .enumerate()
        .partition(|(_, s)| s.component.has_failures());
    for (i, sink) in first.into_iter().chain(rest) {
        let cx = SinkBuildContext {
            scope,
            name: &sink.name,
            job: &plan.job_name,
            inputs: sink
                .inputs
                .iter()
                .map(|r| (streams[r].clone(), plan.schema_of(*r)))
                .collect(),
            window: sink.inputs.first().and_then(|r| plan.window_of(*r)),
            writes: index == 0,
            live: plan.sources.iter().any(|s| !s.component.ends()),
            restored,
            probe,
            job_end: &job_end,
            ctx,
        };
        if let Some(failed) = sink.component.build(cx)? {
            streams.insert(StreamRef::SinkFailures(i), failed);
        }
    }
    Ok(())
}
