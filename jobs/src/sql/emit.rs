//! `weir explain JOB --format sql`: a job's definition written as a SQL job that plans to the identical
//! graph (DESIGN §10, both ways). The options come from the definition as written — `${VAR}` references
//! stay — and the columns, event times and watermark delays from its plan (so built-in schemas such as
//! `schema = "locations"` are spelt out).
//!
//! What has no SQL form yet (a join's `history`, a list-valued connector option, a duration or window size
//! given through `${VAR}` where SQL needs an `INTERVAL`) is reported, naming the key, instead of printing a
//! job that would plan differently.

use std::collections::HashMap;
use std::fmt::Write as _;

use toml::Value as Toml;
use weir_engine::plan::Plan;
use weir_engine::schema::{FieldType, Schema};

use super::aggregates::ONE_ARGUMENT;
use super::window::{ARRIVAL, WINDOW_TIME};
use super::{ident, quoted};

/// The SQL text of the job whose definition (uninterpolated) is `table` and whose plan is `plan`, or what
/// cannot be said in SQL, each naming its key path.
pub fn job_sql(table: &toml::Table, plan: &Plan) -> Result<String, Vec<String>> {
    let mut e = Emitter {
        out: String::new(),
        problems: Vec::new(),
        event_time: HashMap::new(),
        latest_tables: plan
            .tables
            .iter()
            .filter(|t| t.lookup_latest)
            .map(|t| t.name.clone())
            .collect(),
    };
    e.settings(table, "job");
    e.settings(table, "serve");
    for s in &plan.sources {
        e.event_time
            .insert(s.name.clone(), s.schema.event_time_name().to_string());
        let section = section(table, "sources", &s.name);
        e.create_table(&s.name, &section, &s.schema, None, Some(s.max_out_of_orderness_ms));
    }
    for t in &plan.tables {
        let section = section(table, "tables", &t.name);
        let key: Vec<String> = t.key.iter().map(|k| t.schema.fields[*k].name.clone()).collect();
        let version = t.version.map(|v| t.schema.fields[v].name.clone());
        let delay = version.as_ref().map(|_| t.max_out_of_orderness_ms);
        e.create_table(&t.name, &section, &t.schema, Some((key, version)), delay);
    }
    for op in &plan.operators {
        let section = section(table, "operators", &op.name);
        // The inputs as written (a join's second is its table, which is no stream of the plan).
        let inputs: Vec<String> = list(section.get("inputs")).iter().map(|s| s.to_string()).collect();
        let input_schema = op.inputs.first().map(|r| plan.schema_of(*r));
        e.operator(&op.name, &section, &inputs, input_schema.as_ref());
        e.event_time
            .insert(op.name.clone(), op.schema.event_time_name().to_string());
    }
    let mut inserts = String::new();
    for s in &plan.sinks {
        let section = section(table, "sinks", &s.name);
        // An upserting sink: Flink's PRIMARY KEY on the sink table.
        let upsert = section.get("mode").and_then(|m| m.as_str()) == Some("upsert");
        let skip: &[&str] = if upsert {
            &["kind", "inputs", "mode", "key"]
        } else {
            &["kind", "inputs"]
        };
        let with = e.with_options(&format!("sinks.{}", s.name), &section, skip);
        let key: Vec<String> = list(section.get("key")).iter().map(|k| ident(k)).collect();
        let columns = if upsert {
            format!(" (PRIMARY KEY ({}) NOT ENFORCED)", key.join(", "))
        } else {
            String::new()
        };
        let _ = writeln!(e.out, "\nCREATE TABLE {}{columns} WITH ({with});", ident(&s.name));
        // The inputs as written: the dead-letter sink's plan also reads every side stream no sink lists.
        for input in list(section.get("inputs")) {
            let _ = writeln!(inserts, "INSERT INTO {} SELECT * FROM {input};", ident(&s.name));
        }
    }
    if !inserts.is_empty() {
        e.out.push('\n');
        e.out.push_str(&inserts);
    }
    if e.problems.is_empty() {
        Ok(e.out)
    } else {
        Err(e.problems)
    }
}

struct Emitter {
    out: String,
    problems: Vec<String>,
    /// Each stream's event-time column, as the translation names it.
    event_time: HashMap<String, String>,
    /// The tables with `lookup = "latest"` (joined `AS OF PROCTIME()`).
    latest_tables: Vec<String>,
}

/// The section `[kind.name]` of the definition (empty if absent).
fn section(table: &toml::Table, kind: &str, name: &str) -> toml::Table {
    table
        .get(kind)
        .and_then(|t| t.get(name))
        .and_then(|t| t.as_table())
        .cloned()
        .unwrap_or_default()
}

