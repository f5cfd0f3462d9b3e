//! How the registry names a kind: its name, its role, and the function that reads its options into its
//! component (every problem reported on the section, with the offending value).

use crate::component::{OperatorComponent, SinkComponent, SourceComponent, TableComponent, TablePlan};
use crate::config::Section;
use crate::schema::Schema;
use std::path::Path;
use std::sync::Arc;

/// Reads a source kind's options (paths relative to the given directory, the job file's): its component
/// and, for kinds whose records have a fixed shape, their built-in schema.
pub type ParseSource = fn(&Section, &Path) -> (Option<Arc<dyn SourceComponent>>, Option<Schema>);

/// Reads a sink kind's options, given its inputs' schemas (`None` where an input failed its own checks).
pub type ParseSink = fn(&Section, &[Option<Schema>]) -> Option<Arc<dyn SinkComponent>>;

/// Reads a table kind's options (paths relative to the given directory), given its key field's index.
pub type ParseTable = fn(&Section, &Path, &[usize]) -> Option<Arc<dyn TableComponent>>;

/// What an operator kind's options are read against: its input streams' schemas (it derefs to them) and, for
/// a join, its tables: (index, name, plan if valid, schema if that much was valid).
pub struct OperatorInputs<'a> {
    pub schemas: Vec<Schema>,
    pub tables: Vec<(usize, &'a str, Option<&'a TablePlan>, Option<&'a Schema>)>,
}

impl std::ops::Deref for OperatorInputs<'_> {
    type Target = [Schema];
    fn deref(&self) -> &[Schema] {
        &self.schemas
    }
}

/// Reads an operator kind's options against its inputs: its component and the schema of its main output.
pub type ParseOperator = fn(&Section, &OperatorInputs) -> Option<(Arc<dyn OperatorComponent>, Schema)>;

/// One role of a kind, with its options reader.
#[derive(Clone, Copy)]
pub enum Role {
    Source(ParseSource),
    Sink(ParseSink),
    Table(ParseTable),
    /// An operator reading exactly `inputs` streams (`None`: one or more), whose instances may have the
    /// side streams `side` (`late`, `dead_letters`: read as `NAME.late`, …) besides their main output.
    Operator {
        inputs: Option<usize>,
        side: &'static [&'static str],
        parse: ParseOperator,
    },
}

/// A registered kind: its name in job definitions and its role.
pub type Kind = (&'static str, Role);

/// The kinds of `registry` that `pick` takes (a role's reader, and what else it keeps), by name.
fn of<T>(registry: &[Kind], pick: impl Fn(&Role) -> Option<T>) -> Vec<(&'static str, T)> {
    registry.iter().filter_map(|(n, r)| Some((*n, pick(r)?))).collect()
}

/// The source kinds of `registry`, by name.
pub fn sources(registry: &[Kind]) -> Vec<(&'static str, ParseSource)> {
    of(registry, |r| if let Role::Source(p) = r { Some(*p) } else { None })
}

/// The sink kinds of `registry`, by name.
pub fn sinks(registry: &[Kind]) -> Vec<(&'static str, ParseSink)> {
    of(registry, |r| if let Role::Sink(p) = r { Some(*p) } else { None })
}

/// The table kinds of `registry`, by name.
pub fn tables(registry: &[Kind]) -> Vec<(&'static str, ParseTable)> {
    of(registry, |r| if let Role::Table(p) = r { Some(*p) } else { None })
}

/// The operator kinds of `registry`, by name, with the number of streams each reads (`None`: one or more).
pub fn operators(registry: &[Kind]) -> Vec<(&'static str, Option<usize>, ParseOperator)> {
    of(registry, |r| match r {
        Role::Operator { inputs, parse, .. } => Some((*inputs, *parse)),
        _ => None,
    })
    .into_iter()
    .map(|(n, (inputs, parse))| (n, inputs, parse))
    .collect()
}

/// The side streams an operator kind of `registry` may have (`late`, `dead_letters`), for the names a job
/// can read; none for a kind it does not have.
pub fn side_streams(registry: &[Kind], kind: &str) -> &'static [&'static str] {
    registry
        .iter()
        .find_map(|(n, r)| match r {
            Role::Operator { side, .. } if *n == kind => Some(*side),
            _ => None,
        })
        .unwrap_or(&[])
}
