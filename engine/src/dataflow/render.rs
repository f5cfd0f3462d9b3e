//! Encoding typed records for line sinks: one JSON object per record, fields in schema order, plus the Kafka
//! message key, headers and tombstone flag taken from fields (never by parsing the JSON back).
//!
//! Every field is written, NULL as `null`, so a stream's lines always have the same shape. Timestamps are
//! epoch milliseconds, sketches their portable bytes in hex.

use crate::dataflow::{Line, Time};
use crate::record::{Record, RecordStream};
use crate::schema::Schema;
use std::io::Write;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;
use weir_operators::Value;

/// Writes one value as JSON.
fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(s) => serde_json::to_writer(&mut *out, s.as_str()).expect("strings encode"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) if f.is_finite() => serde_json::to_writer(&mut *out, f).expect("floats encode"),
        other => serde_json::to_writer(&mut *out, &other.to_json()).expect("values encode"),
    }
}

/// The record as one JSON object.
pub fn json_object(schema: &Schema, values: &[Value]) -> String {
    let mut out = Vec::with_capacity(64 + 16 * values.len());
    write_object(&mut out, schema, values);
    String::from_utf8(out).expect("JSON is UTF-8")
}

fn write_object(out: &mut Vec<u8>, schema: &Schema, values: &[Value]) {
    out.push(b'{');
    let mut first = true;
    for (f, v) in schema.fields.iter().zip(values) {
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut *out, &f.name).expect("names encode");
        out.push(b':');
        write_value(out, v);
    }
    out.push(b'}');
}

/// Where a Kafka sink's message key and headers come from.
#[derive(Clone, Debug, Default)]
pub struct MessageFields {
    /// Schema index of the key field.
    pub key: Option<usize>,
    /// Header name and schema index of its field.
    pub headers: Vec<(String, usize)>,
    /// Schema index of an `op` field whose value `delete` makes the message a tombstone.
    pub tombstone_op: Option<usize>,
}

impl MessageFields {
    /// The defaults for a stream: key `key`, headers `kind`, `job`, `view`, `op` where the schema has them,
    /// tombstones for changelog deletes.
    pub fn defaults(schema: &Schema) -> MessageFields {
        MessageFields {
            key: schema.index_of("key"),
            headers: ["kind", "job", "view", "op"]
                .iter()
                .filter_map(|n| Some((n.to_string(), schema.index_of(n)?)))
                .collect(),
            tombstone_op: schema.index_of("op").filter(|_| schema.index_of("view").is_some()),
        }
    }
}

/// Text of a value for a message key or header (`None` for NULL).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Str(s) => Some(s.to_string()),
        other => Some(other.to_string()),
    }
}

/// Renders one record as a line at its place in the output order.
pub fn line_of(schema: &Schema, r: &Record, input: u32, message: Option<&MessageFields>) -> Line {
    let meta = message.map(|m| {
        Box::new(crate::dataflow::MessageMeta {
            key: m.key.and_then(|k| text(&r.values[k])),
            headers: m
                .headers
                .iter()
                .filter_map(|(n, i)| Some((n.clone(), text(&r.values[*i])?)))
                .collect(),
            tombstone: m
                .tombstone_op
                .is_some_and(|i| matches!(&r.values[i], Value::Str(s) if s == "delete")),
        })
    });
    Line {
        pos: r.pos,
        seq: r.seq,
        input,
        text: json_object(schema, &r.values),
        meta,
    }
}

/// Renders a stream's records (the sink's input number `input_index`) as lines on the worker that holds them
/// (encoding runs in parallel; only the lines travel to the sink's writer).
pub fn render_lines<'s>(
    records: RecordStream<'s>,
    schema: Schema,
    input_index: u32,
    message: Option<MessageFields>,
) -> Stream<'s, Time, Vec<Line>> {
    records.unary(Pipeline, "Encode", move |_, _| {
        move |input, output| {
            input.for_each_stamp(|cap, data| {
                let mut session = output.session(&cap);
                for batch in data.flat_map(|d| d.drain(..)) {
                    for r in &batch.records {
                        session.give(line_of(&schema, r, input_index, message.as_ref()));
                    }
                }
            });
        }
    })
}