/// `INTERVAL 'n' UNIT` for a number of milliseconds, in the largest unit that divides it.
fn interval(ms: i64) -> String {
    for (unit, per) in [
        ("DAY", 86_400_000),
        ("HOUR", 3_600_000),
        ("MINUTE", 60_000),
        ("SECOND", 1_000),
    ] {
        if ms != 0 && ms % per == 0 {
            return format!("INTERVAL '{}' {unit}", ms / per);
        }
    }
    format!("INTERVAL '{ms}' MILLISECOND")
}

/// A literal duration's milliseconds (`"30s"`, `"1h"`); `None` for anything else (`${VAR}` included).
fn duration_ms(v: &Toml) -> Option<i64> {
    let s = v.as_str()?;
    if s.contains("${") {
        return None;
    }
    humantime::parse_duration(s.trim()).ok().map(|d| d.as_millis() as i64)
}

/// The column type of a field.
fn column_type(f: &weir_engine::schema::Field) -> Option<String> {
    let base = match &f.ty {
        FieldType::Int => "BIGINT".to_string(),
        FieldType::Float => "DOUBLE".to_string(),
        FieldType::String => "STRING".to_string(),
        FieldType::Bool => "BOOLEAN".to_string(),
        FieldType::Timestamp => "TIMESTAMP(3)".to_string(),
        FieldType::Enum(values) if !f.nullable => {
            let values: Vec<String> = values.iter().map(|v| quoted(v)).collect();
            return Some(format!("STRING CHECK ({} IN ({}))", ident(&f.name), values.join(", ")));
        }
        FieldType::Enum(_) | FieldType::Sketch => return None,
    };
    Some(if f.nullable { format!("{base} NULL") } else { base })
}

/// The weir conditions of the rule kinds (written as SQL expressions, not strings).
const CONDITIONS: [&str; 5] = ["when", "start", "done", "of", "until"];

impl Emitter {
    /// `SET section.key = value` for every setting of `[job]` / `[serve]` (nested tables as dotted keys).
    fn settings(&mut self, table: &toml::Table, name: &str) {
        let Some(Toml::Table(t)) = table.get(name) else { return };
        let mut lines = Vec::new();
        flatten(name, t, &mut lines);
        for (key, v) in lines {
            match v {
                Toml::String(s) => self.line(format!("SET {key} = {};", quoted(&s))),
                Toml::Integer(_) | Toml::Float(_) => self.line(format!("SET {key} = {v};")),
                Toml::Boolean(b) => self.line(format!("SET {key} = {};", if b { "TRUE" } else { "FALSE" })),
                _ => self.problems.push(format!("{key}: a list has no SQL form yet")),
            }
        }
    }

    fn line(&mut self, l: String) {
        self.out.push_str(&l);
        self.out.push('\n');
    }

    /// The `WITH (…)` options of a section: `'connector'` for its kind, then every other key but `skip`
    /// (nested tables as `'table.key'`, values as strings).
    fn with_options(&mut self, path: &str, section: &toml::Table, skip: &[&str]) -> String {
        let mut options = Vec::new();
        if let Some(kind) = section.get("kind").and_then(|k| k.as_str()) {
            options.push(format!("'connector' = {}", quoted(kind)));
        }
        for (k, v) in section {
            if k == "kind" || skip.contains(&k.as_str()) {
                continue;
            }
            let mut flat = Vec::new();
            match v {
                Toml::Table(t) => flatten(k, t, &mut flat),
                other => flat.push((k.clone(), other.clone())),
            }
            for (key, v) in flat {
                match v {
                    Toml::String(s) => options.push(format!("{} = {}", quoted(&key), quoted(&s))),
                    Toml::Integer(_) | Toml::Float(_) | Toml::Boolean(_) => {
                        options.push(format!("{} = {}", quoted(&key), quoted(&v.to_string())))
                    }
                    Toml::Array(items) if items.len() == 1 && items[0].is_str() => options.push(format!(
                        "{} = {}",
                        quoted(&key),
                        quoted(items[0].as_str().unwrap_or(""))
                    )),
                    _ => self
                        .problems
                        .push(format!("{path}.{key}: a list of several values has no SQL form yet")),
                }
            }
        }
        options.join(", ")
    }

