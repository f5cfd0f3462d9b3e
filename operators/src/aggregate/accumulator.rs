//! The per-window accumulator: the aggregates of a window as plain owned data, records added in any order
//! and partial accumulators merged, with the same bits whatever the grouping (but `stddev`).

use super::function::AggregateFn;
use crate::event_order::Position;
use crate::exact_sum::ExactSum;
use crate::sketch::QuantileSketch;
use crate::value::{Value, ValueType};
use serde::{Deserialize, Serialize};

/// A named aggregate: one output column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggregateSpec {
    pub name: String,
    pub func: AggregateFn,
    /// Index of the input field in the operator's value list (`None` for `count`).
    pub input: Option<usize>,
    /// The input field's type (`None` for `count`).
    pub input_type: Option<ValueType>,
}

/// A window's aggregates plus the layout derived from them: quantiles over the same field share one sketch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggregateSet {
    pub specs: Vec<AggregateSpec>,
    /// Per spec: the index of its sketch, for quantiles.
    sketch_of: Vec<Option<usize>>,
    /// Per sketch: the input (value index) it reads.
    sketch_inputs: Vec<usize>,
}

impl AggregateSet {
    pub fn new(specs: Vec<AggregateSpec>) -> Self {
        let mut sketch_inputs: Vec<usize> = Vec::new();
        let sketch_of = specs
            .iter()
            .map(|s| match (&s.func, s.input) {
                (AggregateFn::Quantile { .. } | AggregateFn::Sketch(_), Some(input)) => {
                    Some(sketch_inputs.iter().position(|i| *i == input).unwrap_or_else(|| {
                        sketch_inputs.push(input);
                        sketch_inputs.len() - 1
                    }))
                }
                _ => None,
            })
            .collect();
        Self {
            specs,
            sketch_of,
            sketch_inputs,
        }
    }

    /// Whether partial accumulators of these aggregates can be merged in any grouping with a result identical
    /// to adding every record to one accumulator in position order (all but `stddev`).
    pub fn combinable(&self) -> bool {
        !self.specs.iter().any(|s| matches!(s.func, AggregateFn::Stddev(_)))
    }
}

/// Running state of one aggregate in one window for one key. NULL inputs are skipped (SQL's rule), so the
/// averaging slots count their own values.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Slot {
    Count,
    CountIf(u64),
    SumInt(i64),
    SumFloat(ExactSum),
    Extreme(Option<Value>),
    Mean(ExactSum, u64),
    Rms(ExactSum, u64),
    Stddev {
        mean: f64,
        m2: f64,
        n: u64,
    },
    /// First/last: the value with its record's event time and position (ties on time go by position).
    Ordered(Option<(i64, Position, Value)>),
    /// Reads the shared sketch with this index.
    Quantile(usize),
    /// Outputs the shared sketch with this index.
    Sketch(usize),
}

/// All aggregates of one window for one key, plus the carried fields (taken from the record first in
/// position order).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Accumulator {
    count: u64,
    slots: Vec<Slot>,
    sketches: Vec<QuantileSketch>,
    pub carry: Vec<Value>,
    /// The position of the record the carried fields come from.
    carry_at: Position,
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// Whether `v` is a better minimum (`min`) or maximum than `m`: by value, NaN never better than a number,
/// equal numbers by their total order (−0 below +0) so that the choice does not depend on which came first.
fn better_extreme(v: &Value, m: &Value, min: bool) -> bool {
    use std::cmp::Ordering;
    let order = match (v, m) {
        (Value::Int(a), Value::Int(b)) => a.cmp(b),
        _ => {
            let (a, b) = (num(v), num(m));
            match (a.is_nan(), b.is_nan()) {
                (true, true) => a.total_cmp(&b),
                (true, false) => return false,
                (false, true) => return true,
                (false, false) => a.total_cmp(&b),
            }
        }
    };
    if min {
        order == Ordering::Less
    } else {
        order == Ordering::Greater
    }
}

/// Whether a first/last candidate at `(ts, position)` replaces the current one.
fn takes_over(func: &AggregateFn, candidate: (i64, Position), current: (i64, Position)) -> bool {
    match func {
        AggregateFn::First(_) => candidate < current,
        _ => candidate > current,
    }
}

