//! Decoding one JSON event against a declared schema, without per-field allocation.
//!
//! The decoder walks the object once with `serde_json`, matching keys against the schema by borrowed string,
//! ignoring undeclared fields and storing declared ones straight into typed slots. Anything that is not a
//! valid event — bad JSON, a missing field, a wrong type, a non-finite number, an unknown enum value — comes
//! back as a [`DecodeError`] whose text is the dead letter's `reason`.

mod fast;
#[cfg(test)]
mod properties;

use crate::record::Row;
use crate::schema::{FieldType, Schema};
use compact_str::CompactString;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use std::fmt;
use weir_operators::Value;

/// Why a line is not a valid event; the text is the dead letter's `reason`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

/// Bytes checked to be ASCII (hence valid UTF-8): checked once per chunk, then sliced per line.
#[derive(Clone, Copy, Debug)]
pub struct AsciiBytes<'a>(&'a [u8]);

impl<'a> AsciiBytes<'a> {
    /// `Some` if every byte is ASCII.
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        bytes.is_ascii().then_some(AsciiBytes(bytes))
    }

    /// The bytes `start..end` (still ASCII).
    pub fn slice(self, start: usize, end: usize) -> AsciiBytes<'a> {
        AsciiBytes(&self.0[start..end])
    }

    pub fn bytes(self) -> &'a [u8] {
        self.0
    }
}

/// One line (or message value) to decode, and what is known about its bytes.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// Known to be ASCII: strings need no UTF-8 check.
    Ascii(AsciiBytes<'a>),
    /// Anything.
    Bytes(&'a [u8]),
}

impl<'a> Input<'a> {
    pub fn bytes(self) -> &'a [u8] {
        match self {
            Input::Ascii(a) => a.bytes(),
            Input::Bytes(b) => b,
        }
    }
}

/// Decodes lines against one schema, reusing its scratch space between lines.
pub struct Decoder {
    schema: Schema,
    slots: Vec<Option<Value>>,
    /// `"name":` per field, for the compact fast path.
    patterns: Vec<fast::KeyPattern>,
    max_record_bytes: usize,
}

/// Longest record (line or message) decoded by default; longer ones are dead letters.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