    /// `CREATE TABLE` for a source (`key` None) or a reference table (`key` and its version column).
    fn create_table(
        &mut self,
        name: &str,
        section: &toml::Table,
        schema: &Schema,
        key: Option<(Vec<String>, Option<String>)>,
        delay_ms: Option<i64>,
    ) {
        let role = if key.is_some() { "tables" } else { "sources" };
        let mut columns = Vec::new();
        for f in &schema.fields {
            match column_type(f) {
                Some(ty) => columns.push(format!("{} {ty}", ident(&f.name))),
                None => self.problems.push(format!(
                    "{role}.{name}.schema.{}: a {:?} column has no SQL type",
                    f.name, f.ty
                )),
            }
        }
        let watermark_column = match &key {
            None => Some(schema.event_time_name().to_string()),
            Some((k, version)) => {
                let k: Vec<String> = k.iter().map(|c| ident(c)).collect();
                columns.push(format!("PRIMARY KEY ({}) NOT ENFORCED", k.join(", ")));
                version.clone()
            }
        };
        if let (Some(c), Some(ms)) = (watermark_column, delay_ms) {
            let c = ident(&c);
            columns.push(if ms == 0 {
                format!("WATERMARK FOR {c} AS {c}")
            } else {
                format!("WATERMARK FOR {c} AS {c} - {}", interval(ms))
            });
        }
        let skip = ["schema", "event_time", "max_out_of_orderness", "key", "version"];
        let with = self.with_options(&format!("{role}.{name}"), section, &skip);
        let _ = writeln!(
            self.out,
            "\nCREATE TABLE {} (\n  {}\n) WITH ({with});",
            ident(name),
            columns.join(",\n  ")
        );
    }

    /// `CREATE VIEW name AS …` for an operator of the kinds SQL has a form for.
    fn operator(&mut self, name: &str, section: &toml::Table, inputs: &[String], input: Option<&Schema>) {
        let kind = section.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        let path = format!("operators.{name}");
        let first = inputs.first().cloned().unwrap_or_default();
        let query = match kind {
            "filter" => {
                let cond = section.get("where").and_then(|w| w.as_str()).unwrap_or("TRUE");
                format!("SELECT * FROM {first} WHERE {cond}")
            }
            "union" => inputs
                .iter()
                .map(|i| format!("SELECT * FROM {i}"))
                .collect::<Vec<_>>()
                .join(" UNION ALL "),
            "derive" => self.derive(section, &first, input),
            "window" => self.window(&path, section, &first),
            "alert" | "deadline" | "absence" | "latest" => self.rule(&path, kind, section, &first),
            "join" => self.join(&path, section, inputs),
            other => {
                self.problems
                    .push(format!("{path}: kind \"{other}\" has no SQL form yet"));
                return;
            }
        };
        let _ = writeln!(self.out, "\nCREATE VIEW {} AS\n{query};", ident(name));
    }

    fn derive(&mut self, section: &toml::Table, input: &str, schema: Option<&Schema>) -> String {
        let computed = section
            .get("fields")
            .and_then(|f| f.as_table())
            .cloned()
            .unwrap_or_default();
        let drop: Vec<&str> = list(section.get("drop"));
        let columns: Vec<String> = schema
            .map(|s| s.fields.iter().map(|f| f.name.clone()).collect())
            .unwrap_or_default();
        let mut items = Vec::new();
        for c in columns.iter().filter(|c| !drop.contains(&c.as_str())) {
            match computed.get(c).and_then(|e| e.as_str()) {
                Some(expr) => items.push(format!("{expr} AS {}", ident(c))),
                None => items.push(ident(c)),
            }
        }
        for (c, expr) in computed.iter().filter(|(c, _)| !columns.contains(c)) {
            items.push(format!("{} AS {}", expr.as_str().unwrap_or("NULL"), ident(c)));
        }
        format!("SELECT {}\nFROM {input}", items.join(",\n       "))
    }

