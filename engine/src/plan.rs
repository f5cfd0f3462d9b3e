//! The resolved, validated shape of a job as the runtime executes it: a directed acyclic graph of typed
//! streams.
//!
//! `weir-jobs` turns a job definition (TOML) into a [`Plan`]: names resolved to [`StreamRef`]s, durations to
//! milliseconds, field names to schema positions, expressions compiled, every stream's [`Schema`] known.
//! Operators are stored in dependency order (each reads only sources and earlier operators), so the runtime
//! builds them front to back. The runtime trusts a plan; all user-facing validation happens before one is
//! built.

use crate::component::{OperatorComponent, SinkComponent};
use crate::schema::Schema;
use std::collections::BTreeMap;
use std::sync::Arc;

pub use crate::component::{SourcePlan, TablePlan, WindowTiming};
pub use crate::connectors::parquet::PartitionBy;
pub use crate::operators::alert::AlertPlan;
pub use crate::operators::derive::{DeriveColumn, DerivePlan};
pub use crate::operators::filter::FilterPlan;
pub use crate::operators::join::{JoinPlan, DEFAULT_JOIN_HISTORY_MS};
pub use crate::operators::latest::LatestPlan;
pub use crate::operators::union::UnionPlan;
pub use crate::operators::window::{WindowPlan, DEFAULT_MAX_OPEN_WINDOWS};
pub use crate::words::{describe_window, field_names, humanize_ms};

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
    /// The job's state-relevant shape (`crate::checkpoint::shape`): one description per component, keyed by
    /// its path in the job definition.
    pub fn shape(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        for s in &self.sources {
            let kind = s.component.shape();
            m.insert(
                format!("sources.{}", s.name),
                format!(
                    "{kind}; schema {}; max_out_of_orderness {} ms",
                    s.schema, s.max_out_of_orderness_ms
                ),
            );
        }
        for t in &self.tables {
            let version = t
                .version
                .map_or("none".to_string(), |v| t.schema.fields[v].name.clone());
            m.insert(
                format!("tables.{}", t.name),
                format!(
                    "{}; key {}; version {version}; schema {}; max_out_of_orderness {} ms",
                    t.component.kind(),
                    crate::words::field_names(&t.schema, &t.key),
                    t.schema,
                    t.max_out_of_orderness_ms
                ),
            );
        }
        for (i, o) in self.operators.iter().enumerate() {
            m.insert(format!("operators.{}", o.name), self.describe_operator(i));
        }
        for k in &self.sinks {
            let inputs: Vec<String> = k.inputs.iter().map(|r| self.stream_name(*r)).collect();
            m.insert(
                format!("sinks.{}", k.name),
                format!("{}; inputs {}", k.component.kind(), inputs.join(", ")),
            );
            for (option, value) in k.component.shape_details() {
                m.insert(format!("sinks.{}.{option}", k.name), value);
            }
        }
        m
    }

    /// (this process, processes): (0, 1) without a cluster.
    pub fn process(&self) -> (usize, usize) {
        self.cluster.as_ref().map_or((0, 1), |c| (c.process, c.processes()))
    }
}

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
    /// HTTP ingest sources, taking `POST /v1/ingest/NAME`.
    pub ingest_sources: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct SinkPlan {
    pub name: String,
    /// The sink's kind and parameters.
    pub component: Arc<dyn SinkComponent>,
    pub inputs: Vec<StreamRef>,
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
                    && crate::component::share_a_set(first.component.keyed_rule().expect("a keyed rule"), rule)
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
    pub fn window_of(&self, r: StreamRef) -> Option<WindowTiming> {
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
