//! The operator kinds: one file or folder per kind, each holding its plan (validated parameters), its
//! component impl (ports, `describe`, `build`) and its timely operator.
//!
//! Stateless: [`filter`], [`derive`](mod@derive), [`union`]. Stateful, in event time: [`window`] (tumbling, hopping,
//! session; two-phase where aggregates merge), [`alert`], [`rules`] (`deadline`, `absence`), [`latest`] (a
//! live view), [`join`] (against a reference table, as of each record's event time).

use crate::component::registry::{Kind, Role};

/// Declares each operator kind's file or folder and registers it: a kind is one line here.
macro_rules! operators {
    ($($module:ident: [$($kind:literal, $inputs:expr, $side:expr => $parse:path),* $(,)?];)*) => {
        $(pub mod $module;)*

        /// Every operator kind: its name in job definitions, how many streams it reads (`None`: one or
        /// more), the side streams it may have, and its options reader.
        pub const KINDS: &[Kind] = &[$($(($kind, Role::Operator { inputs: $inputs, side: $side, parse: $parse })),*),*];
    };
}

/// Side streams: records an expression failed on, or a join did not match.
const DEAD: &[&str] = &["dead_letters"];
/// Side streams: records too late for their window.
const LATE: &[&str] = &["late"];

operators! {
    filter: ["filter", Some(1), DEAD => filter::parse];
    derive: ["derive", Some(1), DEAD => derive::parse];
    union: ["union", None, &[] => union::parse];
    window: ["window", Some(1), LATE => window::config::parse];
    alert: ["alert", Some(1), DEAD => alert::parse];
    rules: ["deadline", Some(1), &[] => rules::parse_deadline, "absence", Some(1), &[] => rules::parse_absence];
    latest: ["latest", Some(1), &[] => latest::parse];
    join: ["join", Some(1), DEAD => join::parse];
}
