//! SQL expressions over a stream's records: parsed with `sqlparser`, type-checked against the stream's
//! schema when the job is checked, compiled once into an [`Expr`] tree and evaluated per record.
//!
//! The language is what follows SQL's `WHERE`: literals, fields, `+ - * / %`, comparisons, `AND OR NOT`,
//! `IS [NOT] NULL`, `[NOT] IN (…)`, `[NOT] BETWEEN`, `[NOT] LIKE`, `CASE`, `CAST`, `COALESCE`, `||`, the
//! functions `abs sqrt ln exp power floor ceil round least greatest lower upper length substr`, and the
//! library of [`library`]: math and geo, strings and regular expressions, JSON, date and time. Logic is
//! three-valued: NULL propagates through operators and functions, `AND`/`OR` follow SQL's truth tables, and
//! a predicate keeps a record only where it is TRUE. Integer arithmetic is checked: integer division by zero,
//! an overflow, a float result that is not finite or a failed `CAST` is an [`EvalError`] — the record then
//! goes to the operator's dead letters.
//!
//! - [`compile`] turns text into a typed [`Expr`] or a [`CompileError`] that shows the expression, the
//!   problem and (for unknown fields) the available ones.
//! - [`Expr::eval`] evaluates it against one row without allocating for fields, numbers and booleans.

mod compile;
mod eval;
mod functions;
mod library;
mod like;
mod scalar;

pub use compile::{compile, compile_predicate};
pub use scalar::EvalError;

use weir_operators::value::ValueType;
use weir_operators::Value;

/// A compiled expression and its result type.
#[derive(Clone, Debug)]
pub struct Typed {
    pub expr: Expr,
    /// `None`: the expression is the NULL literal (or only ever NULL).
    pub ty: Option<ValueType>,
    /// Whether it can evaluate to NULL.
    pub nullable: bool,
    /// The expression as written (for error messages and `weir explain`).
    pub text: String,
}

/// A typed expression tree.
#[derive(Clone, Debug)]
pub enum Expr {
    Field(usize),
    Literal(Value),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Arith(ArithOp, NumKind, Box<Expr>, Box<Expr>),
    Compare(CmpOp, CmpKind, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Concat(Box<Expr>, Box<Expr>),
    IsNull(Box<Expr>, bool),
    In {
        expr: Box<Expr>,
        kind: CmpKind,
        list: Vec<Expr>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: LikePattern,
        negated: bool,
    },
    Case {
        operand: Option<(Box<Expr>, CmpKind)>,
        whens: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    Cast(Box<Expr>, Option<ValueType>, ValueType),
    Coalesce(Vec<Expr>),
    Call(Func, Vec<Expr>),
    /// A function of the library ([`library`]), with what it compiled once.
    Lib(Box<library::Lib>, Vec<Expr>),
}

/// A `LIKE` pattern: compiled once when it is a literal.
#[derive(Clone, Debug)]
pub enum LikePattern {
    Fixed(like::Pattern),
    Dynamic(Box<Expr>, Option<char>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// How arithmetic is carried out: on integers (checked) or floats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumKind {
    Int,
    Float,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// What a comparison compares: numbers (ints and floats mixed), strings or booleans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpKind {
    Num,
    Str,
    Bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Abs,
    Sqrt,
    Ln,
    Exp,
    Power,
    Floor,
    Ceil,
    Round,
    Least,
    Greatest,
    Lower,
    Upper,
    Length,
    Substr,
}

impl Typed {
    /// Evaluates the expression against one row (values in the schema order it was compiled for).
    pub fn eval<'a>(&'a self, row: &'a [Value]) -> Result<std::borrow::Cow<'a, Value>, EvalError> {
        self.expr.eval(row)
    }

    /// Evaluates a predicate: `Ok(true)` only where it is TRUE (NULL and FALSE drop the record).
    pub fn holds(&self, row: &[Value]) -> Result<bool, EvalError> {
        Ok(self.expr.truth(row)? == Some(true))
    }
}
