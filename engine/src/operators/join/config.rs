//! The options of `kind = "join"`: `inputs = [STREAM, TABLE]`; `on`, the stream's fields equal to the table's
//! key; `fields` to add (`"NAME"` or `"NAME AS ALIAS"`; default every field but the key's); `mode = "left" |
//! "inner"`; `history`.
//!
//! `on` is `"FIELD"` (the stream's field named as the table's one-field key), `["A", "B"]` (the stream's fields
//! named as the table's key fields), or `{ stream = "X", table = "K" }` / `{ stream = ["X", "Y"], table = ["A",
//! "B"] }` (the stream's fields paired with the table's key fields). Every key field is named once; the pairs
//! may come in any order. A key that is an expression of the stream's fields is a `derive` before the join.

use super::{JoinPlan, DEFAULT_JOIN_HISTORY_MS};
use crate::component::registry::OperatorInputs;
use crate::component::OperatorComponent;
use crate::config::{fields_of, Section};
use crate::schema::{Field, Schema};
use std::sync::Arc;

/// `kind = "join"`.
pub fn parse(s: &Section, inputs: &OperatorInputs) -> Option<(Arc<dyn OperatorComponent>, Schema)> {
    let schema = &inputs[0];
    let (table, table_name, plan, table_schema) = match inputs.tables.as_slice() {
        [one] => *one,
        [] => {
            s.problem(
                "inputs",
                "a join reads a stream and a table: inputs = [\"STREAM\", \"TABLE\"] with a [tables.TABLE]",
            );
            return None;
        }
        _ => {
            s.problem("inputs", "a join reads one table; chain two joins for two tables");
            return None;
        }
    };
    let inner = match s.str("mode").unwrap_or("left") {
        "left" => false,
        "inner" => true,
        other => {
            s.problem("mode", format!("unknown mode \"{other}\"; allowed: left, inner"));
            false
        }
    };
    let history_ms = s.duration_ms("history").unwrap_or(DEFAULT_JOIN_HISTORY_MS);
    if history_ms < 0 {
        s.problem("history", "cannot be negative");
    }
    let pairs = on_pairs(s);
    let field_list: Vec<String> = match s.value("fields") {
        None => Vec::new(),
        Some(_) => s.str_list("fields")?.iter().map(|f| f.to_string()).collect(),
    };
    let (plan, table_schema, pairs) = (plan?, table_schema?, pairs?);
    let on = key_lookup(s, &pairs, schema, table_name, table_schema, &plan.key)?;
    let wanted: Vec<(String, String)> = if field_list.is_empty() {
        table_schema
            .fields
            .iter()
            .enumerate()
            .filter(|(i, _)| !plan.key.contains(i))
            .map(|(_, f)| (f.name.clone(), f.name.clone()))
            .collect()
    } else {
        field_list
            .iter()
            .map(|f| {
                let parts: Vec<&str> = f.split_whitespace().collect();
                match parts.as_slice() {
                    [name, as_, alias] if as_.eq_ignore_ascii_case("as") => (name.to_string(), alias.to_string()),
                    _ => (f.trim().to_string(), f.trim().to_string()),
                }
            })
            .collect()
    };
    let mut fields = Vec::new();
    let mut out = schema.fields.clone();
    let mut ok = true;
    for (name, alias) in wanted {
        let Some(i) = table_schema.index_of(&name) else {
            s.problem(
                "fields",
                format!(
                    "table `{table_name}` has no field `{name}`; it has: {}",
                    table_schema.names()
                ),
            );
            ok = false;
            continue;
        };
        if out.iter().any(|f| f.name == alias) {
            s.problem(
                "fields",
                format!("the stream already has a field `{alias}`: add it under another name, \"{name} AS {table_name}_{name}\""),
            );
            ok = false;
            continue;
        }
        let f = &table_schema.fields[i];
        out.push(Field {
            name: alias.clone(),
            ty: f.ty.clone(),
            nullable: f.nullable || !inner,
        });
        fields.push((alias, i));
    }
    if !ok {
        return None;
    }
    let output = Schema {
        fields: out,
        event_time: schema.event_time,
    };
    Some((
        Arc::new(JoinPlan {
            table,
            table_name: table_name.to_string(),
            on,
            fields,
            inner,
            history_ms: history_ms.max(0),
            latest: plan.lookup_latest,
        }),
        output,
    ))
}

