//! `CREATE TABLE`: a source (columns and a `WATERMARK FOR`), a reference table (`PRIMARY KEY (k) NOT
//! ENFORCED`, versioned by its `WATERMARK FOR` column if it has one) or a sink (written by `INSERT INTO`, or
//! without columns), its `WITH (...)` options the kind's keys. A `STRING` column with `CHECK (col IN ('a',
//! …))` is an enum (a record with another value is a dead letter).

use sqlparser::ast::{
    ColumnOption, CreateTable, CreateTableOptions, DataType, Expr, SqlOption, TableConstraint, Value,
};

use super::join::RefTable;
use super::tvf::string_in_list;
use sqlparser::parser::Parser;

use super::dialect::WeirDialect;
use super::translate::{at, duration, list, plain, string, Translator};
use super::watermark::Watermark;
use super::window::interval_ms;
use crate::definition::Problem;
use sqlparser::ast::Spanned;
use toml::Value as Toml;

impl Translator {
    /// A sink's `PRIMARY KEY (k, …) NOT ENFORCED` (Flink's upsert sink): a PostgreSQL sink upserts by it.
    fn upsert_key(&mut self, ct: &CreateTable, name: &str, section: &mut toml::Table) {
        let mut key = Vec::new();
        for c in &ct.constraints {
            if let TableConstraint::PrimaryKey(pk) = c {
                key.extend(pk.columns.iter().map(|col| col.column.expr.to_string()));
            }
        }
        for c in &ct.columns {
            if c.options
                .iter()
                .any(|o| matches!(o.option, ColumnOption::PrimaryKey(_)))
            {
                key.push(c.name.value.clone());
            }
        }
        if key.is_empty() {
            return;
        }
        if section.get("kind").and_then(|k| k.as_str()) != Some("postgres") {
            return self.problem(
                ct.name.span(),
                format!("sink `{name}`: a PRIMARY KEY makes a sink upsert, which the 'postgres' connector does; drop it for this one"),
            );
        }
        section.insert("mode".into(), string("upsert"));
        section.insert("key".into(), list(&key));
    }

