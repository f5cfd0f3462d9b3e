//! The statements of a SQL job → its job table (see the module doc of [`super`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlparser::ast::{
    Expr, GroupByExpr, Ident, ObjectName, Query, Select, SelectItem, SetExpr, SetOperator, SetQuantifier, Spanned,
    Statement, TableFactor, TableObject, Value,
};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Span};
use toml::Value as Toml;

use super::dialect::WeirDialect;
use super::join::RefTable;
use super::tvf::TvfCall;
use super::watermark::{take_watermarks, Watermark};
use super::window::ARRIVAL;
use crate::definition::Problem;

/// The job table of `text`, or every problem with it.
pub fn translate(text: &str, default_name: &str) -> Result<toml::Table, Vec<Problem>> {
    let (table, _) = translate_with_spans(text, default_name)?;
    Ok(table)
}

/// Where in the SQL text each section and option of the job table came from, by key path
/// (`sources.vibration`, `sources.vibration.path`, `operators.hourly`).
pub type Spans = BTreeMap<String, Location>;

/// [`translate`], and where each key path came from.
pub fn translate_with_spans(text: &str, default_name: &str) -> Result<(toml::Table, Spans), Vec<Problem>> {
    let at_start = |message: String| {
        vec![Problem {
            path: String::new(),
            message,
        }]
    };
    let (clean, watermarks) = take_watermarks(text).map_err(|e| at_start(format!("not valid SQL: {e}")))?;
    let statements = Parser::new(&WeirDialect::default())
        .try_with_sql(&clean)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| at_start(format!("not valid SQL: {e}")))?;
    let mut t = Translator {
        watermarks,
        ..Translator::default()
    };
    t.job.insert("name".into(), string(default_name));
    for st in &statements {
        if let Statement::Insert(insert) = st {
            if let TableObject::TableName(name) = &insert.table {
                t.insert_targets.insert(plain(name));
            }
        }
    }
    for st in &statements {
        t.statement(st);
    }
    let spans = std::mem::take(&mut t.spans);
    t.finish().map(|table| (table, spans))
}

/// What the statements so far have declared.
#[derive(Default)]
pub(super) struct Translator {
    pub(super) watermarks: Vec<Watermark>,
    /// Tables an `INSERT INTO` writes: sinks.
    pub(super) insert_targets: BTreeSet<String>,
    /// `[job]`: the name, and what `SET job.KEY = …` says.
    pub(super) job: toml::Table,
    pub(super) sources: toml::Table,
    /// `[tables]`: reference tables (`PRIMARY KEY … NOT ENFORCED`).
    pub(super) tables: toml::Table,
    /// Reference tables by name, for joins.
    pub(super) tables_by_name: HashMap<String, RefTable>,
    /// `[serve]`: what `SET serve.KEY = …` says.
    pub(super) serve: toml::Table,
    pub(super) operators: toml::Table,
    pub(super) sinks: toml::Table,
    /// Every stream's fields, in order (sources, views, generated operators).
    pub(super) fields: HashMap<String, Vec<String>>,
    /// A stream's event-time column (`window_start` for window rows, [`ARRIVAL`] for side streams).
    pub(super) event_time: HashMap<String, String>,
    /// Views that are another stream under a new name (`CREATE VIEW v AS SELECT * FROM s`).
    pub(super) aliases: HashMap<String, String>,
    /// Per sink, the streams inserted into it.
    pub(super) inserts: BTreeMap<String, Vec<String>>,
    pub(super) problems: Vec<Problem>,
    pub(super) spans: Spans,
    /// Where the statement being read starts (what its operators are attributed to).
    pub(super) here: Option<Location>,
}

/// `line L, column C` of a location, as problems name it.
pub(super) fn at(l: Location) -> String {
    format!("line {}, column {}", l.line, l.column)
}

pub(super) fn plain(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|p| p.as_ident().map_or_else(|| p.to_string(), |i| i.value.clone()))
        .collect::<Vec<_>>()
        .join(".")
}

pub(super) fn string(s: &str) -> Toml {
    Toml::String(s.to_string())
}

