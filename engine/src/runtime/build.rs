//! Building one worker's copy of a job's dataflow from its [`Plan`]: sources, then operators in dependency
//! order (each reads the streams built before it), then sinks.
//!
//! Every stream of the job graph is a [`RecordStream`] kept in a map by [`StreamRef`], so any operator or
//! sink reads any stream; only sinks encode records.

use super::KafkaConnection;
use crate::checkpoint::Checkpoint;
use crate::component::BuildContext;
use crate::dataflow::dead_letters::malformed;
use crate::dataflow::kafka_source_op::{kafka_source, KafkaSourceSetup};
use crate::dataflow::sink_op::{line_sink, parquet_sink, unbatched, webhook_sink};
use crate::dataflow::source_op::{chunk_source, SourceSetup};
use crate::dataflow::{RunContext, Time};
use crate::decode::Decoder;
use crate::plan::{Plan, SinkKind, SinkPlan, SourceKind, StreamRef};
use crate::record::RecordStream;
use crate::runtime::RunOptions;
use crate::sequencer::ChunkSequencer;
use crate::sink::encode::{render_lines, MessageFields};
use crate::sink::jsonl::JsonlWriter;
use crate::sink::kafka::KafkaLineWriter;
use crate::sink::parquet::{Closing, ParquetRowWriter};
use crate::sink::webhook::WebhookSender;
use crate::sink::{LineWriter, SinkPosition, StdoutWriter};
use crate::source::file::FileChunkReader;
use crate::source::generator::GeneratorReader;
use crate::source::kafka::KafkaPartitionReader;
use crate::source::pace::PacedReader;
use crate::source::ChunkReader;
use crate::views::ViewStore;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::{Concatenate, Probe};
use timely::dataflow::Scope;

/// Why a worker could not build its dataflow.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("source `{source_name}`: cannot read `{path}`: {cause}")]
    Input {
        source_name: String,
        path: std::path::PathBuf,
        cause: std::io::Error,
    },
    #[error("source `{source_name}`: {cause}")]
    Kafka { source_name: String, cause: String },
    #[error("sink `{sink}`: cannot write to `{path}`: {cause}")]
    Output {
        sink: String,
        path: std::path::PathBuf,
        cause: std::io::Error,
    },
    #[error("sink `{sink}`: {cause}")]
    Sink { sink: String, cause: String },
    #[error("`{name}`: the checkpoint's state cannot be read: {cause}")]
    Restore { name: String, cause: String },
}

/// What the workers of one process share while building their dataflows.
pub(super) struct Shared<'a> {
    pub sequencers: &'a [Vec<Arc<ChunkSequencer>>],
    pub views: &'a Arc<ViewStore>,
    pub kafka: &'a HashMap<usize, KafkaConnection>,
}

/// The streams built so far, by reference.
type Streams<'s> = HashMap<StreamRef, RecordStream<'s>>;

/// Builds one worker's copy of the dataflow.
pub(super) fn build<'s>(
    scope: Scope<'s, Time>,
    plan: &Plan,
    shared: &Shared,
    (index, peers): (usize, usize),
    options: &RunOptions,
    ctx: &RunContext,
) -> Result<(), BuildError> {
    let restored = ctx.checkpoints().restored().cloned();
    // Everything sinks consume passes this probe: sources measure what is still in flight against it.
    let probe = ProbeHandle::<Time>::new();
    let mut streams: Streams<'s> = HashMap::new();
    for (i, _) in plan.sources.iter().enumerate() {
        let records = source(scope, plan, i, shared, (index, peers), options, &restored, &probe, ctx)?;
        streams.insert(
            StreamRef::SourceDeadLetters(i),
            malformed(records.clone(), plan.sources[i].name.clone()),
        );
        streams.insert(StreamRef::Source(i), records);
    }
    operators(plan, &mut streams, shared.views, index, ctx);
    sinks(scope, plan, &mut streams, index, &restored, &probe, ctx)
}