impl Accumulator {
    /// An empty accumulator whose carried fields `carry` come from the record at `at`.
    pub fn new(set: &AggregateSet, carry: Vec<Value>, at: Position) -> Self {
        let slots = set
            .specs
            .iter()
            .zip(&set.sketch_of)
            .map(|(s, sketch)| match &s.func {
                AggregateFn::Count => Slot::Count,
                AggregateFn::CountIf { .. } | AggregateFn::CountTrue(_) => Slot::CountIf(0),
                AggregateFn::Sum(_) if s.input_type == Some(ValueType::Int) => Slot::SumInt(0),
                AggregateFn::Sum(_) => Slot::SumFloat(ExactSum::default()),
                AggregateFn::Min(_) | AggregateFn::Max(_) => Slot::Extreme(None),
                AggregateFn::Mean(_) => Slot::Mean(ExactSum::default(), 0),
                AggregateFn::Rms(_) => Slot::Rms(ExactSum::default(), 0),
                AggregateFn::Stddev(_) => Slot::Stddev {
                    mean: 0.0,
                    m2: 0.0,
                    n: 0,
                },
                AggregateFn::First(_) | AggregateFn::Last(_) => Slot::Ordered(None),
                AggregateFn::Quantile { .. } => Slot::Quantile(sketch.expect("quantiles have a sketch")),
                AggregateFn::Sketch(_) => Slot::Sketch(sketch.expect("sketch aggregates have a sketch")),
            })
            .collect();
        let sketches = set.sketch_inputs.iter().map(|_| QuantileSketch::default()).collect();
        Accumulator {
            count: 0,
            slots,
            sketches,
            carry,
            carry_at: at,
        }
    }

    /// Adds one record: its event time, its position and its values (indexed by `AggregateSpec::input`).
    pub fn add(&mut self, set: &AggregateSet, ts: i64, at: Position, values: &[Value]) {
        let specs = &set.specs;
        self.count += 1;
        for (sketch, input) in self.sketches.iter_mut().zip(&set.sketch_inputs) {
            match &values[*input] {
                Value::Sketch(other) => sketch.merge(other),
                Value::Null => {}
                v => {
                    let x = num(v);
                    if x.is_finite() {
                        sketch.add(x)
                    }
                }
            }
        }
        for (slot, spec) in self.slots.iter_mut().zip(specs) {
            let v = spec.input.map(|i| &values[i]);
            if v.is_some_and(Value::is_null) {
                continue;
            }
            match (slot, &spec.func) {
                (Slot::Count, _) => {}
                (Slot::CountIf(c), AggregateFn::CountIf { cmp, threshold, .. }) => {
                    if cmp.holds(num(v.unwrap()), *threshold) {
                        *c += 1;
                    }
                }
                (Slot::CountIf(c), AggregateFn::CountTrue(_)) => {
                    if matches!(v, Some(Value::Bool(true))) {
                        *c += 1;
                    }
                }
                (Slot::SumInt(s), _) => {
                    if let Some(Value::Int(i)) = v {
                        *s = s.saturating_add(*i);
                    }
                }
                (Slot::SumFloat(s), _) => s.add(num(v.unwrap())),
                (Slot::Extreme(e), func) => {
                    let v = v.unwrap();
                    let min = matches!(func, AggregateFn::Min(_));
                    if e.as_ref().is_none_or(|m| better_extreme(v, m, min)) {
                        *e = Some(v.clone());
                    }
                }
                (Slot::Mean(s, n), _) => {
                    s.add(num(v.unwrap()));
                    *n += 1;
                }
                (Slot::Rms(s, n), _) => {
                    let x = num(v.unwrap());
                    s.add(x * x);
                    *n += 1;
                }
                (Slot::Stddev { mean, m2, n }, _) => {
                    let x = num(v.unwrap());
                    *n += 1;
                    let d = x - *mean;
                    *mean += d / *n as f64;
                    *m2 += d * (x - *mean);
                }
                (Slot::Ordered(o), func) => {
                    // Earliest (latest) event time; on a tie the record first (last) in position order.
                    if o.as_ref().is_none_or(|(t, p, _)| takes_over(func, (ts, at), (*t, *p))) {
                        *o = Some((ts, at, v.unwrap().clone()));
                    }
                }
                (Slot::Quantile(_) | Slot::Sketch(_), _) => {}
                (Slot::CountIf(_), _) => unreachable!("count_if slot without count_if spec"),
            }
        }
    }