pub(super) fn list(items: &[String]) -> Toml {
    Toml::Array(items.iter().map(|s| string(s)).collect())
}

/// A duration for the kinds' options (`"30000ms"`: exact).
pub(super) fn duration(ms: i64) -> Toml {
    Toml::String(format!("{ms}ms"))
}

impl Translator {
    pub(super) fn problem(&mut self, span: Span, message: impl Into<String>) {
        self.problems.push(Problem {
            path: at(span.start),
            message: message.into(),
        });
    }

    fn finish(mut self) -> Result<toml::Table, Vec<Problem>> {
        for (sink, streams) in std::mem::take(&mut self.inserts) {
            if let Some(Toml::Table(s)) = self.sinks.get_mut(&sink) {
                s.insert("inputs".into(), list(&streams));
            }
        }
        if !self.problems.is_empty() {
            return Err(self.problems);
        }
        let mut job = toml::Table::new();
        job.insert("job".into(), Toml::Table(self.job));
        for (key, section) in [
            ("serve", self.serve),
            ("sources", self.sources),
            ("tables", self.tables),
            ("operators", self.operators),
            ("sinks", self.sinks),
        ] {
            if !section.is_empty() {
                job.insert(key.into(), Toml::Table(section));
            }
        }
        Ok(job)
    }

    fn statement(&mut self, st: &Statement) {
        self.here = Some(st.span().start);
        match st {
            Statement::CreateTable(ct) => self.create_table(ct),
            Statement::CreateView(v) => {
                let name = plain(&v.name);
                if let Some(stream) = self.query(&v.query, &name) {
                    if stream != name {
                        let fields = self.fields.get(&stream).cloned().unwrap_or_default();
                        self.aliases.insert(name.clone(), stream);
                        self.fields.insert(name, fields);
                    }
                }
            }
            Statement::Insert(insert) => {
                let TableObject::TableName(target) = &insert.table else {
                    return self.problem(
                        st.span(),
                        "INSERT INTO a table declared with CREATE TABLE … WITH ('connector' = …)",
                    );
                };
                let sink = plain(target);
                if let Some(streams) = insert.source.as_deref().and_then(|q| self.bare_streams(q)) {
                    self.spans
                        .entry(format!("sinks.{sink}.inputs"))
                        .or_insert(st.span().start);
                    self.inserts.entry(sink).or_default().extend(streams);
                    return;
                }
                if !self.sinks.contains_key(&sink) {
                    return self.problem(
                        target.span(),
                        format!("no sink table `{sink}`: declare it first, e.g. CREATE TABLE {sink} WITH ('connector' = 'jsonl', 'path' = 'out.jsonl')"),
                    );
                }
                let Some(q) = &insert.source else {
                    return self.problem(st.span(), "INSERT INTO needs a query (INSERT INTO sink SELECT …)");
                };
                if let Some(stream) = self.query(q, &format!("insert_into_{sink}")) {
                    self.spans
                        .entry(format!("sinks.{sink}.inputs"))
                        .or_insert(st.span().start);
                    self.inserts.entry(sink).or_default().push(stream);
                }
            }
            Statement::Set(sqlparser::ast::Set::SingleAssignment { variable, values, .. }) => {
                let key = plain(variable);
                let setting = key
                    .strip_prefix("job.")
                    .map(|k| ("job", k))
                    .or_else(|| key.strip_prefix("serve.").map(|k| ("serve", k)));
                match (setting, values.as_slice()) {
                    (Some((section, k)), [value]) => {
                        let value = match value {
                            Expr::Value(v) => match &v.value {
                                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => string(s),
                                Value::Number(n, _) => n.parse::<i64>().map_or_else(|_| string(n), Toml::Integer),
                                Value::Boolean(b) => Toml::Boolean(*b),
                                other => string(&other.to_string()),
                            },
                            other => string(&other.to_string()),
                        };
                        self.spans.insert(format!("{section}.{k}"), variable.span().start);
                        let section = if section == "job" { &mut self.job } else { &mut self.serve };
                        set_path(section, k, value);
                    }
                    _ => self.problem(
                        variable.span(),
                        format!(
                            "SET sets the job's settings: SET job.name = 'my-job', SET job.workers = 2, SET serve.listen = '127.0.0.1:7878'; not `{key}`"
                        ),
                    ),
                }
            }
            other => self.problem(
                other.span(),
                "a weir job is CREATE TABLE, CREATE VIEW and INSERT INTO statements (and SET job.KEY = …, SET serve.KEY = …)",
            ),
        }
    }

