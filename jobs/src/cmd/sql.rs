//! `weir sql "QUERY" --source NAME=PATH`: a quick look at a file before writing a job. The source's columns
//! are inferred from its first records (JSON lines, or CSV with a header), its event time is `--event-time`
//! or the first of `ts`, `timestamp`, `event_time`, `time`; the query runs as a one-statement SQL job whose
//! rows go to standard output as JSON lines. The `CREATE TABLE` weir inferred is printed on standard error,
//! to copy into a job. A column in fewer than 1 in 100 of the first records is left out (a malformed
//! record's); one missing or null in 1 in 100 or more is `NULL`-able.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use weir_jobs::sql::{ident, quoted};

/// How many records the column types are inferred from.
const SAMPLE: usize = 1000;

/// The event-time columns tried, in order, when `--event-time` is not given.
const EVENT_TIME_NAMES: [&str; 4] = ["ts", "timestamp", "event_time", "time"];

/// An inferred column type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Inferred {
    Bool,
    Int,
    Float,
    /// An RFC 3339 string.
    Timestamp,
    Text,
}

impl Inferred {
    fn sql(self) -> &'static str {
        match self {
            Inferred::Bool => "BOOLEAN",
            Inferred::Int => "BIGINT",
            Inferred::Float => "DOUBLE",
            Inferred::Timestamp => "TIMESTAMP(3)",
            Inferred::Text => "STRING",
        }
    }

    fn of_text(text: &str) -> Inferred {
        if text.parse::<i64>().is_ok() {
            Inferred::Int
        } else if text.parse::<f64>().is_ok_and(f64::is_finite) {
            Inferred::Float
        } else if text == "true" || text == "false" {
            Inferred::Bool
        } else if is_rfc3339(text) {
            Inferred::Timestamp
        } else {
            Inferred::Text
        }
    }
}

fn is_rfc3339(text: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

/// A column: how often each type was seen, and whether a record lacked it or held null.
#[derive(Debug, Default)]
struct Column {
    types: BTreeMap<Inferred, usize>,
    nullable: bool,
    seen: usize,
}

impl Column {
    /// The type most records have (integers and floats together are floats); a record of another type is
    /// a dead letter when the query runs, as a malformed one would be.
    fn ty(&self) -> Option<Inferred> {
        let mut types = self.types.clone();
        if let (Some(i), Some(f)) = (types.get(&Inferred::Int).copied(), types.get(&Inferred::Float).copied()) {
            types.remove(&Inferred::Int);
            types.insert(Inferred::Float, i + f);
        }
        types
            .into_iter()
            .max_by_key(|(t, n)| (*n, std::cmp::Reverse(*t)))
            .map(|(t, _)| t)
    }
}

/// The columns of `path` in first-seen order, inferred from its first records (malformed ones aside).
fn infer(path: &Path, csv: bool) -> Result<Vec<(String, Column)>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let mut order: Vec<String> = Vec::new();
    let mut columns: BTreeMap<String, Column> = BTreeMap::new();
    let mut records = 0;
    let mut note = |name: &str, ty: Option<Inferred>, order: &mut Vec<String>| {
        let c = columns.entry(name.to_string()).or_insert_with(|| {
            order.push(name.to_string());
            Column::default()
        });
        c.seen += 1;
        match ty {
            None => c.nullable = true,
            Some(t) => *c.types.entry(t).or_default() += 1,
        }
    };
    let header: Vec<String> = if csv {
        let h = lines.next().transpose()?.unwrap_or_default();
        h.split(',').map(|s| s.trim().to_string()).collect()
    } else {
        Vec::new()
    };
    for line in lines.take(SAMPLE) {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        if csv {
            for (name, value) in header.iter().zip(line.split(',')) {
                let v = value.trim();
                note(name, (!v.is_empty()).then(|| Inferred::of_text(v)), &mut order);
            }
        } else {
            let Ok(serde_json::Value::Object(object)) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue; // malformed: a dead letter when the query runs
            };
            for (name, v) in object {
                let ty = match &v {
                    serde_json::Value::Null => None,
                    serde_json::Value::Bool(_) => Some(Inferred::Bool),
                    serde_json::Value::Number(n) if n.is_i64() => Some(Inferred::Int),
                    serde_json::Value::Number(_) => Some(Inferred::Float),
                    serde_json::Value::String(s) if is_rfc3339(s) => Some(Inferred::Timestamp),
                    serde_json::Value::String(_) => Some(Inferred::Text),
                    _ => continue, // nested values: not a column weir reads
                };
                note(&name, ty, &mut order);
            }
        }
        records += 1;
    }
    if records == 0 {
        bail!("{} has no records to infer its columns from", path.display());
    }
    // A column in fewer than 1 in 100 records is taken for stray (a malformed record's) and left out; one
    // missing or null in 1 in 100 or more may be NULL.
    Ok(order
        .into_iter()
        .filter_map(|name| {
            let mut c = columns.remove(&name).expect("noted");
            if c.seen * 100 < records {
                return None;
            }
            let nulls = c.types.values().sum::<usize>();
            c.nullable = (records - nulls) * 100 >= records;
            Some((name, c))
        })
        .collect())
}

