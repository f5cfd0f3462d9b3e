//! SQL job definitions (DESIGN §10): a `.sql` file's statements become the same job table a TOML file is
//! read into — `[sources.NAME]`, `[operators.NAME]`, `[sinks.NAME]` with the kinds' own keys — so the
//! planner, its checks, `--set` overrides, `${VAR}` interpolation and the plan are the ones a TOML job gets.
//!
//! - `CREATE TABLE name (cols…, WATERMARK FOR ts AS ts - INTERVAL '30' SECOND) WITH ('connector' = 'KIND',
//!   …)`: a source; the options are the kind's keys, the columns its schema (`NULL`: may be missing).
//! - `CREATE TABLE name (cols…, PRIMARY KEY (k) NOT ENFORCED [, WATERMARK FOR v AS …]) WITH (…)`: a
//!   reference table ([`create`]), read by a temporal join ([`join`]).
//! - `CREATE TABLE name WITH ('connector' = 'KIND', …)` that an `INSERT INTO` writes: a sink.
//! - `CREATE VIEW name AS query` and `INSERT INTO sink query`: `WHERE` is a `filter`, a projection a
//!   `derive`, `UNION ALL` a `union`, `TUMBLE`/`HOP`/`SESSION` with `GROUP BY window_start, window_end,
//!   keys` a `window` ([`window`]) with the aggregates of [`aggregates`] (`ALLOWED_LATENESS => INTERVAL …`
//!   its allowed lateness); `ALERT`/`DEADLINE`/`ABSENCE`/`LATEST` table functions weir's own operators
//!   ([`rules`]); `FROM name.late` / `name.dead_letters` read a node's side streams.
//!
//! - `SET job.KEY = 'value'`, `SET serve.KEY = 'value'`: the `[job]` settings (`name`, `workers`,
//!   `dead_letters`, …) and `[serve]`.
//!
//! Problems name `line L, column C` of the file; every problem is reported at once.

mod aggregates;
mod create;
mod dialect;
mod emit;
mod join;
mod rules;
mod translate;
mod tvf;
mod watermark;
mod window;

use crate::definition::Problem;

/// The job table of a SQL job definition, or every problem with it. The job is named `default_name` (the
/// file's stem) unless a `SET job.name = '…'` says otherwise.
pub fn job_table(text: &str, default_name: &str) -> Result<toml::Table, Vec<Problem>> {
    translate::translate(text, default_name)
}

/// Names the SQL line and column of problems found after translation (by the planner, which names key
/// paths): `sources.v.kind: …` becomes `line 1, column 60 (sources.v.kind): …`, from the nearest key path
/// the translation recorded.
pub fn locate(text: &str, default_name: &str, problems: &mut [Problem]) {
    let Ok((_, spans)) = translate::translate_with_spans(text, default_name) else {
        return;
    };
    for p in problems.iter_mut() {
        // Say in SQL what TOML's messages say in TOML.
        if p.message.starts_with("malformed and late records need somewhere to go") {
            p.message = "malformed and late records need somewhere to go: add CREATE TABLE dead_letters WITH \
                         ('connector' = 'jsonl', 'path' = 'dead_letters.jsonl'), or SET job.dead_letters = 'SINK' \
                         naming another sink table"
                .to_string();
        }
        let mut key = p.path.as_str();
        loop {
            if let Some(l) = spans.get(key) {
                p.path = format!("line {}, column {} ({})", l.line, l.column, p.path);
                break;
            }
            match key.rfind('.') {
                Some(i) => key = &key[..i],
                None => break,
            }
        }
    }
}

pub use emit::job_sql;

/// A name as a SQL identifier in SQL that weir writes (quoted when it is not a plain lower-case word).
pub fn ident(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A SQL string literal.
pub fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests;