    /// Adds the operators of `q` (the last one named `name`); returns the stream that carries its rows.
    pub(super) fn query(&mut self, q: &Query, name: &str) -> Option<String> {
        if q.order_by.is_some() || q.limit_clause.is_some() {
            self.problem(
                q.span(),
                "ORDER BY and LIMIT over a stream would have to change rows already written; weir has no top-N yet",
            );
            return None;
        }
        self.body(&q.body, name)
    }

    fn body(&mut self, body: &SetExpr, name: &str) -> Option<String> {
        match body {
            SetExpr::Select(s) => self.select(s, name),
            SetExpr::Query(q) => self.query(q, name),
            SetExpr::Table(t) => {
                let Some(table) = &t.table_name else {
                    self.problem(body.span(), "TABLE name");
                    return None;
                };
                self.stream_named(&table.value, table.span)
            }
            SetExpr::SetOperation {
                op: SetOperator::Union,
                set_quantifier: SetQuantifier::All,
                ..
            } => {
                let mut branches = Vec::new();
                flatten_union(body, &mut branches);
                let inputs: Vec<String> = branches
                    .iter()
                    .enumerate()
                    .filter_map(|(i, b)| self.body(b, &format!("{name}_{}", i + 1)))
                    .collect();
                if inputs.len() != branches.len() {
                    return None;
                }
                let fields = self.fields.get(&inputs[0]).cloned().unwrap_or_default();
                self.operator(name, "union", &inputs, toml::Table::new(), fields);
                self.inherit_time(&inputs[0], name);
                Some(name.to_string())
            }
            SetExpr::SetOperation { .. } => {
                self.problem(
                    body.span(),
                    "only UNION ALL: a stream has no end at which to remove duplicates",
                );
                None
            }
            other => {
                self.problem(other.span(), "a query here is SELECT … FROM … or a UNION ALL of them");
                None
            }
        }
    }

    /// Adds operator `name` of `kind` reading `inputs`, with `options`; its output has `fields`.
    pub(super) fn operator(
        &mut self,
        name: &str,
        kind: &str,
        inputs: &[String],
        options: toml::Table,
        fields: Vec<String>,
    ) {
        if let Some(l) = self.here {
            self.spans.insert(format!("operators.{name}"), l);
        }
        let mut section = toml::Table::new();
        section.insert("kind".into(), string(kind));
        section.insert("inputs".into(), list(inputs));
        section.extend(options);
        self.operators.insert(name.to_string(), Toml::Table(section));
        self.fields.insert(name.to_string(), fields);
    }

    /// The stream a name in FROM reads, if one is declared.
    /// `NAME.late` and `NAME.dead_letters` name a node's side streams (as in TOML): the planner checks the
    /// node has one.
    pub(super) fn stream(&mut self, name: &ObjectName) -> Option<String> {
        self.stream_named(&plain(name), name.span())
    }

    /// [`Self::stream`] of a name written at `span`.
    pub(super) fn stream_named(&mut self, n: &str, span: Span) -> Option<String> {
        let n = n.to_string();
        let resolved = self.aliases.get(&n).cloned().unwrap_or(n.clone());
        if self.fields.contains_key(&resolved) {
            return Some(resolved);
        }
        if let Some((base, side @ ("late" | "dead_letters"))) = n.rsplit_once('.') {
            let base = self.aliases.get(base).cloned().unwrap_or(base.to_string());
            if self.fields.contains_key(&base) {
                let side_stream = format!("{base}.{side}");
                let fields = ["source", "partition", "offset", "reason", "raw"]
                    .map(String::from)
                    .to_vec();
                self.fields.insert(side_stream.clone(), fields);
                self.event_time.insert(side_stream.clone(), ARRIVAL.to_string());
                return Some(side_stream);
            }
        }
        if self.tables_by_name.contains_key(&n) {
            self.problem(
                span,
                format!("`{n}` is a reference table: read it in a join, JOIN {n} FOR SYSTEM_TIME AS OF stream.ts ON …"),
            );
            return None;
        }
        let mut known: Vec<&String> = self.fields.keys().filter(|k| !k.contains('.')).collect();
        known.sort();
        let known = known.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        self.problem(span, format!("no table or view named `{n}`; declared: {known}"));
        None
    }