    fn window(&mut self, path: &str, section: &toml::Table, input: &str) -> String {
        let w = section
            .get("window")
            .and_then(|w| w.as_table())
            .cloned()
            .unwrap_or_default();
        let size = |key: &str, me: &mut Self| match w.get(key).and_then(duration_ms) {
            Some(ms) => interval(ms),
            None => {
                me.problems.push(format!(
                    "{path}.window.{key}: SQL needs a literal duration here (INTERVAL)"
                ));
                String::new()
            }
        };
        let keys: Vec<&str> = list(section.get("key"));
        let kind = w.get("kind").and_then(|k| k.as_str()).unwrap_or("tumbling");
        let descriptor = format!("DESCRIPTOR({})", self.time_of(input));
        let (function, shape) = match kind {
            "tumbling" => ("TUMBLE", format!("TABLE {input}, {descriptor}, {}", size("size", self))),
            "hopping" => (
                "HOP",
                format!(
                    "TABLE {input}, {descriptor}, {}, {}",
                    size("slide", self),
                    size("size", self)
                ),
            ),
            "session" => {
                let partition = partition_by(&keys);
                (
                    "SESSION",
                    format!("TABLE {input}{partition}, {descriptor}, {}", size("gap", self)),
                )
            }
            other => {
                self.problems
                    .push(format!("{path}.window.kind: \"{other}\" has no SQL form"));
                ("TUMBLE", String::new())
            }
        };
        let mut args = vec![shape];
        for (k, v) in w.iter().filter(|(k, _)| *k == "offset" || *k == "time_zone") {
            args.push(format!("{} => {}", k.to_ascii_uppercase(), self.argument(path, k, v)));
        }
        for (k, v) in section {
            if ["kind", "inputs", "window", "key", "carry", "aggregates"].contains(&k.as_str()) {
                continue;
            }
            args.push(format!("{} => {}", k.to_ascii_uppercase(), self.argument(path, k, v)));
        }
        // Keys: a field, or `EXPR AS name` (a computed key: selected under its name, grouped by EXPR).
        let mut columns: Vec<String> = vec!["window_start".into(), "window_end".into()];
        let mut group = columns.clone();
        for k in &keys {
            let lower = k.to_ascii_lowercase();
            match lower.rfind(" as ") {
                Some(at) => {
                    let (e, name) = (k[..at].trim(), k[at + 4..].trim());
                    columns.push(format!("{e} AS {}", ident(name)));
                    group.push(e.to_string());
                }
                None => {
                    columns.push(ident(k));
                    group.push(ident(k));
                }
            }
        }
        columns.extend(list(section.get("carry")).iter().map(|c| ident(c)));
        if let Some(Toml::Table(aggs)) = section.get("aggregates") {
            for (name, spec) in aggs {
                let (text, filter) = match spec {
                    Toml::Table(t) => (
                        t.get("of").and_then(|o| o.as_str()),
                        t.get("where").and_then(|w| w.as_str()),
                    ),
                    other => (other.as_str(), None),
                };
                match (text.and_then(sql_aggregate), filter) {
                    (Some(sql), None) => columns.push(format!("{sql} AS {}", ident(name))),
                    (Some(sql), Some(cond)) if !sql.contains(" FILTER ") => {
                        columns.push(format!("{sql} FILTER (WHERE {cond}) AS {}", ident(name)))
                    }
                    _ => self
                        .problems
                        .push(format!("{path}.aggregates.{name}: no SQL form for {spec}")),
                }
            }
        }
        format!(
            "SELECT {}\nFROM TABLE({function}({}))\nGROUP BY {}",
            columns.join(",\n       "),
            args.join(", "),
            group.join(", ")
        )
    }

    fn rule(&mut self, path: &str, kind: &str, section: &toml::Table, input: &str) -> String {
        let keys: Vec<&str> = list(section.get("key"));
        let partition = partition_by(&keys);
        let mut args = vec![format!("TABLE {input}{partition}")];
        for (k, v) in section {
            if ["kind", "inputs", "key", "fields"].contains(&k.as_str()) {
                continue;
            }
            args.push(format!("{} => {}", k, self.argument(path, k, v)));
        }
        let projection = if kind == "latest" {
            "*".to_string()
        } else {
            let fields = match section.get("fields") {
                Some(f) => list(Some(f)),
                None => keys.clone(),
            };
            if fields.is_empty() {
                self.problems
                    .push(format!("{path}.fields: an alert without fields has no SQL form"));
            }
            fields.iter().map(|f| ident(f)).collect::<Vec<_>>().join(", ")
        };
        format!(
            "SELECT {projection}\nFROM TABLE({}({}))",
            kind.to_ascii_uppercase(),
            args.join(",\n  ")
        )
    }