/// The `CREATE TABLE` of source `NAME=PATH`, inferred.
pub(crate) fn source_table(spec: &str, event_time: Option<&str>, lateness_s: u64) -> Result<String> {
    let (name, path) = spec
        .split_once('=')
        .context("--source NAME=PATH, e.g. --source vibration=data/vibration.jsonl")?;
    let csv = path.ends_with(".csv");
    let columns = infer(Path::new(path), csv)?;
    let et = match event_time {
        Some(e) => e.to_string(),
        None => EVENT_TIME_NAMES
            .iter()
            .find(|n| columns.iter().any(|(c, _)| c == *n))
            .map(|n| n.to_string())
            .with_context(|| {
                format!(
                    "{path}: no event-time column among {}; name one with --event-time COLUMN",
                    EVENT_TIME_NAMES.join(", ")
                )
            })?,
    };
    let mut lines = Vec::new();
    for (c, col) in &columns {
        let mut ty = col.ty().unwrap_or(Inferred::Text);
        if *c == et && ty == Inferred::Text {
            bail!("{path}: the event time `{et}` holds text that is neither epoch milliseconds nor RFC 3339");
        }
        if *c != et && ty == Inferred::Timestamp {
            ty = Inferred::Text;
        }
        let null = if col.nullable && *c != et { " NULL" } else { "" };
        lines.push(format!("{} {}{null}", ident(c), ty.sql()));
    }
    if !columns.iter().any(|(c, _)| *c == et) {
        bail!("{path}: no column `{et}` in its first records");
    }
    lines.push(format!(
        "WATERMARK FOR {e} AS {e} - INTERVAL '{lateness_s}' SECOND",
        e = ident(&et)
    ));
    let format = if csv { ", 'format' = 'csv'" } else { "" };
    Ok(format!(
        "CREATE TABLE {} (\n  {}\n) WITH ('connector' = 'file', 'path' = {}{format});",
        ident(name),
        lines.join(",\n  "),
        quoted(path)
    ))
}

/// The SQL job of a quick query over the given sources.
pub(crate) fn query_job(query: &str, tables: &[String]) -> String {
    format!(
        "{}\nCREATE TABLE weir_sql_rows WITH ('connector' = 'stdout');\n\
         CREATE TABLE dead_letters WITH ('connector' = 'null');\nINSERT INTO weir_sql_rows {};\n",
        tables.join("\n"),
        query.trim().trim_end_matches(';')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_types_nulls_and_the_event_time_are_inferred() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        std::fs::write(
            &path,
            "{\"id\":\"a\",\"n\":1,\"x\":1,\"at\":\"2026-11-21T08:00:00Z\",\"ok\":true}\n\
             not json\n{\"id\":\"b\",\"n\":2,\"x\":2.5,\"at\":\"2026-11-21T08:00:01Z\",\"ok\":null,\"tags\":[1]}\n",
        )
        .unwrap();
        let spec = format!("e={}", path.display());
        let table = source_table(&spec, Some("at"), 5).unwrap();
        for want in [
            "id STRING,",
            "n BIGINT,",
            "x DOUBLE,",
            "at TIMESTAMP(3),",
            "ok BOOLEAN NULL,",
            "WATERMARK FOR at AS at - INTERVAL '5' SECOND",
        ] {
            assert!(table.contains(want), "missing {want:?} in {table}");
        }
        assert!(!table.contains("tags"), "{table}");
        let err = source_table(&spec, None, 5).unwrap_err().to_string();
        assert!(err.contains("--event-time"), "{err}");
    }
}