    /// The position of the record the carried fields come from.
    pub fn carry_at(&self) -> Position {
        self.carry_at
    }

    /// Replaces the carried fields with those of the record at `at` (one before theirs in position order:
    /// records added out of order, as pre-aggregation does).
    pub fn set_carry(&mut self, carry: Vec<Value>, at: Position) {
        self.carry = carry;
        self.carry_at = at;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Adds everything `later` accumulated (partial accumulators of one window, or session windows merging):
    /// for all aggregates but `stddev` the same as if every record had been added to one accumulator, in any
    /// order; `stddev` as if `later`'s records came after this one's. Carried fields: those of the record
    /// first in position order.
    pub fn merge(&mut self, set: &AggregateSet, later: Accumulator) {
        if later.carry_at < self.carry_at {
            self.carry = later.carry;
            self.carry_at = later.carry_at;
        }
        self.count += later.count;
        for (a, b) in self.sketches.iter_mut().zip(&later.sketches) {
            a.merge(b);
        }
        for ((slot, other), spec) in self.slots.iter_mut().zip(later.slots).zip(&set.specs) {
            match (slot, other) {
                (Slot::CountIf(a), Slot::CountIf(b)) => *a += b,
                (Slot::SumInt(a), Slot::SumInt(b)) => *a = a.saturating_add(b),
                (Slot::SumFloat(a), Slot::SumFloat(b)) => a.merge(&b),
                (Slot::Extreme(a), Slot::Extreme(Some(b))) => {
                    let min = matches!(spec.func, AggregateFn::Min(_));
                    if a.as_ref().is_none_or(|m| better_extreme(&b, m, min)) {
                        *a = Some(b);
                    }
                }
                (Slot::Mean(a, n), Slot::Mean(b, m)) | (Slot::Rms(a, n), Slot::Rms(b, m)) => {
                    a.merge(&b);
                    *n += m;
                }
                (
                    Slot::Stddev { mean, m2, n },
                    Slot::Stddev {
                        mean: mb,
                        m2: m2b,
                        n: nb,
                    },
                ) if nb > 0 => {
                    // Chan et al.'s parallel update.
                    let total = *n + nb;
                    let d = mb - *mean;
                    *mean += d * nb as f64 / total as f64;
                    *m2 += m2b + d * d * (*n as f64) * (nb as f64) / total as f64;
                    *n = total;
                }
                (Slot::Ordered(a), Slot::Ordered(Some((t, p, v))))
                    if a.as_ref()
                        .is_none_or(|(mt, mp, _)| takes_over(&spec.func, (t, p), (*mt, *mp))) =>
                {
                    *a = Some((t, p, v));
                }
                _ => {}
            }
        }
    }

    /// The aggregate values, in spec order.
    pub fn finish(&self, set: &AggregateSet) -> Vec<Value> {
        let mean = |s: f64, n: u64| {
            if n == 0 {
                Value::Null
            } else {
                Value::Float(s / n as f64)
            }
        };
        let mean_of = |s: &ExactSum, n: u64| mean(s.value(), n);
        self.slots
            .iter()
            .zip(&set.specs)
            .map(|(slot, spec)| match slot {
                Slot::Count => Value::Int(self.count as i64),
                Slot::CountIf(c) => Value::Int(*c as i64),
                Slot::SumInt(s) => Value::Int(*s),
                Slot::SumFloat(s) => Value::Float(s.value()),
                Slot::Extreme(e) => e.clone().unwrap_or(Value::Null),
                Slot::Mean(s, n) => mean_of(s, *n),
                Slot::Rms(s, n) => match mean_of(s, *n) {
                    Value::Float(m) => Value::Float(m.sqrt()),
                    other => other,
                },
                Slot::Stddev { m2, n, .. } => match mean(*m2, *n) {
                    Value::Float(m) => Value::Float(m.sqrt()),
                    other => other,
                },
                Slot::Ordered(o) => o.as_ref().map(|(_, _, v)| v.clone()).unwrap_or(Value::Null),
                Slot::Quantile(s) => {
                    let AggregateFn::Quantile { q, .. } = spec.func else {
                        unreachable!()
                    };
                    self.sketches[*s].quantile(q).map_or(Value::Null, Value::Float)
                }
                Slot::Sketch(s) => Value::Sketch(std::sync::Arc::new(self.sketches[*s].clone())),
            })
            .collect()
    }
}
