//! Operators of a job definition: `[operators.NAME]` with `kind` and `inputs`, each kind's parameters checked
//! against its input streams' schemas, and the schema of what it outputs.
//!
//! Each kind reads its own options in its file of `weir_engine::operators`; here are the kinds an older job
//! definition may still name.

use weir_engine::component::registry::{self, ParseOperator};

/// Kinds of earlier versions, with what a job writes instead (a hint in the "unknown kind" problem).
pub(super) const RETIRED_KINDS: &[(&str, &str)] = &[
    (
        "threshold_alert",
        "`alert`: kind = \"alert\", when = \"ppv_mm_s > 25.0\"",
    ),
    (
        "delivery_alerts",
        "a `deadline` (delivery_delayed) and an `absence` (courier_silent): see config/delivery-alerts.toml",
    ),
];

/// Every operator kind: (name, streams it reads, options reader), from the engine's registry.
pub(super) fn kinds() -> Vec<(&'static str, Option<usize>, ParseOperator)> {
    registry::operators(weir_engine::kinds::OPERATORS)
}

/// The kind names, for "allowed: …" messages.
pub(super) fn kind_names() -> String {
    kinds().iter().map(|k| k.0).collect::<Vec<_>>().join(", ")
}
