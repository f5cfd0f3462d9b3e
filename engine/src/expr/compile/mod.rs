//! From SQL text to a typed [`Expr`]: parse with `sqlparser`, resolve fields against the schema, check types.

mod calls;
mod library;
mod literals;
mod operators;

use literals::{cast_target, interval_ms, literal, negate};

use super::library::time::TimeFn;
use super::library::Lib;
use super::like::Pattern;
use super::{CmpKind, CmpOp, Expr, Func, LikePattern, Typed};
use crate::schema::Schema;
use sqlparser::ast::{self as sql, UnaryOperator as U};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;
use weir_operators::value::ValueType;
use weir_operators::Value;

/// Why an expression cannot be used; the message quotes the expression.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{text}`: {problem}")]
pub struct CompileError {
    pub text: String,
    pub problem: String,
}

/// A subexpression's type: `None` for the NULL literal, which fits anywhere.
#[derive(Clone, Copy, Debug)]
struct T {
    ty: Option<ValueType>,
    nullable: bool,
}

type Node = (Expr, T);

struct Ctx<'a> {
    schema: &'a Schema,
    /// How deep the compiler is in the expression's tree (bounded by [`MAX_DEPTH`]).
    depth: std::cell::Cell<usize>,
}

/// The most tokens an expression may have: a longer one is refused before it is parsed (its tree would be
/// as deep as it is long).
pub const MAX_TOKENS: usize = 4000;

/// The deepest an expression's tree may nest (a chain of `a + b + …` nests one level an operator).
pub const MAX_DEPTH: usize = 500;

fn err(problem: impl Into<String>) -> String {
    problem.into()
}

/// Compiles `text` against `schema`.
pub fn compile(text: &str, schema: &Schema) -> Result<Typed, CompileError> {
    let fail = |problem: String| CompileError {
        text: text.to_string(),
        problem,
    };
    let dialect = GenericDialect {};
    let tokens = sqlparser::tokenizer::Tokenizer::new(&dialect, text)
        .tokenize()
        .map_err(|e| fail(format!("cannot parse: {e}")))?;
    let count = tokens.iter().filter(|t| !matches!(t, Token::Whitespace(_))).count();
    if count > MAX_TOKENS {
        return Err(fail(format!(
            "the expression has {count} tokens, more than {MAX_TOKENS}: split it over several derived fields"
        )));
    }
    let mut parser = Parser::new(&dialect).with_tokens(tokens);
    let ast = parser.parse_expr().map_err(|e| fail(format!("cannot parse: {e}")))?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(fail(format!("unexpected `{}` after the expression", next.token)));
    }
    let cx = Ctx {
        schema,
        depth: std::cell::Cell::new(0),
    };
    let (expr, t) = cx.node(&ast).map_err(fail)?;
    Ok(Typed {
        expr,
        ty: t.ty,
        nullable: t.nullable,
        text: text.to_string(),
    })
}

/// Compiles a predicate: its type must be `bool`.
pub fn compile_predicate(text: &str, schema: &Schema) -> Result<Typed, CompileError> {
    let t = compile(text, schema)?;
    match t.ty {
        Some(ValueType::Bool) | None => Ok(t),
        Some(other) => Err(CompileError {
            text: text.to_string(),
            problem: format!("a condition must be true or false, but this is {}", article(other)),
        }),
    }
}

fn known(ty: ValueType, nullable: bool) -> T {
    T { ty: Some(ty), nullable }
}

/// A type name with its article: "an int", "a float".
fn article(name: impl std::fmt::Display) -> String {
    let n = name.to_string();
    if n.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {n}")
    } else {
        format!("a {n}")
    }
}

fn name_of(t: &T) -> &'static str {
    t.ty.map_or("null", |t| t.name())
}

