//! SQL aggregate calls → weir's aggregate expressions (DESIGN §3): `COUNT(*)` → `count`, `COUNT(*) FILTER
//! (WHERE c)` → `count_if(c)`, `SUM MIN MAX AVG STDDEV_POP FIRST_VALUE LAST_VALUE` → `sum min max mean stddev
//! first last`, `RMS(x)` → `rms(x)`, `APPROX_PERCENTILE(x, q)` → `quantile(x, q)` (the mergeable sketch),
//! `SKETCH(x)` → `sketch(x)`, and `QUANTILE(sketch_column, q)` → `quantile(…)` over window rows' sketches;
//! `COUNT(x)` → `count_if(x IS NOT NULL)`; any aggregate with `FILTER (WHERE c)` → `{ of = "…", where = "c" }`.

use sqlparser::ast::{Function, FunctionArg, FunctionArgExpr, FunctionArguments};
use toml::Value as Toml;

/// The aggregates of one argument: (SQL name, weir name), both ways (SQL in, `weir explain --format sql` out).
pub const ONE_ARGUMENT: &[(&str, &str)] = &[
    ("SUM", "sum"),
    ("MIN", "min"),
    ("MAX", "max"),
    ("AVG", "mean"),
    ("STDDEV_POP", "stddev"),
    ("FIRST_VALUE", "first"),
    ("LAST_VALUE", "last"),
    ("RMS", "rms"),
    ("SKETCH", "sketch"),
];

/// The SQL aggregates weir has, for the message about one it does not.
pub const KNOWN: &str = "COUNT(*), COUNT(x), SUM, MIN, MAX, AVG, STDDEV_POP, RMS, FIRST_VALUE, LAST_VALUE, \
                         APPROX_PERCENTILE(x, q), SKETCH(x), QUANTILE(sketch, q) (each with FILTER (WHERE …))";

/// The weir aggregate of a SQL aggregate call — its text (`"max(ppv_mm_s)"`), or `{ of, where }` for one
/// with a `FILTER (WHERE …)` — or why there is none. Arguments may be expressions (`SUM(x * 2)`): the planner
/// computes them in a derive in front of the window.
pub fn weir_aggregate(f: &Function) -> Result<Toml, String> {
    let name = f.name.to_string().to_ascii_uppercase();
    let args = arguments(f)?;
    if f.over.is_some() {
        return Err(format!(
            "`{f}`: OVER windows are not supported; aggregate over TUMBLE, HOP or SESSION"
        ));
    }
    let one = |weir: &str| -> Result<String, String> {
        match args.as_slice() {
            [Some(x)] => Ok(format!("{weir}({x})")),
            _ => Err(format!("`{f}`: {name} takes one argument")),
        }
    };
    let filter = f.filter.as_deref().map(|c| c.to_string());
    let text = match name.as_str() {
        // COUNT(*) FILTER (WHERE c) is count_if(c), as in TOML.
        "COUNT" if args == [None] => match filter {
            None => return Ok(Toml::String("count".into())),
            Some(cond) => return Ok(Toml::String(format!("count_if({cond})"))),
        },
        "COUNT" => match args.as_slice() {
            [Some(x)] => format!("count_if({x} IS NOT NULL)"),
            _ => return Err(format!("`{f}`: COUNT takes * or one argument")),
        },
        "APPROX_PERCENTILE" | "QUANTILE" => match args.as_slice() {
            [Some(x), Some(q)] => format!("quantile({x}, {q})"),
            _ => return Err(format!("`{f}`: write {name}(column, 0.9)")),
        },
        _ => match ONE_ARGUMENT.iter().find(|(sql, _)| *sql == name) {
            Some((_, weir)) => one(weir)?,
            None => return Err(format!("`{f}`: unknown aggregate `{name}`; weir has {KNOWN}")),
        },
    };
    Ok(match filter {
        None => Toml::String(text),
        Some(cond) => {
            let mut t = toml::Table::new();
            t.insert("of".into(), Toml::String(text));
            t.insert("where".into(), Toml::String(cond));
            Toml::Table(t)
        }
    })
}

/// A call's arguments as text (`None` for `*`).
fn arguments(f: &Function) -> Result<Vec<Option<String>>, String> {
    let FunctionArguments::List(list) = &f.args else {
        return Ok(Vec::new());
    };
    if list.duplicate_treatment.is_some() {
        return Err(format!(
            "`{f}`: DISTINCT aggregates would keep every distinct value of each window, which weir does not do \
             yet: group by the column as well and count the rows of a window over that"
        ));
    }
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => Ok(None),
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(Some(e.to_string())),
            other => Err(format!("`{f}`: argument `{other}` is not supported")),
        })
        .collect()
}
