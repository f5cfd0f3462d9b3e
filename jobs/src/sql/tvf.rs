//! The arguments of a table-valued function in Flink's shape — `NAME(TABLE s [PARTITION BY k | (k, …)],
//! positional…, option => value, …)` — shared by the windows (`TUMBLE`, `HOP`, `SESSION`) and weir's own
//! operators (`ALERT`, `DEADLINE`, `ABSENCE`, `LATEST`).

use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, InTarget, Spanned, Value,
};
use sqlparser::tokenizer::Span;
use toml::Value as Toml;

use super::dialect::TABLE_ARG;
use super::translate::{duration, string};
use super::window::interval_ms;

/// A table-valued function call, taken apart.
pub(super) struct TvfCall<'a> {
    /// The function's name, upper case.
    pub name: String,
    pub span: Span,
    /// The `TABLE name` argument (first): the stream it names and where.
    pub table: Option<(String, Span)>,
    /// Its `PARTITION BY` keys (plain columns).
    pub partition: Vec<Ident>,
    /// The other unnamed arguments, in order.
    pub positional: Vec<&'a Expr>,
    /// `name => value` arguments.
    pub named: Vec<(Ident, &'a Expr)>,
    /// What did not fit: where, and why.
    pub problems: Vec<(Span, String)>,
}

impl<'a> TvfCall<'a> {
    pub fn of(f: &'a Function) -> Self {
        let mut call = TvfCall {
            name: f.name.to_string().to_ascii_uppercase(),
            span: f.span(),
            table: None,
            partition: Vec::new(),
            positional: Vec::new(),
            named: Vec::new(),
            problems: Vec::new(),
        };
        let args: &[FunctionArg] = match &f.args {
            FunctionArguments::List(l) => &l.args,
            _ => &[],
        };
        for (i, a) in args.iter().enumerate() {
            match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => match table_arg(e) {
                    Some((name, keys)) if i == 0 => {
                        call.table = Some((name, e.span()));
                        for k in keys {
                            match k {
                                Expr::Identifier(id) => call.partition.push(id.clone()),
                                other => call
                                    .problems
                                    .push((other.span(), format!("PARTITION BY columns, not `{other}`"))),
                            }
                        }
                    }
                    Some(_) => call
                        .problems
                        .push((e.span(), "a table argument (TABLE name) comes first".to_string())),
                    None => call.positional.push(e),
                },
                FunctionArg::Named {
                    name,
                    arg: FunctionArgExpr::Expr(e),
                    ..
                } => call.named.push((name.clone(), e)),
                other => call
                    .problems
                    .push((other.span(), format!("argument `{other}` is not supported here"))),
            }
        }
        call
    }

    /// The `PARTITION BY` keys as the kinds' `key` option: one name, or a list of several.
    pub fn key_option(&self) -> Option<Toml> {
        match self.partition.as_slice() {
            [] => None,
            [one] => Some(string(&one.value)),
            many => Some(Toml::Array(many.iter().map(|k| string(&k.value)).collect())),
        }
    }
}

/// A named argument's value as a kind's option: an `INTERVAL` is a duration, a literal its value, anything
/// else (a condition such as `ppv_mm_s > 25.0`) its SQL text. `None` for an interval weir cannot read.
pub(super) fn option_value(e: &Expr) -> Option<Toml> {
    Some(match e {
        Expr::Interval(_) => duration(interval_ms(e)?),
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => string(s),
            Value::Number(n, _) => match (n.parse::<i64>(), n.parse::<f64>()) {
                (Ok(i), _) => Toml::Integer(i),
                (_, Ok(x)) => Toml::Float(x),
                _ => string(n),
            },
            Value::Boolean(b) => Toml::Boolean(*b),
            other => string(&other.to_string()),
        },
        Expr::Identifier(i) => string(&i.value),
        other => string(&other.to_string()),
    })
}

/// The stream and `PARTITION BY` keys of a `TABLE name [PARTITION BY …]` argument.
pub(super) fn table_arg(e: &Expr) -> Option<(String, Vec<&Expr>)> {
    let Expr::Function(f) = e else { return None };
    if f.name.to_string() != TABLE_ARG {
        return None;
    }
    let FunctionArguments::List(l) = &f.args else {
        return None;
    };
    let mut args = l.args.iter().map(|a| match a {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
        _ => None,
    });
    let name = match args.next()?? {
        Expr::Identifier(i) => i.value.clone(),
        Expr::CompoundIdentifier(parts) => parts.iter().map(|p| p.value.as_str()).collect::<Vec<_>>().join("."),
        _ => return None,
    };
    Some((name, args.collect::<Option<Vec<_>>>()?))
}

/// `column IN ('a', 'b', …)`: the column and the strings.
pub(super) fn string_in_list(e: &Expr) -> Option<(&Ident, Vec<String>)> {
    let Expr::In {
        expr,
        target: InTarget::List(values),
        negated: false,
        ..
    } = e
    else {
        return None;
    };
    let Expr::Identifier(column) = expr.as_ref() else {
        return None;
    };
    let values = values
        .iter()
        .map(|v| match v {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some((column, values))
}
