//! A stream's records as Arrow columns: the Arrow schema of a stream (int → INT64, float → DOUBLE,
//! string/enum → UTF8, bool → BOOLEAN, timestamp → TIMESTAMP(ms or µs, UTC), sketch → BINARY) and one record
//! batch of rows.

use crate::record::Row;
use crate::schema::{FieldType, Schema};
use arrow_array::builder::{BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, TimestampMicrosecondArray, TimestampMillisecondArray};
use arrow_schema::{DataType, Field, TimeUnit};
use std::sync::Arc;
use weir_operators::Value;

/// The Arrow schema of a stream (timestamps in milliseconds).
pub fn arrow_schema(schema: &Schema) -> arrow_schema::Schema {
    arrow_schema_in(schema, TimeUnit::Millisecond)
}

/// The Arrow schema of a stream, timestamps in `unit` (Delta tables take microseconds).
pub fn arrow_schema_in(schema: &Schema, unit: TimeUnit) -> arrow_schema::Schema {
    let fields: Vec<Field> = schema
        .fields
        .iter()
        .map(|f| {
            let dt = match f.ty {
                FieldType::String | FieldType::Enum(_) => DataType::Utf8,
                FieldType::Int => DataType::Int64,
                FieldType::Float => DataType::Float64,
                FieldType::Bool => DataType::Boolean,
                FieldType::Timestamp => DataType::Timestamp(unit, Some("UTC".into())),
                FieldType::Sketch => DataType::Binary,
            };
            Field::new(&f.name, dt, f.nullable)
        })
        .collect();
    arrow_schema::Schema::new(fields)
}

/// Builds one record batch from rows of `schema`.
pub fn record_batch(
    arrow: &Arc<arrow_schema::Schema>,
    schema: &Schema,
    rows: &[&Row],
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields.len());
    for (c, field) in schema.fields.iter().enumerate() {
        let col: ArrayRef = match field.ty {
            FieldType::String | FieldType::Enum(_) => {
                let mut b = StringBuilder::new();
                for r in rows {
                    match &r[c] {
                        Value::Null => b.append_null(),
                        Value::Str(s) => b.append_value(s),
                        other => b.append_value(other.to_string()),
                    }
                }
                Arc::new(b.finish())
            }
            FieldType::Int => {
                let mut b = Int64Builder::new();
                for r in rows {
                    match &r[c] {
                        Value::Int(i) => b.append_value(*i),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            FieldType::Timestamp => {
                let ts: Vec<Option<i64>> = rows
                    .iter()
                    .map(|r| match &r[c] {
                        Value::Int(i) => Some(*i),
                        _ => None,
                    })
                    .collect();
                match arrow.field(c).data_type() {
                    DataType::Timestamp(TimeUnit::Microsecond, _) => {
                        let us = ts.into_iter().map(|t| t.map(|ms| ms.saturating_mul(1000)));
                        Arc::new(TimestampMicrosecondArray::from(us.collect::<Vec<_>>()).with_timezone("UTC"))
                    }
                    _ => Arc::new(TimestampMillisecondArray::from(ts).with_timezone("UTC")),
                }
            }
            FieldType::Float => {
                let mut b = Float64Builder::new();
                for r in rows {
                    match r[c].as_f64() {
                        Some(f) => b.append_value(f),
                        None if field.nullable => b.append_null(),
                        None => b.append_value(f64::NAN),
                    }
                }
                Arc::new(b.finish())
            }
            FieldType::Bool => {
                let mut b = BooleanBuilder::new();
                for r in rows {
                    match &r[c] {
                        Value::Bool(v) => b.append_value(*v),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            FieldType::Sketch => {
                let mut b = BinaryBuilder::new();
                for r in rows {
                    match &r[c] {
                        Value::Sketch(s) => b.append_value(s.to_bytes()),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
        };
        cols.push(col);
    }
    RecordBatch::try_new(arrow.clone(), cols)
}
