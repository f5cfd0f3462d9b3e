//! From SQL text to a typed [`Expr`]: parse with `sqlparser`, resolve fields against the schema, check types.

use super::like::Pattern;
use super::{ArithOp, CmpKind, CmpOp, Expr, Func, LikePattern, NumKind, Typed};
use crate::schema::Schema;
use sqlparser::ast::{self as sql, BinaryOperator as B, UnaryOperator as U};
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

    fn compare(&self, l: &sql::Expr, op: CmpOp, r: &sql::Expr) -> Result<Node, String> {
        let (x, a) = self.node(l)?;
        let (y, b) = self.node(r)?;
        let kind = self.comparable(&a, &b, "a comparison")?;
        Ok((
            Expr::Compare(op, kind, Box::new(x), Box::new(y)),
            known(ValueType::Bool, a.nullable || b.nullable),
        ))
    }

    fn binary(&self, l: &sql::Expr, op: &B, r: &sql::Expr) -> Result<Node, String> {
        let cmp = match op {
            B::Eq => Some(CmpOp::Eq),
            B::NotEq => Some(CmpOp::Ne),
            B::Lt => Some(CmpOp::Lt),
            B::LtEq => Some(CmpOp::Le),
            B::Gt => Some(CmpOp::Gt),
            B::GtEq => Some(CmpOp::Ge),
            _ => None,
        };
        if let Some(c) = cmp {
            return self.compare(l, c, r);
        }
        let (x, a) = self.node(l)?;
        let (y, b) = self.node(r)?;
        let nullable = a.nullable || b.nullable;
        match op {
            B::And | B::Or => {
                let what = if *op == B::And { "AND" } else { "OR" };
                self.expect_bool(&a, what)?;
                self.expect_bool(&b, what)?;
                let e = if *op == B::And {
                    Expr::And(Box::new(x), Box::new(y))
                } else {
                    Expr::Or(Box::new(x), Box::new(y))
                };
                Ok((e, known(ValueType::Bool, nullable)))
            }
            B::StringConcat => {
                for t in [&a, &b] {
                    if t.ty == Some(ValueType::Sketch) {
                        return Err(err("|| cannot concatenate a sketch"));
                    }
                }
                Ok((Expr::Concat(Box::new(x), Box::new(y)), known(ValueType::Str, nullable)))
            }
            B::Plus | B::Minus | B::Multiply | B::Divide | B::Modulo => {
                let aop = match op {
                    B::Plus => ArithOp::Add,
                    B::Minus => ArithOp::Sub,
                    B::Multiply => ArithOp::Mul,
                    B::Divide => ArithOp::Div,
                    _ => ArithOp::Rem,
                };
                self.arith(aop, (x, a), (y, b))
            }
            other => Err(err(format!("the operator `{other}` is not supported"))),
        }
    }

    fn arith(&self, op: ArithOp, (x, a): Node, (y, b): Node) -> Result<Node, String> {
        use ValueType::*;
        let nullable = a.nullable || b.nullable;
        let sym = match op {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Rem => "%",
        };
        // Timestamps: ts ± int → ts, ts − ts → int (milliseconds).
        let out = match (a.ty, b.ty, op) {
            (Some(Timestamp), Some(Int) | None, ArithOp::Add | ArithOp::Sub) => Some((NumKind::Int, Timestamp)),
            (Some(Int) | None, Some(Timestamp), ArithOp::Add) => Some((NumKind::Int, Timestamp)),
            (Some(Timestamp), Some(Timestamp), ArithOp::Sub) => Some((NumKind::Int, Int)),
            (Some(Timestamp), _, _) | (_, Some(Timestamp), _) => None,
            _ => {
                self.expect_number(&a, sym)?;
                self.expect_number(&b, sym)?;
                Some(match (a.ty, b.ty) {
                    (Some(Float), _) | (_, Some(Float)) => (NumKind::Float, Float),
                    _ => (NumKind::Int, Int),
                })
            }
        };
        let Some((kind, ty)) = out else {
            return Err(err(format!(
                "`{sym}` cannot combine {} and {} (timestamps take + and - of an int of milliseconds)",
                article(name_of(&a)),
                article(name_of(&b))
            )));
        };
        Ok((Expr::Arith(op, kind, Box::new(x), Box::new(y)), known(ty, nullable)))
    }

    fn case(
        &self,
        operand: Option<&sql::Expr>,
        conditions: &[sql::CaseWhen],
        otherwise: Option<&sql::Expr>,
    ) -> Result<Node, String> {
        let operand = operand.map(|o| self.node(o)).transpose()?;
        let mut result: Option<T> = None;
        let mut nullable = otherwise.is_none();
        let mut whens = Vec::new();
        let mut op_kind = None;
        let mut unify = |t: T, result: &mut Option<T>| -> Result<(), String> {
            nullable |= t.nullable;
            *result = Some(match (*result, t.ty) {
                (None, _) => t,
                (Some(r), None) => r,
                (Some(T { ty: None, .. }), _) => t,
                (Some(r), Some(ty)) => match (r.ty.expect("typed"), ty) {
                    (x, y) if x == y => r,
                    (ValueType::Int, ValueType::Float) | (ValueType::Float, ValueType::Int) => {
                        known(ValueType::Float, false)
                    }
                    (x, y) => return Err(err(format!("CASE results must have one type, found {x} and {y}"))),
                },
            });
            Ok(())
        };
        for w in conditions {
            let (c, ct) = self.node(&w.condition)?;
            match &operand {
                Some((_, ot)) => op_kind = Some(self.comparable(ot, &ct, "CASE")?),
                None => self.expect_bool(&ct, "WHEN")?,
            }
            let (r, rt) = self.node(&w.result)?;
            unify(rt, &mut result)?;
            whens.push((c, r));
        }
        let otherwise = match otherwise {
            Some(o) => {
                let (e, t) = self.node(o)?;
                unify(t, &mut result)?;
                Some(Box::new(e))
            }
            None => None,
        };
        let ty = result.and_then(|r| r.ty);
        // Mixed int/float results are cast to float.
        let to_float = |e: Expr| match ty {
            Some(ValueType::Float) => Expr::Cast(Box::new(e), None, ValueType::Float),
            _ => e,
        };
        let whens = whens.into_iter().map(|(c, r)| (c, to_float(r))).collect();
        let otherwise = otherwise.map(|o| Box::new(to_float(*o)));
        Ok((
            Expr::Case {
                operand: operand.map(|(o, _)| (Box::new(o), op_kind.unwrap_or(CmpKind::Num))),
                whens,
                otherwise,
            },
            T { ty, nullable },
        ))
    }

    fn function(&self, f: &sql::Function) -> Result<Node, String> {
        let name = f.name.to_string().to_lowercase();
        let sql::FunctionArguments::List(list) = &f.args else {
            return Err(err(format!("`{name}` needs parentheses: {name}(…)")));
        };
        if f.filter.is_some() || f.over.is_some() || !f.within_group.is_empty() || list.duplicate_treatment.is_some() {
            return Err(err(format!("`{name}`: FILTER, OVER and DISTINCT are not supported")));
        }
        let mut args = Vec::new();
        for a in &list.args {
            match a {
                sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(e)) => args.push(e.clone()),
                _ => return Err(err(format!("`{name}` takes plain arguments"))),
            }
        }
        let func = match name.as_str() {
            "abs" => Func::Abs,
            "sqrt" => Func::Sqrt,
            "ln" => Func::Ln,
            "exp" => Func::Exp,
            "power" | "pow" => Func::Power,
            "floor" => Func::Floor,
            "ceil" | "ceiling" => Func::Ceil,
            "round" => Func::Round,
            "least" => Func::Least,
            "greatest" => Func::Greatest,
            "lower" => Func::Lower,
            "upper" => Func::Upper,
            "length" | "char_length" => Func::Length,
            "substr" | "substring" => Func::Substr,
            "coalesce" => return self.coalesce(&args),
            other => {
                return Err(err(format!(
                    "unknown function `{other}`; available: abs, sqrt, ln, exp, power, floor, ceil, round, least, \
                     greatest, lower, upper, length, substr, coalesce"
                )))
            }
        };
        self.call(func, &args)
    }

    fn coalesce(&self, args: &[sql::Expr]) -> Result<Node, String> {
        if args.is_empty() {
            return Err(err("coalesce takes at least one argument"));
        }
        let mut out: Option<T> = None;
        let mut exprs = Vec::new();
        let mut nullable = true;
        for a in args {
            let (e, t) = self.node(a)?;
            nullable &= t.nullable;
            out = Some(match (out.and_then(|o| o.ty), t.ty) {
                (None, _) => t,
                (Some(_), None) => out.expect("set"),
                (Some(x), Some(y)) if x == y => out.expect("set"),
                (Some(ValueType::Int), Some(ValueType::Float)) | (Some(ValueType::Float), Some(ValueType::Int)) => {
                    known(ValueType::Float, true)
                }
                (Some(x), Some(y)) => {
                    return Err(err(format!("coalesce arguments must have one type, found {x} and {y}")))
                }
            });
            exprs.push(e);
        }
        let ty = out.and_then(|o| o.ty);
        if ty == Some(ValueType::Float) {
            exprs = exprs
                .into_iter()
                .map(|e| Expr::Cast(Box::new(e), None, ValueType::Float))
                .collect();
        }
        Ok((Expr::Coalesce(exprs), T { ty, nullable }))
    }

    fn call(&self, func: Func, args: &[sql::Expr]) -> Result<Node, String> {
        use ValueType::*;
        let nodes: Vec<Node> = args.iter().map(|a| self.node(a)).collect::<Result<_, _>>()?;
        let nullable = nodes.iter().any(|(_, t)| t.nullable);
        let name = format!("{func:?}").to_lowercase();
        let arity = |lo: usize, hi: usize| -> Result<(), String> {
            if nodes.len() < lo || nodes.len() > hi {
                let n = if lo == hi {
                    format!("{lo}")
                } else {
                    format!("{lo} to {hi}")
                };
                return Err(err(format!("{name} takes {n} argument(s), found {}", nodes.len())));
            }
            Ok(())
        };
        let ty = match func {
            Func::Abs | Func::Floor | Func::Ceil | Func::Round => {
                arity(1, if func == Func::Round { 2 } else { 1 })?;
                self.expect_number(&nodes[0].1, &name)?;
                if let Some((_, t)) = nodes.get(1) {
                    self.expect(t, Int, "round's digits")?;
                }
                match nodes[0].1.ty {
                    Some(Int) if func == Func::Abs || nodes.len() == 1 => Int,
                    _ => Float,
                }
            }
            Func::Sqrt | Func::Ln | Func::Exp => {
                arity(1, 1)?;
                self.expect_number(&nodes[0].1, &name)?;
                Float
            }
            Func::Power => {
                arity(2, 2)?;
                self.expect_number(&nodes[0].1, &name)?;
                self.expect_number(&nodes[1].1, &name)?;
                Float
            }
            Func::Least | Func::Greatest => {
                if nodes.is_empty() {
                    return Err(err(format!("{name} takes at least one argument")));
                }
                let mut ty: Option<ValueType> = None;
                for (_, t) in &nodes {
                    ty = match (ty, t.ty) {
                        (None, x) | (x, None) => x,
                        (Some(a), Some(b)) if a == b => Some(a),
                        (Some(Int), Some(Float)) | (Some(Float), Some(Int)) => Some(Float),
                        (Some(a), Some(b)) => {
                            return Err(err(format!("{name} arguments must have one type, found {a} and {b}")))
                        }
                    };
                }
                if ty == Some(Sketch) || ty == Some(Bool) {
                    return Err(err(format!("{name} compares numbers, strings or timestamps")));
                }
                let args = nodes
                    .into_iter()
                    .map(|(e, _)| match ty {
                        Some(Float) => Expr::Cast(Box::new(e), None, Float),
                        _ => e,
                    })
                    .collect();
                return Ok((Expr::Call(func, args), T { ty, nullable }));
            }
            Func::Lower | Func::Upper | Func::Length => {
                arity(1, 1)?;
                self.expect(&nodes[0].1, Str, &name)?;
                if func == Func::Length {
                    Int
                } else {
                    Str
                }
            }
            Func::Substr => {
                arity(2, 3)?;
                self.expect(&nodes[0].1, Str, "substr")?;
                for (_, t) in &nodes[1..] {
                    self.expect(t, Int, "substr's start and length")?;
                }
                Str
            }
        };
        let args = nodes.into_iter().map(|(e, _)| e).collect();
        Ok((Expr::Call(func, args), known(ty, nullable)))
    }
}

/// An `INTERVAL` literal's length in milliseconds: `INTERVAL '90 minutes'`, `INTERVAL '1 hour 30 minutes'`,
/// `INTERVAL '3' HOUR`, `INTERVAL 3 HOURS`. Timestamps subtract to milliseconds and take milliseconds added, so
/// `window_end - window_start > INTERVAL '3 hours'` and `ts + INTERVAL '5 minutes'` read as in SQL. Months
/// and years have no fixed length and are refused.
fn interval_ms(i: &sql::Interval) -> Result<i64, String> {
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

fn literal(v: &sql::Value) -> Result<Node, String> {
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

fn negate(v: &Value) -> Option<Value> {
    match v {
        Value::Int(i) => Some(Value::Int(-i)),
        Value::Float(f) => Some(Value::Float(-f)),
        _ => None,
    }
}

fn cast_target(t: &sql::DataType) -> Result<ValueType, String> {
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
