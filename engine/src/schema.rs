//! Stream schemas: the ordered, typed fields of every stream in a job and which one is its event time.
//!
//! A source declares its schema; every operator derives its output schema from its inputs' at check time, so
//! a job's streams are typed before anything runs and records stay typed (a [`crate::record::Record`]'s
//! values are in schema order) until a sink encodes them.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::fmt;
use weir_operators::value::ValueType;

/// The type of a declared field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldType {
    String,
    Int,
    Float,
    Bool,
    /// Milliseconds since the epoch, UTC (an integer in JSON).
    Timestamp,
    /// A mergeable quantile sketch (the `sketch(FIELD)` aggregate).
    Sketch,
    /// A string restricted to the listed values.
    Enum(Vec<CompactString>),
}

impl FieldType {
    pub fn value_type(&self) -> ValueType {
        match self {
            FieldType::String | FieldType::Enum(_) => ValueType::Str,
            FieldType::Int => ValueType::Int,
            FieldType::Float => ValueType::Float,
            FieldType::Bool => ValueType::Bool,
            FieldType::Timestamp => ValueType::Timestamp,
            FieldType::Sketch => ValueType::Sketch,
        }
    }

    /// The declared type of values of `ty`.
    pub fn of(ty: ValueType) -> FieldType {
        match ty {
            ValueType::Str => FieldType::String,
            ValueType::Int => FieldType::Int,
            ValueType::Float => FieldType::Float,
            ValueType::Bool => FieldType::Bool,
            ValueType::Timestamp => FieldType::Timestamp,
            ValueType::Sketch => FieldType::Sketch,
        }
    }

    /// Parses a type name as job definitions write it (`"float"`, `"timestamp"`, …; enums are lists).
    pub fn parse(name: &str) -> Option<FieldType> {
        Some(match name {
            "string" => FieldType::String,
            "int" | "integer" => FieldType::Int,
            "float" | "number" => FieldType::Float,
            "bool" | "boolean" => FieldType::Bool,
            "timestamp" => FieldType::Timestamp,
            _ => return None,
        })
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldType::Enum(values) => {
                let v: Vec<&str> = values.iter().map(|s| s.as_str()).collect();
                write!(f, "enum({})", v.join("|"))
            }
            other => f.write_str(other.value_type().name()),
        }
    }
}

/// One declared field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
    /// `T?`: the field may be missing or null (its value is then NULL).
    #[serde(default)]
    pub nullable: bool,
}

impl Field {
    pub fn new(name: impl Into<String>, ty: FieldType) -> Field {
        Field {
            name: name.into(),
            ty,
            nullable: false,
        }
    }

    pub fn nullable(name: impl Into<String>, ty: FieldType) -> Field {
        Field {
            nullable: true,
            ..Field::new(name, ty)
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}{}", self.name, self.ty, if self.nullable { "?" } else { "" })
    }
}

/// `Schema::event_time` of a stream whose records carry no event-time field (dead letters).
pub const NO_EVENT_TIME: usize = usize::MAX;

/// A stream's fields in order; `event_time` indexes the field holding its event time (epoch milliseconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub fields: Vec<Field>,
    pub event_time: usize,
}

impl Schema {
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// The field names, comma-separated (for "available: …" messages).
    pub fn names(&self) -> String {
        self.fields
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The event-time field's name (`""` for dead letters, which have none).
    pub fn event_time_name(&self) -> &str {
        self.fields.get(self.event_time).map_or("", |f| f.name.as_str())
    }

    /// Whether two streams can be merged by a union: the same field names and types in the same order and
    /// the same event-time field (nullability may differ; the union's field is nullable if either is).
    pub fn union_compatible(&self, other: &Schema) -> bool {
        self.event_time == other.event_time
            && self.fields.len() == other.fields.len()
            && self
                .fields
                .iter()
                .zip(&other.fields)
                .all(|(a, b)| a.name == b.name && a.ty.value_type() == b.ty.value_type())
    }

    /// The built-in schema of the vibration stream.
    pub fn vibration() -> Schema {
        Schema {
            fields: vec![
                Field::new("sensor_id", FieldType::String),
                Field::new("site", FieldType::String),
                Field::new("ts", FieldType::Int),
                Field::new("ppv_mm_s", FieldType::Float),
                Field::new("freq_hz", FieldType::Float),
            ],
            event_time: 2,
        }
    }

    /// The built-in schema of the locations stream.
    pub fn locations() -> Schema {
        Schema {
            fields: vec![
                Field::new("order_id", FieldType::String),
                Field::new("deliverer_id", FieldType::String),
                Field::new(
                    "state",
                    FieldType::Enum(vec![
                        "assigned".into(),
                        "picked_up".into(),
                        "en_route".into(),
                        "delivered".into(),
                    ]),
                ),
                Field::new("ts", FieldType::Int),
                Field::new("lat", FieldType::Float),
                Field::new("lon", FieldType::Float),
            ],
            event_time: 3,
        }
    }

    /// The schema of dead letters (malformed records, late records, undeliverable sink records): the
    /// source (or sink) name, the partition and offset of the record, the reason and the raw bytes.
    pub fn dead_letters() -> Schema {
        Schema {
            fields: vec![
                Field::new("source", FieldType::String),
                Field::new("partition", FieldType::Int),
                Field::new("offset", FieldType::Int),
                Field::new("reason", FieldType::String),
                Field::new("raw", FieldType::String),
            ],
            // No event-time field: a dead letter's event time is the logical time it was found at.
            event_time: NO_EVENT_TIME,
        }
    }

    /// The schema of alerts: the fixed fields, then the rule's own `fields` (copied from the input).
    pub fn alerts(extra: impl IntoIterator<Item = Field>) -> Schema {
        let mut fields = vec![
            Field::new("alert_id", FieldType::String),
            Field::new("kind", FieldType::String),
            Field::new("severity", FieldType::String),
            Field::new("key", FieldType::String),
            Field::new("event_time", FieldType::Timestamp),
            Field::new("job", FieldType::String),
        ];
        fields.extend(extra);
        Schema { fields, event_time: 4 }
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{field}")?;
            if i == self.event_time {
                f.write_str(" (event time)")?;
            }
        }
        Ok(())
    }
}
