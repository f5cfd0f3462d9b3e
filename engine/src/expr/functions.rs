//! The built-in functions of expressions (`coalesce`, `least`/`greatest`, `round`, `substr`, `lower`, …),
//! evaluated against one row; each argument evaluated with `Expr::eval`.

use super::scalar::{float, num, overflow, own, EvalError, NULL, R};
use super::{Expr, Func};
use std::borrow::Cow;
use weir_operators::Value;

pub(super) fn call<'a>(f: Func, args: &'a [Expr], row: &'a [Value]) -> R<'a> {
    if matches!(f, Func::Least | Func::Greatest) {
        // NULLs are ignored (as in PostgreSQL and DuckDB); all NULL gives NULL.
        let mut best: Option<Cow<'a, Value>> = None;
        for a in args {
            let v = a.eval(row)?;
            if v.is_null() {
                continue;
            }
            let better = match &best {
                None => true,
                Some(b) => {
                    let o = v.total_cmp(b);
                    if f == Func::Least {
                        o.is_lt()
                    } else {
                        o.is_gt()
                    }
                }
            };
            if better {
                best = Some(v);
            }
        }
        return Ok(best.unwrap_or(NULL));
    }
    let Some(vals) = strict_args(args, row)? else {
        return Ok(NULL);
    };
    let x = &*vals[0];
    match f {
        Func::Abs => match x {
            Value::Int(i) => own(Value::Int(i.checked_abs().ok_or_else(|| overflow("abs"))?)),
            _ => own(Value::Float(num(x).abs())),
        },
        Func::Floor | Func::Ceil => match x {
            Value::Int(i) => own(Value::Int(*i)),
            _ => own(float(if f == Func::Floor {
                num(x).floor()
            } else {
                num(x).ceil()
            })?),
        },
        Func::Round => match (x, vals.get(1).map(|d| &**d)) {
            (Value::Int(i), None) => own(Value::Int(*i)),
            (_, None) => own(float(num(x).round())?),
            (_, Some(Value::Int(d))) => own(float(round_to(num(x), *d))?),
            _ => Ok(NULL),
        },
        Func::Sqrt => {
            let v = num(x);
            if v < 0.0 {
                return Err(EvalError("sqrt of a negative number".into()));
            }
            own(float(v.sqrt())?)
        }
        Func::Ln => {
            let v = num(x);
            if v <= 0.0 {
                return Err(EvalError("ln of a number that is not positive".into()));
            }
            own(float(v.ln())?)
        }
        Func::Exp => own(float(num(x).exp())?),
        Func::Power => own(float(num(x).powf(num(&vals[1])))?),
        Func::Lower | Func::Upper | Func::Length | Func::Substr => {
            let Value::Str(s) = x else { return Ok(NULL) };
            match f {
                Func::Lower => own(Value::Str(s.to_lowercase())),
                Func::Upper => own(Value::Str(s.to_uppercase())),
                Func::Length => own(Value::Int(s.chars().count() as i64)),
                _ => {
                    let start = match &*vals[1] {
                        Value::Int(i) => *i,
                        _ => return Ok(NULL),
                    };
                    let len = match vals.get(2).map(|v| &**v) {
                        Some(Value::Int(n)) if *n < 0 => {
                            return Err(EvalError("substr's length must not be negative".into()))
                        }
                        Some(Value::Int(n)) => Some(*n),
                        _ => None,
                    };
                    own(Value::Str(substr(s, start, len)))
                }
            }
        }
        Func::Least | Func::Greatest => unreachable!("handled above"),
    }
}

/// The values of `args` against `row`, or `None` if one is NULL (a strict function's result is then NULL).
pub(super) fn strict_args<'a>(
    args: &'a [Expr],
    row: &'a [Value],
) -> Result<Option<smallvec::SmallVec<[Cow<'a, Value>; 3]>>, super::scalar::EvalError> {
    let mut vals = smallvec::SmallVec::new();
    for a in args {
        let v = a.eval(row)?;
        if v.is_null() {
            return Ok(None);
        }
        vals.push(v);
    }
    Ok(Some(vals))
}

/// SQL `substr(s, start, len)`: 1-based; characters before position 1 count against `len` (PostgreSQL's rule).
fn substr(s: &str, start: i64, len: Option<i64>) -> compact_str::CompactString {
    let end = len.map(|n| start.saturating_add(n));
    let from = start.max(1);
    s.chars()
        .enumerate()
        .map(|(i, c)| (i as i64 + 1, c))
        .skip_while(|(p, _)| *p < from)
        .take_while(|(p, _)| end.is_none_or(|e| *p < e))
        .map(|(_, c)| c)
        .collect()
}

/// `10^n` for `n` in 0..=308, each the double nearest to it (`powi` multiplies and drifts: its `10^308` is
/// `1.0000000000000006e308`).
fn pow10(n: u32) -> f64 {
    static TABLE: std::sync::LazyLock<Vec<f64>> =
        std::sync::LazyLock::new(|| (0..=308).map(|n| format!("1e{n}").parse().expect("a float")).collect());
    TABLE[n as usize]
}

/// `x` rounded half away from zero to `digits` decimal places (negative: to tens, hundreds, …), for any
/// `digits`: past a double's 17 significant digits `x` is returned as it is, and rounding to a place above its
/// highest digit gives 0 (DuckDB gives the same: `round(1e308, 300)` is 1e308, `round(1e308, -400)` is 0).
fn round_to(x: f64, digits: i64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let exponent = x.abs().log10().floor() as i64;
    if digits >= 0 {
        if digits.saturating_add(exponent) >= 17 {
            return x;
        }
        // `digits` < 17 - exponent ≤ 341: two factors of at most 10^171 scale even the smallest doubles.
        let (a, b) = (pow10((digits / 2) as u32), pow10((digits - digits / 2) as u32));
        ((x * a * b).round() / a) / b
    } else {
        let places = digits.unsigned_abs();
        if places > exponent.max(0) as u64 + 1 {
            return 0.0;
        }
        // `places` ≤ exponent + 1 ≤ 309; 10^309 is no double, but only 1e308..f64::MAX reach it, and they
        // round to 0 there.
        if places > 308 {
            return 0.0;
        }
        let scale = pow10(places as u32);
        (x / scale).round() * scale
    }
}
