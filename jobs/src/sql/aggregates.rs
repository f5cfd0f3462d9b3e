//! SQL aggregate calls → weir's aggregate expressions (DESIGN §3): `COUNT(*)` → `count`, `COUNT(*) FILTER
//! (WHERE c)` → `count_if(c)`, `SUM MIN MAX AVG STDDEV_POP FIRST_VALUE LAST_VALUE` → `sum min max mean stddev
//! first last`, `RMS(x)` → `rms(x)`, `APPROX_PERCENTILE(x, q)` → `quantile(x, q)` (the mergeable sketch),
//! `SKETCH(x)` → `sketch(x)`, and `QUANTILE(sketch_column, q)` → `quantile(…)` over window rows' sketches.

use sqlparser::ast::{Function, FunctionArg, FunctionArgExpr, FunctionArguments};

/// The SQL aggregates weir has, for the message about one it does not.
pub const KNOWN: &str = "COUNT(*), COUNT(*) FILTER (WHERE …), SUM, MIN, MAX, AVG, STDDEV_POP, RMS, FIRST_VALUE, \
                         LAST_VALUE, APPROX_PERCENTILE(x, q), SKETCH(x), QUANTILE(sketch, q)";

/// The weir aggregate expression of a SQL aggregate call, or why there is none.
pub fn weir_aggregate(f: &Function) -> Result<String, String> {
    let name = f.name.to_string().to_ascii_uppercase();
    let args = arguments(f)?;
    if f.over.is_some() {
        return Err(format!(
            "`{f}`: OVER windows are not supported; aggregate over TUMBLE or HOP"
        ));
    }
    let one = |weir: &str| -> Result<String, String> {
        match args.as_slice() {
            [Some(x)] => Ok(format!("{weir}({x})")),
            _ => Err(format!("`{f}`: {name} takes one column")),
        }
    };
    let filter = f.filter.as_deref();
    let text = match (name.as_str(), filter) {
        ("COUNT", None) if args == [None] => "count".to_string(),
        ("COUNT", Some(cond)) if args == [None] => format!("count_if({cond})"),
        ("COUNT", _) => {
            return Err(format!(
            "`{f}`: weir counts records: write COUNT(*) (with FILTER (WHERE x IS NOT NULL) to count a column's values)"
        ))
        }
        (_, Some(_)) => {
            return Err(format!(
                "`{f}`: FILTER (WHERE …) is supported on COUNT(*) only, for now"
            ));
        }
        ("SUM", None) => one("sum")?,
        ("MIN", None) => one("min")?,
        ("MAX", None) => one("max")?,
        ("AVG", None) => one("mean")?,
        ("STDDEV_POP", None) => one("stddev")?,
        ("FIRST_VALUE", None) => one("first")?,
        ("LAST_VALUE", None) => one("last")?,
        ("RMS", None) => one("rms")?,
        ("SKETCH", None) => one("sketch")?,
        ("APPROX_PERCENTILE" | "QUANTILE", None) => match args.as_slice() {
            [Some(x), Some(q)] => format!("quantile({x}, {q})"),
            _ => return Err(format!("`{f}`: write {name}(column, 0.9)")),
        },
        _ => return Err(format!("`{f}`: unknown aggregate `{name}`; weir has {KNOWN}")),
    };
    Ok(text)
}

/// A call's arguments as text (`None` for `*`).
fn arguments(f: &Function) -> Result<Vec<Option<String>>, String> {
    let FunctionArguments::List(list) = &f.args else {
        return Ok(Vec::new());
    };
    if list.duplicate_treatment.is_some() {
        return Err(format!("`{f}`: DISTINCT aggregates are not supported yet"));
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
