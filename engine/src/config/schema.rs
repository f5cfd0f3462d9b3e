//! The `schema` option of sources and tables: the fields of their records, written out or by a built-in name.

use super::Section;
use crate::schema::{Field, FieldType, Schema};
use compact_str::CompactString;

/// A section's `schema`: a table of `FIELD = TYPE` (`"float?"` may be null; a list is an enum), or a built-in
/// name; `builtin_default` when it gives none (kinds whose records have a fixed shape).
pub fn parse_schema(s: &Section, builtin_default: Option<Schema>) -> Option<Vec<Field>> {
    match s.value("schema") {
        None => match builtin_default {
            Some(b) => Some(b.fields),
            None => {
                s.problem("schema", "is required: a table of FIELD = \"string\" | \"int\" | \"float\" | [\"enum\", \"values\"], or a built-in name (\"vibration\", \"locations\")");
                None
            }
        },
        Some(toml::Value::String(name)) => match name.as_str() {
            "vibration" => Some(Schema::vibration().fields),
            "locations" => Some(Schema::locations().fields),
            other => {
                s.problem(
                    "schema",
                    format!("unknown built-in schema \"{other}\"; allowed: vibration, locations, or a table of fields"),
                );
                None
            }
        },
        Some(toml::Value::Table(t)) => {
            let mut fields = Vec::new();
            let mut ok = true;
            for (name, ty) in t {
                let mut nullable = false;
                let ty = match ty {
                    toml::Value::String(t) => {
                        let base = match t.strip_suffix('?') {
                            Some(b) => {
                                nullable = true;
                                b
                            }
                            None => t.as_str(),
                        };
                        match FieldType::parse(base) {
                            Some(ty) => Some(ty),
                            None => {
                                s.problem(&format!("schema.{name}"), format!("unknown type \"{t}\"; allowed: string, int, float, bool, timestamp (add ? for a field that may be missing or null, e.g. \"float?\"), or a list of enum values"));
                                None
                            }
                        }
                    }
                    toml::Value::Array(vals) => {
                        let vs: Option<Vec<CompactString>> =
                            vals.iter().map(|v| v.as_str().map(CompactString::from)).collect();
                        match vs {
                            Some(v) if !v.is_empty() => Some(FieldType::Enum(v)),
                            _ => {
                                s.problem(&format!("schema.{name}"), "an enum is a non-empty list of strings");
                                None
                            }
                        }
                    }
                    _ => {
                        s.problem(
                            &format!("schema.{name}"),
                            "expected a type name (\"string\", \"int\", \"float\") or a list of enum values",
                        );
                        None
                    }
                };
                match ty {
                    Some(ty) => fields.push(Field {
                        name: name.clone(),
                        ty,
                        nullable,
                    }),
                    None => ok = false,
                }
            }
            ok.then_some(fields)
        }
        Some(_) => {
            s.problem("schema", "expected a table of fields or a built-in schema name");
            None
        }
    }
}
