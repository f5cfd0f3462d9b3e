//! Property tests of the decoder under arbitrary input: it never panics; every line is either decoded or
//! rejected with a reason; and whatever the fast path accepts, serde_json (parsing the line on its own, into
//! a `serde_json::Value`) reads the same way, value for value and bit for bit.
//!
//! Inputs are both raw bytes and JSON-like lines assembled from the schema's keys, every kind of value,
//! odd whitespace and escapes (half of them with the fields in schema order, the compact path's shape), then
//! mutated (a byte inserted, removed or replaced).

use super::fast::{decode_compact, decode_flat, key_patterns};
use super::{AsciiBytes, Decoder, Input};
use crate::record::Row;
use crate::schema::{Field, FieldType, Schema};
use proptest::prelude::*;
use weir_operators::Value;

/// A schema with every decodable type, nullable fields and an enum.
fn schema() -> Schema {
    let nullable = |name: &str, ty| Field {
        nullable: true,
        ..Field::new(name, ty)
    };
    Schema {
        fields: vec![
            Field::new("s", FieldType::String),
            Field::new("e", FieldType::Enum(vec!["on".into(), "off".into()])),
            Field::new("ts", FieldType::Timestamp),
            Field::new("i", FieldType::Int),
            Field::new("f", FieldType::Float),
            nullable("b", FieldType::Bool),
            nullable("n", FieldType::Float),
        ],
        event_time: 2,
    }
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec!["s", "e", "ts", "i", "f", "b", "n"]).prop_map(|k| format!("\"{k}\"")),
        1 => "[a-z]{0,3}".prop_map(|k| format!("\"{k}\"")),
        1 => Just("\"t\\u0073\"".to_string()), // "ts", escaped
        1 => Just("s".to_string()),            // unquoted
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        any::<u64>().prop_map(|u| u.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        (-30i32..30, 0u32..1000).prop_map(|(m, e)| format!("{m}.{e}E{}", e % 400)),
        Just("-0".to_string()),
        Just("1e400".to_string()),
        Just("01".to_string()),
        "\"[a-z]{0,4}\"",
        prop::sample::select(vec![
            "\"on\"",
            "\"off\"",
            "\"o\\u006e\"",
            "\"\\n\"",
            "\"é\"",
            "\"\\ud800\""
        ])
        .prop_map(String::from),
        "\"[\\x00-\\x7f]{0,3}\"",
        prop::sample::select(vec!["true", "false", "null", "nul", "[1]", "{\"a\":1}", "[]"]).prop_map(String::from),
    ]
}

fn ws() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => prop::sample::select(vec!["", "", "", " ", "\t", "\r", "\n", "  "]).prop_map(String::from),
        1 => Just("\u{a0}".to_string()), // not JSON whitespace
    ]
}

/// A value of the right type for schema field `name` (mostly), or any value.
fn value_for(name: &'static str) -> BoxedStrategy<String> {
    let right: BoxedStrategy<String> = match name {
        "s" => "\"[a-z0-9 ]{0,6}\"".boxed(),
        "e" => prop::sample::select(vec!["\"on\"", "\"off\""])
            .prop_map(String::from)
            .boxed(),
        "ts" | "i" => prop_oneof![
            any::<i64>().prop_map(|i| i.to_string()),
            (0i64..5000).prop_map(|i| i.to_string())
        ]
        .boxed(),
        "b" => prop::sample::select(vec!["true", "false", "null"])
            .prop_map(String::from)
            .boxed(),
        _ => prop_oneof![
            prop::num::f64::NORMAL.prop_map(|f| f.to_string()),
            prop::num::f64::NORMAL.prop_map(|f| format!("{f:e}")),
            prop::num::f64::ANY.prop_map(|f| format!("{f:e}")),
            (-3000i64..3000).prop_map(|i| i.to_string()),
            Just("null".to_string()),
        ]
        .boxed(),
    };
    prop_oneof![30 => right, 1 => value()].boxed()
}

/// A JSON-like object: the schema's fields in any order (sometimes one missing, doubled or of another
/// type), extra fields, odd whitespace — mostly well formed, often not.
fn line() -> impl Strategy<Value = Vec<u8>> {
    let names = ["s", "e", "ts", "i", "f", "b", "n"];
    let fields: Vec<BoxedStrategy<Option<(String, String)>>> = names
        .iter()
        .map(|&n| {
            prop_oneof![
                40 => value_for(n).prop_map(move |v| Some((format!("\"{n}\""), v))),
                1 => Just(None),
            ]
            .boxed()
        })
        .collect();
    let extra = prop::collection::vec((key(), value()).prop_map(Some), 0..2);
    let object = (
        fields,
        extra,
        Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
        ws(),
        ws(),
        prop::bool::weighted(0.9),
        prop::bool::weighted(0.5),
    )
        .prop_map(|(fields, extra, shuffle, a, b, close, in_order)| {
            let mut members: Vec<(String, String)> = fields.into_iter().chain(extra).flatten().collect();
            let n = members.len();
            for i in (1..n).rev().filter(|_| !in_order) {
                members.swap(i, (shuffle as usize).wrapping_mul(i + 7) % (i + 1));
            }
            let body: Vec<String> = members.iter().map(|(k, v)| format!("{k}{a}:{b}{v}")).collect();
            format!(
                "{a}{{{}{}{b}",
                body.join(&format!(",{b}")),
                if close { "}" } else { "" }
            )
        });
    let mutation = prop_oneof![
        8 => Just(None),
        1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Some((i, Some(b), false))),
        1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Some((i, Some(b), true))),
        1 => any::<prop::sample::Index>().prop_map(|i| Some((i, None, false))),
    ];
    (object, mutation).prop_map(|(text, m)| {
        let mut bytes = text.into_bytes();
        if let (Some((i, b, insert)), false) = (m, bytes.is_empty()) {
            let at = i.index(bytes.len());
            match b {
                Some(b) if insert => bytes.insert(at, b),
                Some(b) => bytes[at] = b,
                None => {
                    bytes.remove(at);
                }
            }
        }
        bytes
    })
}

