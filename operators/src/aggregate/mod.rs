//! Aggregate functions over a window's records (DESIGN §3), their parsing from job definitions, and the
//! per-window accumulator that computes them.
//!
//! Every accumulator is plain owned data, and every aggregate but `stddev` gives the same bits whatever order
//! records are added in and however partial accumulators are grouped and merged: float sums are exact and
//! rounded once ([`ExactSum`]), ties between equal extremes, first and last values are broken by the records'
//! positions, and the carried fields come from the record first in position order. So a window can be
//! pre-aggregated on each worker and merged on the key's worker (see [`AggregateSet::combinable`]) with
//! results bit-identical for any worker count. `stddev` (Welford's update) depends on the order; windows with
//! it apply records in position order on the key's worker.

mod accumulator;
mod function;

pub use accumulator::{Accumulator, AggregateSet, AggregateSpec};
pub use function::{AggregateFn, AggregateParseError, Comparison};

#[cfg(test)]
mod tests;