/// One source's records on this worker: one operator per partition for files (so each has its own
/// watermark), one per worker for Kafka (its partitions are spread over the workers).
#[allow(clippy::too_many_arguments)]
fn source<'s>(
    scope: Scope<'s, Time>,
    plan: &Plan,
    i: usize,
    shared: &Shared,
    (index, peers): (usize, usize),
    options: &RunOptions,
    restored: &Option<Arc<Checkpoint>>,
    probe: &ProbeHandle<Time>,
    ctx: &RunContext,
) -> Result<RecordStream<'s>, BuildError> {
    let s = &plan.sources[i];
    let readers: Vec<Box<dyn ChunkReader>> = match &s.kind {
        SourceKind::File { paths, rate } => paths
            .iter()
            .enumerate()
            .map(|(p, path)| {
                let base = restored
                    .as_ref()
                    .map_or(0, |c| c.resume_point(&s.name, p as u32).position);
                FileChunkReader::open_at(path, base, index, peers, options.chunk_bytes)
                    .map(|r| match rate {
                        Some(rate) => Box::new(PacedReader::new(Box::new(r), rate / peers as f64)),
                        None => Box::new(r) as Box<dyn ChunkReader>,
                    })
                    .map_err(|cause| BuildError::Input {
                        source_name: s.name.clone(),
                        path: path.clone(),
                        cause,
                    })
            })
            .collect::<Result<_, _>>()?,
        SourceKind::Generator(spec) => vec![Box::new(GeneratorReader::new(
            spec.clone(),
            index,
            options.chunk_bytes as usize,
        ))],
        SourceKind::Kafka(spec) => {
            let conn = &shared.kafka[&i];
            let mine: Vec<i32> = (0..conn.partitions as i32)
                .filter(|p| *p as usize % peers == index)
                .collect();
            // After a restore, partitions the checkpoint has a resume point for continue there.
            let points: BTreeMap<i32, crate::checkpoint::ResumePoint> = match restored {
                Some(c) => mine
                    .iter()
                    .filter_map(|p| Some((*p, c.sources.get(&s.name)?.get(&(*p as u32))?.clone())))
                    .collect(),
                None => BTreeMap::new(),
            };
            let resume_at = points.iter().map(|(p, r)| (*p, r.position as i64)).collect();
            let reader = if mine.is_empty() {
                None
            } else {
                let label = format!("source `{}` (worker {index})", s.name);
                Some(
                    KafkaPartitionReader::open(spec, label, mine.clone(), &resume_at, conn.positions.clone()).map_err(
                        |e| BuildError::Kafka {
                            source_name: s.name.clone(),
                            cause: e.to_string(),
                        },
                    )?,
                )
            };
            let setup = KafkaSourceSetup {
                name: s.name.clone(),
                source_index: i as u32,
                reader,
                decoder: Decoder::new(s.schema.clone()),
                max_out_of_orderness_ms: s.max_out_of_orderness_ms,
                idle_timeout: spec.idle_timeout,
                max_in_flight: spec.max_in_flight,
                rate: spec.rate.map(|r| r / peers as f64),
                bounds: conn.bounds.clone(),
                probe: probe.clone(),
                resumed: restored
                    .as_ref()
                    .map(|c| (c.at, points.iter().map(|(p, r)| (*p, r.max_before)).collect())),
                logs: conn
                    .logs
                    .iter()
                    .filter(|(p, _)| mine.contains(p))
                    .map(|(p, l)| (*p, l.clone()))
                    .collect(),
            };
            return Ok(kafka_source(scope, setup, ctx.clone()));
        }
    };
    let mut parts = Vec::new();
    for (partition, reader) in readers.into_iter().enumerate() {
        let setup = SourceSetup {
            name: s.name.clone(),
            source_index: i as u32,
            partition: partition as u32,
            reader,
            decoder: Decoder::new(s.schema.clone()),
            sequencer: shared.sequencers[i][partition].clone(),
            max_out_of_orderness_ms: s.max_out_of_orderness_ms,
            resumed: restored
                .as_ref()
                .map(|c| (c.at, c.resume_point(&s.name, partition as u32).max_before)),
        };
        parts.push(chunk_source(scope, setup, ctx.clone()));
    }
    Ok(if parts.len() == 1 {
        parts.pop().expect("one partition")
    } else {
        scope.concatenate(parts)
    })
}

/// The job's operators, in dependency order: each reads streams already in `streams` and adds its own.
fn operators<'s>(plan: &Plan, streams: &mut Streams<'s>, views: &Arc<ViewStore>, index: usize, ctx: &RunContext) {
    let mut view_ordinal = 0;
    for (i, op) in plan.operators.iter().enumerate() {
        let view_instance = index * views.views.len() + view_ordinal;
        if op.component.view_fields().is_some() {
            view_ordinal += 1;
        }
        let cx = BuildContext {
            name: &op.name,
            inputs: op.inputs.iter().map(|r| streams[r].clone()).collect(),
            input_schema: plan.schema_of(op.inputs[0]),
            input_name: plan.stream_name(op.inputs[0]),
            plan,
            views,
            view_instance,
            ctx,
        };
        let out = op.component.build(cx);
        streams.insert(StreamRef::Output(i), out.main);
        if let Some(late) = out.late {
            streams.insert(StreamRef::Late(i), late);
        }
        if let Some(failed) = out.dead_letters {
            streams.insert(StreamRef::OperatorDeadLetters(i), failed);
        }
    }
}

