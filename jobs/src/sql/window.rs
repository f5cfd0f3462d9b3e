//! Windowed aggregates: `FROM TABLE(TUMBLE|HOP(TABLE s, DESCRIPTOR(ts), …)) GROUP BY window_start,
//! window_end, keys` → a `window` operator (after a `filter` for a `WHERE`).

use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, ObjectName, Select, SelectItem, Value,
};

use super::aggregates::weir_aggregate;
use super::dialect::TABLE_ARG;
use super::translate::{duration, list, string, Translator};
use sqlparser::ast::Spanned;
use toml::Value as Toml;

impl Translator {
    /// `SELECT window_start, window_end, keys…, aggregates… FROM TABLE(TUMBLE|HOP(TABLE s, DESCRIPTOR(ts),
    /// …)) [WHERE cond] GROUP BY window_start, window_end, keys…`: a window (after a filter).
    pub(super) fn window_select(&mut self, s: &Select, tvf: &Expr, name: &str) -> Option<String> {
        let Expr::Function(f) = tvf else {
            self.problem(tvf.span(), "FROM TABLE(TUMBLE(…)) or TABLE(HOP(…))");
            return None;
        };
        let kind = f.name.to_string().to_ascii_uppercase();
        let all: &[FunctionArg] = match &f.args {
            FunctionArguments::List(l) => &l.args,
            _ => &[],
        };
        let args: Vec<&Expr> = all
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect();
        // weir's extension, a named argument in Flink's style: ALLOWED_LATENESS => INTERVAL '10' MINUTE.
        let mut lateness = None;
        for a in all {
            if let FunctionArg::Named {
                name: arg_name, arg, ..
            } = a
            {
                match (arg_name.value.to_ascii_lowercase().as_str(), arg) {
                    ("allowed_lateness", FunctionArgExpr::Expr(e)) => match interval_ms(e) {
                        Some(ms) => lateness = Some(ms),
                        None => self.problem(
                            e.span(),
                            "ALLOWED_LATENESS => INTERVAL 'n' SECOND | MINUTE | HOUR | DAY",
                        ),
                    },
                    _ => self.problem(
                        arg_name.span,
                        format!(
                            "unknown argument `{}`; a window takes ALLOWED_LATENESS => INTERVAL …",
                            arg_name.value
                        ),
                    ),
                }
            }
        }
        let shape = match kind.as_str() {
            "TUMBLE" => "TUMBLE(TABLE source, DESCRIPTOR(ts), INTERVAL '1' HOUR)",
            "HOP" => "HOP(TABLE source, DESCRIPTOR(ts), INTERVAL '5' MINUTE, INTERVAL '1' HOUR) (slide, then size)",
            "SESSION" | "CUMULATE" => {
                self.problem(
                    f.span(),
                    format!("{kind} windows are not supported in SQL jobs yet: declare the window in TOML"),
                );
                return None;
            }
            _ => {
                self.problem(
                    f.name.span(),
                    format!("unknown table function `{}`; weir has TUMBLE and HOP", f.name),
                );
                return None;
            }
        };
        let wanted = if kind == "TUMBLE" { 3 } else { 4 };
        let source = args.first().and_then(|a| table_arg(a));
        let descriptor = args.get(1).and_then(|a| descriptor(a));
        let (Some(source), Some(ts), true) = (source, descriptor, args.len() == wanted) else {
            self.problem(f.span(), format!("write {shape}"));
            return None;
        };
        let mut stream = self.stream(&ObjectName::from(vec![source.clone()]))?;
        if let Some(et) = self.event_time.get(&stream) {
            if *et != ts.value {
                self.problem(
                    ts.span,
                    format!(
                        "weir windows are over the event time: DESCRIPTOR({et}), the WATERMARK column of `{}`",
                        source.value
                    ),
                );
                return None;
            }
        }
        let intervals: Vec<Option<i64>> = args[2..].iter().map(|a| interval_ms(a)).collect();
        let mut window = toml::Table::new();
        match (kind.as_str(), intervals.as_slice()) {
            ("TUMBLE", [Some(size)]) => {
                window.insert("kind".into(), string("tumbling"));
                window.insert("size".into(), duration(*size));
            }
            ("HOP", [Some(slide), Some(size)]) => {
                window.insert("kind".into(), string("hopping"));
                window.insert("size".into(), duration(*size));
                window.insert("slide".into(), duration(*slide));
            }
            _ => {
                self.problem(
                    f.span(),
                    format!("write {shape}, with INTERVAL 'n' SECOND | MINUTE | HOUR | DAY"),
                );
                return None;
            }
        }
        // GROUP BY window_start, window_end, keys.
        let group: Vec<&Expr> = match &s.group_by {
            GroupByExpr::Expressions(e, _) => e.iter().collect(),
            GroupByExpr::All(_) => Vec::new(),
        };
        let mut keys = Vec::new();
        let (mut has_start, mut has_end) = (false, false);
        for g in &group {
            match g {
                Expr::Identifier(i) if i.value == "window_start" => has_start = true,
                Expr::Identifier(i) if i.value == "window_end" => has_end = true,
                Expr::Identifier(i) => keys.push(i.value.clone()),
                other => self.problem(other.span(), "GROUP BY columns, not expressions, for now"),
            }
        }
        if !(has_start && has_end) {
            self.problem(s.span(), "a windowed aggregate groups by window_start, window_end and its keys: GROUP BY window_start, window_end, …");
            return None;
        }
        if s.having.is_some() {
            self.problem(
                s.span(),
                "HAVING is not supported yet: filter the window's rows in a view over it",
            );
            return None;
        }
        // The projection: window_start, window_end, the keys (weir's window rows have them, in that order),
        // then the named aggregates.
        let natural: Vec<String> = ["window_start", "window_end"]
            .iter()
            .map(|s| s.to_string())
            .chain(keys.iter().cloned())
            .collect();
        let mut aggregates = toml::Table::new();
        let mut columns = Vec::new();
        for (i, item) in s.projection.iter().enumerate() {
            match item {
                SelectItem::UnnamedExpr(Expr::Identifier(c)) if i < natural.len() && c.value == natural[i] => {
                    columns.push(c.value.clone())
                }
                SelectItem::ExprWithAlias { expr: Expr::Function(call), alias } if i >= natural.len() => {
                    match weir_aggregate(call) {
                        Ok(text) => {
                            aggregates.insert(alias.value.clone(), string(&text));
                            columns.push(alias.value.clone());
                        }
                        Err(e) => self.problem(call.span(), e),
                    }
                }
                other => self.problem(
                    other.span(),
                    format!(
                        "a window's columns are {}, then aggregates with names (COUNT(*) AS readings): `{other}` does not fit here",
                        natural.join(", ")
                    ),
                ),
            }
        }
        if let Some(cond) = &s.selection {
            let filter = format!("{name}_where");
            let mut options = toml::Table::new();
            options.insert("where".into(), string(&cond.to_string()));
            let fields = self.fields.get(&stream).cloned().unwrap_or_default();
            self.operator(&filter, "filter", &[stream], options, fields);
            stream = filter;
        }
        let mut options = toml::Table::new();
        options.insert("window".into(), Toml::Table(window));
        if let Some(ms) = lateness {
            options.insert("allowed_lateness".into(), duration(ms));
        }
        if !keys.is_empty() {
            options.insert("key".into(), list(&keys));
        }
        options.insert("aggregates".into(), Toml::Table(aggregates));
        self.operator(name, "window", &[stream], options, columns);
        Some(name.to_string())
    }
}

