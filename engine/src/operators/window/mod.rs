//! The keyed window operator in the dataflow: decides lateness where the raw bytes still are, routes records
//! by key, and applies them to a [`WindowAggregator`] in deterministic order as the frontier advances.
//!
//! Rows are records of the window's output schema (`window_start`, `window_end`, key, carry, aggregates)
//! with event time `window_start` and logical time `window_end + allowed_lateness − 1 ms`: the last logical
//! time a record of the window can have. A window over these rows (hourly → daily) therefore counts every
//! row and is never late for them when its own allowed lateness is at least the first's.

pub mod combine;
pub mod config;
pub mod empty;

use crate::component::{row_record, BuildContext, OperatorComponent, Outputs, WindowTiming};
use crate::dataflow::dead_letters::{failed_record, split_batches};
use crate::dataflow::ordered::{ordered, OrderedLogic};
use crate::dataflow::{Positioned, RunContext, Time};
use crate::metrics::Metrics;
use crate::operators::window::combine::{pre_aggregate, WindowPartial};
use crate::operators::window::empty::EmptyWindows;
use crate::record::{cmp_rows, Record, RecordStream, NO_LINE};
use crate::schema::Schema;
use crate::words::{describe_window, field_names, humanize_ms};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use timely::dataflow::Stream;
use weir_operators::window::lateness;
use weir_operators::{AggregateSpec, WindowSpec};
use weir_operators::{Key, KeyOf, Position, Value, Values, WindowAggregator, WindowRecord, WindowRow};

/// A keyed event-time window aggregation.
#[derive(Clone, Debug)]
pub struct WindowPlan {
    pub window: WindowSpec,
    pub allowed_lateness_ms: i64,
    /// Input schema indices of the key fields.
    pub key: Vec<usize>,
    /// Input schema indices of fields carried into the output (from the first record of each window).
    pub carry: Vec<usize>,
    /// Input schema indices of the fields aggregates read; `AggregateSpec::input` indexes this list.
    pub values: Vec<usize>,
    pub aggregates: Vec<AggregateSpec>,
    /// (window, key) accumulators one worker may hold open at once before the job fails (a memory guard).
    pub max_open_windows: usize,
    /// A row for every window from the first with records on, with zero counts where none came (windows
    /// without key only; see `dataflow::window_empty`).
    pub emit_empty: bool,
}

impl WindowPlan {
    /// Whether the window runs in two phases (partials per worker, merged on the key's worker): tumbling
    /// and hopping windows whose aggregates all merge exactly (all but `stddev`).
    pub fn combinable(&self) -> bool {
        !self.emit_empty
            && !matches!(self.window, WindowSpec::Session { .. })
            && !self
                .aggregates
                .iter()
                .any(|a| matches!(a.func, weir_operators::AggregateFn::Stddev(_)))
    }
}

/// Default [`WindowPlan::max_open_windows`].
pub const DEFAULT_MAX_OPEN_WINDOWS: usize = 10_000_000;

/// A record on its way to its key's worker: its key fields, then the fields aggregates read, then the
/// carried fields, in one inline list (no allocation per record).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WindowInput {
    pub pos: Position,
    pub seq: u32,
    pub awm: Option<i64>,
    pub ts: i64,
    pub route: u64,
    pub fields: Values,
}

impl Positioned for WindowInput {
    fn position(&self) -> Position {
        self.pos
    }
    fn tie(&self, other: &Self) -> std::cmp::Ordering {
        self.seq
            .cmp(&other.seq)
            .then_with(|| cmp_rows(&self.fields, &other.fields))
    }
}

/// What names the origin of a late record in its dead letter: its source's name if it was read from one,
/// else the stream the window reads.
#[derive(Clone, Debug)]
pub struct LateLabels {
    pub sources: Arc<Vec<String>>,
    pub input: String,
    pub input_schema: Schema,
}

impl LateLabels {
    pub(crate) fn of(&self, r: &Record) -> &str {
        match self.sources.get(r.pos.source as usize) {
            Some(s) if r.line != NO_LINE => s,
            _ => &self.input,
        }
    }
}

