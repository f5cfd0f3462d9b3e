//! Typed values from text: CSV cells of a file table (and anything else that arrives as strings), and a
//! table's key written as text (a Kafka tombstone's message key, a key in an HTTP path).

use crate::schema::{Field, FieldType};
use weir_operators::{Key, Value};

/// A key of the fields `fields` written as a Kafka message key: the value's text for a one-field key, or
/// a JSON object with every key field for a key of several (`{"region": "eu", "id": 7}`, the shape of Flink's
/// `key.format = 'json'`).
pub fn parse_message_key(fields: &[&Field], text: &str) -> Result<Key, String> {
    if let [field] = fields {
        return parse_text_value(field, text).map(|v| Key::from(vec![v]));
    }
    let names = || fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ");
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|_| format!("`{text}` is not a JSON object with the key's fields ({})", names()))?;
    fields
        .iter()
        .map(|f| match object.get(&f.name) {
            None | Some(serde_json::Value::Null) => Err(format!("key field `{}` is missing", f.name)),
            Some(serde_json::Value::String(s)) => parse_text_value(f, s),
            Some(v) => parse_text_value(f, &v.to_string()),
        })
        .collect::<Result<Vec<Value>, String>>()
        .map(Key::from)
}

/// A key of the fields `fields` written as [`Key::display`] writes it (`eu|7`; `\|` and `\\` escape): a
/// one-field key is the value's text as it is.
pub fn parse_display_key(fields: &[&Field], text: &str) -> Result<Key, String> {
    if let [field] = fields {
        return parse_text_value(field, text).map(|v| Key::from(vec![v]));
    }
    let names = || fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join("|");
    let parts = Key::parse_display(text)
        .filter(|p| p.len() == fields.len())
        .ok_or_else(|| format!("a key of this table is written {}", names()))?;
    fields
        .iter()
        .zip(parts)
        .map(|(f, part)| match part {
            None => Err(format!("key field `{}` cannot be NULL", f.name)),
            Some(text) if matches!(f.ty, FieldType::String | FieldType::Enum(_)) && text.is_empty() => {
                Ok(Value::Str("".into()))
            }
            Some(text) => parse_text_value(f, &text),
        })
        .collect::<Result<Vec<Value>, String>>()
        .map(Key::from)
}

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
    fn keys_of_several_fields_read_from_json_message_keys_and_display_text() {
        let (region, id) = (
            Field::new("region", FieldType::String),
            Field::new("id", FieldType::Int),
        );
        let both = [&region, &id];
        let want = Key::from(vec![Value::Str("eu|x".into()), Value::Int(7)]);
        assert_eq!(
            parse_message_key(&both, r#"{"id": 7, "region": "eu|x"}"#),
            Ok(want.clone())
        );
        assert_eq!(
            parse_message_key(&both, r#"{"id": "7", "region": "eu|x"}"#),
            Ok(want.clone())
        );
        assert_eq!(parse_display_key(&both, r"eu\|x|7"), Ok(want.clone()));
        assert_eq!(parse_display_key(&both, &want.display()), Ok(want));
        assert!(parse_message_key(&both, r#"{"id": 7}"#)
            .unwrap_err()
            .contains("`region` is missing"));
        assert!(parse_message_key(&both, "eu").unwrap_err().contains("(region, id)"));
        assert!(parse_display_key(&both, "eu").unwrap_err().contains("region|id"));
        assert!(parse_display_key(&both, "eu|x").unwrap_err().contains("not an integer"));
        // A one-field key is its text as it is.
        assert_eq!(parse_message_key(&[&id], "12"), Ok(Key::from(vec![Value::Int(12)])));
        assert_eq!(
            parse_display_key(&[&region], "a|b"),
            Ok(Key::from(vec![Value::Str("a|b".into())]))
        );
    }

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