/// `on` as (stream field, table field) pairs, by name.
fn on_pairs(s: &Section) -> Option<Vec<(String, String)>> {
    let names = |v: &toml::Value| -> Option<Vec<String>> {
        match v {
            toml::Value::String(f) => Some(vec![f.clone()]),
            toml::Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>(),
            _ => None,
        }
    };
    let shape = "expected a field name, a list of them, or { stream = [\"FIELD\", …], table = [\"KEY\", …] }";
    match s.value("on") {
        None => {
            s.problem(
                "on",
                "is required: the stream's field to look up, e.g. on = \"vehicle_id\"",
            );
            None
        }
        Some(toml::Value::Table(_)) => {
            let t = s.table("on")?;
            let (stream, table) = (t.value("stream"), t.value("table"));
            if stream.is_none() {
                t.problem("stream", "is required: the stream's field(s) looked up");
            }
            if table.is_none() {
                t.problem("table", "is required: the table's key field(s) they equal");
            }
            t.finish("");
            let (stream, table) = (names(stream?), names(table?));
            match (stream, table) {
                (Some(a), Some(b)) if a.len() == b.len() => Some(a.into_iter().zip(b).collect()),
                (Some(a), Some(b)) => {
                    s.problem(
                        "on",
                        format!("{} stream field(s) for {} table field(s): name one stream field per key field", a.len(), b.len()),
                    );
                    None
                }
                _ => {
                    s.problem("on", shape);
                    None
                }
            }
        }
        Some(v) => match names(v) {
            Some(n) => Some(n.into_iter().map(|f| (f.clone(), f)).collect()),
            None => {
                s.problem("on", shape);
                None
            }
        },
    }
}

/// The stream's fields to look up, in the order of the table's key fields `key`: every key field paired
/// once, with a stream field of its type.
fn key_lookup(
    s: &Section,
    pairs: &[(String, String)],
    schema: &Schema,
    table_name: &str,
    table_schema: &Schema,
    key: &[usize],
) -> Option<Vec<usize>> {
    let key_names: Vec<&str> = key.iter().map(|i| table_schema.fields[*i].name.as_str()).collect();
    let mut table_named: Vec<&str> = pairs.iter().map(|(_, t)| t.as_str()).collect();
    table_named.sort_unstable();
    let mut sorted_key = key_names.clone();
    sorted_key.sort_unstable();
    if table_named != sorted_key {
        let stream: Vec<&str> = pairs.iter().map(|(x, _)| x.as_str()).collect();
        let quoted = |names: &[&str]| names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
        let form = if key_names.len() == 1 {
            format!("{{ stream = \"{}\", table = \"{}\" }}", stream[0], key_names[0])
        } else {
            format!("{{ stream = [{}], table = [{}] }}", quoted(&stream), quoted(&key_names))
        };
        s.problem(
            "on",
            format!(
                "a join looks rows up by table `{table_name}`'s key ({}): write on = {form}",
                key_names.join(", ")
            ),
        );
        return None;
    }
    let stream_names: Vec<&str> = key_names
        .iter()
        .map(|k| pairs.iter().find(|(_, t)| t == k).map(|(x, _)| x.as_str()).expect("every key field named"))
        .collect();
    let on = fields_of(s, "on", &stream_names, schema)?;
    let mut ok = true;
    for (i, k) in on.iter().zip(key) {
        let (field, key_field) = (&schema.fields[*i], &table_schema.fields[*k]);
        let ty = field.ty.value_type();
        if ty != key_field.ty.value_type() {
            s.problem(
                "on",
                format!(
                    "`{}` is {} but table `{table_name}`'s key `{}` is {}; cast it with a derive first",
                    field.name,
                    ty.name(),
                    key_field.name,
                    key_field.ty.value_type().name()
                ),
            );
            ok = false;
        }
    }
    ok.then_some(on)
}
