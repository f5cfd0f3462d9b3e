//! The operator kinds: one file or folder per kind, each holding its plan (validated parameters), its
//! component impl (ports, `describe`, `build`) and its timely operator.
//!
//! Stateless: [`filter`], [`derive`], [`union`]. Stateful, in event time: [`window`] (tumbling, hopping,
//! session; two-phase where aggregates merge), [`alert`], [`rules`] (`deadline`, `absence`), [`latest`] (a
//! live view), [`join`] (against a reference table, as of each record's event time).

pub mod alert;
pub mod derive;
pub mod filter;
pub mod join;
pub mod latest;
pub mod rules;
pub mod union;
pub mod window;