impl Ctx<'_> {
    /// Compiles one node, refusing a tree deeper than [`MAX_DEPTH`].
    fn node(&self, e: &sql::Expr) -> Result<Node, String> {
        let depth = self.depth.get() + 1;
        if depth > MAX_DEPTH {
            return Err(err(format!(
                "the expression nests more than {MAX_DEPTH} levels deep: split it over several derived fields"
            )));
        }
        self.depth.set(depth);
        let node = self.node_at(e);
        self.depth.set(depth - 1);
        node
    }

    fn node_at(&self, e: &sql::Expr) -> Result<Node, String> {
        use sql::Expr as E;
        match e {
            E::Identifier(id) => self.field(&id.value),
            E::CompoundIdentifier(parts) => {
                let name: Vec<&str> = parts.iter().map(|p| p.value.as_str()).collect();
                self.field(&name.join("."))
            }
            E::Value(v) => literal(&v.value),
            E::Nested(inner) => self.node(inner),
            E::UnaryOp { op, expr } => {
                let (x, t) = self.node(expr)?;
                match op {
                    U::Not => {
                        self.expect_bool(&t, "NOT")?;
                        Ok((Expr::Not(Box::new(x)), known(ValueType::Bool, t.nullable)))
                    }
                    U::Minus => match t.ty {
                        Some(ValueType::Int | ValueType::Float) | None => {
                            // Fold `-1` into a literal.
                            if let Expr::Literal(v) = &x {
                                if let Some(n) = negate(v) {
                                    return Ok((Expr::Literal(n), t));
                                }
                            }
                            Ok((Expr::Neg(Box::new(x)), t))
                        }
                        _ => Err(err(format!("cannot negate {}", article(name_of(&t))))),
                    },
                    U::Plus if t.ty.is_none_or(ValueType::is_numeric) => Ok((x, t)),
                    other => Err(err(format!("the operator `{other}` is not supported"))),
                }
            }
            E::BinaryOp { left, op, right } => self.binary(left, op, right),
            E::IsNull(x) | E::IsNotNull(x) => {
                let (x, _) = self.node(x)?;
                Ok((
                    Expr::IsNull(Box::new(x), matches!(e, E::IsNotNull(_))),
                    known(ValueType::Bool, false),
                ))
            }
            E::In {
                expr, target, negated, ..
            } => {
                let sql::InTarget::List(list) = target else {
                    return Err(err(
                        "IN takes a list of values, e.g. state IN ('picked_up', 'en_route')",
                    ));
                };
                let (x, t) = self.node(expr)?;
                let mut nullable = t.nullable;
                let mut items = Vec::new();
                let mut kind = None;
                for item in list {
                    let (y, u) = self.node(item)?;
                    kind = Some(self.comparable(&t, &u, "IN")?);
                    nullable |= u.nullable;
                    items.push(y);
                }
                Ok((
                    Expr::In {
                        expr: Box::new(x),
                        kind: kind.unwrap_or(CmpKind::Num),
                        list: items,
                        negated: *negated,
                    },
                    known(ValueType::Bool, nullable),
                ))
            }
            E::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let ge = self.compare(expr, CmpOp::Ge, low)?;
                let le = self.compare(expr, CmpOp::Le, high)?;
                let nullable = ge.1.nullable || le.1.nullable;
                let both = Expr::And(Box::new(ge.0), Box::new(le.0));
                let out = if *negated { Expr::Not(Box::new(both)) } else { both };
                Ok((out, known(ValueType::Bool, nullable)))
            }
            E::Like {
                negated,
                any: false,
                expr,
                pattern,
                escape_char,
            } => {
                let (x, t) = self.node(expr)?;
                self.expect(&t, ValueType::Str, "LIKE")?;
                let escape = match escape_char.as_deref() {
                    None => None,
                    Some(E::Value(v)) => match &v.value {
                        sql::Value::SingleQuotedString(s) if s.chars().count() == 1 => s.chars().next(),
                        _ => return Err(err("ESCAPE takes a single character, e.g. ESCAPE '!'")),
                    },
                    Some(_) => return Err(err("ESCAPE takes a single character, e.g. ESCAPE '!'")),
                };
                let (p, pt) = self.node(pattern)?;
                self.expect(&pt, ValueType::Str, "LIKE")?;
                let pattern = match &p {
                    Expr::Literal(Value::Str(s)) => LikePattern::Fixed(Pattern::new(s, escape)?),
                    _ => LikePattern::Dynamic(Box::new(p), escape),
                };
                Ok((
                    Expr::Like {
                        expr: Box::new(x),
                        pattern,
                        negated: *negated,
                    },
                    known(ValueType::Bool, t.nullable || pt.nullable),
                ))
            }
            E::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.case(operand.as_deref(), conditions, else_result.as_deref()),
            E::Cast {
                kind: sql::CastKind::Cast | sql::CastKind::DoubleColon,
                expr,
                data_type,
                format: None,
            } => {
                let (x, t) = self.node(expr)?;
                let to = cast_target(data_type)?;
                if t.ty == Some(ValueType::Sketch) || to == ValueType::Sketch {
                    return Err(err("a sketch cannot be cast"));
                }
                Ok((Expr::Cast(Box::new(x), t.ty, to), known(to, t.nullable)))
            }
            E::Floor {
                expr,
                field: sql::CeilFloorKind::DateTimeField(unit),
            } if !matches!(unit, sql::DateTimeField::NoDateTime) => {
                let unit = self.unit(&unit.to_string(), true)?;
                let f = Lib::Time(TimeFn::Trunc(unit));
                self.time_call(
                    f,
                    "floor",
                    std::slice::from_ref(expr.as_ref()),
                    1,
                    ValueType::Timestamp,
                    false,
                )
            }
            E::Extract { field, expr, .. } => {
                let unit = self.unit(&field.to_string(), false)?;
                let f = Lib::Time(TimeFn::Extract(unit));
                self.time_call(
                    f,
                    "extract",
                    std::slice::from_ref(expr.as_ref()),
                    1,
                    ValueType::Int,
                    false,
                )
            }
            E::Trim {
                expr,
                trim_where,
                trim_what,
                trim_characters: None,
            } => self.trim(expr, trim_where.as_ref(), trim_what.as_deref()),
            E::Position { expr, r#in } => self.position(expr, r#in),
            E::Ceil { expr, field } | E::Floor { expr, field } => {
                if !matches!(field, sql::CeilFloorKind::DateTimeField(sql::DateTimeField::NoDateTime)) {
                    return Err(err("ceil/floor take one number"));
                }
                let f = if matches!(e, E::Ceil { .. }) {
                    Func::Ceil
                } else {
                    Func::Floor
                };
                self.call(f, std::slice::from_ref(expr.as_ref()))
            }
            E::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![expr.as_ref().clone()];
                args.extend(substring_from.as_deref().cloned());
                args.extend(substring_for.as_deref().cloned());
                self.call(Func::Substr, &args)
            }
            E::Function(f) => self.function(f),
            E::Interval(i) => {
                let ms = interval_ms(i)?;
                Ok((Expr::Literal(Value::Int(ms)), known(ValueType::Int, false)))
            }
            other => Err(err(format!("`{other}` is not supported in weir expressions"))),
        }
    }

    fn field(&self, name: &str) -> Result<Node, String> {
        match self.schema.index_of(name) {
            Some(i) => {
                let f = &self.schema.fields[i];
                Ok((Expr::Field(i), known(f.ty.value_type(), f.nullable)))
            }
            None => Err(err(format!(
                "unknown field `{name}`; available: {} (quote strings with single quotes: 'text')",
                self.schema.names()
            ))),
        }
    }

    fn expect(&self, t: &T, want: ValueType, what: &str) -> Result<(), String> {
        match t.ty {
            None => Ok(()),
            Some(ty) if ty == want => Ok(()),
            Some(ty) => Err(err(format!("{what} needs {}, not {}", article(want), article(ty)))),
        }
    }

    fn expect_bool(&self, t: &T, what: &str) -> Result<(), String> {
        self.expect(t, ValueType::Bool, what)
    }

    fn expect_number(&self, t: &T, what: &str) -> Result<(), String> {
        match t.ty {
            None | Some(ValueType::Int | ValueType::Float) => Ok(()),
            Some(ValueType::Sketch) => Err(err(format!(
                "{what} needs a number, not a sketch (read a sketch with the window aggregate quantile(FIELD, Q))"
            ))),
            Some(ty) => Err(err(format!("{what} needs a number, not {}", article(ty)))),
        }
    }

    /// The kind of comparison between two types, or why they cannot be compared.
    fn comparable(&self, a: &T, b: &T, what: &str) -> Result<CmpKind, String> {
        use ValueType::*;
        Ok(match (a.ty, b.ty) {
            (None, None) => CmpKind::Num,
            (Some(Int | Float | Timestamp), Some(Int | Float | Timestamp)) => CmpKind::Num,
            (Some(Str), Some(Str)) => CmpKind::Str,
            (Some(Bool), Some(Bool)) => CmpKind::Bool,
            (Some(x), None) | (None, Some(x)) => match x {
                Int | Float | Timestamp => CmpKind::Num,
                Str => CmpKind::Str,
                Bool => CmpKind::Bool,
                Sketch => return Err(err(format!("{what} cannot compare a sketch"))),
            },
            (Some(x), Some(y)) => {
                return Err(err(format!(
                    "{what} cannot compare {} with {}{}",
                    article(x),
                    article(y),
                    if x == Str || y == Str {
                        " (write numbers without quotes, strings with single quotes)"
                    } else {
                        ""
                    }
                )))
            }
        })
    }
}
