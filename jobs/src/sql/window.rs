//! Windowed aggregates: `FROM TABLE(TUMBLE|HOP|SESSION(TABLE s, DESCRIPTOR(ts), …)) GROUP BY window_start,
//! window_end, keys` → a `window` operator (after a `filter` for a `WHERE`).

use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, Select, SelectItem, Value,
};

use super::aggregates::weir_aggregate;
use super::translate::{duration, list, string, Translator};
use super::tvf::{option_value, TvfCall};
use sqlparser::ast::Spanned;
use toml::Value as Toml;

impl Translator {
    /// `SELECT window_start, window_end, keys…, [carried…,] aggregates… FROM TABLE(TUMBLE|HOP|SESSION(TABLE
    /// s, DESCRIPTOR(ts), …)) [WHERE cond] GROUP BY window_start, window_end, keys…`: a window (after a
    /// filter).
    pub(super) fn window_select(&mut self, s: &Select, call: &TvfCall, name: &str) -> Option<String> {
        let kind = call.name.as_str();
        let shape = match kind {
            "TUMBLE" => "TUMBLE(TABLE source, DESCRIPTOR(ts), INTERVAL '1' HOUR)",
            "HOP" => "HOP(TABLE source, DESCRIPTOR(ts), INTERVAL '5' MINUTE, INTERVAL '1' HOUR) (slide, then size)",
            "SESSION" => "SESSION(TABLE source PARTITION BY key, DESCRIPTOR(ts), INTERVAL '5' MINUTE) (the gap)",
            _ => unreachable!("window_select is called for windows"),
        };
        // weir's extensions, named arguments in Flink's style: the window kind's other options
        // (ALLOWED_LATENESS => INTERVAL '10' MINUTE, EMIT_EMPTY => TRUE, MAX_OPEN_WINDOWS => 1000000,
        // OFFSET => INTERVAL '4' DAY, TIME_ZONE => 'Europe/Berlin').
        let mut extra = toml::Table::new();
        let mut window_options = toml::Table::new();
        for (arg_name, e) in &call.named {
            let key = arg_name.value.to_ascii_lowercase();
            if ["kind", "inputs", "window", "key", "carry", "aggregates"].contains(&key.as_str()) {
                self.problem(
                    arg_name.span,
                    format!("`{key}` is said by the query itself (the TVF, GROUP BY and the columns)"),
                );
                continue;
            }
            match option_value(e) {
                Some(v) => {
                    self.spans
                        .insert(format!("operators.{name}.{key}"), arg_name.span.start);
                    // A window's alignment belongs in its `window` table.
                    if key == "offset" || key == "time_zone" {
                        window_options.insert(key, v);
                    } else {
                        extra.insert(key, v);
                    }
                }
                None => self.problem(e.span(), "INTERVAL 'n' SECOND | MINUTE | HOUR | DAY"),
            }
        }
        // Flink's optional last positional argument: the offset (TUMBLE and HOP).
        let wanted = match kind {
            "HOP" => 3..=4,
            "TUMBLE" => 2..=3,
            _ => 2..=2,
        };
        let descriptor = call.positional.first().and_then(|a| descriptor(a));
        let (Some((source, source_span)), Some(ts), true) =
            (&call.table, descriptor, wanted.contains(&call.positional.len()))
        else {
            self.problem(call.span, format!("write {shape}"));
            return None;
        };
        if !call.partition.is_empty() && kind != "SESSION" {
            self.problem(
                *source_span,
                format!("PARTITION BY belongs to SESSION; a {kind} window's keys are its GROUP BY columns"),
            );
        }
        let mut stream = self.stream_named(source, *source_span)?;
        if !self.descriptor_fits(&stream, &ts) {
            return None;
        }
        let intervals: Vec<Option<i64>> = call.positional[1..].iter().map(|a| interval_ms(a)).collect();
        let mut window = toml::Table::new();
        match (kind, intervals.as_slice()) {
            ("TUMBLE", [Some(size), Some(offset)]) | ("HOP", [_, Some(size), Some(offset)]) if *size > 0 => {
                let slide = if kind == "HOP" { intervals[0] } else { Some(*size) };
                window.insert(
                    "kind".into(),
                    string(if kind == "HOP" { "hopping" } else { "tumbling" }),
                );
                window.insert("size".into(), duration(*size));
                if let (true, Some(slide)) = (kind == "HOP", slide) {
                    window.insert("slide".into(), duration(slide));
                }
                window.insert("offset".into(), duration(*offset));
            }
            ("TUMBLE", [Some(size)]) => {
                window.insert("kind".into(), string("tumbling"));
                window.insert("size".into(), duration(*size));
            }
            ("HOP", [Some(slide), Some(size)]) => {
                window.insert("kind".into(), string("hopping"));
                window.insert("size".into(), duration(*size));
                window.insert("slide".into(), duration(*slide));
            }
            ("SESSION", [Some(gap)]) => {
                window.insert("kind".into(), string("session"));
                window.insert("gap".into(), duration(*gap));
            }
            _ => {
                self.problem(
                    call.span,
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
        let input_fields = self.fields.get(&stream).cloned().unwrap_or_default();
        // The keys by name, and as the window's `key` entries (`lower(site) AS site_l` for an expression,
        // computed in front of the window).
        let mut keys = Vec::new();
        let mut key_entries = Vec::new();
        let (mut has_start, mut has_end) = (false, false);
        for g in &group {
            match g {
                Expr::Identifier(i) if i.value == "window_start" => has_start = true,
                Expr::Identifier(i) if i.value == "window_end" => has_end = true,
                Expr::Identifier(i) if input_fields.contains(&i.value) => {
                    keys.push(i.value.clone());
                    key_entries.push(i.value.clone());
                }
                Expr::Identifier(i) => self.problem(
                    i.span,
                    format!(
                        "no column `{}` in `{stream}`; its columns: {}",
                        i.value,
                        input_fields.join(", ")
                    ),
                ),
                other => {
                    let named = s.projection.iter().find_map(|item| match item {
                        SelectItem::ExprWithAlias { expr, alias } if expr == *other => Some(alias.value.clone()),
                        _ => None,
                    });
                    match named {
                        Some(alias) => {
                            key_entries.push(format!("{other} AS {alias}"));
                            keys.push(alias);
                        }
                        None => self.problem(
                            other.span(),
                            format!("a key that is an expression needs a name: SELECT …, {other} AS name … GROUP BY …, {other}"),
                        ),
                    }
                }
            }
        }
        if !(has_start && has_end) {
            self.problem(s.span(), "a windowed aggregate groups by window_start, window_end and its keys: GROUP BY window_start, window_end, …");
            return None;
        }
        if kind == "SESSION" {
            let partition: Vec<&String> = call.partition.iter().map(|k| &k.value).collect();
            if partition != keys.iter().collect::<Vec<_>>() {
                self.problem(
                    call.span,
                    format!(
                        "a session's PARTITION BY keys are its GROUP BY keys after window_start, window_end: PARTITION BY {}",
                        match keys.as_slice() {
                            [one] => one.clone(),
                            many => format!("({})", many.join(", ")),
                        }
                    ),
                );
            }
        }
        // The projection: window_start, window_end, the keys (weir's window rows have them, in that order),
        // carried columns (a column neither grouped nor aggregated: copied from the window's first record),
        // then the named aggregates.
        let natural: Vec<String> = ["window_start", "window_end"]
            .iter()
            .map(|s| s.to_string())
            .chain(keys.iter().cloned())
            .collect();
        let mut aggregates = toml::Table::new();
        let mut carry = Vec::new();
        let mut columns = Vec::new();
        for (i, item) in s.projection.iter().enumerate() {
            match item {
                SelectItem::UnnamedExpr(Expr::Identifier(c)) if i < natural.len() && c.value == natural[i] => {
                    columns.push(c.value.clone())
                }
                SelectItem::ExprWithAlias { alias, .. } if i < natural.len() && alias.value == natural[i] => {
                    columns.push(alias.value.clone())
                }
                SelectItem::UnnamedExpr(Expr::Identifier(c))
                    if i >= natural.len() && aggregates.is_empty() && input_fields.contains(&c.value) =>
                {
                    carry.push(c.value.clone());
                    columns.push(c.value.clone());
                }
                SelectItem::ExprWithAlias { expr: Expr::Function(f), alias } if i >= natural.len() => {
                    match weir_aggregate(f) {
                        Ok(spec) => {
                            aggregates.insert(alias.value.clone(), spec);
                            columns.push(alias.value.clone());
                        }
                        Err(e) => self.problem(f.span(), e),
                    }
                }
                other => self.problem(
                    other.span(),
                    format!(
                        "a window's columns are {}, then columns carried from the window's first record (like site), then aggregates with names (COUNT(*) AS readings): `{other}` does not fit here",
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
            self.operator(&filter, "filter", &[stream.clone()], options, fields);
            stream = filter;
        }
        let mut options = toml::Table::new();
        window.extend(window_options);
        options.insert("window".into(), Toml::Table(window));
        options.extend(extra);
        // No keys: one global row per window (`key = []`).
        options.insert("key".into(), list(&key_entries));
        if !carry.is_empty() {
            options.insert("carry".into(), list(&carry));
        }
        options.insert("aggregates".into(), Toml::Table(aggregates));
        // HAVING: a filter over the window's rows (the window is then `NAME_window`).
        let window_name = if s.having.is_some() {
            format!("{name}_window")
        } else {
            name.to_string()
        };
        self.operator(&window_name, "window", &[stream], options, columns.clone());
        self.event_time.insert(window_name.clone(), WINDOW_TIME.to_string());
        if let Some(having) = &s.having {
            let cond = self.having(s, having)?;
            let mut options = toml::Table::new();
            options.insert("where".into(), string(&cond));
            self.operator(name, "filter", &[window_name], options, columns);
            self.event_time.insert(name.to_string(), WINDOW_TIME.to_string());
        }
        Some(name.to_string())
    }

    /// A `HAVING` condition over the window's rows: each aggregate call replaced by the column the
    /// projection names it.
    fn having(&mut self, s: &Select, having: &Expr) -> Option<String> {
        let named: Vec<(String, String)> = s
            .projection
            .iter()
            .filter_map(|item| match item {
                SelectItem::ExprWithAlias {
                    expr: e @ Expr::Function(_),
                    alias,
                } => Some((e.to_string(), alias.value.clone())),
                _ => None,
            })
            .collect();
        let mut missing = Vec::new();
        let mut cond = having.clone();
        let _ = sqlparser::ast::visit_expressions_mut(&mut cond, |e| {
            let text = e.to_string();
            if let Expr::Function(f) = &*e {
                let span = f.span();
                if let Some((_, alias)) = named.iter().find(|(t, _)| *t == text) {
                    *e = Expr::Identifier(Ident::with_span(span, alias));
                } else if weir_aggregate(f).is_ok() {
                    missing.push((span, text));
                }
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        for (span, text) in &missing {
            self.problem(
                *span,
                format!("HAVING reads the window's columns: select {text} AS name and write HAVING name …"),
            );
        }
        missing.is_empty().then(|| cond.to_string())
    }

    /// Whether `DESCRIPTOR(ts)` names `stream`'s event time; a problem saying which column does if not.
    pub(super) fn descriptor_fits(&mut self, stream: &str, ts: &Ident) -> bool {
        let Some(et) = self.event_time.get(stream).cloned() else {
            return true;
        };
        if et == ts.value {
            return true;
        }
        let why = match et.as_str() {
            WINDOW_TIME => "a window row's event time is its window_start (Flink's window_time, the window's last millisecond, is not a column here)".to_string(),
            ARRIVAL => "a dead or late record's event time is its arrival watermark".to_string(),
            _ => format!("the WATERMARK column of `{stream}`"),
        };
        self.problem(
            ts.span,
            format!("weir windows are over the event time: DESCRIPTOR({et}), {why}"),
        );
        false
    }
}

/// The event-time column of window rows.
pub(super) const WINDOW_TIME: &str = "window_start";
/// The name `DESCRIPTOR` gives the event time of side streams (`.late`, `.dead_letters`), which is no
/// column: their arrival watermark.
pub(super) const ARRIVAL: &str = "arrival_watermark";

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
