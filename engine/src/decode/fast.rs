//! Fast paths for the common event: one flat JSON object whose keys and string values have no escapes and
//! whose values are strings, numbers or literals.
//!
//! [`decode_compact`] takes the most common shape of all — exactly the schema's fields, in schema order,
//! written without whitespace, as producers serialize a struct — matching each `"name":` as a whole and
//! parsing each value straight into the record's row. [`decode_flat`] takes any flat object (keys in any
//! order, undeclared fields, whitespace) into per-field slots.
//!
//! Both either decode a line exactly as the general decoder would, or decline (`None`) and leave the line to
//! the next path — in the end the general decoder, which is also what produces every error message. They
//! never reject a line. Numbers follow the JSON grammar strictly; integer fields are read as integers and
//! float fields correctly rounded (Clinger's exact fast path for short decimals, Rust's parser otherwise), so
//! the values are bit-identical to serde_json's. A differential test checks that they agree.

use super::Input;
use crate::record::Row;
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

/// Powers of ten that are exact doubles (10^0 ..= 10^22).
const EXACT_POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// `"name":` for each field of `schema`: what [`decode_compact`] expects before each value.
pub(super) fn key_patterns(schema: &Schema) -> Vec<KeyPattern> {
    schema.fields.iter().map(|f| KeyPattern::new(&f.name)).collect()
}

/// One field's `"name":`, with its first 16 bytes also held as two words and masks: five of these are
/// matched per event, and a call to `memcmp` for each cost more than the comparison.
pub(super) struct KeyPattern {
    bytes: Box<[u8]>,
    words: [u64; 2],
    masks: [u64; 2],
}

impl KeyPattern {
    fn new(name: &str) -> Self {
        let mut bytes = Vec::with_capacity(name.len() + 3);
        bytes.push(b'"');
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(b"\":");
        let (mut padded, mut mask) = ([0u8; 16], [0u8; 16]);
        let n = bytes.len().min(16);
        padded[..n].copy_from_slice(&bytes[..n]);
        mask[..n].fill(0xff);
        let word = |b: &[u8], k| word_at(b, k).expect("16 bytes");
        KeyPattern {
            words: [word(&padded, 0), word(&padded, 8)],
            masks: [word(&mask, 0), word(&mask, 8)],
            bytes: bytes.into_boxed_slice(),
        }
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether `b[i..]` starts with the pattern.
    #[inline]
    fn is_at(&self, b: &[u8], i: usize) -> bool {
        if self.bytes.len() <= 16 {
            if let Some(w) = b.get(i..i + 16) {
                let word = |k| word_at(w, k).expect("16 bytes");
                return ((word(0) ^ self.words[0]) & self.masks[0]) | ((word(8) ^ self.words[1]) & self.masks[1]) == 0;
            }
        }
        b.get(i..).is_some_and(|rest| rest.starts_with(&self.bytes))
    }
}

/// The digits of a JSON number read in one pass: sign, up to 19 significant digits as an integer, and the
/// decimal exponent that scales them.
struct Number {
    negative: bool,
    mantissa: u64,
    exponent: i64,
    /// No fraction and no exponent were written.
    integer: bool,
}

/// The eight bytes at `b[j..j + 8]` as a little-endian word (the first byte lowest), if there are eight.
#[inline]
fn word_at(b: &[u8], j: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(j..j + 8)?.try_into().ok()?))
}

/// The value of the eight ASCII digits at `b[j..j + 8]`, if there are eight bytes there and all are digits
/// (SWAR: one load, a check of all eight bytes and three multiplications instead of eight steps).
#[inline]
fn eight_digits(b: &[u8], j: usize) -> Option<u64> {
    let v = word_at(b, j)?;
    // Each byte is 0x30..=0x39: its high nibble is 3, and adding 6 does not carry into it.
    let high = v & 0xf0f0_f0f0_f0f0_f0f0;
    let carried = v.wrapping_add(0x0606_0606_0606_0606) & 0xf0f0_f0f0_f0f0_f0f0;
    if high != 0x3030_3030_3030_3030 || carried != 0x3030_3030_3030_3030 {
        return None;
    }
    // Little-endian: the first digit is the lowest byte. Combine pairs, then pairs of pairs, then halves.
    let d = v - 0x3030_3030_3030_3030;
    let pairs = (d * 10 + (d >> 8)) & 0x00ff_00ff_00ff_00ff;
    let quads = (pairs * 100 + (pairs >> 16)) & 0x0000_ffff_0000_ffff;
    Some((quads * 10_000 + (quads >> 32)) & 0xffff_ffff)
}