    fn select(&mut self, s: &Select, name: &str) -> Option<String> {
        if s.distinct.is_some() {
            self.problem(s.span(), "SELECT DISTINCT over a stream is not supported");
            return None;
        }
        let [from] = s.from.as_slice() else {
            self.problem(s.span(), "a SELECT here reads exactly one table, view or window");
            return None;
        };
        match from.joins.as_slice() {
            [] => {}
            [join] => return self.join_select(s, &from.relation, join, name),
            [_, second, ..] => {
                self.problem(
                    second.relation.span(),
                    "one join per SELECT: join the second table in a view over the first join",
                );
                return None;
            }
        }
        match &from.relation {
            TableFactor::Table {
                name: table,
                args: None,
                ..
            } => {
                let input = self.stream(table)?;
                self.plain_select(s, &input, name)
            }
            TableFactor::TableFunction {
                expr: Expr::Function(f),
                ..
            } => {
                let call = TvfCall::of(f);
                for (span, message) in &call.problems {
                    self.problem(*span, message.clone());
                }
                match call.name.as_str() {
                    "TUMBLE" | "HOP" | "SESSION" => self.window_select(s, &call, name),
                    "ALERT" | "DEADLINE" | "ABSENCE" | "LATEST" => self.rule_select(s, &call, name),
                    "CUMULATE" => {
                        self.problem(
                            call.span,
                            "CUMULATE windows are not supported: use HOP, or a TUMBLE over a TUMBLE",
                        );
                        None
                    }
                    _ => {
                        self.problem(
                            f.name.span(),
                            format!("unknown table function `{}`; weir has TUMBLE, HOP, SESSION, ALERT, DEADLINE, ABSENCE and LATEST", f.name),
                        );
                        None
                    }
                }
            }
            TableFactor::Table { args: Some(_), .. } => {
                self.problem(
                    from.relation.span(),
                    "write windows as FROM TABLE(TUMBLE(TABLE source, DESCRIPTOR(ts), INTERVAL '1' HOUR))",
                );
                None
            }
            other => {
                self.problem(
                    other.span(),
                    "FROM a table, a view, or a table function: TABLE(TUMBLE(…)), TABLE(ALERT(…)), …",
                );
                None
            }
        }
    }