    fn join(&mut self, path: &str, section: &toml::Table, inputs: &[String]) -> String {
        if section.contains_key("history") {
            self.problems.push(format!("{path}.history: has no SQL form yet"));
        }
        let (stream, table) = (
            inputs.first().cloned().unwrap_or_default(),
            inputs.get(1).cloned().unwrap_or_default(),
        );
        // `on`: a field, a list of them, or { stream = …, table = … } with a field or a list each.
        let (on_stream, on_table) = match section.get("on") {
            Some(Toml::Table(t)) => (list(t.get("stream")), list(t.get("table"))),
            on => (list(on), list(on)),
        };
        let on: Vec<String> = on_stream
            .iter()
            .zip(&on_table)
            .map(|(x, k)| format!("s.{} = t.{}", ident(x), ident(k)))
            .collect();
        let projection = match section.get("fields") {
            None => "*".to_string(),
            Some(f) => {
                let mut items = vec!["s.*".to_string()];
                for field in list(Some(f)) {
                    let parts: Vec<&str> = field.split_whitespace().collect();
                    items.push(match parts.as_slice() {
                        [c, as_, alias] if as_.eq_ignore_ascii_case("as") => {
                            format!("t.{} AS {}", ident(c), ident(alias))
                        }
                        _ => format!("t.{}", ident(field)),
                    });
                }
                items.join(", ")
            }
        };
        let join = match section.get("mode").and_then(|m| m.as_str()) {
            Some("inner") => "JOIN",
            _ => "LEFT JOIN",
        };
        let as_of = if self.latest_tables.contains(&table) {
            "PROCTIME()".to_string()
        } else {
            format!("s.{}", self.time_of(&stream))
        };
        format!(
            "SELECT {projection}\nFROM {stream} AS s\n{join} {table} FOR SYSTEM_TIME AS OF {as_of} AS t ON {}",
            on.join(" AND ")
        )
    }

    /// The `DESCRIPTOR` column of a stream: its event time as the translation names it.
    fn time_of(&self, stream: &str) -> String {
        if stream.ends_with(".late") || stream.ends_with(".dead_letters") {
            return ARRIVAL.to_string();
        }
        self.event_time
            .get(stream)
            .cloned()
            .unwrap_or_else(|| WINDOW_TIME.to_string())
    }

    /// A named argument's value: a condition as an expression, a literal duration as an `INTERVAL`, a
    /// `terminal` table as `field IN (…)`, anything else a literal.
    fn argument(&mut self, path: &str, key: &str, v: &Toml) -> String {
        if CONDITIONS.contains(&key) {
            if let Some(cond) = v.as_str() {
                return cond.to_string();
            }
        }
        if let Some(ms) = duration_ms(v) {
            return interval(ms);
        }
        match v {
            Toml::String(s) => quoted(s),
            Toml::Integer(_) | Toml::Float(_) => v.to_string(),
            Toml::Boolean(b) => (if *b { "TRUE" } else { "FALSE" }).to_string(),
            Toml::Table(t) if key == "terminal" => {
                let field = t.get("field").and_then(|f| f.as_str()).unwrap_or("");
                let values: Vec<String> = list(t.get("values")).iter().map(|v| quoted(v)).collect();
                format!("{} IN ({})", ident(field), values.join(", "))
            }
            _ => {
                self.problems.push(format!("{path}.{key}: has no SQL form yet"));
                "NULL".to_string()
            }
        }
    }
}

/// ` PARTITION BY k` / ` PARTITION BY (k1, k2)` of a TVF's table argument (nothing without keys).
fn partition_by(keys: &[&str]) -> String {
    match keys {
        [] => String::new(),
        [one] => format!(" PARTITION BY {}", ident(one)),
        many => format!(
            " PARTITION BY ({})",
            many.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A string or a list of strings, as a list.
fn list(v: Option<&Toml>) -> Vec<&str> {
    match v {
        Some(Toml::String(s)) => vec![s.as_str()],
        Some(Toml::Array(items)) => items.iter().filter_map(|i| i.as_str()).collect(),
        _ => Vec::new(),
    }
}

/// `[a.b] c = v` as `("a.b.c", v)`, depth first.
fn flatten(prefix: &str, t: &toml::Table, out: &mut Vec<(String, Toml)>) {
    for (k, v) in t {
        let key = format!("{prefix}.{k}");
        match v {
            Toml::Table(inner) => flatten(&key, inner, out),
            other => out.push((key, other.clone())),
        }
    }
}

/// A weir aggregate expression (`count`, `count_if(c)`, `quantile(x, q)`, …) as its SQL aggregate call.
fn sql_aggregate(text: &str) -> Option<String> {
    let text = text.trim();
    if text == "count" {
        return Some("COUNT(*)".into());
    }
    let (name, rest) = text.split_once('(')?;
    let args = rest.strip_suffix(')')?.trim();
    Some(match name.trim() {
        "count_if" => format!("COUNT(*) FILTER (WHERE {args})"),
        "quantile" => format!("APPROX_PERCENTILE({args})"),
        weir => {
            let (sql, _) = ONE_ARGUMENT.iter().find(|(_, w)| *w == weir)?;
            format!("{sql}({args})")
        }
    })
}