/// How many of the eight bytes at `b[j..j + 8]` come before the first quote, backslash or control character
/// (8: none is one), if there are eight bytes there. SWAR: the lowest byte a zero-byte test flags is always
/// a true one (only bytes above it can be flagged falsely).
#[inline]
fn plain_bytes(b: &[u8], j: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let v = word_at(b, j)?;
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    // A byte below 0x20 (a byte of 0x80 or more has its high bit set, so `!v` clears its flag).
    let control = v.wrapping_sub(ONES * 0x20) & !v & HIGH;
    let special = zero_in(v ^ (ONES * b'"' as u64)) | zero_in(v ^ (ONES * b'\\' as u64)) | control;
    Some(special.trailing_zeros() as usize / 8)
}

/// Reads the JSON number at `b[*i..]` (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`), advancing `i`;
/// `None` if it is not one or has more digits than fit the fast path.
#[inline]
fn number(b: &[u8], i: &mut usize) -> Option<Number> {
    let mut j = *i;
    let negative = b.get(j) == Some(&b'-');
    j += negative as usize;
    let mut mantissa = 0u64;
    let mut digits = 0u32;
    match b.get(j) {
        Some(b'0') => j += 1,
        Some(b'1'..=b'9') => {
            // Eight digits at a time while there are (a millisecond timestamp has 13), then one at a time.
            while let Some(v) = eight_digits(b, j) {
                mantissa = mantissa.wrapping_mul(100_000_000).wrapping_add(v);
                digits += 8;
                j += 8;
            }
            while let Some(d @ b'0'..=b'9') = b.get(j) {
                mantissa = mantissa.wrapping_mul(10).wrapping_add((d - b'0') as u64);
                digits += 1;
                j += 1;
            }
        }
        _ => return None,
    }
    let mut exponent = 0i64;
    let mut integer = true;
    if b.get(j) == Some(&b'.') {
        integer = false;
        j += 1;
        let start = j;
        while let Some(d @ b'0'..=b'9') = b.get(j) {
            if mantissa != 0 || *d != b'0' {
                digits += 1;
            }
            mantissa = mantissa.wrapping_mul(10).wrapping_add((d - b'0') as u64);
            j += 1;
        }
        if j == start {
            return None;
        }
        exponent = -((j - start) as i64);
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        integer = false;
        j += 1;
        let minus = match b.get(j) {
            Some(b'-') => {
                j += 1;
                true
            }
            Some(b'+') => {
                j += 1;
                false
            }
            _ => false,
        };
        let start = j;
        let mut e = 0i64;
        while let Some(d @ b'0'..=b'9') = b.get(j) {
            e = e.saturating_mul(10).saturating_add((d - b'0') as i64);
            j += 1;
        }
        if j == start {
            return None;
        }
        exponent = exponent.saturating_add(if minus { -e } else { e });
    }
    if digits > 19 {
        return None;
    }
    *i = j;
    Some(Number {
        negative,
        mantissa,
        exponent,
        integer,
    })
}

impl Number {
    /// The value of an integer field: plain digits within i64 (`-0` is a float to serde_json: declined).
    #[inline]
    fn int(&self) -> Option<i64> {
        if !self.integer || (self.negative && self.mantissa == 0) {
            return None;
        }
        if self.negative {
            (self.mantissa <= i64::MIN.unsigned_abs()).then(|| (self.mantissa as i64).wrapping_neg())
        } else {
            i64::try_from(self.mantissa).ok()
        }
    }

    /// The correctly rounded double, when Clinger's fast path applies (the mantissa and the power of ten are
    /// both exact doubles, so one IEEE operation rounds correctly); `None` otherwise.
    #[inline]
    fn float(&self) -> Option<f64> {
        if self.mantissa > 1 << 53 || !(-22..=22).contains(&self.exponent) {
            return None;
        }
        let m = self.mantissa as f64;
        let pow = EXACT_POW10[self.exponent.unsigned_abs() as usize];
        let v = if self.exponent < 0 { m / pow } else { m * pow };
        Some(if self.negative { -v } else { v })
    }
}