    /// `SELECT items FROM input [WHERE cond]`: a filter, then a derive for a projection.
    fn plain_select(&mut self, s: &Select, input: &str, name: &str) -> Option<String> {
        if !matches!(&s.group_by, GroupByExpr::Expressions(e, _) if e.is_empty()) || s.having.is_some() {
            self.problem(
                s.span(),
                "GROUP BY over a stream without a window would have to update rows already written: group over TABLE(TUMBLE(…)) or TABLE(HOP(…)) with GROUP BY window_start, window_end, …",
            );
            return None;
        }
        let star = matches!(s.projection.as_slice(), [SelectItem::Wildcard(_)]);
        let mut stream = input.to_string();
        if let Some(cond) = &s.selection {
            let filter = if star {
                name.to_string()
            } else {
                format!("{name}_where")
            };
            let mut options = toml::Table::new();
            options.insert("where".into(), string(&cond.to_string()));
            let fields = self.fields.get(&stream).cloned().unwrap_or_default();
            self.operator(&filter, "filter", &[stream.clone()], options, fields);
            self.inherit_time(&stream, &filter);
            stream = filter;
        }
        if star {
            return Some(stream);
        }
        let input_fields = self.fields.get(&stream).cloned().unwrap_or_default();
        let mut computed = toml::Table::new();
        let mut selected = Vec::new();
        for item in &s.projection {
            let (expr, alias) = match item {
                SelectItem::UnnamedExpr(e) => (e, None),
                SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias)),
                other => {
                    self.problem(other.span(), "list the columns (SELECT * stands alone)");
                    continue;
                }
            };
            let out = match (alias, expr) {
                (Some(a), _) => a.value.clone(),
                (None, Expr::Identifier(i)) if !input_fields.contains(&i.value) => {
                    self.problem(
                        i.span,
                        format!(
                            "no column `{}` in `{stream}`; its columns: {}",
                            i.value,
                            input_fields.join(", ")
                        ),
                    );
                    continue;
                }
                (None, Expr::Identifier(i)) => i.value.clone(),
                (None, e) => {
                    self.problem(e.span(), format!("`{e}` needs a name: `{e} AS name`"));
                    continue;
                }
            };
            if !matches!(expr, Expr::Identifier(Ident { value, .. }) if *value == out) {
                computed.insert(out.clone(), string(&expr.to_string()));
            }
            selected.push(out);
        }
        let drop: Vec<String> = input_fields.iter().filter(|f| !selected.contains(f)).cloned().collect();
        let mut fields: Vec<String> = input_fields.iter().filter(|f| selected.contains(f)).cloned().collect();
        fields.extend(selected.iter().filter(|f| !input_fields.contains(f)).cloned());
        let mut options = toml::Table::new();
        if !computed.is_empty() {
            options.insert("fields".into(), Toml::Table(computed));
        }
        if !drop.is_empty() {
            options.insert("drop".into(), list(&drop));
        }
        self.operator(name, "derive", &[stream.clone()], options, fields);
        self.inherit_time(&stream, name);
        Some(name.to_string())
    }

    /// `to` has the event time of `from`.
    pub(super) fn inherit_time(&mut self, from: &str, to: &str) {
        if let Some(et) = self.event_time.get(from).cloned() {
            self.event_time.insert(to.to_string(), et);
        }
    }

    /// The streams of a query that only reads them — `SELECT * FROM a`, `TABLE a`, or a `UNION ALL` of
    /// those — which a sink reads directly (a sink's inputs are a union of any streams).
    fn bare_streams(&mut self, q: &Query) -> Option<Vec<String>> {
        if q.order_by.is_some() || q.limit_clause.is_some() {
            return None;
        }
        let mut branches = Vec::new();
        flatten_union(&q.body, &mut branches);
        if branches.len() < 2 {
            return None;
        }
        let mut names = Vec::new();
        for b in branches {
            match b {
                SetExpr::Select(s)
                    if s.selection.is_none()
                        && s.from.len() == 1
                        && s.from[0].joins.is_empty()
                        && matches!(s.projection.as_slice(), [SelectItem::Wildcard(_)])
                        && matches!(&s.group_by, GroupByExpr::Expressions(e, _) if e.is_empty()) =>
                {
                    match &s.from[0].relation {
                        TableFactor::Table {
                            name,
                            args: None,
                            version: None,
                            ..
                        } => names.push(name.clone()),
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
        names.iter().map(|n| self.stream(n)).collect()
    }
}

/// Sets `a.b.c` in `table` to `value`, making the tables on the way (`SET job.checkpoint.dir = …`).
pub(super) fn set_path(table: &mut toml::Table, path: &str, value: Toml) {
    match path.split_once('.') {
        None => {
            table.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let inner = table
                .entry(head.to_string())
                .or_insert_with(|| Toml::Table(toml::Table::new()));
            if !inner.is_table() {
                *inner = Toml::Table(toml::Table::new());
            }
            if let Toml::Table(t) = inner {
                set_path(t, rest, value);
            }
        }
    }
}

fn flatten_union<'a>(e: &'a SetExpr, out: &mut Vec<&'a SetExpr>) {
    match e {
        SetExpr::SetOperation {
            op: SetOperator::Union,
            set_quantifier: SetQuantifier::All,
            left,
            right,
        } => {
            flatten_union(left, out);
            flatten_union(right, out);
        }
        other => out.push(other),
    }
}