    pub(super) fn create_table(&mut self, ct: &CreateTable) {
        let name = plain(&ct.name);
        let mut section = toml::Table::new();
        let options = match &ct.table_options {
            CreateTableOptions::With(o) => o.as_slice(),
            _ => &[],
        };
        let mut option_spans = Vec::new();
        for o in options {
            match o {
                SqlOption::KeyValue { key, value } => {
                    let key = plain(key);
                    let value = match value {
                        Expr::Value(v) => match &v.value {
                            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                            other => other.to_string(),
                        },
                        other => other.to_string(),
                    };
                    let key = if key == "connector" { "kind".to_string() } else { key };
                    option_spans.push((key.clone(), o.span().start));
                    // 'properties.bootstrap.servers' = … is `properties = { "bootstrap.servers" = … }`
                    // (Flink's prefix form for a kind's table of settings).
                    match key.split_once('.') {
                        Some((table, inner)) => {
                            let t = section
                                .entry(table.to_string())
                                .or_insert_with(|| Toml::Table(toml::Table::new()));
                            if let Toml::Table(t) = t {
                                t.insert(inner.to_string(), string(&value));
                            }
                        }
                        None => {
                            section.insert(key, string(&value));
                        }
                    }
                }
                other => self.problem(other.span(), "options are 'key' = 'value'"),
            }
        }
        if !section.contains_key("kind") {
            return self.problem(
                ct.name.span(),
                format!("`{name}` needs WITH ('connector' = 'KIND', …): the kind of source or sink it is"),
            );
        }
        // A sink: written by an INSERT INTO, or declared without columns (the dead-letter sink is written
        // by the job itself).
        if self.insert_targets.contains(&name) || ct.columns.is_empty() {
            self.spans.insert(format!("sinks.{name}"), ct.name.span().start);
            for (key, l) in option_spans {
                self.spans.insert(format!("sinks.{name}.{key}"), l);
            }
            self.upsert_key(ct, &name, &mut section);
            self.sinks.insert(name, Toml::Table(section));
            return;
        }
        let mut schema = toml::Table::new();
        let mut fields = Vec::new();
        let mut key = Vec::new();
        for c in &ct.columns {
            let mut nullable = false;
            let mut values = None;
            for o in &c.options {
                match &o.option {
                    ColumnOption::Null => nullable = true,
                    ColumnOption::Check(check) => match enum_values(&check.expr, &c.name.value) {
                        Some(v) => values = Some(v),
                        None => self.problem(
                            check.expr.span(),
                            format!(
                                "a column's CHECK lists its values: CHECK ({} IN ('a', 'b', …))",
                                c.name.value
                            ),
                        ),
                    },
                    ColumnOption::PrimaryKey(_) => key.push(c.name.clone()),
                    _ => {}
                }
            }
            match (field_type(&c.data_type), values) {
                (Some("string"), Some(values)) if !nullable => {
                    let ty = values.iter().map(|v| string(v)).collect();
                    schema.insert(c.name.value.clone(), Toml::Array(ty));
                    fields.push(c.name.value.clone());
                }
                (Some(_), Some(_)) => self.problem(
                    c.name.span,
                    format!("column `{}`: CHECK (… IN (…)) is for STRING columns that are not NULL", c.name.value),
                ),
                (Some(ty), None) => {
                    let ty = if nullable { format!("{ty}?") } else { ty.to_string() };
                    schema.insert(c.name.value.clone(), string(&ty));
                    fields.push(c.name.value.clone());
                }
                (None, _) => self.problem(
                    c.name.span,
                    format!(
                        "column `{}`: type {} is not supported; use BIGINT, INT, DOUBLE, FLOAT, STRING, VARCHAR, BOOLEAN or TIMESTAMP(3)",
                        c.name.value, c.data_type
                    ),
                ),
            }
        }
        for c in &ct.constraints {
            if let TableConstraint::PrimaryKey(pk) = c {
                for col in &pk.columns {
                    match &col.column.expr {
                        Expr::Identifier(i) => key.push(i.clone()),
                        other => self.problem(other.span(), "PRIMARY KEY (column) NOT ENFORCED"),
                    }
                }
            }
        }
        let role = if key.is_empty() { "sources" } else { "tables" };
        self.spans.insert(format!("{role}.{name}"), ct.name.span().start);
        for (k, l) in option_spans {
            self.spans.insert(format!("{role}.{name}.{k}"), l);
        }
        for c in &ct.columns {
            self.spans
                .insert(format!("{role}.{name}.schema.{}", c.name.value), c.name.span.start);
        }
        let watermark = self.watermarks.iter().find(|w| w.table == name).cloned();
        if role == "tables" {
            // A reference table (§8): its PRIMARY KEY the lookup key; a WATERMARK makes it versioned, by that
            // column, with that much out-of-orderness (Flink's versioned table).
            let key: Vec<String> = key.iter().map(|k| k.value.clone()).collect();
            section.insert(
                "key".into(),
                match key.as_slice() {
                    [k] => string(k),
                    several => list(several),
                },
            );
            if let Some(w) = &watermark {
                match watermark_delay(w) {
                    Ok(ms) => {
                        section.insert("version".into(), string(&w.column));
                        section.insert("max_out_of_orderness".into(), duration(ms));
                    }
                    Err(e) => self.problems.push(Problem {
                        path: at(w.at),
                        message: e,
                    }),
                }
            }
            section.insert("schema".into(), Toml::Table(schema));
            let latest = section.get("lookup").and_then(|l| l.as_str()) == Some("latest");
            self.tables_by_name
                .insert(name.clone(), RefTable { key, fields, latest });
            self.tables.insert(name, Toml::Table(section));
            return;
        }
        let Some(w) = watermark else {
            return self.problem(
                ct.name.span(),
                format!("source `{name}` needs an event time: add WATERMARK FOR ts AS ts - INTERVAL '30' SECOND to its columns (or PRIMARY KEY (k) NOT ENFORCED for a reference table)"),
            );
        };
        match watermark_delay(&w) {
            Ok(ms) => {
                section.insert("event_time".into(), string(&w.column));
                section.insert("max_out_of_orderness".into(), duration(ms));
            }
            Err(e) => self.problems.push(Problem {
                path: at(w.at),
                message: e,
            }),
        }
        section.insert("schema".into(), Toml::Table(schema));
        self.event_time.insert(name.clone(), w.column);
        self.fields.insert(name.clone(), fields);
        self.sources.insert(name, Toml::Table(section));
    }
}

/// The values of `CHECK (col IN ('a', 'b'))`: an enum column.
fn enum_values(e: &Expr, column: &str) -> Option<Vec<String>> {
    string_in_list(e)
        .filter(|(c, _)| c.value == column)
        .map(|(_, values)| values)
}

/// How far the watermark trails the event time: `ts` (0) or `ts - INTERVAL …`.
fn watermark_delay(w: &Watermark) -> Result<i64, String> {
    let bad = || {
        format!(
            "WATERMARK FOR {c} AS {e}: write {c} - INTERVAL '30' SECOND (how late records may arrive), or {c}",
            c = w.column,
            e = w.expr
        )
    };
    let expr = Parser::new(&WeirDialect::default())
        .try_with_sql(&w.expr)
        .and_then(|mut p| p.parse_expr())
        .map_err(|_| bad())?;
    match &expr {
        Expr::Identifier(i) if i.value == w.column => Ok(0),
        Expr::BinaryOp {
            left,
            op: sqlparser::ast::BinaryOperator::Minus,
            right,
        } => match left.as_ref() {
            Expr::Identifier(i) if i.value == w.column => interval_ms(right).ok_or_else(bad),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// The schema type of a column type.
fn field_type(t: &DataType) -> Option<&'static str> {
    let text = t.to_string().to_ascii_uppercase();
    let base = text.split(['(', ' ']).next().unwrap_or("");
    Some(match base {
        "BIGINT" | "INT" | "INTEGER" | "SMALLINT" | "TINYINT" => "int",
        "DOUBLE" | "FLOAT" | "REAL" | "DECIMAL" => "float",
        "STRING" | "VARCHAR" | "TEXT" | "CHAR" => "string",
        "BOOLEAN" | "BOOL" => "bool",
        "TIMESTAMP" | "TIMESTAMP_LTZ" => "timestamp",
        _ => return None,
    })
}