/// Decodes an object holding exactly `schema`'s fields in schema order with no whitespace (`patterns` from
/// [`key_patterns`]) into `row` (empty on entry), or declines.
pub(super) fn decode_compact(schema: &Schema, patterns: &[KeyPattern], input: Input<'_>, row: &mut Row) -> Option<()> {
    let (b, ascii) = match input {
        Input::Ascii(a) => (a.bytes(), true),
        Input::Bytes(b) => (b, false),
    };
    if b.first() != Some(&b'{') {
        return None;
    }
    let mut i = 1;
    for (field, pattern) in schema.fields.iter().zip(patterns) {
        if i > 1 {
            if b.get(i) != Some(&b',') {
                return None;
            }
            i += 1;
        }
        if !pattern.is_at(b, i) {
            return None;
        }
        i += pattern.len();
        let value = match (&field.ty, b.get(i)?) {
            (FieldType::String | FieldType::Enum(_), b'"') => {
                let start = i + 1;
                let mut j = start;
                // Eight bytes at a time up to the first quote, backslash or control character, then that one.
                while let Some(k) = plain_bytes(b, j) {
                    j += k;
                    if k < 8 {
                        break;
                    }
                }
                loop {
                    match *b.get(j)? {
                        b'"' => break,
                        b'\\' | 0..=0x1f => return None,
                        _ => j += 1,
                    }
                }
                i = j + 1;
                let s = if ascii {
                    // SAFETY: `ascii` is set only for an `Input::Ascii` line, whose bytes were checked to be ASCII.
                    unsafe { std::str::from_utf8_unchecked(&b[start..j]) }
                } else {
                    std::str::from_utf8(&b[start..j]).ok()?
                };
                match &field.ty {
                    FieldType::Enum(allowed) => Value::Str(allowed.iter().find(|a| a.as_str() == s)?.clone()),
                    _ => Value::Str(CompactString::from(s)),
                }
            }
            (FieldType::Int | FieldType::Timestamp, b'-' | b'0'..=b'9') => Value::Int(number(b, &mut i)?.int()?),
            (FieldType::Float, b'-' | b'0'..=b'9') => {
                let start = i;
                let n = number(b, &mut i)?;
                let v = match n.float() {
                    Some(v) => v,
                    // SAFETY: `number` accepted only ASCII digits, signs, `.` and `e`/`E`.
                    None => unsafe { std::str::from_utf8_unchecked(&b[start..i]) }.parse().ok()?,
                };
                if !v.is_finite() {
                    return None;
                }
                Value::Float(v)
            }
            (FieldType::Bool, b't') if b[i..].starts_with(b"true") => {
                i += 4;
                Value::Bool(true)
            }
            (FieldType::Bool, b'f') if b[i..].starts_with(b"false") => {
                i += 5;
                Value::Bool(false)
            }
            _ => return None, // null, another type, or a nested value: the other paths decide
        };
        row.push(value);
    }
    (b.get(i) == Some(&b'}') && i + 1 == b.len()).then_some(())
}

#[cfg(test)]
mod tests {
    use super::{eight_digits, plain_bytes};

    /// Every byte value at every position of an otherwise all-digit word: eight digits are their value,
    /// anything else is no value.
    #[test]
    fn eight_digits_reads_exactly_eight_ascii_digits() {
        let base = *b"90817263";
        for pos in 0..8 {
            for byte in 0..=255u8 {
                let mut w = base;
                w[pos] = byte;
                let want = w
                    .iter()
                    .all(u8::is_ascii_digit)
                    .then(|| std::str::from_utf8(&w).unwrap().parse::<u64>().unwrap());
                assert_eq!(eight_digits(&w, 0), want, "{w:?}");
            }
        }
        assert_eq!(eight_digits(b"x1234567890", 1), Some(12_345_678));
        assert_eq!(eight_digits(b"1234567", 0), None, "fewer than eight bytes");
        assert_eq!(eight_digits(b"99999999", 0), Some(99_999_999));
        assert_eq!(eight_digits(b"00000000", 0), Some(0));
    }

    /// Every byte value at every position, over a background of every kind of plain byte: the count is the
    /// position of the first quote, backslash or control character.
    #[test]
    fn plain_bytes_stops_at_the_first_special_byte() {
        for background in [*b"abcdefgh", *b"\x7f\x7f~~ \x80\xff!", [0x21; 8], [0x5d; 8]] {
            for pos in 0..8 {
                for byte in 0..=255u8 {
                    let mut w = background;
                    w[pos] = byte;
                    let want = w.iter().position(|c| matches!(c, b'"' | b'\\' | 0..=0x1f)).unwrap_or(8);
                    assert_eq!(plain_bytes(&w, 0), Some(want), "{w:?}");
                }
            }
        }
        assert_eq!(plain_bytes(b"1234567", 0), None, "fewer than eight bytes");
    }
}
