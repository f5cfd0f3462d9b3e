//! Typing comparisons, arithmetic, boolean operators and `CASE`.

use super::{article, err, known, name_of, Ctx, Node, T};
use crate::expr::{ArithOp, CmpKind, CmpOp, Expr, NumKind};
use sqlparser::ast::{self as sql, BinaryOperator as B};
use weir_operators::value::ValueType;

impl Ctx<'_> {
    pub(super) fn compare(&self, l: &sql::Expr, op: CmpOp, r: &sql::Expr) -> Result<Node, String> {
        let (x, a) = self.node(l)?;
        let (y, b) = self.node(r)?;
        let kind = self.comparable(&a, &b, "a comparison")?;
        Ok((
            Expr::Compare(op, kind, Box::new(x), Box::new(y)),
            known(ValueType::Bool, a.nullable || b.nullable),
        ))
    }

    pub(super) fn binary(&self, l: &sql::Expr, op: &B, r: &sql::Expr) -> Result<Node, String> {
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

    pub(super) fn arith(&self, op: ArithOp, (x, a): Node, (y, b): Node) -> Result<Node, String> {
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

    pub(super) fn case(
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
}
