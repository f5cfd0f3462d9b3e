//! The resolved, validated shape of a job as the runtime executes it: a directed acyclic graph of typed
//! streams.
//!
//! `weir-jobs` turns a job definition (TOML) into a [`Plan`]: names resolved to [`StreamRef`]s, durations to
//! milliseconds, field names to schema positions, expressions compiled, every stream's [`Schema`] known.
//! Operators are stored in dependency order (each reads only sources and earlier operators), so the runtime
//! builds them front to back. The runtime trusts a plan; all user-facing validation happens before one is
//! built.

use crate::component::{OperatorComponent, SinkComponent, SourceComponent, TableComponent};
use crate::expr::Typed;
use crate::schema::Schema;
use std::sync::Arc;
use weir_operators::{AggregateSpec, WindowSpec};

/// A whole job.
#[derive(Clone, Debug)]
pub struct Plan {
    pub job_name: String,
    pub workers: usize,
    pub sources: Vec<SourcePlan>,
    /// `[tables.NAME]`: reference tables joins look records up in.
    pub tables: Vec<TablePlan>,
    /// In dependency order.
    pub operators: Vec<OperatorPlan>,
    pub sinks: Vec<SinkPlan>,
    pub serve: Option<ServePlan>,
    /// `[job.checkpoint]`: `None` when the job does not checkpoint.
    pub checkpoint: Option<crate::checkpoint::CheckpointConfig>,
    /// Several processes on timely's cluster mode (`None`: one process).
    pub cluster: Option<ClusterPlan>,
}

/// One of several processes running the same job: `workers` threads each, on timely's cluster mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterPlan {
    /// This process's index (0-based, in `addresses` order).
    pub process: usize,
    /// Every process's `host:port`, in process order.
    pub addresses: Vec<String>,
}

impl ClusterPlan {
    pub fn processes(&self) -> usize {
        self.addresses.len()
    }
}

impl Plan {
    /// (this process, processes): (0, 1) without a cluster.
    pub fn process(&self) -> (usize, usize) {
        self.cluster.as_ref().map_or((0, 1), |c| (c.process, c.processes()))
    }
}

#[derive(Clone, Debug)]
pub struct SourcePlan {
    pub name: String,
    /// The source's kind and parameters.
    pub component: Arc<dyn SourceComponent>,
    pub schema: Schema,
    pub max_out_of_orderness_ms: i64,
    /// Longer records (lines, messages) are dead letters.
    pub max_record_bytes: usize,
    /// `max_future`: a record more than this far ahead of its arrival watermark is a dead letter (and does
    /// not move the watermark).
    pub max_future_ms: Option<i64>,
}

impl SourcePlan {
    /// The `max_future` rule, if the source has one.
    pub fn future_bound(&self) -> Option<crate::sequencer::FutureBound> {
        self.max_future_ms.map(|max_future_ms| crate::sequencer::FutureBound {
            max_out_of_orderness_ms: self.max_out_of_orderness_ms,
            max_future_ms,
        })
    }

    /// A decoder of this source's records.
    pub fn decoder(&self) -> crate::decode::Decoder {
        crate::decode::Decoder::new(self.schema.clone()).with_max_record_bytes(self.max_record_bytes)
    }

    /// Source operator instances per worker (partitions with their own watermark).
    pub fn instances_per_worker(&self) -> usize {
        self.component.instances_per_worker()
    }
}

/// `[tables.NAME]`: a keyed, versioned reference table.
#[derive(Clone, Debug)]
pub struct TablePlan {
    pub name: String,
    /// The table's kind and parameters.
    pub component: Arc<dyn TableComponent>,
    /// The row's fields; `event_time` is the version field (or `NO_EVENT_TIME`).
    pub schema: Schema,
    /// The primary key field.
    pub key: usize,
    /// The field whose value is a row's version time.
    pub version: Option<usize>,
    /// How long after its version time a version may still be written (the table's watermark stays this
    /// far behind its reads).
    pub max_out_of_orderness_ms: i64,
}

