//! Literals: numbers, strings, booleans, `INTERVAL`s and the targets of `CAST`.

use super::{err, known, Node, T};
use crate::expr::Expr;
use sqlparser::ast::{self as sql};
use weir_operators::value::ValueType;
use weir_operators::Value;

/// An `INTERVAL` literal's length in milliseconds: `INTERVAL '90 minutes'`, `INTERVAL '1 hour 30 minutes'`,
/// `INTERVAL '3' HOUR`, `INTERVAL 3 HOURS`. Timestamps subtract to milliseconds and take milliseconds added, so
/// `window_end - window_start > INTERVAL '3 hours'` and `ts + INTERVAL '5 minutes'` read as in SQL. Months
/// and years have no fixed length and are refused.
pub(super) fn interval_ms(i: &sql::Interval) -> Result<i64, String> {
    let shown = sql::Expr::Interval(i.clone());
    let refuse = |why: &str| err(format!("`{shown}`: {why}"));
    if i.last_field.is_some() || i.leading_precision.is_some() || i.fractional_seconds_precision.is_some() {
        return Err(refuse(
            "write an interval as INTERVAL '1 hour 30 minutes' or INTERVAL '90' MINUTE",
        ));
    }
    let text = match i.value.as_ref() {
        sql::Expr::Value(v) => match &v.value {
            sql::Value::SingleQuotedString(s) => s.clone(),
            sql::Value::Number(n, _) => n.clone(),
            _ => return Err(refuse("its length must be a quoted literal, e.g. INTERVAL '5 minutes'")),
        },
        _ => return Err(refuse("its length must be a literal, e.g. INTERVAL '5 minutes'")),
    };
    let text = match &i.leading_field {
        Some(unit) => format!("{text} {unit}"),
        None => text,
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(2) {
        return Err(refuse(
            "write a number and a unit, e.g. INTERVAL '5 minutes' or INTERVAL '1 hour 30 minutes'",
        ));
    }
    let mut total: i64 = 0;
    for pair in words.chunks(2) {
        let n: i64 = pair[0]
            .parse()
            .map_err(|_| refuse(&format!("`{}` is not a whole number", pair[0])))?;
        let unit_ms: i64 = match pair[1].to_ascii_lowercase().as_str() {
            "millisecond" | "milliseconds" | "ms" => 1,
            "second" | "seconds" | "s" => 1_000,
            "minute" | "minutes" | "m" | "min" => 60_000,
            "hour" | "hours" | "h" => 3_600_000,
            "day" | "days" | "d" => 86_400_000,
            "week" | "weeks" | "w" => 604_800_000,
            "month" | "months" | "year" | "years" => {
                return Err(refuse("months and years have no fixed length; write days instead"))
            }
            other => {
                return Err(refuse(&format!(
                    "unknown unit `{other}`; use milliseconds, seconds, minutes, hours, days or weeks"
                )))
            }
        };
        total = n
            .checked_mul(unit_ms)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| refuse("it is out of range (64-bit milliseconds)"))?;
    }
    Ok(total)
}

pub(super) fn literal(v: &sql::Value) -> Result<Node, String> {
    Ok(match v {
        sql::Value::Number(n, _) => {
            if let Ok(i) = n.parse::<i64>() {
                (Expr::Literal(Value::Int(i)), known(ValueType::Int, false))
            } else if n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(format!("the integer {n} is out of range (64 bits)")));
            } else {
                let f: f64 = n.parse().map_err(|_| err(format!("`{n}` is not a number")))?;
                if !f.is_finite() {
                    return Err(err(format!("`{n}` is not a finite number")));
                }
                (Expr::Literal(Value::Float(f)), known(ValueType::Float, false))
            }
        }
        sql::Value::SingleQuotedString(s) => (
            Expr::Literal(Value::Str(s.as_str().into())),
            known(ValueType::Str, false),
        ),
        sql::Value::DoubleQuotedString(s) => {
            return Err(err(format!(
                "\"{s}\" is not a string: in SQL, strings take single quotes ('{s}') and double quotes name fields"
            )))
        }
        sql::Value::Boolean(b) => (Expr::Literal(Value::Bool(*b)), known(ValueType::Bool, false)),
        sql::Value::Null => (
            Expr::Literal(Value::Null),
            T {
                ty: None,
                nullable: true,
            },
        ),
        other => return Err(err(format!("the literal `{other}` is not supported"))),
    })
}

pub(super) fn negate(v: &Value) -> Option<Value> {
    match v {
        Value::Int(i) => Some(Value::Int(-i)),
        Value::Float(f) => Some(Value::Float(-f)),
        _ => None,
    }
}

pub(super) fn cast_target(t: &sql::DataType) -> Result<ValueType, String> {
    let name = t.to_string().to_lowercase();
    let base = name.split(['(', ' ']).next().unwrap_or("");
    Ok(match base {
        "int" | "integer" | "bigint" | "int8" | "int64" | "smallint" | "tinyint" | "long" => ValueType::Int,
        "double" | "float" | "float8" | "float64" | "real" | "decimal" | "numeric" => ValueType::Float,
        "varchar" | "text" | "string" | "char" | "character" => ValueType::Str,
        "bool" | "boolean" => ValueType::Bool,
        "timestamp" => ValueType::Timestamp,
        _ => {
            return Err(err(format!(
                "cannot cast to `{name}`; allowed: BIGINT, DOUBLE, VARCHAR, BOOLEAN, TIMESTAMP"
            )))
        }
    })
}
