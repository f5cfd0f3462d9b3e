//! The temporal join (DESIGN §8): `FROM s [AS a] [LEFT] JOIN t FOR SYSTEM_TIME AS OF a.ts [AS b] ON a.x =
//! b.k` → a `join` operator looking each record of stream `s` up in reference table `t` as of the record's
//! event time; `JOIN`/`INNER JOIN` is `mode = "inner"` (a record without a row is a dead letter), `LEFT JOIN`
//! `mode = "left"` (NULLs). A table with `'lookup' = 'latest'` is joined `FOR SYSTEM_TIME AS OF PROCTIME()`
//! instead (Flink's lookup join: the newest version read, never waiting; its results depend on timing).
//!
//! `ON` equals each of the table's key columns (`PRIMARY KEY (x, y)`) to a stream column or an expression
//! of the stream's columns, joined with `AND` (`ON a.site = b.site AND LOWER(a.sensor) = b.sensor_id`). An
//! expression is a `derive` before the join (`NAME_on`, adding `on_KEYCOLUMN`), dropped after it.
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

/// A reference table as a join needs it: its key columns and all its columns.
#[derive(Clone, Debug)]
pub(super) struct RefTable {
    pub key: Vec<String>,
    pub fields: Vec<String>,
    /// `'lookup' = 'latest'`: joined `FOR SYSTEM_TIME AS OF PROCTIME()`.
    pub latest: bool,
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
        // FOR SYSTEM_TIME AS OF the stream's event time, or PROCTIME() for a table with 'lookup' = 'latest'.
        let ts = event_time.as_deref().unwrap_or("ts");
        match version {
            Some(TableVersion::ForSystemTimeAsOf(e)) if is_proctime(e) && !reference.latest => {
                self.problem(
                    e.span(),
                    format!("AS OF PROCTIME() joins the newest version read, so results depend on timing: say so on the table with WITH (…, 'lookup' = 'latest'), or join AS OF {stream_q}.{ts} (deterministic)"),
                );
                return None;
            }
            Some(TableVersion::ForSystemTimeAsOf(e)) if is_proctime(e) => {}
            Some(TableVersion::ForSystemTimeAsOf(e)) if reference.latest => {
                self.problem(
                    e.span(),
                    format!("table `{table}` has 'lookup' = 'latest': join it FOR SYSTEM_TIME AS OF PROCTIME()"),
                );
                return None;
            }
            Some(TableVersion::ForSystemTimeAsOf(e)) if as_of_fits(e, &stream_q, event_time.as_deref()) => {}
            _ => {
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
        // ON stream.x = table.key [AND …]: each key column equal to a stream column or an expression of them.
        let on_span = constraint_span(constraint).unwrap_or(join.relation.span());
        let problems = self.problems.len();
        let on = match constraint {
            JoinConstraint::On(e) => self.key_pairs(e, &stream_q, &table_q, &stream_fields, &reference),
            _ => None,
        };
        let Some(on) = on else {
            if self.problems.len() > problems {
                return None;
            }
            let form: Vec<String> = reference
                .key
                .iter()
                .map(|k| format!("{stream_q}.column = {table_q}.{k}"))
                .collect();
            self.problem(
                on_span,
                format!(
                    "ON {}: a stream column (or an expression of them) equal to each of the table's key columns",
                    form.join(" AND ")
                ),
            );
            return None;
        };
        // Expressions of the stream's columns are computed first, into columns the join looks up.
        let mut looked_up = stream.clone();
        let mut input_fields = stream_fields.clone();
        let mut computed = toml::Table::new();
        let mut on_stream = Vec::new();
        for (key, table_col) in &on {
            match key {
                StreamKey::Column(c) => on_stream.push(c.clone()),
                StreamKey::Expr(e) => {
                    let mut column = format!("on_{table_col}");
                    while input_fields.contains(&column) {
                        column.push('_');
                    }
                    computed.insert(column.clone(), string(e));
                    input_fields.push(column.clone());
                    on_stream.push(column);
                }
            }
        }
        if !computed.is_empty() {
            looked_up = format!("{name}_on");
            let mut options = toml::Table::new();
            options.insert("fields".into(), Toml::Table(computed));
            self.operator(
                &looked_up,
                "derive",
                std::slice::from_ref(&stream),
                options,
                input_fields.clone(),
            );
            self.inherit_time(&stream, &looked_up);
        }
        let on_table: Vec<String> = on.iter().map(|(_, k)| k.clone()).collect();
        // The projection: stream columns kept, table columns added.
        let star = matches!(s.projection.as_slice(), [SelectItem::Wildcard(_)]);
        let mut kept = Vec::new();
        let mut added = Vec::new();
        let mut added_names = Vec::new();
        let mut renamed = std::collections::HashMap::new();
        if star {
            kept = stream_fields.clone();
            for f in reference.fields.iter().filter(|f| !reference.key.contains(f)) {
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
        let names = |n: &[String]| if let [one] = n { string(one) } else { list(n) };
        options.insert(
            "on".into(),
            if on_stream == on_table {
                names(&on_stream)
            } else {
                let mut t = toml::Table::new();
                t.insert("stream".into(), names(&on_stream));
                t.insert("table".into(), names(&on_table));
                Toml::Table(t)
            },
        );
        if !star {
            options.insert("fields".into(), list(&added));
        }
        options.insert("mode".into(), string(if inner { "inner" } else { "left" }));
        let partial = kept.len() < input_fields.len();
        let needs_after = partial || s.selection.is_some();
        let join_name = if needs_after {
            format!("{name}_join")
        } else {
            name.to_string()
        };
        let mut joined = input_fields.clone();
        joined.extend(added_names);
        self.operator(&join_name, "join", &[looked_up, table], options, joined.clone());
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
            let drop: Vec<String> = input_fields.iter().filter(|f| !kept.contains(f)).cloned().collect();
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

impl Translator {
    /// The `ON` condition as (stream column or expression, table key column) pairs, in the order written:
    /// a conjunction of equalities naming each of the table's key columns once. `None` (with a problem for
    /// a misplaced part) when it is not one.
    fn key_pairs(
        &mut self,
        on: &Expr,
        stream_q: &str,
        table_q: &str,
        stream_fields: &[String],
        reference: &RefTable,
    ) -> Option<Vec<(StreamKey, String)>> {
        let mut conjuncts = Vec::new();
        flatten_and(on, &mut conjuncts);
        let mut pairs: Vec<(StreamKey, String)> = Vec::new();
        let side = |e: &Expr| column_of(e, stream_q, table_q, stream_fields, &reference.fields);
        for c in conjuncts {
            let Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } = c
            else {
                self.problem(
                    c.span(),
                    "ON holds the key equalities only (joined with AND): filter with WHERE after the join",
                );
                return None;
            };
            let (stream_side, table_col) = match (side(left), side(right)) {
                (_, Some(Side::Table(k))) => (left.as_ref(), k),
                (Some(Side::Table(k)), _) => (right.as_ref(), k),
                _ => return None,
            };
            if !reference.key.contains(&table_col) {
                let key = reference.key.join(", ");
                self.problem(
                    c.span(),
                    format!("a table is looked up by its key ({key}): `{table_col}` is not a key column"),
                );
                return None;
            }
            if pairs.iter().any(|(_, k)| *k == table_col) {
                self.problem(c.span(), format!("key column `{table_col}` is named twice"));
                return None;
            }
            let key = match side(stream_side) {
                Some(Side::Stream(x)) => StreamKey::Column(x),
                _ => StreamKey::Expr(self.stream_expression(stream_side, stream_q, table_q, stream_fields)?),
            };
            pairs.push((key, table_col));
        }
        (pairs.len() == reference.key.len()).then_some(pairs)
    }

    /// An expression of the stream's columns (`LOWER(a.sensor)`) in the stream's plain column names.
    fn stream_expression(
        &mut self,
        e: &Expr,
        stream_q: &str,
        table_q: &str,
        stream_fields: &[String],
    ) -> Option<String> {
        let mut foreign = None;
        let _ = sqlparser::ast::visit_expressions(e, |x| {
            let bad = match x {
                Expr::CompoundIdentifier(p) if p.len() == 2 => {
                    p[0].value != stream_q || !stream_fields.contains(&p[1].value)
                }
                Expr::Identifier(i) => !stream_fields.contains(&i.value),
                _ => false,
            };
            if bad && foreign.is_none() {
                foreign = Some(x.clone());
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        if let Some(x) = foreign {
            self.problem(
                x.span(),
                format!(
                    "a key expression reads the stream's columns ({stream_q}: {}), not `{x}` (the table `{table_q}` is looked up by the result)",
                    stream_fields.join(", ")
                ),
            );
            return None;
        }
        Some(joined_names(e, |q, c| match q {
            Some(q) if q == stream_q => Some(c.to_string()),
            _ => None,
        }))
    }
}

/// The stream side of one key equality.
enum StreamKey {
    /// A column of the stream.
    Column(String),
    /// An expression of its columns (weir's expression text).
    Expr(String),
}

/// The parts of `a AND b AND …`.
fn flatten_and<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            flatten_and(left, out);
            flatten_and(right, out);
        }
        Expr::Nested(inner) => flatten_and(inner, out),
        other => out.push(other),
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

/// `PROCTIME()`.
fn is_proctime(e: &Expr) -> bool {
    matches!(e, Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("proctime"))
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
