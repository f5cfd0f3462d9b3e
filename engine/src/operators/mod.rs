//! The operator kinds: one file or folder per kind, each holding its plan (validated parameters), its
//! component impl (ports, `describe`, `build`) and its timely operator.
//!
//! Stateless: [`filter`], [`derive`](mod@derive), [`union`]. Stateful, in event time: [`window`] (tumbling, hopping,
//! session; two-phase where aggregates merge), [`alert`], [`rules`] (`deadline`, `absence`), [`latest`] (a
//! live view), [`join`] (against a reference table, as of each record's event time).

use crate::component::registry::{Kind, Role};

/// Declares each operator kind's file or folder and registers it: a kind is one line here.
macro_rules! operators {
    ($($module:ident: [$($kind:literal, $inputs:expr => $parse:path),* $(,)?];)*) => {
        $(pub mod $module;)*

        /// Every operator kind: its name in job definitions, how many streams it reads (`None`: one or
        /// more) and its options reader.
        pub const KINDS: &[Kind] = &[$($(($kind, Role::Operator { inputs: $inputs, parse: $parse })),*),*];
    };
}

operators! {
    filter: ["filter", Some(1) => filter::parse];
    derive: ["derive", Some(1) => derive::parse];
    union: ["union", None => union::parse];
    window: ["window", Some(1) => window::config::parse];
    alert: ["alert", Some(1) => alert::parse];
    rules: ["deadline", Some(1) => rules::parse_deadline, "absence", Some(1) => rules::parse_absence];
    latest: ["latest", Some(1) => latest::parse];
    join: ["join", Some(1) => join::parse];
}