/// Splits a stream's records into window inputs (keyed, to be exchanged) and late records (dead letters).
fn feed<'s>(
    records_in: RecordStream<'s>,
    plan: Arc<WindowPlan>,
    labels: LateLabels,
    ctx: RunContext,
) -> (Stream<'s, Time, Vec<WindowInput>>, RecordStream<'s>) {
    split_batches(records_in, "WindowFeed", move |batch, inputs, late| {
        let late_before = late.len();
        for (i, r) in batch.records.iter().enumerate() {
            let (any_late, all_late) = lateness(&plan.window, plan.allowed_lateness_ms, r.ts, r.awm);
            if all_late && !any_late {
                // In no window at all: its start would be before i64::MIN.
                let reason = "event time out of range: no window can hold it";
                late.push(failed_record(labels.of(r), &labels.input_schema, batch, i, reason));
                continue;
            }
            if any_late {
                late.push(failed_record(labels.of(r), &labels.input_schema, batch, i, "late"));
            }
            if !all_late {
                let fields: Values = plan
                    .key
                    .iter()
                    .chain(&plan.values)
                    .chain(&plan.carry)
                    .map(|f| r.values[*f].clone())
                    .collect();
                let route = Key::route_hash_of(&fields[..plan.key.len()]);
                inputs.push(WindowInput {
                    pos: r.pos,
                    seq: r.seq,
                    awm: r.awm,
                    ts: r.ts,
                    route,
                    fields,
                });
            }
        }
        if late.len() > late_before {
            ctx.metrics
                .late_records(&labels.input, (late.len() - late_before) as u64);
        }
    })
}

/// The window operator (named `name` in checkpoints): returns its rows and its late records.
pub fn window<'s>(
    input: RecordStream<'s>,
    name: String,
    plan: WindowPlan,
    labels: LateLabels,
    ctx: RunContext,
) -> (RecordStream<'s>, RecordStream<'s>) {
    let plan = Arc::new(plan);
    let core = WindowCore {
        plan: plan.clone(),
        metrics: ctx.metrics.clone(),
        guard: Some((name.clone(), ctx.clone())),
    };
    if plan.combinable() {
        // Two phases: partials per worker, merged on the key's worker (see `window_combine`).
        let (partials, late) = pre_aggregate(input, plan, name.clone(), labels, ctx.clone());
        return (ordered(partials, "Window", name, MergeLogic(core), ctx), late);
    }
    let (records, late) = feed(input, plan.clone(), labels, ctx.clone());
    // A window input's fields are its key, the aggregates' values, then the carried fields.
    let first = plan.key.len() + plan.values.len();
    let carry = (first..first + plan.carry.len()).collect();
    let logic = WindowLogic {
        key: (0..plan.key.len()).collect(),
        core,
        carry,
    };
    if plan.emit_empty {
        let zero = plan
            .aggregates
            .iter()
            .map(|a| if a.func.is_count() { Value::Int(0) } else { Value::Null })
            .collect();
        let logic = EmptyWindows {
            inner: logic,
            window: plan.window,
            allowed_lateness_ms: plan.allowed_lateness_ms,
            carried: plan.carry.len(),
            zero,
            guard: (name.clone(), ctx.clone()),
        };
        return (ordered(records, "Window", name, logic, ctx), late);
    }
    (ordered(records, "Window", name, logic, ctx), late)
}

/// Event time in milliseconds of a logical time (saturating).
pub(crate) fn ms(t: Time) -> i64 {
    t.min(i64::MAX as u64) as i64
}

/// What both forms of the window operator share: the plan, its state, firing and the open-window guard.
struct WindowCore {
    plan: Arc<WindowPlan>,
    metrics: Arc<Metrics>,
    /// The operator's name and the run, until the open-window limit is hit (the job then fails, once).
    guard: Option<(String, RunContext)>,
}

impl WindowCore {
    fn fresh(&self) -> WindowAggregator {
        WindowAggregator::new(
            self.plan.window,
            self.plan.allowed_lateness_ms,
            self.plan.aggregates.clone(),
        )
    }

    /// After applying a step's items: checks the open-window limit (failing the job once), fires the windows
    /// due at `f` after those already `fired`, and returns them all as records.
    fn finish(&mut self, agg: &mut WindowAggregator, mut fired: Vec<WindowRow>, f: Option<Time>) -> Vec<Record> {
        if agg.open_count() > self.plan.max_open_windows {
            if let Some((operator, ctx)) = self.guard.take() {
                ctx.stop.fail(crate::error::JobFailure::TooManyWindows {
                    operator,
                    limit: self.plan.max_open_windows,
                });
            }
        }
        fired.extend(agg.fire(f.map(ms)));
        Metrics::add(&self.metrics.window_rows, fired.len() as u64);
        let lateness = self.plan.allowed_lateness_ms;
        fired.into_iter().map(|row| row_record(row, lateness)).collect()
    }
}

