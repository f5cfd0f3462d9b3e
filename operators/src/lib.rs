//! Pure event-time operators of weir.
//!
//! Everything here is plain owned data and deterministic logic with no I/O and no threads, so that it can be
//! unit-tested directly and checkpointed later (every state type is `serde`-serializable). The runtime in
//! `weir-engine` feeds these operators records in a deterministic order and tells them how far event time has
//! progressed; it never reaches inside.

pub mod aggregate;
pub mod alert;
pub mod cooldown;
pub mod event_order;
pub mod exact_sum;
pub mod keyed_state;
pub mod keyed_timers;
pub mod latest_value;
pub mod rules;
pub mod sketch;
#[cfg(test)]
mod test_rng;
pub mod value;
pub mod watermark;
pub mod window;
pub mod window_aggregator;

pub use aggregate::{AggregateFn, AggregateSet, AggregateSpec, Comparison};
pub use alert::{alert_id, Alert};
pub use cooldown::Cooldown;
pub use event_order::{EventOrderBuffer, Position};
pub use exact_sum::ExactSum;
pub use keyed_state::{redistribute, KeyedState};
pub use keyed_timers::{Cause, KeyedLogic, KeyedTimers, TimerRequests};
pub use latest_value::{Expiry, LatestValues};
pub use rules::{Absence, Deadline, Rule, RuleAlert, RuleSet, RuleSetRecord};
pub use sketch::QuantileSketch;
pub use value::{Key, KeyOf, Value, Values};
pub use watermark::{logical_time, ArrivalWatermark, WatermarkTracker};
pub use window::WindowSpec;
pub use window_aggregator::Record as WindowRecord;
pub use window_aggregator::{WindowAggregator, WindowRow};
