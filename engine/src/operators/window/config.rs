//! The options of `kind = "window"`: `window` (tumbling, hopping, session), `key`, `carry`, `aggregates`,
//! `allowed_lateness`, `max_open_windows`, `emit_empty`; a window's `offset` and `time_zone`.

use super::WindowPlan;
use crate::component::registry::OperatorInputs;
use crate::component::OperatorComponent;
use crate::config::{fields_of, name_list, Section};
use crate::schema::{Field, FieldType, Schema};
use std::collections::HashSet;
use std::sync::Arc;
use weir_operators::value::ValueType;
use chrono_tz::Tz;
use weir_operators::window::Alignment;
use weir_operators::{AggregateFn, AggregateSpec, WindowSpec};

/// The most hopping windows one record may belong to (`size / slide`): each is a state entry per key.
const MAX_WINDOWS_PER_RECORD: i64 = 1000;

fn window_spec(s: &Section) -> Option<WindowSpec> {
    let Some(w) = s.table("window") else {
        if !s.has("window") {
            s.problem(
                "window",
                "is required, e.g. window = { kind = \"tumbling\", size = \"1h\" }",
            );
        }
        return None;
    };
    let kind = w.req_str("kind");
    let positive = |key: &str| -> Option<i64> {
        let v = w.duration_ms(key)?;
        if v <= 0 {
            w.problem(key, "must be longer than 0");
            return None;
        }
        Some(v)
    };
    let spec = match kind? {
        "tumbling" | "hopping" => {
            let size = positive("size");
            if !w.has("size") {
                w.problem("size", "is required, e.g. \"1h\"");
            }
            let size = size?;
            if kind == Some("tumbling") {
                Some(WindowSpec::tumbling(size))
            } else {
                match positive("slide") {
                    Some(sl) if sl <= size && size / sl > MAX_WINDOWS_PER_RECORD => {
                        w.problem(
                            "slide",
                            format!(
                                "a record would be in {} windows (size / slide); at most {MAX_WINDOWS_PER_RECORD} are \
                                 allowed: make the slide longer",
                                size / sl
                            ),
                        );
                        None
                    }
                    Some(sl) if sl <= size => Some(WindowSpec::hopping(size, sl)),
                    Some(_) => {
                        w.problem("slide", "must be at most the window size");
                        None
                    }
                    None => {
                        if !w.has("slide") {
                            w.problem("slide", "is required for hopping windows, e.g. \"5m\"");
                        }
                        None
                    }
                }
            }
        }
        "session" => {
            let gap = positive("gap");
            if !w.has("gap") {
                w.problem("gap", "is required for session windows, e.g. \"5m\"");
            }
            gap.map(|gap_ms| WindowSpec::Session { gap_ms })
        }
        other => {
            w.problem(
                "kind",
                format!("unknown window kind \"{other}\"; allowed: tumbling, hopping, session"),
            );
            None
        }
    };
    // Alignment of tumbling and hopping windows: `offset` and `time_zone`.
    let spec = match spec {
        Some(s @ (WindowSpec::Tumbling { .. } | WindowSpec::Hopping { .. })) => Some(s.aligned(alignment(&w))),
        other => other,
    };
    w.finish("");
    spec
}

/// `offset = "4d"` (also negative, `"-3d"`) and `time_zone = "Europe/Berlin"` of a window table.
fn alignment(w: &Section) -> Alignment {
    let offset_ms = match w.str("offset") {
        Some(o) => {
            let (negative, text) = match o.trim().strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, o.trim()),
            };
            match humantime::parse_duration(text) {
                Ok(d) if negative => -(d.as_millis() as i64),
                Ok(d) => d.as_millis() as i64,
                Err(e) => {
                    w.problem(
                        "offset",
                        format!("\"{o}\" is not a duration ({e}); write e.g. \"4d\" (weeks from Monday) or \"-2h\""),
                    );
                    0
                }
            }
        }
        None => 0,
    };
    let zone = w.str("time_zone").and_then(|z| match z.parse::<Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            w.problem(
                "time_zone",
                format!(
                    "unknown time zone \"{z}\"; write an IANA name such as \"Europe/Berlin\", \"America/Chicago\" or \"UTC\""
                ),
            );
            None
        }
    });
    Alignment { offset_ms, zone }
}