/// `kind = "join"`: each record of the stream with the table's row for its key, as of the record's event
/// time.
#[derive(Clone, Debug)]
pub struct JoinPlan {
    /// The table (index into [`Plan::tables`]).
    pub table: usize,
    pub table_name: String,
    /// The stream's field looked up.
    pub on: usize,
    /// Table fields added: (output name, table schema index).
    pub fields: Vec<(String, usize)>,
    /// `inner`: records without a row are dead letters; otherwise (`left`) they get nulls.
    pub inner: bool,
    /// A record is looked up no earlier than this long of logical time before it (very late records see
    /// the table as it was then); older versions are compacted away.
    pub history_ms: i64,
}

/// Default [`JoinPlan::history_ms`]: 7 days.
pub const DEFAULT_JOIN_HISTORY_MS: i64 = 7 * 86_400_000;

/// A stream an operator or sink can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamRef {
    /// The valid records of source `i` (`NAME`).
    Source(usize),
    /// Malformed records of source `i` (`NAME.dead_letters`).
    SourceDeadLetters(usize),
    /// The main output of operator `i` (`NAME`).
    Output(usize),
    /// Late records of window operator `i` (`NAME.late`).
    Late(usize),
    /// Records operator `i`'s expressions failed on (`NAME.dead_letters`).
    OperatorDeadLetters(usize),
    /// Records sink `i` could not deliver (`NAME.failed`).
    SinkFailures(usize),
    /// Rows table `i` could not read (`NAME.dead_letters`).
    TableDeadLetters(usize),
}

#[derive(Clone, Debug)]
pub struct OperatorPlan {
    pub name: String,
    pub inputs: Vec<StreamRef>,
    /// The operator's kind and parameters.
    pub component: Arc<dyn OperatorComponent>,
    /// The schema of the operator's main output.
    pub schema: Schema,
}

/// `kind = "filter"`: keeps the records where the predicate is TRUE.
#[derive(Clone, Debug)]
pub struct FilterPlan {
    pub predicate: Typed,
}

/// `kind = "derive"`: the output's fields, each an input field or a computed one.
#[derive(Clone, Debug)]
pub struct DerivePlan {
    pub columns: Vec<DeriveColumn>,
    /// The output field names, one per column.
    pub names: Vec<String>,
}

/// `kind = "union"`: merges streams of one schema.
#[derive(Clone, Debug)]
pub struct UnionPlan;

#[derive(Clone, Debug)]
pub enum DeriveColumn {
    /// The input field with this index.
    Keep(usize),
    /// A computed field.
    Compute(Typed),
}

/// A live view of the newest record per key, served over HTTP under the operator's name.
#[derive(Clone, Debug)]
pub struct LatestPlan {
    pub key: usize,
    /// The key field (how a key written as text in a lookup reads).
    pub key_field: crate::schema::Field,
    /// The field and values that make a record terminal (for `expiry.ttl_ms`).
    pub terminal: Option<(usize, Vec<String>)>,
    pub expiry: weir_operators::Expiry,
    /// The input's field names (the view's record shape).
    pub fields: Vec<String>,
}

/// The HTTP server of a job (`[serve]`).
#[derive(Clone, Debug)]
pub struct ServePlan {
    pub listen: String,
    /// Connections served at once; more are closed as they are accepted.
    pub max_connections: usize,
    /// A connection that sends no complete request head for this long is closed.
    pub idle_timeout: std::time::Duration,
    /// When set, every request must carry `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
    /// HTTP reads go before ingestion when both want a core: workers at the lowest priority, HTTP threads with
    /// a short time slice ([`crate::sched`]).
    pub reads_first: bool,
    /// HTTP threads run at real-time priority (`SCHED_FIFO`) where the process is allowed to
    /// ([`crate::sched::prefer_realtime`]), else as `reads_first` says.
    pub realtime_reads: bool,
}

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

/// `kind = "alert"`: per key, an alert for each record where `when` is TRUE, at most one per `cooldown` of
/// event time (an older, out-of-order record never re-alerts).
#[derive(Clone, Debug)]
pub struct AlertPlan {
    pub key: Vec<usize>,
    pub when: Typed,
    pub cooldown_ms: i64,
    pub alert_kind: String,
    pub severity: String,
    /// Fields copied into each alert, by input schema index, with their names.
    pub fields: Vec<(String, usize)>,
}