/// The source of a `TABLE name` argument.
fn table_arg(e: &Expr) -> Option<Ident> {
    let Expr::Function(f) = e else { return None };
    if f.name.to_string() != TABLE_ARG {
        return None;
    }
    let FunctionArguments::List(l) = &f.args else {
        return None;
    };
    match l.args.first()? {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(i))) if l.args.len() == 1 => Some(i.clone()),
        _ => None,
    }
}

/// The column of `DESCRIPTOR(col)`.
fn descriptor(e: &Expr) -> Option<Ident> {
    let Expr::Function(f) = e else { return None };
    if !f.name.to_string().eq_ignore_ascii_case("descriptor") {
        return None;
    }
    let FunctionArguments::List(l) = &f.args else {
        return None;
    };
    match l.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(i)))] => Some(i.clone()),
        _ => None,
    }
}

/// An `INTERVAL 'n' UNIT` (or `INTERVAL 'n unit'`) in milliseconds; `None` for anything else.
pub(super) fn interval_ms(e: &Expr) -> Option<i64> {
    let Expr::Interval(i) = e else { return None };
    let text = match i.value.as_ref() {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => s.clone(),
            Value::Number(n, _) => n.clone(),
            _ => return None,
        },
        _ => return None,
    };
    let (n, unit) = match &i.leading_field {
        Some(f) => (text.trim().to_string(), f.to_string()),
        None => {
            let (n, u) = text.trim().split_once(char::is_whitespace)?;
            (n.to_string(), u.trim().to_string())
        }
    };
    let n: i64 = n.parse().ok()?;
    let unit = unit.to_ascii_uppercase();
    let per = match unit.trim_end_matches('S') {
        "MILLISECOND" => 1,
        "SECOND" => 1_000,
        "MINUTE" => 60_000,
        "HOUR" => 3_600_000,
        "DAY" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(per)
}
