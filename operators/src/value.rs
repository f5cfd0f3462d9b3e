//! Field values and grouping keys as they flow between operators.
//!
//! Strings are `CompactString`s so the short identifiers typical of sensor and courier streams (`vib-0042`,
//! `o-0001234`) live inline without a heap allocation per record. Timestamps are `Int` milliseconds (their
//! type lives in the stream's schema); a quantile sketch column is shared, not copied, between records.

use crate::sketch::QuantileSketch;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// One typed field value of a record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Str(CompactString),
    Int(i64),
    Float(f64),
    /// SQL NULL: a missing optional field, or an expression over one.
    Null,
    Bool(bool),
    /// A mergeable quantile sketch (a `sketch(FIELD)` aggregate's column).
    Sketch(Arc<QuantileSketch>),
}

impl Value {
    /// The value as a float, for numeric aggregates; other types have none.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Writes the value as a JSON value (a sketch as its documented bytes, hex-encoded).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Str(s) => serde_json::Value::String(s.to_string()),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Sketch(s) => serde_json::Value::String(hex(&s.to_bytes())),
        }
    }

    /// A total order over values of one type (floats by `total_cmp`, NULL first); values of different types
    /// order by type. Used for deterministic tie-breaks, never for SQL comparison.
    pub fn total_cmp(&self, other: &Value) -> std::cmp::Ordering {
        match (self, other) {
            (Value::Str(x), Value::Str(y)) => x.cmp(y),
            (Value::Int(x), Value::Int(y)) => x.cmp(y),
            (Value::Float(x), Value::Float(y)) => x.total_cmp(y),
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            (Value::Sketch(x), Value::Sketch(y)) => x.to_bytes().cmp(&y.to_bytes()),
            _ => value_rank(self).cmp(&value_rank(other)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Sketch(s) => write!(f, "sketch({} values)", s.count()),
        }
    }
}

/// A short list of values held inline (no heap allocation per record for up to four).
pub type Values = smallvec::SmallVec<[Value; 4]>;

/// A grouping key: the values of the key fields, in declared order. Up to two fields live inline.
///
/// Ordered (floats by total order) so that output rows can be sorted deterministically.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Key(pub smallvec::SmallVec<[Value; 2]>);

impl From<Vec<Value>> for Key {
    fn from(v: Vec<Value>) -> Self {
        Key(v.into_iter().collect())
    }
}

impl FromIterator<Value> for Key {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Self {
        Key(iter.into_iter().collect())
    }
}

impl Key {
    /// The key as one string, as used in alert `key` fields, `alert_id`s and view keys: its fields joined by
    /// `|`, where a string field writes `\\` for `\` and `\|` for `|`, and a NULL field is `\N`. Distinct
    /// keys of one schema render distinctly (`("x|y","z")` is `x\|y|z`, `("x","y|z")` is `x|y\|z`; NULL is
    /// `\N`, the string `"null"` is `null`); a key without `\`, `|` or NULL renders as its plain text.
    pub fn display(&self) -> String {
        let mut out = String::new();
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                out.push('|');
            }
            match v {
                Value::Str(s) if s.contains(['\\', '|']) => {
                    for c in s.chars() {
                        if c == '\\' || c == '|' {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                }
                Value::Null => out.push_str("\\N"),
                v => {
                    use std::fmt::Write;
                    let _ = write!(out, "{v}");
                }
            }
        }
        out
    }

    /// The fields of a key as [`Key::display`] wrote it: `None` for a NULL field, else the field's text
    /// (unescaped). `None` overall for text `display` cannot have written (a stray `\`).
    pub fn parse_display(text: &str) -> Option<Vec<Option<String>>> {
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut null = false;
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next()? {
                    'N' if field.is_empty() && !null => null = true,
                    e @ ('\\' | '|') if !null => field.push(e),
                    _ => return None,
                },
                '|' => {
                    fields.push((!null).then(|| std::mem::take(&mut field)));
                    null = false;
                }
                c if !null => field.push(c),
                _ => return None,
            }
        }
        fields.push((!null).then_some(field));
        Some(fields)
    }

    /// A stable 64-bit hash of the key (FNV-1a over a canonical encoding), used to route keys to workers.
    /// Stable across processes and versions, unlike `std`'s `DefaultHasher`.
    pub fn route_hash(&self) -> u64 {
        Self::route_hash_of(&self.0)
    }

    /// [`Key::route_hash`] of the key these values would form.
    pub fn route_hash_of(values: &[Value]) -> u64 {
        Self::route_hash_iter(values)
    }

    /// [`Key::route_hash`] of the key these values (in order) would form.
    pub fn route_hash_iter<'a>(values: impl IntoIterator<Item = &'a Value>) -> u64 {
        let mut h = RouteHasher(0);
        for v in values {
            match v {
                Value::Str(s) => {
                    h.add(1 | (s.len() as u64) << 8);
                    h.write(s.as_bytes());
                }
                Value::Int(i) => {
                    h.add(2);
                    h.add(*i as u64);
                }
                Value::Float(f) => {
                    h.add(3);
                    h.add(f.to_bits());
                }
                Value::Null => h.add(4),
                Value::Bool(b) => h.add(5 | (*b as u64) << 8),
                Value::Sketch(s) => {
                    let bytes = s.to_bytes();
                    h.add(6 | (bytes.len() as u64) << 8);
                    h.write(&bytes);
                }
            }
        }
        // The multiply's low bits are weak for routing modulo small worker counts; mix them.
        let mut x = h.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51afd7ed558ccd);
        x ^= x >> 33;
        x
    }
}