#[derive(Clone, Debug)]
pub struct SinkPlan {
    pub name: String,
    /// The sink's kind and parameters.
    pub component: Arc<dyn SinkComponent>,
    pub inputs: Vec<StreamRef>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionBy {
    Hour,
    Date,
    None,
}

impl Plan {
    /// The schema of a stream.
    pub fn schema_of(&self, r: StreamRef) -> Schema {
        match r {
            StreamRef::Source(i) => self.sources[i].schema.clone(),
            StreamRef::Output(i) => self.operators[i].schema.clone(),
            _ => Schema::dead_letters(),
        }
    }

    /// A stream's name as job definitions write it.
    pub fn stream_name(&self, r: StreamRef) -> String {
        match r {
            StreamRef::Source(i) => self.sources[i].name.clone(),
            StreamRef::SourceDeadLetters(i) => format!("{}.dead_letters", self.sources[i].name),
            StreamRef::Output(i) => self.operators[i].name.clone(),
            StreamRef::Late(i) => format!("{}.late", self.operators[i].name),
            StreamRef::OperatorDeadLetters(i) => format!("{}.dead_letters", self.operators[i].name),
            StreamRef::SinkFailures(i) => format!("{}.failed", self.sinks[i].name),
            StreamRef::TableDeadLetters(i) => format!("{}.dead_letters", self.tables[i].name),
        }
    }

    /// The keyed rules that run together as one operator (see `dataflow::rule_op`): per member, every member
    /// of its set in plan order — rules that read the same stream with the same key, up to
    /// [`weir_operators::RuleSet::MAX_RULES`] to a set.
    pub fn rule_sets(&self) -> std::collections::HashMap<usize, Vec<usize>> {
        let mut sets: Vec<Vec<usize>> = Vec::new();
        for (i, op) in self.operators.iter().enumerate() {
            let Some(rule) = op.component.keyed_rule() else {
                continue;
            };
            let joins = |set: &&mut Vec<usize>| {
                let first = &self.operators[set[0]];
                set.len() < weir_operators::RuleSet::MAX_RULES
                    && first.inputs == op.inputs
                    && crate::dataflow::rule_op::share_a_set(first.component.keyed_rule().expect("a keyed rule"), rule)
            };
            match sets.iter_mut().find(joins) {
                Some(set) => set.push(i),
                None => sets.push(vec![i]),
            }
        }
        sets.into_iter()
            .flat_map(|set| set.clone().into_iter().map(move |i| (i, set.clone())))
            .collect()
    }

    /// The window a stream's records come from, if it is a window operator's rows.
    pub fn window_of(&self, r: StreamRef) -> Option<&WindowPlan> {
        match r {
            StreamRef::Output(i) => self.operators[i].component.window(),
            _ => None,
        }
    }

    /// What an operator computes and reads, in words that name fields: shown by `weir explain` and compared
    /// on restore (a change refuses the checkpoint).
    pub fn describe_operator(&self, i: usize) -> String {
        let op = &self.operators[i];
        let reads: Vec<String> = op.inputs.iter().map(|r| self.stream_name(*r)).collect();
        let what = op.component.describe(&self.schema_of(op.inputs[0]));
        format!("reads {}; {what}", reads.join(", "))
    }
}

/// Field names of `schema` at `idx`, comma-separated.
pub fn field_names(schema: &Schema, idx: &[usize]) -> String {
    idx.iter()
        .map(|i| schema.fields[*i].name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A window's shape in words (`tumbling 1h`, `hopping 1h every 5m`, `session gap 5m`).
pub fn describe_window(w: &WindowSpec) -> String {
    let d = |ms: i64| humanize_ms(ms);
    match *w {
        WindowSpec::Tumbling { size_ms } => format!("tumbling {}", d(size_ms)),
        WindowSpec::Hopping { size_ms, slide_ms } => format!("hopping {} every {}", d(size_ms), d(slide_ms)),
        WindowSpec::Session { gap_ms } => format!("session gap {}", d(gap_ms)),
    }
}

/// Milliseconds as the largest exact unit (`90m` stays `90m`, `3600000` is `1h`).
pub fn humanize_ms(ms: i64) -> String {
    for (unit, n) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms != 0 && ms % n == 0 {
            return format!("{}{unit}", ms / n);
        }
    }
    format!("{ms}ms")
}
