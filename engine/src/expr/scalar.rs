//! What evaluating an expression shares with its built-in functions: the error, the result of one step
//! (borrowed where it can be), NULL, and numbers as SQL treats them.

use std::borrow::Cow;
use weir_operators::Value;

/// Why an expression failed on a record (the dead letter's reason says which expression).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

pub(super) type R<'a> = Result<Cow<'a, Value>, EvalError>;

pub(super) const NULL: Cow<'static, Value> = Cow::Owned(Value::Null);

pub(super) fn own<'a>(v: Value) -> R<'a> {
    Ok(Cow::Owned(v))
}

pub(super) fn float(v: f64) -> Result<Value, EvalError> {
    if v.is_finite() {
        Ok(Value::Float(v))
    } else {
        Err(EvalError("the result is not a finite number".into()))
    }
}

pub(super) fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

pub(super) fn overflow(op: &str) -> EvalError {
    EvalError(format!("integer overflow in {op}"))
}
