//! Evaluating a compiled [`Expr`] against one row: fields are borrowed, numbers and booleans live on the
//! stack, so only string-producing functions allocate (and short strings stay inline).

use super::scalar::{float, num, overflow, own, EvalError, NULL, R};
use super::{ArithOp, CmpKind, CmpOp, Expr, LikePattern, NumKind};
use std::borrow::Cow;
use std::cmp::Ordering;
use weir_operators::value::ValueType;
use weir_operators::Value;

fn boolean<'a>(b: Option<bool>) -> R<'a> {
    own(b.map_or(Value::Null, Value::Bool))
}

fn truth(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

/// Compares two non-null values of one comparison kind (ints exactly, mixed int/float as floats).
fn compare(kind: CmpKind, a: &Value, b: &Value) -> Option<Ordering> {
    match (kind, a, b) {
        (CmpKind::Num, Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (CmpKind::Num, _, _) => num(a).partial_cmp(&num(b)),
        (CmpKind::Str, Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (CmpKind::Bool, Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn holds(op: CmpOp, o: Ordering) -> bool {
    match op {
        CmpOp::Eq => o.is_eq(),
        CmpOp::Ne => o.is_ne(),
        CmpOp::Lt => o.is_lt(),
        CmpOp::Le => o.is_le(),
        CmpOp::Gt => o.is_gt(),
        CmpOp::Ge => o.is_ge(),
    }
}

fn arith(op: ArithOp, kind: NumKind, a: &Value, b: &Value) -> Result<Value, EvalError> {
    match kind {
        NumKind::Int => {
            let (Value::Int(x), Value::Int(y)) = (a, b) else {
                return Err(EvalError("integer arithmetic on a non-integer".into()));
            };
            let (x, y) = (*x, *y);
            let r = match op {
                ArithOp::Add => x.checked_add(y).ok_or_else(|| overflow("+"))?,
                ArithOp::Sub => x.checked_sub(y).ok_or_else(|| overflow("-"))?,
                ArithOp::Mul => x.checked_mul(y).ok_or_else(|| overflow("*"))?,
                ArithOp::Div | ArithOp::Rem if y == 0 => {
                    return Err(EvalError("integer division by zero".into()));
                }
                ArithOp::Div => x.checked_div(y).ok_or_else(|| overflow("/"))?,
                ArithOp::Rem => x.checked_rem(y).ok_or_else(|| overflow("%"))?,
            };
            Ok(Value::Int(r))
        }
        NumKind::Float => {
            let (x, y) = (num(a), num(b));
            float(match op {
                ArithOp::Add => x + y,
                ArithOp::Sub => x - y,
                ArithOp::Mul => x * y,
                ArithOp::Div => x / y,
                ArithOp::Rem => x % y,
            })
        }
    }
}

/// `CAST(v AS to)`; `v` is not NULL.
fn cast(v: &Value, to: ValueType) -> Result<Value, EvalError> {
    let fail = |what: &str| EvalError(format!("cannot cast {what} to {to}"));
    Ok(match (v, to) {
        (Value::Int(i), ValueType::Int | ValueType::Timestamp) => Value::Int(*i),
        (Value::Int(i), ValueType::Float) => Value::Float(*i as f64),
        (Value::Int(i), ValueType::Str) => Value::Str(compact_str::format_compact!("{i}")),
        (Value::Int(i), ValueType::Bool) => Value::Bool(*i != 0),
        (Value::Float(f), ValueType::Float) => Value::Float(*f),
        (Value::Float(f), ValueType::Int | ValueType::Timestamp) => {
            let r = f.round();
            if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&r) {
                return Err(fail(&format!("{f} (out of the integer range)")));
            }
            Value::Int(r as i64)
        }
        (Value::Float(f), ValueType::Str) => Value::Str(compact_str::format_compact!("{f}")),
        (Value::Float(f), ValueType::Bool) => Value::Bool(*f != 0.0),
        (Value::Str(s), ValueType::Str) => Value::Str(s.clone()),
        (Value::Str(s), ValueType::Int | ValueType::Timestamp) => {
            Value::Int(s.trim().parse().map_err(|_| fail(&format!("'{s}'")))?)
        }
        (Value::Str(s), ValueType::Float) => {
            let f: f64 = s.trim().parse().map_err(|_| fail(&format!("'{s}'")))?;
            float(f).map_err(|_| fail(&format!("'{s}'")))?
        }
        (Value::Str(s), ValueType::Bool) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "1" | "yes" | "y" => Value::Bool(true),
            "false" | "f" | "0" | "no" | "n" => Value::Bool(false),
            _ => return Err(fail(&format!("'{s}'"))),
        },
        (Value::Bool(b), ValueType::Bool) => Value::Bool(*b),
        (Value::Bool(b), ValueType::Int) => Value::Int(*b as i64),
        (Value::Bool(b), ValueType::Float) => Value::Float(*b as i64 as f64),
        (Value::Bool(b), ValueType::Str) => Value::Str(if *b { "true" } else { "false" }.into()),
        (other, _) => return Err(fail(&format!("a {}", type_name(other)))),
    })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Str(_) => "string",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Sketch(_) => "sketch",
    }
}

/// Appends the text form of a non-null value (for `||`).
fn push_text(out: &mut compact_str::CompactString, v: &Value) {
    use std::fmt::Write;
    match v {
        Value::Str(s) => out.push_str(s),
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

impl Expr {
    /// Evaluates a boolean expression to its truth value (`None`: NULL), without building values for the
    /// logic and comparisons predicates are made of.
    pub fn truth(&self, row: &[Value]) -> Result<Option<bool>, EvalError> {
        match self {
            Expr::Compare(op, kind, a, b) => {
                let cmp = |x: &Value, y: &Value| {
                    if x.is_null() || y.is_null() {
                        None
                    } else {
                        compare(*kind, x, y).map(|o| holds(*op, o))
                    }
                };
                Ok(match (&**a, &**b) {
                    (Expr::Field(i), Expr::Literal(v)) => cmp(&row[*i], v),
                    (Expr::Literal(v), Expr::Field(i)) => cmp(v, &row[*i]),
                    (Expr::Field(i), Expr::Field(j)) => cmp(&row[*i], &row[*j]),
                    _ => cmp(a.eval(row)?.as_ref(), b.eval(row)?.as_ref()),
                })
            }
            Expr::And(a, b) => {
                let x = a.truth(row)?;
                if x == Some(false) {
                    return Ok(Some(false));
                }
                Ok(match (x, b.truth(row)?) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                })
            }
            Expr::Or(a, b) => {
                let x = a.truth(row)?;
                if x == Some(true) {
                    return Ok(Some(true));
                }
                Ok(match (x, b.truth(row)?) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                })
            }
            Expr::Not(x) => Ok(x.truth(row)?.map(|b| !b)),
            Expr::IsNull(x, negated) => Ok(Some(x.eval(row)?.is_null() != *negated)),
            other => Ok(truth(other.eval(row)?.as_ref())),
        }
    }

    /// Evaluates the expression against `row`.
    pub fn eval<'a>(&'a self, row: &'a [Value]) -> R<'a> {
        match self {
            Expr::Field(i) => Ok(Cow::Borrowed(&row[*i])),
            Expr::Literal(v) => Ok(Cow::Borrowed(v)),
            Expr::Neg(x) => match &*x.eval(row)? {
                Value::Int(i) => own(Value::Int(i.checked_neg().ok_or_else(|| overflow("-"))?)),
                Value::Float(f) => own(Value::Float(-f)),
                _ => Ok(NULL),
            },
            Expr::Not(_) | Expr::And(..) | Expr::Or(..) => boolean(self.truth(row)?),
            Expr::Arith(op, kind, a, b) => {
                let (a, b) = (a.eval(row)?, b.eval(row)?);
                if a.is_null() || b.is_null() {
                    return Ok(NULL);
                }
                own(arith(*op, *kind, &a, &b)?)
            }
            Expr::Compare(op, kind, a, b) => {
                let (a, b) = (a.eval(row)?, b.eval(row)?);
                if a.is_null() || b.is_null() {
                    return Ok(NULL);
                }
                boolean(compare(*kind, &a, &b).map(|o| holds(*op, o)))
            }
            Expr::Concat(a, b) => {
                let (a, b) = (a.eval(row)?, b.eval(row)?);
                if a.is_null() || b.is_null() {
                    return Ok(NULL);
                }
                let mut s = compact_str::CompactString::default();
                push_text(&mut s, &a);
                push_text(&mut s, &b);
                own(Value::Str(s))
            }
            Expr::IsNull(x, negated) => boolean(Some(x.eval(row)?.is_null() != *negated)),
            Expr::In {
                expr,
                kind,
                list,
                negated,
            } => {
                let x = expr.eval(row)?;
                if x.is_null() {
                    return Ok(NULL);
                }
                let mut saw_null = false;
                for item in list {
                    let y = item.eval(row)?;
                    if y.is_null() {
                        saw_null = true;
                    } else if compare(*kind, &x, &y) == Some(Ordering::Equal) {
                        return boolean(Some(!negated));
                    }
                }
                boolean(if saw_null { None } else { Some(*negated) })
            }
            Expr::Like { expr, pattern, negated } => {
                let x = expr.eval(row)?;
                let Value::Str(s) = &*x else { return Ok(NULL) };
                let matched = match pattern {
                    LikePattern::Fixed(p) => p.matches(s),
                    LikePattern::Dynamic(p, escape) => {
                        let p = p.eval(row)?;
                        let Value::Str(p) = &*p else { return Ok(NULL) };
                        super::like::Pattern::new(p, *escape).map_err(EvalError)?.matches(s)
                    }
                };
                boolean(Some(matched != *negated))
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => {
                let op = match operand {
                    Some((o, kind)) => Some((o.eval(row)?, *kind)),
                    None => None,
                };
                for (cond, result) in whens {
                    let c = cond.eval(row)?;
                    let hit = match &op {
                        Some((o, kind)) => {
                            !o.is_null() && !c.is_null() && compare(*kind, o, &c) == Some(Ordering::Equal)
                        }
                        None => truth(&c) == Some(true),
                    };
                    if hit {
                        return result.eval(row);
                    }
                }
                match otherwise {
                    Some(o) => o.eval(row),
                    None => Ok(NULL),
                }
            }
            Expr::Cast(x, _, to) => {
                let v = x.eval(row)?;
                if v.is_null() {
                    return Ok(NULL);
                }
                own(cast(&v, *to)?)
            }
            Expr::Coalesce(args) => {
                for a in args {
                    let v = a.eval(row)?;
                    if !v.is_null() {
                        return Ok(v);
                    }
                }
                Ok(NULL)
            }
            Expr::Call(f, args) => super::functions::call(*f, args, row),
            Expr::Lib(f, args) => super::library::call(f, args, row),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::expr::{compile, compile_predicate};
    use crate::schema::{Field, FieldType, Schema};
    use weir_operators::Value;

    fn schema() -> Schema {
        Schema {
            fields: vec![
                Field::new("i", FieldType::Int),
                Field::new("f", FieldType::Float),
                Field::new("s", FieldType::String),
                Field::nullable("n", FieldType::Int),
                Field::new("ts", FieldType::Timestamp),
            ],
            event_time: 4,
        }
    }

    fn row(n: Option<i64>) -> Vec<Value> {
        vec![
            Value::Int(7),
            Value::Float(2.5),
            Value::Str("vib-0042".into()),
            n.map_or(Value::Null, Value::Int),
            Value::Int(1_000),
        ]
    }

    fn eval(text: &str, n: Option<i64>) -> Result<Value, String> {
        let t = compile(text, &schema()).map_err(|e| e.to_string())?;
        t.eval(&row(n)).map(|v| v.into_owned()).map_err(|e| e.0)
    }

    #[test]
    fn arithmetic_comparison_and_three_valued_logic() {
        assert_eq!(eval("i + 1", None), Ok(Value::Int(8)));
        assert_eq!(eval("i / 2", None), Ok(Value::Int(3)));
        assert_eq!(eval("-i % 4", None), Ok(Value::Int(-3)));
        assert_eq!(eval("i * f", None), Ok(Value::Float(17.5)));
        assert_eq!(eval("i > f AND s LIKE 'vib-%'", None), Ok(Value::Bool(true)));
        assert_eq!(eval("n > 1", None), Ok(Value::Null));
        assert_eq!(eval("n > 1 AND false", None), Ok(Value::Bool(false)));
        assert_eq!(eval("n > 1 OR true", None), Ok(Value::Bool(true)));
        assert_eq!(eval("NOT (n > 1)", None), Ok(Value::Null));
        assert_eq!(eval("n IS NULL", None), Ok(Value::Bool(true)));
        assert_eq!(eval("coalesce(n, i)", None), Ok(Value::Int(7)));
        assert_eq!(eval("coalesce(n, i)", Some(3)), Ok(Value::Int(3)));
        assert_eq!(eval("i IN (1, 7)", None), Ok(Value::Bool(true)));
        assert_eq!(eval("i IN (1, NULL)", None), Ok(Value::Null));
        assert_eq!(eval("i NOT IN (1, 2)", None), Ok(Value::Bool(true)));
        assert_eq!(eval("f BETWEEN 2 AND 3", None), Ok(Value::Bool(true)));
        assert_eq!(eval("ts + 5", None), Ok(Value::Int(1_005)));
        assert_eq!(eval("ts > 999", None), Ok(Value::Bool(true)));
    }

    #[test]
    fn intervals_are_their_length_in_milliseconds() {
        assert_eq!(eval("INTERVAL '5 minutes'", None), Ok(Value::Int(300_000)));
        assert_eq!(eval("INTERVAL '1 hour 30 minutes'", None), Ok(Value::Int(5_400_000)));
        assert_eq!(eval("INTERVAL '3' HOUR", None), Ok(Value::Int(10_800_000)));
        assert_eq!(eval("INTERVAL 2 DAYS", None), Ok(Value::Int(172_800_000)));
        assert_eq!(
            eval("INTERVAL '250 ms' + INTERVAL '1 second'", None),
            Ok(Value::Int(1_250))
        );
        assert_eq!(eval("INTERVAL '-1 week'", None), Ok(Value::Int(-604_800_000)));
        // With timestamps, as in SQL: a timestamp plus an interval, a difference of timestamps against one.
        assert_eq!(eval("ts + INTERVAL '2 seconds'", None), Ok(Value::Int(3_000)));
        assert_eq!(
            eval("ts - (ts - INTERVAL '1 s') = INTERVAL '1000 ms'", None),
            Ok(Value::Bool(true))
        );
        for (bad, says) in [
            ("INTERVAL '1 month'", "months and years have no fixed length"),
            ("INTERVAL '2 fortnights'", "unknown unit `fortnights`"),
            ("INTERVAL '1.5 hours'", "`1.5` is not a whole number"),
            ("INTERVAL 'soon'", "write a number and a unit"),
            ("INTERVAL '9223372036854775807 days'", "out of range"),
            ("INTERVAL '1' DAY TO SECOND", "write an interval as"),
        ] {
            let e = eval(bad, None).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    /// Review B9: 7000 terms overflowed the stack in `weir check`. Long and deep expressions are problems now,
    /// reported on a thread with the 2 MiB stack of a spawned thread (the main thread has more).
    #[test]
    fn overlong_and_overdeep_expressions_are_problems_not_crashes() {
        let run = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let sum = |n: usize| vec!["i"; n].join(" + ");
                // As deep as allowed: compiles and evaluates.
                assert_eq!(eval(&sum(compile::MAX_DEPTH / 2), None), Ok(Value::Int(7 * 250)));
                let deep = eval(&sum(compile::MAX_DEPTH + 1), None).unwrap_err();
                assert!(deep.contains("nests more than 500 levels"), "{deep}");
                for n in [7000, 100_000] {
                    let long = eval(&sum(n), None).unwrap_err();
                    assert!(long.contains("more than 4000"), "{long}");
                }
                let nested = format!("{}i{}", "(".repeat(3000), ")".repeat(3000));
                assert!(eval(&nested, None).is_err());
            })
            .expect("a thread");
        run.join().expect("no stack overflow");
    }

    #[test]
    fn case_cast_and_functions() {
        assert_eq!(
            eval("CASE WHEN f > 2 THEN 'high' ELSE 'low' END", None),
            Ok(Value::Str("high".into()))
        );
        assert_eq!(
            eval("CASE i WHEN 7 THEN 1 WHEN 8 THEN 2.5 END", None),
            Ok(Value::Float(1.0))
        );
        assert_eq!(eval("CASE WHEN false THEN 1 END", None), Ok(Value::Null));
        assert_eq!(eval("CAST(f AS BIGINT)", None), Ok(Value::Int(3)));
        assert_eq!(eval("CAST('12' AS INT) + 1", None), Ok(Value::Int(13)));
        assert_eq!(
            eval("upper(substr(s, 1, 3)) || '!'", None),
            Ok(Value::Str("VIB!".into()))
        );
        assert_eq!(eval("length(s)", None), Ok(Value::Int(8)));
        assert_eq!(eval("round(f)", None), Ok(Value::Float(3.0)));
        // Review B10: any number of digits, as DuckDB.
        assert_eq!(eval("round(1e308, 300)", None), Ok(Value::Float(1e308)));
        assert_eq!(eval("round(1e308, -400)", None), Ok(Value::Float(0.0)));
        assert_eq!(eval("round(1e308, -308)", None), Ok(Value::Float(1e308)));
        let Ok(Value::Float(tiny)) = eval("round(1.23456e-300, 302)", None) else {
            panic!("round of a tiny number is a float");
        };
        assert!((tiny / 1.23e-300 - 1.0).abs() < 1e-12, "{tiny}");
        assert_eq!(eval("round(2.675, 1)", None), Ok(Value::Float(2.7)));
        assert_eq!(eval("round(-1234.5, -2)", None), Ok(Value::Float(-1200.0)));
        assert_eq!(eval("round(50, -2)", None), Ok(Value::Float(100.0)));
        assert_eq!(eval("round(f, 9223372036854775807)", None), Ok(Value::Float(2.5)));
        assert_eq!(eval("round(f, -9223372036854775807)", None), Ok(Value::Float(0.0)));
        assert_eq!(eval("greatest(i, n, 3)", None), Ok(Value::Int(7)));
        assert_eq!(eval("least(f, i)", None), Ok(Value::Float(2.5)));
        assert_eq!(eval("power(2, 10)", None), Ok(Value::Float(1024.0)));
        assert_eq!(eval("abs(-i)", None), Ok(Value::Int(7)));
        assert_eq!(eval("floor(f) + ceil(f)", None), Ok(Value::Float(5.0)));
    }

    #[test]
    fn runtime_failures_are_errors() {
        assert_eq!(eval("i / 0", None), Err("integer division by zero".into()));
        assert_eq!(
            eval("9223372036854775807 + i", None),
            Err("integer overflow in +".into())
        );
        assert!(eval("CAST(s AS INT)", None)
            .unwrap_err()
            .contains("cannot cast 'vib-0042' to int"));
        assert!(eval("ln(0)", None).is_err());
        assert!(eval("f / 0", None).is_err());
    }

    #[test]
    fn check_time_errors_explain_themselves() {
        let e = |t: &str| compile(t, &schema()).unwrap_err().to_string();
        assert!(
            e("'a' > 1").contains("cannot compare a string with an int"),
            "{}",
            e("'a' > 1")
        );
        assert!(e("nope > 1").contains("unknown field `nope`; available: i, f, s, n, ts"));
        assert!(e("s + 1").contains("+ needs a number, not a string"));
        assert!(e("i > ").contains("cannot parse"));
        assert!(e("i > 1 garbage").contains("unexpected"));
        assert!(e("frobnicate(i)").contains("unknown function"));
        assert!(e("\"x\" = s").contains("unknown field"));
        assert!(compile_predicate("i + 1", &schema())
            .unwrap_err()
            .to_string()
            .contains("true or false"));
    }
}
