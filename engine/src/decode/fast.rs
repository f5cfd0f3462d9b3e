//! A fast path for the common event: one flat JSON object whose keys and string values have no escapes and
//! whose values are strings, numbers or literals.
//!
//! It either decodes a line exactly as the general decoder would, or declines (`None`) and leaves the line
//! to the general decoder — which is also what produces every error message. It never rejects a line. Numbers
//! follow the JSON grammar strictly; integer fields are read as integers and float fields with Rust's
//! correctly rounded parser, so the values are bit-identical to serde_json's. A differential test checks the two agree.

use super::Input;
use crate::schema::{FieldType, Schema};
use compact_str::CompactString;
use weir_operators::Value;

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
    /// The whole line is ASCII, hence valid UTF-8 (only ever set from an [`Input::Ascii`]).
    ascii: bool,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// A string without escapes or control characters, as valid UTF-8.
    #[inline]
    fn plain_str(&mut self) -> Option<&'a str> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        // One pass over the (usually short) string: its end, and no escape or control character before it.
        let len = self.b[start..]
            .iter()
            .position(|c| matches!(c, b'"' | b'\\' | 0..=0x1f))?;
        let end = start + len;
        if self.b[end] != b'"' {
            return None; // an escape or a control character: the general decoder handles it
        }
        let bytes = &self.b[start..end];
        self.i = end + 1;
        if self.ascii {
            // SAFETY: `ascii` is set only for an `Input::Ascii` line, whose bytes were checked to be ASCII.
            Some(unsafe { std::str::from_utf8_unchecked(bytes) })
        } else {
            std::str::from_utf8(bytes).ok()
        }
    }

    /// A JSON number token `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, and whether it is an integer.
    #[inline]
    fn number(&mut self) -> Option<(&'a str, bool)> {
        let b = self.b;
        let start = self.i;
        let mut i = start;
        let digits = |i: &mut usize| {
            let d = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > d
        };
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                digits(&mut i);
            }
            _ => return None,
        }
        let mut integer = true;
        if b.get(i) == Some(&b'.') {
            integer = false;
            i += 1;
            if !digits(&mut i) {
                return None;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            integer = false;
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digits(&mut i) {
                return None;
            }
        }
        self.i = i;
        // SAFETY: only ASCII digits, signs, `.` and `e`/`E` were accepted above.
        Some((unsafe { std::str::from_utf8_unchecked(&b[start..i]) }, integer))
    }
}

/// Decodes `line` into `slots` (one per schema field, all `None` on entry), or declines.
pub(super) fn decode_flat(schema: &Schema, input: Input<'_>, slots: &mut [Option<Value>]) -> Option<()> {
    let (line, ascii) = match input {
        Input::Ascii(a) => (a.bytes(), true),
        Input::Bytes(b) => (b, false),
    };
    let mut c = Cursor { b: line, i: 0, ascii };
    c.ws();
    if c.peek()? != b'{' {
        return None;
    }
    c.i += 1;
    c.ws();
    let mut expected = 0usize;
    if c.peek()? == b'}' {
        c.i += 1;
    } else {
        loop {
            c.ws();
            let key = c.plain_str()?;
            c.ws();
            if c.peek()? != b':' {
                return None;
            }
            c.i += 1;
            c.ws();
            // Events usually list their fields in schema order: try the expected one before scanning.
            let field = match schema.fields.get(expected) {
                Some(f) if f.name == key => Some(expected),
                _ => schema.index_of(key),
            };
            if let Some(f) = field {
                if slots[f].is_some() {
                    return None; // a duplicate field: the general decoder reports it
                }
                expected = f + 1;
            }
            let ty = field.map(|f| (f, &schema.fields[f].ty));
            let value = match c.peek()? {
                b'"' => {
                    let s = c.plain_str()?;
                    match ty {
                        Some((_, FieldType::String)) => Some(Value::Str(CompactString::from(s))),
                        Some((_, FieldType::Enum(allowed))) => {
                            Some(Value::Str(allowed.iter().find(|a| a.as_str() == s)?.clone()))
                        }
                        Some(_) => return None,
                        None => None,
                    }
                }
                b'-' | b'0'..=b'9' => {
                    let (tok, integer) = c.number()?;
                    match ty {
                        // `-0` is a float to serde_json (it keeps the sign): the general decoder reports it.
                        Some((_, FieldType::Int | FieldType::Timestamp)) if integer && tok != "-0" => {
                            Some(Value::Int(tok.parse::<i64>().ok()?))
                        }
                        // Correctly rounded, like serde_json with `float_roundtrip` (which also keeps `-0` as -0.0).
                        Some((_, FieldType::Float)) => {
                            let f: f64 = tok.parse().ok()?;
                            if !f.is_finite() {
                                return None;
                            }
                            Some(Value::Float(f))
                        }
                        Some(_) => return None,
                        None => None,
                    }
                }
                b't' | b'f' | b'n' => {
                    let rest = &line[c.i..];
                    let (len, literal) = if rest.starts_with(b"true") {
                        (4, Value::Bool(true))
                    } else if rest.starts_with(b"null") {
                        (4, Value::Null)
                    } else if rest.starts_with(b"false") {
                        (5, Value::Bool(false))
                    } else {
                        return None;
                    };
                    c.i += len;
                    match (ty, &literal) {
                        (None, _) => None,
                        (Some((f, _)), Value::Null) if schema.fields[f].nullable => Some(Value::Null),
                        (Some((_, FieldType::Bool)), Value::Bool(_)) => Some(literal),
                        _ => return None,
                    }
                }
                _ => return None, // nested value: the general decoder skips or reports it
            };
            if let Some((f, _)) = ty {
                slots[f] = value;
            }
            c.ws();
            match c.peek()? {
                b',' => c.i += 1,
                b'}' => {
                    c.i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    c.ws();
    if c.i != line.len() {
        return None;
    }
    for (slot, field) in slots.iter_mut().zip(&schema.fields) {
        if slot.is_none() {
            if !field.nullable {
                return None;
            }
            *slot = Some(Value::Null);
        }
    }
    Some(())
}
