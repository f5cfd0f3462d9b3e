//! weir's own operators as table-valued functions in the TUMBLE shape, their options named arguments with
//! the kinds' TOML keys (an `INTERVAL` for a duration, a condition as an expression):
//!
//! - `ALERT(TABLE s PARTITION BY key, `when` => cond, cooldown => INTERVAL …, alert => 'kind', severity => …)`
//! - `DEADLINE(TABLE s PARTITION BY key, start => cond, done => cond, within => INTERVAL …, alert => …)`
//! - `ABSENCE(TABLE s PARTITION BY key, silence => INTERVAL …, alert => …, [of => cond], [until => cond])`
//! - `LATEST(TABLE s PARTITION BY key, [terminal => field IN ('v', …)], [ttl => …], [idle_ttl => …])`
//!
//! The projection of an alert or rule lists the input columns each alert carries (its `fields`; `*` for all
//! of them) — the alert's own columns (`alert_id`, `kind`, `severity`, `key`, `event_time`, `job`) always
//! come first. A `LATEST` view is `SELECT *`: its changelog rows are the view's columns.

use sqlparser::ast::{Expr, Select, SelectItem, Spanned};
use toml::Value as Toml;

use super::translate::{list, string, Translator};
use super::tvf::{option_value, string_in_list, TvfCall};

/// The columns of an alert row before the fields it carries.
const ALERT_COLUMNS: [&str; 6] = ["alert_id", "kind", "severity", "key", "event_time", "job"];

impl Translator {
    /// `SELECT fields FROM TABLE(ALERT|DEADLINE|ABSENCE|LATEST(TABLE s PARTITION BY k, option => …))`.
    pub(super) fn rule_select(&mut self, s: &Select, call: &TvfCall, name: &str) -> Option<String> {
        let kind = call.name.to_ascii_lowercase();
        let Some((source, source_span)) = &call.table else {
            self.problem(
                call.span,
                format!("write {}(TABLE stream PARTITION BY key, option => value, …)", call.name),
            );
            return None;
        };
        let input = self.stream_named(source, *source_span)?;
        let input_fields = self.fields.get(&input).cloned().unwrap_or_default();
        if let Some(e) = call.positional.first() {
            self.problem(
                e.span(),
                format!(
                    "{}'s options are named: option => value (e.g. cooldown => INTERVAL '10' MINUTE)",
                    call.name
                ),
            );
        }
        if s.selection.is_some()
            || !matches!(&s.group_by, sqlparser::ast::GroupByExpr::Expressions(e, _) if e.is_empty())
        {
            self.problem(
                s.span(),
                format!("{}(…) takes no WHERE or GROUP BY: filter its input in a view before it, or its rows in a view over it", call.name),
            );
            return None;
        }
        let mut options = toml::Table::new();
        if let Some(key) = call.key_option() {
            options.insert("key".into(), key);
        }
        for k in &call.partition {
            if !input_fields.contains(&k.value) {
                self.problem(
                    k.span,
                    format!(
                        "no column `{}` in `{input}`; its columns: {}",
                        k.value,
                        input_fields.join(", ")
                    ),
                );
            }
        }
        for (arg, e) in &call.named {
            let key = arg.value.to_ascii_lowercase();
            self.spans.insert(format!("operators.{name}.{key}"), arg.span.start);
            let value = if key == "terminal" {
                terminal(e)
            } else {
                option_value(e)
            };
            match value {
                Some(v) => {
                    options.insert(key, v);
                }
                None if key == "terminal" => self.problem(
                    e.span(),
                    "terminal => field IN ('value', …): the values after which a key leaves the view",
                ),
                None => self.problem(e.span(), "INTERVAL 'n' SECOND | MINUTE | HOUR | DAY"),
            }
        }
        let star = matches!(s.projection.as_slice(), [SelectItem::Wildcard(_)]);
        let fields = if kind == "latest" {
            if !star {
                self.problem(
                    s.span(),
                    "a LATEST view is SELECT * FROM TABLE(LATEST(…)): its rows are the newest record per key",
                );
            }
            let mut fields: Vec<String> = ["view", "key", "op"].map(String::from).to_vec();
            fields.extend(input_fields.iter().cloned());
            if let Some(et) = self.event_time.get(&input).cloned() {
                self.event_time.insert(name.to_string(), et);
            }
            fields
        } else {
            let carried = if star {
                input_fields.clone()
            } else {
                self.carried_columns(s, &input, &input_fields)
            };
            options.insert("fields".into(), list(&carried));
            let mut fields: Vec<String> = ALERT_COLUMNS.map(String::from).to_vec();
            fields.extend(carried);
            if kind == "deadline" {
                for (key, default) in [("start_field", "started_at"), ("deadline_field", "deadline")] {
                    let f = options.get(key).and_then(|v| v.as_str()).unwrap_or(default);
                    fields.push(f.to_string());
                }
            }
            self.event_time.insert(name.to_string(), "event_time".to_string());
            fields
        };
        self.operator(name, &kind, &[input], options, fields);
        Some(name.to_string())
    }

    /// The input columns an alert's projection lists.
    fn carried_columns(&mut self, s: &Select, input: &str, input_fields: &[String]) -> Vec<String> {
        let mut carried = Vec::new();
        for item in &s.projection {
            match item {
                SelectItem::UnnamedExpr(Expr::Identifier(c)) if input_fields.contains(&c.value) => {
                    carried.push(c.value.clone())
                }
                SelectItem::UnnamedExpr(Expr::Identifier(c)) if ALERT_COLUMNS.contains(&c.value.as_str()) => {}
                SelectItem::UnnamedExpr(Expr::Identifier(c)) => self.problem(
                    c.span,
                    format!("no column `{}` in `{input}`; its columns: {}", c.value, input_fields.join(", ")),
                ),
                other => self.problem(
                    other.span(),
                    format!("an alert carries columns of its input as they are (`{other}` is not one): compute it in a view before the alert"),
                ),
            }
        }
        carried
    }
}

/// `terminal => state IN ('delivered', …)` as the `latest` kind's `terminal = { field, values }`.
fn terminal(e: &Expr) -> Option<Toml> {
    let (field, values) = string_in_list(e)?;
    let mut t = toml::Table::new();
    t.insert("field".into(), string(&field.value));
    t.insert("values".into(), list(&values));
    Some(Toml::Table(t))
}
