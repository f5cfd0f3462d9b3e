//! `CREATE TABLE`: a source (columns and a `WATERMARK FOR`) or a sink (written by `INSERT INTO`, or without
//! columns), its `WITH (...)` options the kind's keys.

use sqlparser::ast::{CreateTable, CreateTableOptions, DataType, Expr, SqlOption, TableConstraint, Value};
use sqlparser::parser::Parser;

use super::dialect::WeirDialect;
use super::translate::{at, duration, plain, string, Translator};
use super::watermark::Watermark;
use super::window::interval_ms;
use crate::definition::Problem;
use sqlparser::ast::Spanned;
use toml::Value as Toml;

impl Translator {
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
                    section.insert(key, string(&value));
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
        let role = if self.insert_targets.contains(&name) || ct.columns.is_empty() {
            "sinks"
        } else {
            "sources"
        };
        self.spans.insert(format!("{role}.{name}"), ct.name.span().start);
        for (key, l) in option_spans {
            self.spans.insert(format!("{role}.{name}.{key}"), l);
        }
        if role == "sinks" {
            self.sinks.insert(name, Toml::Table(section));
            return;
        }
        for c in &ct.columns {
            self.spans
                .insert(format!("sources.{name}.schema.{}", c.name.value), c.name.span.start);
        }
        let mut schema = toml::Table::new();
        let mut fields = Vec::new();
        for c in &ct.columns {
            let nullable = c
                .options
                .iter()
                .any(|o| matches!(o.option, sqlparser::ast::ColumnOption::Null));
            match field_type(&c.data_type) {
                Some(ty) => {
                    let ty = if nullable { format!("{ty}?") } else { ty.to_string() };
                    schema.insert(c.name.value.clone(), string(&ty));
                    fields.push(c.name.value.clone());
                }
                None => self.problem(
                    c.name.span,
                    format!(
                        "column `{}`: type {} is not supported; use BIGINT, INT, DOUBLE, FLOAT, STRING, VARCHAR, BOOLEAN or TIMESTAMP(3)",
                        c.name.value, c.data_type
                    ),
                ),
            }
        }
        if ct
            .constraints
            .iter()
            .any(|c| matches!(c, TableConstraint::PrimaryKey(_)))
        {
            return self.problem(ct.name.span(), "reference tables (PRIMARY KEY … NOT ENFORCED) are not supported in SQL jobs yet: declare the table in TOML");
        }
        let watermark = self.watermarks.iter().find(|w| w.table == name).cloned();
        let Some(w) = watermark else {
            return self.problem(
                ct.name.span(),
                format!("source `{name}` needs an event time: add WATERMARK FOR ts AS ts - INTERVAL '30' SECOND to its columns"),
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