impl Decoder {
    pub fn new(schema: Schema) -> Self {
        let slots = vec![None; schema.fields.len()];
        Decoder {
            patterns: fast::key_patterns(&schema),
            schema,
            slots,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }

    /// Records longer than `max` bytes are not decoded (they become dead letters).
    pub fn with_max_record_bytes(mut self, max: usize) -> Self {
        self.max_record_bytes = max;
        self
    }

    pub fn max_record_bytes(&self) -> usize {
        self.max_record_bytes
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Decodes `line`; on success every slot (one per schema field, in schema order) is `Some`, and the
    /// caller may `take()` them.
    pub fn decode(&mut self, line: &[u8]) -> Result<&mut [Option<Value>], DecodeError> {
        self.decode_input(Input::Bytes(line))
    }

    /// Decodes `input` into `row` (one value per schema field, in schema order; cleared first). On an error
    /// the row's content is unspecified.
    pub fn decode_row(&mut self, input: Input<'_>, row: &mut Row) -> Result<(), DecodeError> {
        row.clear();
        if fast::decode_compact(&self.schema, &self.patterns, input, row).is_some() {
            return Ok(());
        }
        row.clear();
        let slots = self.decode_input(input)?;
        row.extend(slots.iter_mut().map(|s| s.take().expect("decoded")));
        Ok(())
    }

    /// [`Decoder::decode`] of a line that may be known to be ASCII (then strings need no UTF-8 check).
    pub fn decode_input(&mut self, input: Input<'_>) -> Result<&mut [Option<Value>], DecodeError> {
        self.slots.iter_mut().for_each(|s| *s = None);
        if fast::decode_flat(&self.schema, input, &mut self.slots).is_some() {
            return Ok(&mut self.slots);
        }
        self.decode_general(input.bytes())
    }

    /// The general decoder alone (serde_json); also what explains every rejected line.
    pub fn decode_general(&mut self, line: &[u8]) -> Result<&mut [Option<Value>], DecodeError> {
        self.slots.iter_mut().for_each(|s| *s = None);
        let mut de = serde_json::Deserializer::from_slice(line);
        let res = RowSeed {
            schema: &self.schema,
            slots: &mut self.slots,
        }
        .deserialize(&mut de)
        .and_then(|_| de.end());
        if let Err(e) = res {
            return Err(DecodeError(match e.classify() {
                serde_json::error::Category::Data => strip_position(&e.to_string()),
                _ => format!("invalid JSON: {e}"),
            }));
        }
        for (slot, field) in self.slots.iter_mut().zip(&self.schema.fields) {
            if slot.is_none() {
                if !field.nullable {
                    return Err(DecodeError(format!("missing field `{}`", field.name)));
                }
                *slot = Some(Value::Null);
            }
        }
        Ok(&mut self.slots)
    }
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

struct RowSeed<'a> {
    schema: &'a Schema,
    slots: &'a mut [Option<Value>],
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(idx) = map.next_key_seed(KeySeed(self.schema))? {
            match idx {
                Some(i) => {
                    let field = &self.schema.fields[i];
                    if self.slots[i].is_some() {
                        return Err(de::Error::custom(format!(
                            "duplicate field `{}` (which one is meant is ambiguous)",
                            field.name
                        )));
                    }
                    let v = map.next_value_seed(FieldSeed {
                        name: &field.name,
                        ty: &field.ty,
                        nullable: field.nullable,
                    })?;
                    self.slots[i] = Some(v);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Maps a key to its schema index without allocating.
struct KeySeed<'a>(&'a Schema);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.0.index_of(v))
    }
}

struct FieldSeed<'a> {
    name: &'a str,
    ty: &'a FieldType,
    nullable: bool,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl FieldSeed<'_> {
    fn wrong<E: de::Error>(&self, found: &str) -> E {
        let expected = match self.ty {
            FieldType::String | FieldType::Enum(_) => "a string",
            FieldType::Int => "an integer",
            FieldType::Timestamp => "an integer (epoch milliseconds) or an RFC 3339 time",
            FieldType::Float => "a number",
            FieldType::Bool => "a boolean",
            FieldType::Sketch => "a sketch",
        };
        E::custom(format!("field `{}`: expected {expected}, found {found}", self.name))
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a value for field `{}`", self.name)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        match self.ty {
            FieldType::Int | FieldType::Timestamp => Ok(Value::Int(v)),
            FieldType::Float => Ok(Value::Float(v as f64)),
            _ => Err(self.wrong("a number")),
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        match self.ty {
            FieldType::Int | FieldType::Timestamp => i64::try_from(v)
                .map(Value::Int)
                .map_err(|_| E::custom(format!("field `{}`: integer {v} is out of range", self.name))),
            FieldType::Float => Ok(Value::Float(v as f64)),
            _ => Err(self.wrong("a number")),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        match self.ty {
            FieldType::Float if v.is_finite() => Ok(Value::Float(v)),
            FieldType::Float => Err(E::custom(format!("field `{}`: not a finite number", self.name))),
            FieldType::Int | FieldType::Timestamp if v == 0.0 && v.is_sign_negative() => {
                Err(self.wrong("-0 (negative zero, a floating-point value; write 0)"))
            }
            FieldType::Int | FieldType::Timestamp if v.is_finite() && v.fract() == 0.0 => Err(self.wrong(&format!(
                "{v:e}, a number with an exponent or a decimal point (integers are written as plain digits, within ±9223372036854775807)"
            ))),
            FieldType::Int | FieldType::Timestamp => Err(self.wrong("a fractional number")),
            _ => Err(self.wrong("a number")),
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        match self.ty {
            FieldType::String => Ok(Value::Str(CompactString::from(v))),
            FieldType::Enum(allowed) => match allowed.iter().find(|a| a.as_str() == v) {
                Some(a) => Ok(Value::Str(a.clone())),
                None => {
                    let list: Vec<&str> = allowed.iter().map(|a| a.as_str()).collect();
                    Err(E::custom(format!(
                        "field `{}`: unknown value \"{v}\" (allowed: {})",
                        self.name,
                        list.join(", ")
                    )))
                }
            },
            FieldType::Timestamp => crate::words::rfc3339_ms(v).map(Value::Int).ok_or_else(|| {
                self.wrong(&format!(
                    "\"{v}\", which is no RFC 3339 time like \"2026-11-21T08:00:00Z\""
                ))
            }),
            _ => Err(self.wrong("a string")),
        }
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        match self.ty {
            FieldType::Bool => Ok(Value::Bool(v)),
            _ => Err(self.wrong("a boolean")),
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        if self.nullable {
            Ok(Value::Null)
        } else {
            Err(self.wrong("null"))
        }
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Value, A::Error> {
        Err(self.wrong("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Value, A::Error> {
        Err(self.wrong("an object"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(line: &str) -> Result<Vec<Value>, String> {
        let mut d = Decoder::new(Schema::vibration());
        d.decode(line.as_bytes())
            .map(|s| s.iter_mut().map(|v| v.take().unwrap()).collect())
            .map_err(|e| e.0)
    }

    /// The fast path and the general decoder agree on every line: same values (bit for bit) or both fail.
    #[test]
    fn fast_path_agrees_with_the_general_decoder() {
        let mut lines: Vec<String> = vec![
            r#"{"sensor_id":"vib-0001","site":"crusher","ts":1795219200000,"ppv_mm_s":0.497,"freq_hz":18.22}"#.into(),
            r#" { "sensor_id" : "a" , "site":"b","ts":-5,"ppv_mm_s":-0,"freq_hz":1E2 } "#.into(),
            r#"{"sensor_id":"a","site":"b","ts":1,"ppv_mm_s":1.5e-3,"freq_hz":12345678901234567890}"#.into(),
            r#"{"sensor_id":"a\u0041","site":"b","ts":1,"ppv_mm_s":1,"freq_hz":1}"#.into(),
            r#"{"sensor_id":"é✓","site":"b","ts":1,"ppv_mm_s":1,"freq_hz":1,"x":null,"y":true,"z":[1]}"#.into(),
            r#"{"sensor_id":"a","site":"b","ts":1,"ppv_mm_s":1,"freq_hz":1,"sensor_id":"dup"}"#.into(),
            r#"{"sensor_id":"a","site":"b","ts":9223372036854775808,"ppv_mm_s":1,"freq_hz":1}"#.into(),
            r#"{"sensor_id":"a","site":"b","ts":1,"ppv_mm_s":1e400,"freq_hz":1}"#.into(),
            r#"{"sensor_id":"a","site":"b","ts":1,"ppv_mm_s":01,"freq_hz":1}"#.into(),
            r#"{"sensor_id":"a","site":"b","ts":1,"ppv_mm_s":1.,"freq_hz":1}"#.into(),
            r#"{"sensor_id":"a","site":"b","ts":1,"ppv_mm_s":.5,"freq_hz":1}"#.into(),
            r#"{"sensor_id":"a","site":"b","ts":1,"ppv_mm_s":+1,"freq_hz":1}"#.into(),
            r#"{"sensor_id":"a","site":"b","ts":1,"ppv_mm_s":1,"freq_hz":1,}"#.into(),
            r#"{"sensor_id":"a","site":"b","ts":1,"ppv_mm_s":1,"freq_hz":1} x"#.into(),
            r#"{"sensor_id":"a","site":"b","ts":1,"ppv_mm_s":1,"freq_hz":1"#.into(),
            r#"{"sensor_id":"a","site":"b","ts":1,"ppv_mm_s":nul,"freq_hz":1}"#.into(),
            r#"{"sensor_id":"a","site":"b","ts":1,"ppv_mm_s":1,"freq_hz":true}"#.into(),
            "{\"sensor_id\":\"tab\tin\",\"site\":\"b\",\"ts\":1,\"ppv_mm_s\":1,\"freq_hz\":1}".into(),
            r#"{}"#.into(),
            r#"[]"#.into(),
            "".into(),
        ];
        // Every prefix of a valid line, and single-byte corruptions of it at every position.
        let base = lines[0].clone();
        for i in 0..base.len() {
            lines.push(base[..i].to_string());
            for c in [b'"', b',', b'}', b'x', b'1', b'.', b'-', b' ', b'\\', b'e', 0x01] {
                let mut b = base.clone().into_bytes();
                b[i] = c;
                lines.push(String::from_utf8_lossy(&b).into_owned());
            }
        }
        let mut d = Decoder::new(Schema::vibration());
        let show = |r: Result<&mut [Option<Value>], DecodeError>| -> Result<Vec<String>, DecodeError> {
            r.map(|s| s.iter().map(|v| v.as_ref().map(bits).unwrap_or_default()).collect())
        };
        let mut row = Row::new();
        let patterns = fast::key_patterns(d.schema());
        assert!(
            fast::decode_compact(d.schema(), &patterns, Input::Bytes(lines[0].as_bytes()), &mut row).is_some(),
            "the compact path takes the common event"
        );
        for line in &lines {
            let fast = show(d.decode(line.as_bytes()));
            let general = show(d.decode_general(line.as_bytes()));
            assert_eq!(fast, general, "{line}");
            let compact = d
                .decode_row(Input::Bytes(line.as_bytes()), &mut row)
                .map(|()| row.iter().map(bits).collect::<Vec<_>>());
            assert_eq!(compact, general, "{line} (row)");
            if let Some(a) = AsciiBytes::new(line.as_bytes()) {
                let trusted = show(d.decode_input(Input::Ascii(a)));
                assert_eq!(trusted, general, "{line} (known ASCII)");
            }
        }
        assert!(lines.len() > 1000);
    }

    fn bits(v: &Value) -> String {
        match v {
            Value::Float(f) => format!("F{:x}", f.to_bits()),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn a_timestamp_field_reads_epoch_milliseconds_or_an_rfc_3339_time() {
        use crate::schema::{Field, FieldType};
        let schema = Schema {
            fields: vec![
                Field::new("id", FieldType::String),
                Field::new("at", FieldType::Timestamp),
            ],
            event_time: 1,
        };
        let mut d = Decoder::new(schema);
        let mut at = |line: &str| {
            d.decode(line.as_bytes())
                .map(|row| row[1].clone().unwrap())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            at(r#"{"id":"a","at":1795248000000}"#),
            Ok(Value::Int(1_795_248_000_000))
        );
        assert_eq!(
            at(r#"{"id":"a","at":"2026-11-21T08:00:00Z"}"#),
            Ok(Value::Int(1_795_248_000_000))
        );
        assert_eq!(
            at(r#"{"id":"a","at":"2026-11-21T09:00:00.5+01:00"}"#),
            Ok(Value::Int(1_795_248_000_500))
        );
        let e = at(r#"{"id":"a","at":"yesterday"}"#).unwrap_err();
        assert!(e.contains("no RFC 3339 time"), "{e}");
    }

    #[test]
    fn decodes_a_valid_event_ignoring_extra_fields() {
        let v = decode(r#"{"extra":[1,{"a":2}],"sensor_id":"vib-0001","site":"crusher","ts":1795219200000,"ppv_mm_s":1.5,"freq_hz":20}"#).unwrap();
        assert_eq!(v[0], Value::Str("vib-0001".into()));
        assert_eq!(v[2], Value::Int(1795219200000));
        assert_eq!(v[4], Value::Float(20.0));
    }

    #[test]
    fn explains_every_kind_of_bad_event() {
        let cases = [
            (r#"{"sensor_id":"vib-0001","ts":"#, "invalid JSON"),
            ("not json at all", "invalid JSON"),
            (
                r#"{"sensor_id":42,"ts":"yesterday","ppv_mm_s":"x"}"#,
                "field `sensor_id`: expected a string, found a number",
            ),
            ("{}", "missing field `sensor_id`"),
            (
                r#"{"sensor_id":"vib-0001","site":"crusher","ts":1795219200000,"ppv_mm_s":NaN,"freq_hz":1}"#,
                "invalid JSON",
            ),
            (
                r#"{"sensor_id":"a","site":"b","ts":1.5,"ppv_mm_s":1,"freq_hz":1}"#,
                "field `ts`: expected an integer",
            ),
            (
                r#"{"sensor_id":"a","site":"b","ts":1,"ppv_mm_s":1e999,"freq_hz":1}"#,
                "out of range",
            ),
            (r#"[1,2]"#, "expected a JSON object"),
            (
                r#"{"sensor_id":"a","site":"b","ts":1,"ts":2,"ppv_mm_s":1,"freq_hz":1}"#,
                "duplicate field `ts`",
            ),
            (
                r#"{"sensor_id":"a","site":"b","ts":1e23,"ppv_mm_s":1,"freq_hz":1}"#,
                "field `ts`: expected an integer, found 1e23, a number with an exponent",
            ),
            (
                r#"{"sensor_id":"a","site":"b","ts":1,"ppv_mm_s":1,"freq_hz":1} trailing"#,
                "invalid JSON",
            ),
        ];
        for (line, want) in cases {
            let err = decode(line).unwrap_err();
            assert!(err.contains(want), "{line}: {err}");
        }
        let mut d = Decoder::new(Schema::locations());
        let err = d
            .decode(br#"{"order_id":"o-1","deliverer_id":"d","state":"teleported","ts":1,"lat":0,"lon":0}"#)
            .unwrap_err();
        assert!(
            err.0
                .contains("unknown value \"teleported\" (allowed: assigned, picked_up, en_route, delivered)"),
            "{err}"
        );
    }
}