/// The second phase of a combinable window: merges the workers' partials of each (window, key) and fires
/// windows as the frontier passes them, exactly as [`WindowLogic`] would have from the records.
struct MergeLogic(WindowCore);

impl OrderedLogic for MergeLogic {
    type Item = WindowPartial;
    type State = WindowAggregator;

    fn route(p: &WindowPartial) -> u64 {
        p.route
    }

    fn fresh(&self) -> WindowAggregator {
        self.0.fresh()
    }

    fn step(
        &mut self,
        agg: &mut WindowAggregator,
        items: &mut dyn Iterator<Item = (Position, WindowPartial)>,
        f: Option<Time>,
        out: &mut [Vec<Record>],
    ) {
        for (_, p) in items {
            agg.merge_partial(p.start, p.key, p.acc);
        }
        out[0] = self.0.finish(agg, Vec::new(), f);
    }
}

/// Windows as an ordered operator: records are added in order; a window fires once the frontier reaches
/// `end + allowed_lateness` (every record that is not late for it has a logical time below that, and so has
/// its row).
struct WindowLogic {
    core: WindowCore,
    /// Where the carried fields are in a [`WindowInput`]'s fields.
    carry: Vec<usize>,
    /// Where the key fields are in a [`WindowInput`]'s fields: its first ones.
    key: Vec<usize>,
}

impl OrderedLogic for WindowLogic {
    type Item = WindowInput;
    type State = WindowAggregator;

    fn route(r: &WindowInput) -> u64 {
        r.route
    }

    fn fresh(&self) -> WindowAggregator {
        self.core.fresh()
    }

    fn step(
        &mut self,
        agg: &mut WindowAggregator,
        items: &mut dyn Iterator<Item = (Position, WindowInput)>,
        f: Option<Time>,
        out: &mut [Vec<Record>],
    ) {
        let plan = &self.core.plan;
        let (nk, nv) = (plan.key.len(), plan.values.len());
        let mut fired = Vec::new();
        let sessions = agg.is_session();
        for (pos, r) in items {
            if sessions {
                // Sessions due by this record's logical time close before it (it may not join them).
                fired.extend(agg.fire(Some(ms(pos.lt))));
            }
            let record = WindowRecord {
                ts: r.ts,
                pos,
                awm: r.awm,
                values: &r.fields[nk..nk + nv],
                row: &r.fields,
                carry: &self.carry,
            };
            agg.add_at(KeyOf::new(&r.fields, &self.key), record);
        }
        out[0] = self.core.finish(agg, fired, f);
    }
}

impl OperatorComponent for WindowPlan {
    fn kind(&self) -> &'static str {
        "window"
    }
    fn has_late(&self) -> bool {
        true
    }
    fn is_stateful(&self) -> bool {
        true
    }
    fn window(&self) -> Option<WindowTiming> {
        Some(WindowTiming {
            window: self.window,
            allowed_lateness_ms: self.allowed_lateness_ms,
        })
    }
    fn describe(&self, input: &Schema) -> String {
        let aggs: Vec<String> = self
            .aggregates
            .iter()
            .map(|a| format!("{} = {}", a.name, a.func))
            .collect();
        let empty = if self.emit_empty {
            "; a row for every window from the first with records on (zero counts where none came)"
        } else {
            ""
        };
        format!(
            "window {}, allowed lateness {}, keyed by [{}], carry [{}]: {}{empty}",
            describe_window(&self.window),
            humanize_ms(self.allowed_lateness_ms),
            field_names(input, &self.key),
            field_names(input, &self.carry),
            aggs.join(", ")
        )
    }
    fn build<'s>(&self, cx: BuildContext<'s, '_>) -> Outputs<'s> {
        let labels = LateLabels {
            sources: Arc::new(cx.sources.to_vec()),
            input: cx.input_name,
            input_schema: cx.input_schema,
        };
        let input = cx.inputs.into_iter().next().expect("one input");
        let (rows, late) = window(input, cx.name.to_string(), self.clone(), labels, cx.ctx.clone());
        Outputs {
            late: Some(late),
            ..Outputs::main(rows)
        }
    }
}
