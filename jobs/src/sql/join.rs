//! The temporal join (DESIGN §8): `FROM s [AS a] [LEFT] JOIN t FOR SYSTEM_TIME AS OF a.ts [AS b] ON a.x =
//! b.k` → a `join` operator looking each record of stream `s` up in reference table `t` as of the record's
//! event time; `JOIN`/`INNER JOIN` is `mode = "inner"` (a record without a row is a dead letter), `LEFT JOIN`
//! `mode = "left"` (NULLs).
//!
//! The projection keeps the stream's columns (`a.*`, or some of them: a derive then drops the others) and
//! names the table's (`b.zone`, `b.limit_ppv AS sensor_limit`): the join's `fields`. `SELECT *` is every
//! stream column and every table column but the key. A `WHERE` filters the joined rows.

use sqlparser::ast::{
    BinaryOperator, Expr, Join, JoinConstraint, JoinOperator, Select, SelectItem, SelectItemQualifiedWildcardKind,
    Spanned, TableFactor, TableVersion,
};
use toml::Value as Toml;

use super::translate::{list, plain, string, Translator};

/// A reference table as a join needs it: its key and columns.
#[derive(Clone, Debug)]
pub(super) struct RefTable {
    pub key: String,
    pub fields: Vec<String>,
}

impl Translator {
    /// `SELECT … FROM stream [AS a] [LEFT] JOIN table FOR SYSTEM_TIME AS OF a.ts [AS b] ON a.x = b.k [WHERE …]`.
    pub(super) fn join_select(&mut self, s: &Select, from: &TableFactor, join: &Join, name: &str) -> Option<String> {
        let TableFactor::Table {
            name: stream_name,
            alias: stream_alias,
            args: None,
            ..
        } = from
        else {
            self.problem(
                from.span(),
                "a temporal join reads a table or view: FROM stream JOIN table FOR SYSTEM_TIME AS OF stream.ts ON …",
            );
            return None;
        };
        let TableFactor::Table {
            name: table_name,
            alias: table_alias,
            version,
            ..
        } = &join.relation
        else {
            self.problem(
                join.relation.span(),
                "JOIN a reference table: JOIN table FOR SYSTEM_TIME AS OF stream.ts ON …",
            );
            return None;
        };
        let stream = self.stream(stream_name)?;
        let table = plain(table_name);
        let Some(reference) = self.tables_by_name.get(&table).cloned() else {
            let what = if self.fields.contains_key(&table) {
                format!("`{table}` is a stream: a join of two streams needs time bounds, which weir does not have yet — join a reference table (CREATE TABLE … PRIMARY KEY (k) NOT ENFORCED)")
            } else {
                format!("no reference table `{table}`: declare it with CREATE TABLE {table} (…, PRIMARY KEY (k) NOT ENFORCED) WITH ('connector' = …)")
            };
            self.problem(table_name.span(), what);
            return None;
        };
        let stream_q = stream_alias
            .as_ref()
            .map_or(plain(stream_name), |a| a.name.value.clone());
        let table_q = table_alias.as_ref().map_or(table.clone(), |a| a.name.value.clone());
        let stream_fields = self.fields.get(&stream).cloned().unwrap_or_default();
        let event_time = self.event_time.get(&stream).cloned();
        // FOR SYSTEM_TIME AS OF the stream's event time.
        match version {
            Some(TableVersion::ForSystemTimeAsOf(e)) if as_of_fits(e, &stream_q, event_time.as_deref()) => {}
            _ => {
                let ts = event_time.as_deref().unwrap_or("ts");
                self.problem(
                    join.relation.span(),
                    format!("weir looks a table up as of the record's event time: JOIN {table} FOR SYSTEM_TIME AS OF {stream_q}.{ts}"),
                );
                return None;
            }
        }
        let (inner, constraint) = match &join.join_operator {
            JoinOperator::Join(c) | JoinOperator::Inner(c) => (true, c),
            JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (false, c),
            _ => {
                self.problem(
                    join.relation.span(),
                    "a temporal join is JOIN (a record without a row is a dead letter) or LEFT JOIN (NULLs)",
                );
                return None;
            }
        };
        // ON stream.x = table.key
        let on = match constraint {
            JoinConstraint::On(Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            }) => {
                let side = |e: &Expr| column_of(e, &stream_q, &table_q, &stream_fields, &reference.fields);
                match (side(left), side(right)) {
                    (Some(Side::Stream(x)), Some(Side::Table(k))) | (Some(Side::Table(k)), Some(Side::Stream(x))) => {
                        Some((x, k))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        let Some((stream_on, table_on)) = on else {
            self.problem(
                constraint_span(constraint).unwrap_or(join.relation.span()),
                format!(
                    "ON {stream_q}.field = {table_q}.{}: a stream column equal to the table's key",
                    reference.key
                ),
            );
            return None;
        };
        if table_on != reference.key {
            self.problem(
                constraint_span(constraint).unwrap_or(join.relation.span()),
                format!(
                    "a table is looked up by its key: ON {stream_q}.{stream_on} = {table_q}.{}",
                    reference.key
                ),
            );
            return None;
        }
        // The projection: stream columns kept, table columns added.
        let star = matches!(s.projection.as_slice(), [SelectItem::Wildcard(_)]);
        let mut kept = Vec::new();
        let mut added = Vec::new();
        let mut added_names = Vec::new();
        let mut renamed = std::collections::HashMap::new();
        if star {
            kept = stream_fields.clone();
            for f in reference.fields.iter().filter(|f| **f != reference.key) {
                added_names.push(f.clone());
            }
        }
        for item in s.projection.iter().filter(|_| !star) {
            let (expr, alias) = match item {
                SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(q), _)
                    if plain(q) == stream_q =>
                {
                    kept.extend(stream_fields.iter().cloned());
                    continue;
                }
                SelectItem::UnnamedExpr(e) => (e, None),
                SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
                other => {
                    self.problem(
                        other.span(),
                        format!("list the columns: {stream_q}.* and {table_q}.column"),
                    );
                    continue;
                }
            };
            match column_of(expr, &stream_q, &table_q, &stream_fields, &reference.fields) {
                Some(Side::Stream(c)) if alias.as_ref().is_none_or(|a| *a == c) => kept.push(c),
                Some(Side::Table(c)) => {
                    let out = alias.clone().unwrap_or(c.clone());
                    renamed.insert(c.clone(), out.clone());
                    added.push(if out == c { c } else { format!("{c} AS {out}") });
                    added_names.push(out);
                }
                _ => self.problem(
                    expr.span(),
                    format!("a join's columns are {stream_q}'s ({}) and {table_q}'s ({}) as they are; compute others in a view over the join", stream_fields.join(", "), reference.fields.join(", ")),
                ),
            }
        }
        let mut options = toml::Table::new();
        options.insert(
            "on".into(),
            if stream_on == table_on {
                string(&stream_on)
            } else {
                let mut t = toml::Table::new();
                t.insert("stream".into(), string(&stream_on));
                t.insert("table".into(), string(&table_on));
                Toml::Table(t)
            },
        );
        if !star {
            options.insert("fields".into(), list(&added));
        }
        options.insert("mode".into(), string(if inner { "inner" } else { "left" }));
        let partial = kept.len() < stream_fields.len();
        let needs_after = partial || s.selection.is_some();
        let join_name = if needs_after {
            format!("{name}_join")
        } else {
            name.to_string()
        };
        let mut joined = stream_fields.clone();
        joined.extend(added_names);
        self.operator(&join_name, "join", &[stream.clone(), table], options, joined.clone());
        if let Some(et) = event_time {
            self.event_time.insert(join_name.clone(), et);
        }
        let mut out = join_name;
        if let Some(cond) = &s.selection {
            let filter = if partial {
                format!("{name}_where")
            } else {
                name.to_string()
            };
            let mut options = toml::Table::new();
            let renames = &renamed;
            let cond = joined_names(cond, |q, c| match q {
                Some(q) if q == table_q => Some(renames.get(c).cloned().unwrap_or(c.to_string())),
                Some(q) if q == stream_q => Some(c.to_string()),
                Some(_) => None,
                None if !stream_fields.iter().any(|f| f == c) => renames.get(c).cloned(),
                None => None,
            });
            options.insert("where".into(), string(&cond));
            self.operator(&filter, "filter", &[out.clone()], options, joined.clone());
            self.inherit_time(&out, &filter);
            out = filter;
        }
        if partial {
            let drop: Vec<String> = stream_fields.iter().filter(|f| !kept.contains(f)).cloned().collect();
            let mut options = toml::Table::new();
            options.insert("drop".into(), list(&drop));
            let fields = joined.into_iter().filter(|f| !drop.contains(f)).collect();
            self.operator(name, "derive", &[out.clone()], options, fields);
            self.inherit_time(&out, name);
            out = name.to_string();
        }
        Some(out)
    }
}

enum Side {
    Stream(String),
    Table(String),
}

/// Which side's column `e` is: `a.col`, `b.col`, or a bare `col` of one side (the stream's first).
fn column_of(
    e: &Expr,
    stream_q: &str,
    table_q: &str,
    stream_fields: &[String],
    table_fields: &[String],
) -> Option<Side> {
    match e {
        Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
            let (q, c) = (&parts[0].value, parts[1].value.clone());
            if q == stream_q && stream_fields.contains(&c) {
                Some(Side::Stream(c))
            } else if q == table_q && table_fields.contains(&c) {
                Some(Side::Table(c))
            } else {
                None
            }
        }
        Expr::Identifier(i) if stream_fields.contains(&i.value) => Some(Side::Stream(i.value.clone())),
        Expr::Identifier(i) if table_fields.contains(&i.value) => Some(Side::Table(i.value.clone())),
        _ => None,
    }
}

/// `FOR SYSTEM_TIME AS OF a.ts` (or `ts`) names the stream's event time.
fn as_of_fits(e: &Expr, stream_q: &str, event_time: Option<&str>) -> bool {
    let column = match e {
        Expr::CompoundIdentifier(p) if p.len() == 2 && p[0].value == stream_q => &p[1].value,
        Expr::Identifier(i) => &i.value,
        _ => return false,
    };
    event_time.is_none_or(|et| et == column)
}

fn constraint_span(c: &JoinConstraint) -> Option<sqlparser::tokenizer::Span> {
    match c {
        JoinConstraint::On(e) => Some(e.span()),
        _ => None,
    }
}

/// A condition over the joined row: each column reference `q.c` or `c` renamed by `rename(q, c)` (the
/// joined row has plain column names; a table column is under its alias), or left as it is for `None`.
fn joined_names(e: &Expr, rename: impl Fn(Option<&str>, &str) -> Option<String>) -> String {
    let mut e = e.clone();
    let _ = sqlparser::ast::visit_expressions_mut(&mut e, |x| {
        let new = match x {
            Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                rename(Some(&parts[0].value), &parts[1].value).map(|n| (n, parts[1].span))
            }
            Expr::Identifier(i) => rename(None, &i.value).map(|n| (n, i.span)),
            _ => None,
        };
        if let Some((name, span)) = new {
            *x = Expr::Identifier(sqlparser::ast::Ident::with_span(span, name));
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    e.to_string()
}
