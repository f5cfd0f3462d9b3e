//! Typing function calls: the built-in functions, `COALESCE`, and the names weir does not have.

use super::{err, known, Ctx, Node, T};
use crate::expr::{Expr, Func};
use sqlparser::ast::{self as sql};
use weir_operators::value::ValueType;

/// The functions of [`Func`], by name.
const BUILT_IN: &[&str] = &[
    "abs", "sqrt", "ln", "exp", "power", "floor", "ceil", "round", "least", "greatest", "lower", "upper", "length",
    "substr", "coalesce",
];

impl Ctx<'_> {
    pub(super) fn function(&self, f: &sql::Function) -> Result<Node, String> {
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
                if let Some(call) = self.library(other, &args) {
                    return call;
                }
                let mut names: Vec<&str> = BUILT_IN.to_vec();
                names.extend(super::library::NAMES);
                return Err(err(format!(
                    "unknown function `{other}`{}; weir has {} (and CASE, CAST, COALESCE, EXTRACT, POSITION, TRIM, \
                     FLOOR(t TO unit); see README \"Functions\")",
                    crate::config::did_you_mean(other, names.iter().copied()),
                    names.join(", ")
                )));
            }
        };
        self.call(func, &args)
    }

    pub(super) fn coalesce(&self, args: &[sql::Expr]) -> Result<Node, String> {
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

    pub(super) fn call(&self, func: Func, args: &[sql::Expr]) -> Result<Node, String> {
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
