//! Typed, path-aware reading of one table of a job definition, collecting problems instead of stopping at
//! the first, and reporting keys nobody asked for as unknown (with the keys that are allowed there).

use super::Problem;
use std::cell::RefCell;
use std::collections::BTreeSet;

/// The problems found so far.
#[derive(Default)]
pub struct Problems(RefCell<Vec<Problem>>);

impl Problems {
    pub fn add(&self, path: &str, message: impl Into<String>) {
        self.0.borrow_mut().push(Problem {
            path: path.to_string(),
            message: message.into(),
        });
    }
    pub fn into_vec(self) -> Vec<Problem> {
        self.0.into_inner()
    }
    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }
}

fn type_name(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

/// One table being read.
pub struct Section<'a> {
    pub path: String,
    table: &'a toml::Table,
    problems: &'a Problems,
    used: RefCell<BTreeSet<String>>,
}

impl<'a> Section<'a> {
    pub fn new(path: impl Into<String>, table: &'a toml::Table, problems: &'a Problems) -> Self {
        Self {
            path: path.into(),
            table,
            problems,
            used: RefCell::default(),
        }
    }

    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn problem(&self, key: &str, message: impl Into<String>) {
        self.problems.add(&self.key_path(key), message);
    }

    fn get(&self, key: &str) -> Option<&'a toml::Value> {
        self.used.borrow_mut().insert(key.to_string());
        self.table.get(key)
    }

    pub fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    fn wrong(&self, key: &str, expected: &str, v: &toml::Value) {
        self.problem(key, format!("expected {expected}, found {}", type_name(v)));
    }

    pub fn str(&self, key: &str) -> Option<&'a str> {
        match self.get(key)? {
            toml::Value::String(s) => Some(s),
            v => {
                self.wrong(key, "a string", v);
                None
            }
        }
    }

    pub fn req_str(&self, key: &str) -> Option<&'a str> {
        if !self.has(key) {
            self.problem(key, "is required");
        }
        self.str(key)
    }

    /// A required local file or directory path. A URL (`s3://lake/raw`, `file:///x`, `hdfs://…`) is a
    /// problem: weir reads and writes local paths only, and would otherwise make a directory named `s3:`.
    pub fn req_local_path(&self, key: &str) -> Option<&'a str> {
        let path = self.req_str(key)?;
        self.local(key, path)
    }

    /// A required local path or object-storage URL (`s3://bucket/prefix`, `gs://…`, `az://…`, see
    /// [`crate::objects`]); any other URL is a problem.
    pub fn req_local_path_or_object_url(&self, key: &str) -> Option<&'a str> {
        let path = self.req_str(key)?;
        match crate::objects::is_object_url(path) {
            true => Some(path),
            false => self.local(key, path),
        }
    }

    /// `path` unless it is URL-shaped (see [`Section::req_local_path`]), which is a problem at `key`.
    pub fn local(&self, key: &str, path: &'a str) -> Option<&'a str> {
        match url_scheme(path) {
            Some(scheme) => {
                self.problem(
                    key,
                    format!(
                        "`{path}` is a URL ({scheme}://), but this reads and writes local paths only (of object \
                         storage, s3://, gs:// and az:// are written by the parquet and delta sinks): use a local \
                         path (a mounted bucket works)"
                    ),
                );
                None
            }
            None => Some(path),
        }
    }

    /// A whole number, also written as a string (so `${VAR:-4}` and SQL's `'rate' = '100'` work).
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            toml::Value::Integer(i) => Some(*i),
            toml::Value::String(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse().ok(),
            v => {
                self.wrong(key, "an integer", v);
                None
            }
        }
    }

    /// A whole number at least `min`.
    pub fn count(&self, key: &str, min: i64) -> Option<u64> {
        let i = self.int(key)?;
        if i < min {
            self.problem(key, format!("must be at least {min}, found {i}"));
            return None;
        }
        Some(i as u64)
    }

    /// A size in bytes: a whole number, or a string with a unit (`"16MiB"`, `"1GiB"`, `"512KiB"`, `"100MB"`).
    pub fn bytes(&self, key: &str) -> Option<u64> {
        let v = self.get(key)?;
        let parsed = match v {
            toml::Value::Integer(i) if *i > 0 => Some(*i as u64),
            toml::Value::String(t) => {
                let t = t.trim();
                let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
                let (n, unit) = (t[..split].parse::<u64>().ok(), t[split..].trim());
                let scale = match unit {
                    "" | "B" => Some(1),
                    "KiB" => Some(1 << 10),
                    "MiB" => Some(1 << 20),
                    "GiB" => Some(1 << 30),
                    "kB" | "KB" => Some(1_000),
                    "MB" => Some(1_000_000),
                    "GB" => Some(1_000_000_000),
                    _ => None,
                };
                n.zip(scale).and_then(|(n, s)| n.checked_mul(s)).filter(|n| *n > 0)
            }
            _ => None,
        };
        if parsed.is_none() {
            self.wrong(key, "a positive size in bytes, e.g. 1048576 or \"16MiB\", \"1GiB\"", v);
        }
        parsed
    }

    /// `true`/`false`, also written as a string (so `${VAR:-false}` works).
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            toml::Value::Boolean(b) => Some(*b),
            toml::Value::String(s) if s == "true" || s == "false" => Some(s == "true"),
            v => {
                self.wrong(key, "true or false", v);
                None
            }
        }
    }

    /// A table of settings whose values are passed on as strings (e.g. librdkafka `properties`).
    pub fn string_map(&self, key: &str) -> Vec<(String, String)> {
        let Some(t) = self.table(key) else { return Vec::new() };
        t.entries()
            .filter_map(|(k, v)| match v {
                toml::Value::String(s) => Some((k.clone(), s.clone())),
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                    Some((k.clone(), v.to_string()))
                }
                other => {
                    t.wrong(k, "a string, number or boolean", other);
                    None
                }
            })
            .collect()
    }

    /// A number, also written as a string (see [`Section::int`]).
    pub fn float(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            toml::Value::Integer(i) => Some(*i as f64),
            toml::Value::Float(f) => Some(*f),
            toml::Value::String(s) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => s.trim().parse().ok(),
            v => {
                self.wrong(key, "a number", v);
                None
            }
        }
    }

    /// A duration written as a string: `"30s"`, `"10m"`, `"1h"`, `"250ms"`, `"1h 30m"`; in milliseconds.
    pub fn duration_ms(&self, key: &str) -> Option<i64> {
        let s = self.str(key)?;
        match humantime::parse_duration(s) {
            Ok(d) => Some(d.as_millis() as i64),
            Err(e) => {
                self.problem(
                    key,
                    format!("\"{s}\" is not a duration ({e}); write e.g. \"250ms\", \"30s\", \"10m\", \"1h\""),
                );
                None
            }
        }
    }

    /// A duration written as a string (see [`Section::duration_ms`]).
    pub fn duration(&self, key: &str) -> Option<std::time::Duration> {
        self.duration_ms(key)
            .map(|ms| std::time::Duration::from_millis(ms as u64))
    }

    /// A list of strings; a single string counts as a list of one.
    pub fn str_list(&self, key: &str) -> Option<Vec<&'a str>> {
        match self.get(key)? {
            toml::Value::String(s) => Some(vec![s.as_str()]),
            toml::Value::Array(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item {
                        toml::Value::String(s) => out.push(s.as_str()),
                        v => self.problems.add(
                            &format!("{}[{i}]", self.key_path(key)),
                            format!("expected a string, found {}", type_name(v)),
                        ),
                    }
                }
                Some(out)
            }
            v => {
                self.wrong(key, "a list of strings", v);
                None
            }
        }
    }

    pub fn table(&self, key: &str) -> Option<Section<'a>> {
        match self.get(key)? {
            toml::Value::Table(t) => Some(Section::new(self.key_path(key), t, self.problems)),
            v => {
                self.wrong(key, "a table", v);
                None
            }
        }
    }

    /// The raw value, for keys with several accepted shapes.
    pub fn value(&self, key: &str) -> Option<&'a toml::Value> {
        self.get(key)
    }

    /// The entries of this table, in file order.
    pub fn entries(&self) -> impl Iterator<Item = (&'a String, &'a toml::Value)> {
        self.table.iter()
    }

    /// Reports every key that was not read, with the allowed ones.
    pub fn finish(&self, allowed_note: &str) {
        let used = self.used.borrow();
        let mut allowed: Vec<&String> = used.iter().collect();
        allowed.sort();
        for k in self.table.keys() {
            if !used.contains(k) {
                let list: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
                let near = super::did_you_mean(k, list.iter().copied());
                self.problem(
                    k,
                    format!("unknown key{near}; allowed here: {}{allowed_note}", list.join(", ")),
                );
            }
        }
    }
}

/// The scheme of a URL-shaped string (`s3` of `s3://lake/raw`), if it is one.
pub fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let starts = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (starts && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))).then_some(scheme)
}