/// The job's sinks: webhook sinks first (what they fail to deliver is a stream other sinks read), then the
/// rest.
fn sinks<'s>(
    scope: Scope<'s, Time>,
    plan: &Plan,
    streams: &mut Streams<'s>,
    index: usize,
    restored: &Option<Arc<Checkpoint>>,
    probe: &ProbeHandle<Time>,
    ctx: &RunContext,
) -> Result<(), BuildError> {
    let on_writer = index == 0;
    let coord = ctx.checkpoints();
    let lines_of =
        |streams: &Streams<'s>, sink: &SinkPlan, message: &dyn Fn(&crate::schema::Schema) -> Option<MessageFields>| {
            let inputs: Vec<_> = sink
                .inputs
                .iter()
                .map(|r| {
                    let schema = plan.schema_of(*r);
                    let m = message(&schema);
                    render_lines(streams[r].clone(), schema, m)
                })
                .collect();
            scope.concatenate(inputs).probe_with(probe)
        };
    for (i, sink) in plan.sinks.iter().enumerate() {
        if let SinkKind::Webhook(config) = &sink.kind {
            let sender = on_writer.then(|| WebhookSender::new(config.clone()));
            let failed = webhook_sink(
                lines_of(streams, sink, &|_| None),
                sink.name.clone(),
                sender,
                ctx.clone(),
            );
            streams.insert(StreamRef::SinkFailures(i), failed);
        }
    }
    for sink in &plan.sinks {
        let output_error = |path: &std::path::Path| {
            let (sink, path) = (sink.name.clone(), path.to_path_buf());
            move |cause: std::io::Error| BuildError::Output { sink, path, cause }
        };
        match &sink.kind {
            SinkKind::Webhook(_) => {}
            SinkKind::Parquet {
                path,
                partition_by,
                max_rows_per_file,
                max_file_age_ms,
                row_group_rows,
            } => {
                let input = sink.inputs[0];
                let closing = match plan.window_of(input) {
                    Some(w) => Closing::Window {
                        window: w.window,
                        allowed_lateness_ms: w.allowed_lateness_ms,
                    },
                    None => Closing::EventTime,
                };
                let writer = if on_writer {
                    let mut writer = ParquetRowWriter::create(
                        path,
                        *partition_by,
                        *max_rows_per_file,
                        *row_group_rows,
                        plan.schema_of(input),
                        closing,
                    )
                    .map_err(output_error(path))?;
                    writer.set_max_file_age(*max_file_age_ms);
                    if coord.enabled() {
                        writer
                            .two_phase(restored_part(restored, &sink.name)?)
                            .map_err(output_error(path))?;
                    }
                    Some(writer)
                } else {
                    None
                };
                let records = unbatched(streams[&input].clone()).probe_with(probe);
                parquet_sink(records, sink.name.clone(), writer, ctx.clone());
            }
            SinkKind::Jsonl { .. } | SinkKind::Stdout | SinkKind::Kafka(_) => {
                let message = |schema: &crate::schema::Schema| match &sink.kind {
                    SinkKind::Kafka(spec) => Some(spec.message_fields(schema)),
                    _ => None,
                };
                let merged = lines_of(streams, sink, &message);
                let position: Option<SinkPosition> = if on_writer {
                    restored_part(restored, &sink.name)?
                } else {
                    None
                };
                let writer: Option<Box<dyn LineWriter>> = match (&sink.kind, on_writer) {
                    (SinkKind::Jsonl { path }, true) => {
                        let opened = match position {
                            Some(SinkPosition::File { bytes }) => JsonlWriter::resume(path, bytes),
                            _ if coord.enabled() => JsonlWriter::create_in_place(path),
                            _ => JsonlWriter::create(path),
                        };
                        Some(Box::new(opened.map_err(output_error(path))?))
                    }
                    (SinkKind::Stdout, true) => Some(Box::new(StdoutWriter)),
                    (SinkKind::Kafka(spec), true) => {
                        let (fail, name, topic) = (ctx.clone(), sink.name.clone(), spec.topic.clone());
                        let hook = Box::new(move |e: String| {
                            fail.fail(format!("sink `{name}`: delivery to Kafka topic `{topic}` failed: {e}"))
                        });
                        let label = format!("sink `{}`", sink.name);
                        let run = coord.meta().run_id;
                        let opened = match position {
                            Some(SinkPosition::Kafka { seq, offsets }) => {
                                KafkaLineWriter::resume(spec, label, run, seq, offsets, hook)
                            }
                            _ => KafkaLineWriter::create(spec, label, run, hook),
                        };
                        Some(Box::new(opened.map_err(|e| BuildError::Sink {
                            sink: sink.name.clone(),
                            cause: e.to_string(),
                        })?))
                    }
                    _ => None,
                };
                line_sink(merged, sink.name.clone(), writer, ctx.clone());
            }
        }
    }
    Ok(())
}

/// A sink's state in the checkpoint the run resumed from (worker 0's part), if any.
fn restored_part<T: serde::de::DeserializeOwned>(
    restored: &Option<Arc<Checkpoint>>,
    sink: &str,
) -> Result<Option<T>, BuildError> {
    let Some(c) = restored else { return Ok(None) };
    match c.states(sink).first() {
        Some(bytes) => crate::checkpoint::decode(bytes)
            .map(Some)
            .map_err(|e| BuildError::Restore {
                name: sink.to_string(),
                cause: e.to_string(),
            }),
        None => Ok(None),
    }
}