/// The hash behind [`Key::route_hash`]: eight bytes per step (FxHash's step), the same on every platform and
/// in every process, so that every worker routes a key alike.
struct RouteHasher(u64);

impl RouteHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }
}

fn value_rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Str(_) => 1,
        Value::Int(_) => 2,
        Value::Float(_) => 3,
        Value::Bool(_) => 4,
        Value::Sketch(_) => 5,
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            let ord = a.total_cmp(b);
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(other.0.iter()).all(|(a, b)| key_values_equal(a, b))
    }
}

/// Whether two values of a key are the same key value (floats equal by value or by bits, so a NaN key
/// equals itself).
fn key_values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits() || x == y,
        _ => a.total_cmp(b).is_eq(),
    }
}

/// The key that the values at `fields` of a record's `row` form, borrowed: it hashes and compares like that
/// [`Key`], so a map keyed by `Key` is looked up without building one per record.
#[derive(Clone, Copy, Debug)]
pub struct KeyOf<'a> {
    row: &'a [Value],
    /// `None`: the whole row.
    fields: Option<&'a [usize]>,
}

impl<'a> KeyOf<'a> {
    /// The key of `row`'s values at `fields`, in that order.
    pub fn new(row: &'a [Value], fields: &'a [usize]) -> Self {
        KeyOf {
            row,
            fields: Some(fields),
        }
    }

    /// A key already built.
    pub fn of(key: &'a Key) -> Self {
        KeyOf {
            row: &key.0,
            fields: None,
        }
    }

    fn values(&self) -> impl Iterator<Item = &'a Value> + 'a {
        let (row, fields) = (self.row, self.fields);
        let n = fields.map_or(row.len(), <[usize]>::len);
        (0..n).map(move |i| &row[fields.map_or(i, |f| f[i])])
    }

    /// The owned key.
    pub fn to_key(&self) -> Key {
        self.values().cloned().collect()
    }
}

impl std::hash::Hash for KeyOf<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(Key::route_hash_iter(self.values()));
    }
}

impl hashbrown::Equivalent<Key> for KeyOf<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        let n = self.fields.map_or(self.row.len(), <[usize]>::len);
        n == key.0.len() && self.values().zip(key.0.iter()).all(|(a, b)| key_values_equal(a, b))
    }
}
impl Eq for Key {}
impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.route_hash());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_and_hash_stably() {
        let a = Key::from(vec![Value::Str("vib-0001".into())]);
        let b = Key::from(vec![Value::Str("vib-0002".into())]);
        assert!(a < b);
        assert_eq!(
            a.route_hash(),
            Key::from(vec![Value::Str("vib-0001".into())]).route_hash()
        );
        assert_ne!(a.route_hash(), b.route_hash());
        assert_eq!(Key::from(vec![Value::Str("x".into()), Value::Int(3)]).display(), "x|3");
        // Review B6: distinct keys render distinctly.
        let k = |v: Vec<Value>| Key::from(v).display();
        let s = |t: &str| Value::Str(t.into());
        assert_eq!(k(vec![s("x|y"), s("z")]), "x\\|y|z");
        assert_eq!(k(vec![s("x"), s("y|z")]), "x|y\\|z");
        assert_eq!(k(vec![Value::Null, s("q")]), "\\N|q");
        assert_eq!(k(vec![s("null"), s("q")]), "null|q");
        assert_eq!(k(vec![s("\\N")]), "\\\\N");
        assert_eq!(k(vec![s("a\\"), s("b")]), "a\\\\|b");
        assert_eq!(k(vec![s("a"), s("\\|b")]), "a|\\\\\\|b");
        // …and read back.
        for key in [
            vec![s("x|y"), s("z")],
            vec![Value::Null, s("q")],
            vec![s("null"), s("")],
            vec![s("\\N"), s("a\\"), s("|")],
            vec![s("")],
        ] {
            let text = k(key.clone());
            let back: Vec<Option<String>> = key
                .iter()
                .map(|v| match v {
                    Value::Null => None,
                    v => Some(v.to_string()),
                })
                .collect();
            assert_eq!(Key::parse_display(&text), Some(back), "{text}");
        }
        assert_eq!(Key::parse_display("a\\"), None);
        assert_eq!(Key::parse_display("\\Nx"), None);
    }
}

/// A hasher for maps keyed by [`Key`]: a key already hashes itself to one well-mixed `u64`
/// ([`Key::route_hash`]), so hashing that again would be wasted work.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ *b as u64).wrapping_mul(0x100000001b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

/// Builds [`KeyHasher`]s.
pub type BuildKeyHasher = std::hash::BuildHasherDefault<KeyHasher>;

/// The type of a field as operators see it (schema enums arrive as strings, timestamps as `Int` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ValueType {
    Str,
    Int,
    Float,
    Bool,
    /// Milliseconds since the epoch, UTC.
    Timestamp,
    Sketch,
}

impl ValueType {
    pub fn is_numeric(self) -> bool {
        matches!(self, ValueType::Int | ValueType::Float)
    }

    /// The name job definitions and messages use.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Str => "string",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Bool => "bool",
            ValueType::Timestamp => "timestamp",
            ValueType::Sketch => "sketch",
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
