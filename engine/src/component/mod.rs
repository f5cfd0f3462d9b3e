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
//! | table | [`TableComponent`] (+ [`TableReader`], what reads it) | `table/` |

mod operator;
mod sink;
mod source;
mod table;

pub use operator::{BuildContext, OperatorComponent, Outputs};
pub use sink::{SinkBuildContext, SinkComponent, SinkPrepareContext};
pub use source::{PreparedSource, SourceBuildContext, SourceComponent, SourcePrepareContext};
pub use table::{now_ms, TableComponent, TableReader};
