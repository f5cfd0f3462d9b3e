//! Typed values from text: CSV cells of a file table (and anything else that arrives as strings).

use crate::schema::{Field, FieldType};
use weir_operators::Value;

/// The value of `field` written as `text`: an empty cell is NULL (a problem unless the field is
/// nullable); numbers, booleans and timestamps (epoch ms) must parse.
pub fn parse_text_value(field: &Field, text: &str) -> Result<Value, String> {
    let text = text.trim();
    if text.is_empty() {
        return if field.nullable {
            Ok(Value::Null)
        } else {
            Err(format!("field `{}` is empty", field.name))
        };
    }
    let bad = |what: &str| format!("field `{}`: `{text}` is not {what}", field.name);
    Ok(match &field.ty {
        FieldType::String => Value::Str(text.into()),
        FieldType::Int => Value::Int(text.parse().map_err(|_| bad("an integer"))?),
        FieldType::Timestamp => Value::Int(match text.parse() {
            Ok(ms) => ms,
            Err(_) => crate::words::rfc3339_ms(text).ok_or_else(|| bad("epoch milliseconds or an RFC 3339 time"))?,
        }),
        FieldType::Float => {
            let f: f64 = text.parse().map_err(|_| bad("a number"))?;
            if !f.is_finite() {
                return Err(bad("a finite number"));
            }
            Value::Float(f)
        }
        FieldType::Bool => match text {
            "true" | "TRUE" | "True" => Value::Bool(true),
            "false" | "FALSE" | "False" => Value::Bool(false),
            _ => return Err(bad("true or false")),
        },
        FieldType::Enum(allowed) => {
            if !allowed.iter().any(|a| a == text) {
                return Err(bad(&format!("one of {}", field.ty)));
            }
            Value::Str(text.into())
        }
        FieldType::Sketch => return Err(format!("field `{}`: a sketch cannot be read from text", field.name)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_parse_by_type_and_empty_is_null_only_where_allowed() {
        let f = Field::new("limit", FieldType::Float);
        assert!(matches!(parse_text_value(&f, " 2.5 "), Ok(Value::Float(x)) if x == 2.5));
        assert!(parse_text_value(&f, "").unwrap_err().contains("empty"));
        assert!(parse_text_value(&f, "NaN").unwrap_err().contains("finite"));
        let n = Field::nullable("zone", FieldType::String);
        assert!(matches!(parse_text_value(&n, ""), Ok(Value::Null)));
        let i = Field::new("since", FieldType::Timestamp);
        assert!(parse_text_value(&i, "12x").unwrap_err().contains("RFC 3339"));
        assert!(matches!(
            parse_text_value(&i, "2026-11-01 00:00:00+00"),
            Ok(Value::Int(1_793_491_200_000))
        ));
        assert!(matches!(
            parse_text_value(&i, "2026-11-01T00:00:01Z"),
            Ok(Value::Int(1_793_491_201_000))
        ));
    }
}
