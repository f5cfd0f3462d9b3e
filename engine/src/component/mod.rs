//! The component model: everything the runtime, `weir explain` and checkpoints need of a source, operator or
//! sink kind, behind one trait per role, implemented next to the kind's own code.
//!
//! A kind is its plan type (validated parameters, produced by the planner from the job definition) plus an
//! impl of [`SourceComponent`], [`OperatorComponent`] or [`SinkComponent`]: its ports, whether it keeps
//! state, how it describes itself and how it builds on one worker. Adding a kind is that module and one
//! line in the planner's registry for its role; nothing else dispatches on kinds.
//!
//! | role | trait | kinds live in |
//! |---|---|---|
//! | source | [`SourceComponent`] (+ [`PreparedSource`], its per-process part) | `source/` |
//! | operator | [`OperatorComponent`] | `dataflow/` |
//! | sink | [`SinkComponent`] | `sink/` |
//! | table | [`TableComponent`] (+ [`TableReader`], what reads it; defined beside the table history in `table/kind.rs`, as the table operator drives them) | `connectors/` |

mod chunked;
pub mod ingest;
mod operator;
pub mod registry;
mod rule;
mod sink;
mod source;

pub use crate::table::kind::{now_ms, TableComponent, TablePlan, TableReader};
pub use chunked::ChunkPartitions;
pub use operator::{row_record, BuildContext, OperatorComponent, Outputs, WindowTiming};
pub use rule::{share_a_set, KeyedRule, RuleMember, RulePlan};
pub use sink::{SinkBuildContext, SinkComponent, SinkPrepareContext};
pub use source::{
    partition_owner, PreparedSource, SourceBuildContext, SourceComponent, SourcePlan, SourcePrepareContext,
};
