//! `kind = "postgres"`: a table polled from PostgreSQL (this file), and a sink writing a stream into a
//! PostgreSQL table exactly once ([`sink`]).
//!
//! The table polls `SELECT * FROM table`, or a query of your own, every `interval`.
//!
//! Every poll is complete: a key the result no longer has is deleted (from the time the table was known up
//! to before that poll). With `deleted = "COLUMN"` (a boolean soft-delete column) a row whose column is
//! true deletes its key at the row's version instead, which keeps the deletion's exact time. Columns are
//! matched to the table's schema by name: integers (`int2/4/8`), floats (`float4/8`, and `numeric`, read as
//! the nearest double: about 15–17 significant digits, like `col::float8`; a whole `numeric` also reads as an
//! `int` field), text, booleans, and `timestamp`/`timestamptz` (as epoch ms, for `timestamp` and `int`
//! fields). When the database cannot be reached the poll is retried every `interval` and records
//! that need the table wait; nothing is joined twice or lost.

pub mod config;
pub mod sink;

use crate::component::{now_ms, TableComponent, TableReader};
use crate::schema::{FieldType, Schema};
use crate::table::{Found, Origin, TableError, TableRead};
use postgres::types::Type;
use postgres::{Client, NoTls, Row};
use std::time::{Duration, SystemTime};
use weir_operators::Value;

/// `kind = "postgres"`.
#[derive(Clone, Debug)]
pub struct PostgresTable {
    /// A libpq-style connection string or `postgresql://` URL.
    pub url: String,
    /// The query polled (`SELECT * FROM "table"` for `table = "…"`).
    pub query: String,
    pub interval: Duration,
    /// A boolean column: true deletes the key at the row's version.
    pub deleted: Option<String>,
    /// The key's fields, by schema index.
    pub key: Vec<usize>,
}

impl PostgresTable {
    /// The connection string without its password (for messages).
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }
}

/// `"a"."b"` for the (optionally schema-qualified) table name `a.b`.
fn quoted_name(table: &str) -> String {
    table.split('.').map(quoted).collect::<Vec<_>>().join(".")
}