fn bits(v: &Value) -> String {
    match v {
        Value::Float(f) => format!("F{:x}", f.to_bits()),
        other => format!("{other:?}"),
    }
}

/// The schema's fields as serde_json reads the line, in our value representation (None: it would not
/// accept the line as an event of this schema).
fn serde_reading(schema: &Schema, line: &[u8]) -> Option<Vec<String>> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    let object = v.as_object()?;
    let mut out = Vec::new();
    for field in &schema.fields {
        let value = match (object.get(&field.name), &field.ty) {
            (None | Some(serde_json::Value::Null), _) if field.nullable => Value::Null,
            (Some(serde_json::Value::String(s)), FieldType::String) => Value::Str(s.as_str().into()),
            (Some(serde_json::Value::String(s)), FieldType::Enum(allowed)) if allowed.iter().any(|a| a == s) => {
                Value::Str(s.as_str().into())
            }
            (Some(serde_json::Value::Number(n)), FieldType::Int | FieldType::Timestamp) => Value::Int(n.as_i64()?),
            (Some(serde_json::Value::Number(n)), FieldType::Float) => Value::Float(n.as_f64()?),
            (Some(serde_json::Value::Bool(b)), FieldType::Bool) => Value::Bool(*b),
            _ => return None,
        };
        out.push(bits(&value));
    }
    Some(out)
}

fn check(line: &[u8]) -> Result<(), TestCaseError> {
    let schema = schema();
    let mut slots = vec![None; schema.fields.len()];
    let fast = decode_flat(&schema, Input::Bytes(line), &mut slots).map(|()| {
        slots
            .iter()
            .map(|v| bits(v.as_ref().expect("decoded")))
            .collect::<Vec<_>>()
    });
    let mut d = Decoder::new(schema.clone());
    let general = d
        .decode_general(line)
        .map(|s| s.iter().map(|v| bits(v.as_ref().expect("decoded"))).collect::<Vec<_>>());
    if let Err(e) = &general {
        prop_assert!(!e.0.is_empty(), "a rejection has a reason");
    }
    if let Some(fast) = &fast {
        prop_assert_eq!(Some(fast), general.as_ref().ok(), "fast path vs general decoder");
        // serde_json refuses a whole document over a number it cannot represent even in a field the
        // schema does not name (which weir ignores): nothing to compare then.
        let unrepresentable = serde_json::from_slice::<serde_json::Value>(line)
            .is_err_and(|e| e.to_string().contains("number out of range"));
        if !unrepresentable {
            prop_assert_eq!(
                Some(fast.clone()),
                serde_reading(&schema, line),
                "fast path vs serde_json"
            );
        }
    }
    let mut row = Row::new();
    if decode_compact(&schema, &key_patterns(&schema), Input::Bytes(line), &mut row).is_some() {
        let compact: Vec<String> = row.iter().map(bits).collect();
        prop_assert_eq!(Some(&compact), general.as_ref().ok(), "compact path vs general decoder");
    }
    let by_row = d
        .decode_row(Input::Bytes(line), &mut row)
        .map(|()| row.iter().map(bits).collect::<Vec<_>>());
    prop_assert_eq!(
        by_row.as_ref().ok(),
        general.as_ref().ok(),
        "decode_row = the general decoder's answer"
    );
    let full = d
        .decode(line)
        .map(|s| s.iter().map(|v| bits(v.as_ref().expect("decoded"))).collect::<Vec<_>>());
    prop_assert_eq!(
        full.as_ref().ok(),
        general.as_ref().ok(),
        "decode = the general decoder's answer"
    );
    if let Some(a) = AsciiBytes::new(line) {
        let mut slots = vec![None; schema.fields.len()];
        let trusted = decode_flat(&schema, Input::Ascii(a), &mut slots).map(|()| {
            slots
                .iter()
                .map(|v| bits(v.as_ref().expect("decoded")))
                .collect::<Vec<_>>()
        });
        prop_assert_eq!(trusted, fast, "known-ASCII input decodes the same");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// About a fifth of these are valid events.
    #[test]
    fn json_like_lines(line in line()) {
        check(&line)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(line in prop::collection::vec(any::<u8>(), 0..64)) {
        check(&line)?;
    }
}
