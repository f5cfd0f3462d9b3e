//! The function library beyond arithmetic (README "Functions"): math and geo ([`math`]), strings and
//! regular expressions ([`text`]), JSON ([`json`]), date and time ([`time`]). Each function is typed when the
//! job is checked (`compile/library.rs`) into a [`Lib`] — a regular expression, JSON path or date format
//! compiled once, there — and evaluated here per record. NULL in gives NULL out; what cannot be computed
//! (`asin(2)`) is an [`EvalError`] and the record a dead letter.

pub(super) mod json;
pub(super) mod math;
pub(super) mod text;
pub(super) mod time;

use super::scalar::{EvalError, NULL, R};
use super::Expr;
use std::borrow::Cow;
use weir_operators::Value;

/// A library function with what it compiled once.
#[derive(Clone, Debug)]
pub enum Lib {
    Math(math::MathFn),
    Text(text::TextFn),
    Json(json::JsonPath),
    Time(time::TimeFn),
}

/// Evaluates `f` over `args` against one row.
pub(super) fn call<'a>(f: &'a Lib, args: &'a [Expr], row: &'a [Value]) -> R<'a> {
    let Some(vals) = super::functions::strict_args(args, row)? else {
        return Ok(NULL);
    };
    let vals: smallvec::SmallVec<[&Value; 3]> = vals.iter().map(|v| &**v).collect();
    let out = match f {
        Lib::Math(m) => m.eval(&vals)?,
        Lib::Text(t) => t.eval(&vals)?,
        Lib::Json(p) => match vals.first() {
            Some(Value::Str(s)) => p.value_of(s),
            _ => Value::Null,
        },
        Lib::Time(t) => t.eval(&vals)?,
    };
    Ok(Cow::Owned(out))
}

/// An argument as a float (ints widen).
pub(super) fn number(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// An argument as an integer.
pub(super) fn integer(v: &Value) -> Result<i64, EvalError> {
    match v {
        Value::Int(i) => Ok(*i),
        other => Err(EvalError(format!("expected an integer, found {other:?}"))),
    }
}