/// A quoted identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `postgresql://user:secret@host/db` → `postgresql://user:***@host/db`; `password=…` likewise.
fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((auth, host)) = rest.split_once('@') {
            if let Some((user, _)) = auth.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
        return url.to_string();
    }
    url.split_whitespace()
        .map(|kv| {
            if kv.starts_with("password=") {
                "password=***"
            } else {
                kv
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl TableComponent for PostgresTable {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn describe(&self) -> String {
        format!(
            "PostgreSQL {} `{}` every {}{}",
            self.redacted_url(),
            self.query,
            crate::words::humanize_ms(self.interval.as_millis() as i64),
            self.deleted
                .as_ref()
                .map_or(String::new(), |d| format!(", soft-deleted by `{d}`"))
        )
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn open(&self, schema: &Schema) -> Result<Box<dyn TableReader>, TableError> {
        Ok(Box::new(PostgresTableReader {
            table: self.clone(),
            schema: schema.clone(),
            client: None,
        }))
    }
}

struct PostgresTableReader {
    table: PostgresTable,
    schema: Schema,
    client: Option<Client>,
}

impl PostgresTableReader {
    fn error(&self, e: impl std::fmt::Display) -> TableError {
        TableError::Postgres(format!("{}: {e}", self.table.redacted_url()))
    }

    fn poll(&mut self) -> Result<Vec<Row>, TableError> {
        if self.client.is_none() {
            let mut config: postgres::Config = self.table.url.parse().map_err(|e| self.error(e))?;
            config.connect_timeout(Duration::from_secs(5));
            self.client = Some(config.connect(NoTls).map_err(|e| self.error(describe(&e)))?);
        }
        let client = self.client.as_mut().expect("connected");
        match client.query(self.table.query.as_str(), &[]) {
            Ok(rows) => Ok(rows),
            Err(e) => {
                // Reconnect on the next poll (the server may have restarted).
                self.client = None;
                Err(self.error(describe(&e)))
            }
        }
    }

    /// Column index of every schema field (by name), checked against the first poll's columns.
    fn columns(&self, row: &Row) -> Result<Vec<Option<usize>>, TableError> {
        let names: Vec<&str> = row.columns().iter().map(|c| c.name()).collect();
        let mut out = Vec::new();
        for f in &self.schema.fields {
            match names.iter().position(|n| *n == f.name) {
                Some(i) => out.push(Some(i)),
                None if f.nullable => out.push(None),
                None => {
                    return Err(self.error(format!(
                        "the query has no column `{}` (it has: {})",
                        f.name,
                        names.join(", ")
                    )))
                }
            }
        }
        Ok(out)
    }

    fn row(&self, row: &Row, columns: &[Option<usize>]) -> Result<Vec<Value>, String> {
        self.schema
            .fields
            .iter()
            .zip(columns)
            .map(|(f, c)| {
                let Some(c) = c else { return Ok(Value::Null) };
                let v = value(row, *c, &f.ty).map_err(|e| format!("column `{}`: {e}", f.name))?;
                match v {
                    Value::Null if !f.nullable => Err(format!("column `{}` is null", f.name)),
                    Value::Str(s) if matches!(&f.ty, FieldType::Enum(a) if !a.contains(&s)) => {
                        Err(format!("column `{}`: `{s}` is not one of {}", f.name, f.ty))
                    }
                    v => Ok(v),
                }
            })
            .collect()
    }
}

/// A database error with its detail (the server's message, not only "db error").
fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// Column `c` of `row` as a value of type `ty`.
fn value(row: &Row, c: usize, ty: &FieldType) -> Result<Value, String> {
    let col = &row.columns()[c];
    let pg = col.type_();
    let bad = |e: postgres::Error| e.to_string();
    let int = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
    let millis = |t: Option<SystemTime>| {
        t.map_or(Value::Null, |t| {
            Value::Int(match t.duration_since(SystemTime::UNIX_EPOCH) {
                Ok(d) => d.as_millis() as i64,
                Err(e) => -(e.duration().as_millis() as i64),
            })
        })
    };
    Ok(match (ty, pg) {
        (FieldType::Int | FieldType::Timestamp, &Type::INT8) => int(row.try_get::<_, Option<i64>>(c).map_err(bad)?),
        (FieldType::Int | FieldType::Timestamp, &Type::INT4) => {
            int(row.try_get::<_, Option<i32>>(c).map_err(bad)?.map(i64::from))
        }
        (FieldType::Int | FieldType::Timestamp, &Type::INT2) => {
            int(row.try_get::<_, Option<i16>>(c).map_err(bad)?.map(i64::from))
        }
        (FieldType::Int | FieldType::Timestamp, &Type::TIMESTAMPTZ | &Type::TIMESTAMP) => {
            millis(row.try_get::<_, Option<SystemTime>>(c).map_err(bad)?)
        }
        (FieldType::Float, &Type::FLOAT8) => row
            .try_get::<_, Option<f64>>(c)
            .map_err(bad)?
            .map_or(Value::Null, Value::Float),
        (FieldType::Float, &Type::FLOAT4) => row
            .try_get::<_, Option<f32>>(c)
            .map_err(bad)?
            .map_or(Value::Null, |f| Value::Float(f as f64)),
        (FieldType::Float, &Type::NUMERIC) => row
            .try_get::<_, Option<Numeric>>(c)
            .map_err(bad)?
            .map_or(Value::Null, |n| Value::Float(n.0)),
        (FieldType::Int, &Type::NUMERIC) => match row.try_get::<_, Option<Numeric>>(c).map_err(bad)? {
            None => Value::Null,
            Some(Numeric(x)) if x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15 => Value::Int(x as i64),
            Some(Numeric(x)) => return Err(format!("the numeric {x} is not a whole number that fits an int")),
        },
        (FieldType::Float, &Type::INT8 | &Type::INT4 | &Type::INT2) => match value(row, c, &FieldType::Int)? {
            Value::Int(i) => Value::Float(i as f64),
            other => other,
        },
        (FieldType::String | FieldType::Enum(_), &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::NAME) => row
            .try_get::<_, Option<String>>(c)
            .map_err(bad)?
            .map_or(Value::Null, |s| Value::Str(s.into())),
        (FieldType::Bool, &Type::BOOL) => row
            .try_get::<_, Option<bool>>(c)
            .map_err(bad)?
            .map_or(Value::Null, Value::Bool),
        (ty, pg) => return Err(format!("a {pg} column cannot be read as {ty}")),
    })
}

/// A `numeric` value as the nearest double (NaN and the infinities as such).
struct Numeric(f64);

impl<'a> postgres::types::FromSql<'a> for Numeric {
    /// The binary form: digit count, weight (of the first base-10 000 digit), sign, display scale, then the
    /// digits (each 0..=9999), all big-endian `i16`/`u16`.
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let word = |i: usize| -> Result<u16, String> {
            raw.get(2 * i..2 * i + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(|| "a numeric value is cut short".to_string())
        };
        let (digits, weight, sign) = (word(0)? as usize, word(1)? as i16, word(2)?);
        let special = match sign {
            0x0000 | 0x4000 => None,
            0xC000 => Some(f64::NAN),
            0xD000 => Some(f64::INFINITY),
            0xF000 => Some(f64::NEG_INFINITY),
            other => return Err(format!("a numeric value has the unknown sign {other:#06x}").into()),
        };
        if let Some(x) = special {
            return Ok(Numeric(x));
        }
        use std::fmt::Write;
        // The digits as one decimal integer text and an exponent: parsed once, so rounded once.
        let mut text = String::with_capacity(4 * digits + 8);
        for i in 0..digits {
            write!(text, "{:04}", word(4 + i)?)?;
        }
        if text.is_empty() {
            text.push('0');
        }
        let exponent = 4 * (weight as i64 + 1 - digits as i64);
        let x: f64 = format!("{text}e{exponent}").parse()?;
        Ok(Numeric(if sign == 0x4000 { -x } else { x }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// A row as JSON text (a dead letter's raw).
fn raw_row(row: &Row, schema: &Schema, columns: &[Option<usize>]) -> String {
    let mut out = serde_json::Map::new();
    for (f, c) in schema.fields.iter().zip(columns) {
        let Some(c) = c else { continue };
        let v = match value(row, *c, &f.ty) {
            Ok(Value::Int(i)) => serde_json::Value::from(i),
            Ok(Value::Float(x)) => serde_json::Value::from(x),
            Ok(Value::Str(s)) => serde_json::Value::from(s.as_str()),
            Ok(Value::Bool(b)) => serde_json::Value::from(b),
            _ => serde_json::Value::Null,
        };
        out.insert(f.name.clone(), v);
    }
    serde_json::Value::Object(out).to_string()
}

impl TableReader for PostgresTableReader {
    fn read(&mut self) -> Result<TableRead, TableError> {
        let read_at = now_ms();
        let rows = self.poll()?;
        let mut found = Vec::with_capacity(rows.len());
        let Some(first) = rows.first() else {
            return Ok(TableRead {
                found,
                complete: true,
                read_at,
                caught_up: true,
            });
        };
        let columns = self.columns(first)?;
        let deleted = match &self.table.deleted {
            Some(d) => Some(
                first
                    .columns()
                    .iter()
                    .position(|c| c.name() == d)
                    .ok_or_else(|| self.error(format!("the query has no soft-delete column `{d}`")))?,
            ),
            None => None,
        };
        let version = self.schema.event_time;
        for (i, row) in rows.iter().enumerate() {
            let origin = Origin {
                partition: 0,
                offset: i as u64 + 1,
                raw: raw_row(row, &self.schema, &columns),
            };
            let is_deleted = deleted.map(|d| row.try_get::<_, Option<bool>>(d).ok().flatten() == Some(true));
            let f = match self.row(row, &columns) {
                Ok(values) if is_deleted == Some(true) => Found::Delete {
                    key: self.table.key.iter().map(|i| values[*i].clone()).collect(),
                    at: values.get(version).and_then(|v| match v {
                        Value::Int(t) => Some(*t),
                        _ => None,
                    }),
                },
                Ok(values) => Found::Row { values, version: None },
                Err(reason) => Found::Bad(reason),
            };
            found.push((origin, f));
        }
        Ok(TableRead {
            found,
            complete: true,
            read_at,
            caught_up: true,
        })
    }

    fn check(&mut self) -> Result<(), TableError> {
        let rows = self.poll()?;
        if let Some(first) = rows.first() {
            self.columns(first)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            super::redact("postgresql://weir:s3cret@127.0.0.1:5432/fleet"),
            "postgresql://weir:***@127.0.0.1:5432/fleet"
        );
        assert_eq!(
            super::redact("host=127.0.0.1 password=s3cret dbname=fleet"),
            "host=127.0.0.1 password=*** dbname=fleet"
        );
    }
}

#[cfg(test)]
mod numeric_tests {
    use super::*;
    use postgres::types::FromSql;

    fn numeric(digits: &[u16], weight: i16, sign: u16) -> f64 {
        let mut raw = Vec::new();
        for w in [digits.len() as u16, weight as u16, sign, 0] {
            raw.extend_from_slice(&w.to_be_bytes());
        }
        for d in digits {
            raw.extend_from_slice(&d.to_be_bytes());
        }
        Numeric::from_sql(&Type::NUMERIC, &raw).unwrap().0
    }

    /// Trap 3: `numeric` columns read as floats instead of making every row a dead letter.
    #[test]
    fn numeric_values_read_as_the_nearest_double() {
        assert_eq!(numeric(&[12, 3400], 0, 0), 12.34); // 12.3400
        assert_eq!(numeric(&[1], 2, 0x4000), -1e8); // -1 0000 0000
        assert_eq!(numeric(&[5000], -1, 0), 0.5); // 0.5000
        assert_eq!(numeric(&[], 0, 0), 0.0);
        assert_eq!(numeric(&[1234, 5678, 9012], 1, 0), 12345678.9012);
        assert!(numeric(&[], 0, 0xC000).is_nan());
        assert_eq!(numeric(&[], 0, 0xD000), f64::INFINITY);
    }
}
