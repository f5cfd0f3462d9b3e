//! Declared record schemas: which fields a source's events have, their types, and the event-time field.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use weir_operators::value::ValueType;

/// The type of a declared field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldType {
    String,
    Int,
    Float,
    /// A string restricted to the listed values.
    Enum(Vec<CompactString>),
}

impl FieldType {
    pub fn value_type(&self) -> ValueType {
        match self {
            FieldType::String | FieldType::Enum(_) => ValueType::Str,
            FieldType::Int => ValueType::Int,
            FieldType::Float => ValueType::Float,
        }
    }
}

/// One declared field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
}

/// A source's declared fields; `event_time` indexes the `Int` field holding epoch milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub fields: Vec<Field>,
    pub event_time: usize,
}

impl Schema {
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// The built-in schema of the vibration stream (DESIGN §1).
    pub fn vibration() -> Schema {
        Schema {
            fields: vec![
                Field {
                    name: "sensor_id".into(),
                    ty: FieldType::String,
                },
                Field {
                    name: "site".into(),
                    ty: FieldType::String,
                },
                Field {
                    name: "ts".into(),
                    ty: FieldType::Int,
                },
                Field {
                    name: "ppv_mm_s".into(),
                    ty: FieldType::Float,
                },
                Field {
                    name: "freq_hz".into(),
                    ty: FieldType::Float,
                },
            ],
            event_time: 2,
        }
    }

    /// The built-in schema of the locations stream (DESIGN §1).
    pub fn locations() -> Schema {
        Schema {
            fields: vec![
                Field {
                    name: "order_id".into(),
                    ty: FieldType::String,
                },
                Field {
                    name: "deliverer_id".into(),
                    ty: FieldType::String,
                },
                Field {
                    name: "state".into(),
                    ty: FieldType::Enum(vec![
                        "assigned".into(),
                        "picked_up".into(),
                        "en_route".into(),
                        "delivered".into(),
                    ]),
                },
                Field {
                    name: "ts".into(),
                    ty: FieldType::Int,
                },
                Field {
                    name: "lat".into(),
                    ty: FieldType::Float,
                },
                Field {
                    name: "lon".into(),
                    ty: FieldType::Float,
                },
            ],
            event_time: 3,
        }
    }
}
