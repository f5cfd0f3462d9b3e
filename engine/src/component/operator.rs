//! The operator role: a kind that reads streams of the job graph and outputs new ones (filter, window, …).

use crate::dataflow::RunContext;
use crate::record::Time;
use crate::record::{Record, RecordStream, Row};
use crate::schema::Schema;
use crate::views::ViewStore;
use std::sync::Arc;
use weir_operators::{Position, Value, WindowRow};

/// What readers of a window's rows need of the window: its shape and its allowed lateness (a row's logical
/// time is its window's end + allowed lateness − 1 ms).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowTiming {
    pub window: weir_operators::WindowSpec,
    pub allowed_lateness_ms: i64,
}

/// A fired window as a record of the window's output schema.
pub fn row_record(row: WindowRow, allowed_lateness_ms: i64) -> Record {
    let lt = row.end.saturating_add(allowed_lateness_ms).saturating_sub(1).max(0) as Time;
    let mut values = Row::with_capacity(2 + row.key.0.len() + row.carry.len() + row.values.len());
    values.push(Value::Int(row.start));
    values.push(Value::Int(row.end));
    values.extend(row.key.0);
    values.extend(row.carry);
    values.extend(row.values);
    let pos = Position {
        lt,
        source: 0,
        partition: 0,
        // Rows of one firing order by window start, then (as values) by key.
        offset: row.start as u64,
    };
    Record::derived(pos, 0, row.start, values)
}

/// What one worker's build of an operator gets.
pub struct BuildContext<'s, 'p> {
    /// The operator's name (its state's name in checkpoints, its view's name).
    pub name: &'p str,
    /// Its input streams, in `inputs` order.
    pub inputs: Vec<RecordStream<'s>>,
    /// The first input's schema.
    pub input_schema: Schema,
    /// The name of the first input stream (dead letters of records that came from no source name it).
    pub input_name: String,
    /// The job's name (alerts carry it).
    pub job_name: &'p str,
    /// The job's source names, in plan order (sources are numbered by this order in records' positions).
    pub sources: &'p [String],
    /// Every table of the job on this worker, in plan order (what joins look up).
    pub tables: &'p [crate::dataflow::table_op::BuiltTable<'s>],
    pub views: &'p Arc<ViewStore>,
    /// The instance number of a view-serving operator on this worker (for the view store's progress).
    pub view_instance: usize,
    /// Progress only: passes a time once every partition end sent before it is recorded in this process
    /// (see [`crate::dataflow::partition_ends`]).
    pub partition_ends: &'p crate::dataflow::partition_ends::EndsStream<'s>,
    pub ctx: &'p RunContext,
}

/// The streams an operator outputs.
pub struct Outputs<'s> {
    pub main: RecordStream<'s>,
    /// `NAME.late`, for kinds that have it.
    pub late: Option<RecordStream<'s>>,
    /// `NAME.dead_letters`, for kinds that have it.
    pub dead_letters: Option<RecordStream<'s>>,
}

impl<'s> Outputs<'s> {
    pub fn main(main: RecordStream<'s>) -> Self {
        Outputs {
            main,
            late: None,
            dead_letters: None,
        }
    }

    /// The main output and `NAME.dead_letters`.
    pub fn with_dead_letters(main: RecordStream<'s>, dead_letters: RecordStream<'s>) -> Self {
        Outputs {
            dead_letters: Some(dead_letters),
            ..Outputs::main(main)
        }
    }
}

/// One operator kind.
pub trait OperatorComponent: std::fmt::Debug + Send + Sync + 'static {
    /// The kind's name in job definitions.
    fn kind(&self) -> &'static str;

    /// Whether it has a `NAME.late` output.
    fn has_late(&self) -> bool {
        false
    }

    /// Whether it has a `NAME.dead_letters` output (its expressions can fail on a record).
    fn has_dead_letters(&self) -> bool {
        false
    }

    /// Whether it keeps state between records (and so takes part in checkpoints).
    fn is_stateful(&self) -> bool;

    /// Whether its output records are its input's, unchanged in time (filter, derive, union): window rows
    /// passing through it are still window rows.
    fn passes_rows_through(&self) -> bool {
        false
    }

    /// What it computes, in words that name fields (not indices or types of the implementation): shown by
    /// `weir explain` and compared on restore, where a change refuses the checkpoint.
    fn describe(&self, input: &Schema) -> String;

    /// If its output is window rows: the window's timing.
    fn window(&self) -> Option<WindowTiming> {
        None
    }

    /// If it looks records up in a table: the table's index in the plan.
    fn table(&self) -> Option<usize> {
        None
    }

    /// If it serves a live view over HTTP: the view's field names.
    fn view_fields(&self) -> Option<&[String]> {
        None
    }

    /// If it serves a live view: the view's key field.
    fn view_key(&self) -> Option<&crate::schema::Field> {
        None
    }

    /// If it is a keyed rule (`deadline`, `absence`): rules reading the same stream with the same key are
    /// built together as one operator.
    fn keyed_rule(&self) -> Option<&dyn super::KeyedRule> {
        None
    }

    /// Builds the operator on one worker.
    fn build<'s>(&self, cx: BuildContext<'s, '_>) -> Outputs<'s>;
}