/// `kind = "window"`.
pub fn parse(s: &Section, inputs: &OperatorInputs) -> Option<(Arc<dyn OperatorComponent>, Schema)> {
    let schema = &inputs[0];
    let window = window_spec(s);
    let lateness = s.duration_ms("allowed_lateness").unwrap_or(0);
    if lateness < 0 {
        s.problem("allowed_lateness", "must not be negative");
    }
    let key_names = name_list(s, "key");
    if !s.has("key") {
        s.problem("key", "is required: the fields to group by, e.g. key = [\"sensor_id\"]");
    }
    let carry_names = s.str_list("carry").unwrap_or_default();
    let aggs = s.table("aggregates");
    if !s.has("aggregates") {
        s.problem(
            "aggregates",
            "is required: a table of OUTPUT_COLUMN = \"FUNCTION(FIELD)\", e.g. readings = \"count\"",
        );
    }
    let key = fields_of(s, "key", &key_names?, schema);
    let carry = fields_of(s, "carry", &carry_names, schema);
    let emit_empty = s.bool("emit_empty").unwrap_or(false);
    if emit_empty {
        if key.as_ref().is_some_and(|k| !k.is_empty()) {
            s.problem(
                "emit_empty",
                "is for windows without key (key = []): with a key, no one can say which keys an empty window has",
            );
        }
        if matches!(window, Some(WindowSpec::Session { .. })) {
            s.problem(
                "emit_empty",
                "is for tumbling and hopping windows: a session exists only with records",
            );
        }
        if window.is_some_and(|w| w.alignment().zone.is_some()) {
            s.problem(
                "emit_empty",
                "is not supported with a window's time_zone yet (its windows are not all one length)",
            );
        }
    }
    let mut values: Vec<usize> = Vec::new();
    let mut aggregates = Vec::new();
    let mut agg_fields = Vec::new();
    let mut ok = true;
    if let Some(a) = &aggs {
        for (col, expr) in a.entries() {
            let Some(expr) = expr.as_str() else {
                a.problem(
                    col,
                    "expected an aggregate such as \"max(ppv_mm_s)\", or one with its own filter: \
                     { of = \"max(ppv_mm_s)\", where = \"site = 'pit'\" }",
                );
                ok = false;
                continue;
            };
            let func = match AggregateFn::parse(expr) {
                Ok(f) => f,
                Err(e) => {
                    a.problem(col, e.to_string());
                    ok = false;
                    continue;
                }
            };
            let (input, input_type, nullable) = match func.field() {
                None => (None, None, false),
                Some(f) => match schema.index_of(f) {
                    Some(i) => {
                        let field = &schema.fields[i];
                        let ty = field.ty.value_type();
                        if let Err(want) = func.accepts(ty) {
                            a.problem(col, format!("`{expr}` needs {want}, but `{f}` is a {ty}"));
                            ok = false;
                        }
                        let pos = values.iter().position(|v| *v == i).unwrap_or_else(|| {
                            values.push(i);
                            values.len() - 1
                        });
                        (Some(pos), Some(ty), field.nullable)
                    }
                    None => {
                        a.problem(
                            col,
                            format!(
                                "field `{f}` is not in the input's schema; available: {}",
                                schema.names()
                            ),
                        );
                        ok = false;
                        continue;
                    }
                },
            };
            let out_type = func.output_type(input_type);
            let counts = func.is_count();
            agg_fields.push(Field {
                name: col.clone(),
                ty: FieldType::of(out_type),
                // An empty window's row has NULL for everything but its counts.
                nullable: (nullable || emit_empty) && !counts && out_type != ValueType::Sketch,
            });
            aggregates.push(AggregateSpec {
                name: col.clone(),
                func,
                input,
                input_type,
            });
        }
        if aggregates.is_empty() && ok {
            a.problem("", "define at least one aggregate");
            ok = false;
        }
    }
    let (key, carry, window) = (key?, carry?, window?);
    if !ok || aggs.is_none() {
        return None;
    }
    let mut fields = vec![
        Field::new("window_start", FieldType::Timestamp),
        Field::new("window_end", FieldType::Timestamp),
    ];
    fields.extend(key.iter().map(|i| schema.fields[*i].clone()));
    fields.extend(carry.iter().map(|i| Field {
        // An empty window carries nothing.
        nullable: schema.fields[*i].nullable || emit_empty,
        ..schema.fields[*i].clone()
    }));
    fields.extend(agg_fields);
    let mut seen = HashSet::new();
    for f in &fields {
        if !seen.insert(f.name.clone()) {
            s.problem(
                "aggregates",
                format!(
                    "output column `{}` appears twice (columns are window_start, window_end, the key, carry and \
                     aggregate names)",
                    f.name
                ),
            );
            return None;
        }
    }
    Some((
        Arc::new(WindowPlan {
            window,
            allowed_lateness_ms: lateness.max(0),
            key,
            carry,
            values,
            aggregates,
            max_open_windows: s
                .count("max_open_windows", 1)
                .map_or(super::DEFAULT_MAX_OPEN_WINDOWS, |n| n as usize),
            emit_empty,
        }),
        Schema { fields, event_time: 0 },
    ))
}
