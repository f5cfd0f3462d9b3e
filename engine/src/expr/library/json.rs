//! `JSON_VALUE(s, '$.a.b[0]')`: the scalar at a path of a JSON text, as a string (a number as written, a
//! boolean as `true`/`false`); NULL when the text is no JSON, the path is missing, or it names an object, an
//! array or `null` (Flink's defaults, `NULL ON EMPTY` and `NULL ON ERROR`). `CAST` the result for a number.

use weir_operators::Value;

/// One step of a path.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A compiled JSON path: `$`, then `.key`, `['key']` or `[n]` steps.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonPath(Vec<Step>);

impl JsonPath {
    /// Parses a path, or says why it is not one.
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let bad =
            |why: &str| format!("'{text}' is not a JSON path ({why}); write e.g. '$.position.lat' or '$.items[0].id'");
        let mut rest = text.trim().strip_prefix('$').ok_or_else(|| bad("it starts with $"))?;
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                if end == 0 {
                    return Err(bad("a key after '.'"));
                }
                steps.push(Step::Key(r[..end].to_string()));
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix("['") {
                let end = r.find("']").ok_or_else(|| bad("an unclosed ['…']"))?;
                steps.push(Step::Key(r[..end].to_string()));
                rest = &r[end + 2..];
            } else if let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']').ok_or_else(|| bad("an unclosed […]"))?;
                let n = r[..end].trim().parse().map_err(|_| bad("an index is a whole number"))?;
                steps.push(Step::Index(n));
                rest = &r[end + 1..];
            } else {
                return Err(bad("steps are .key, ['key'] or [n]"));
            }
        }
        Ok(JsonPath(steps))
    }

    /// The scalar at the path in `text`, as a string value; NULL otherwise.
    pub fn value_of(&self, text: &str) -> Value {
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) else {
            return Value::Null;
        };
        let mut at = &doc;
        for step in &self.0 {
            let next = match step {
                Step::Key(k) => at.get(k.as_str()),
                Step::Index(i) => at.get(*i),
            };
            match next {
                Some(v) => at = v,
                None => return Value::Null,
            }
        }
        match at {
            serde_json::Value::String(s) => Value::Str(s.as_str().into()),
            serde_json::Value::Number(n) => Value::Str(n.to_string().into()),
            serde_json::Value::Bool(b) => Value::Str(if *b { "true" } else { "false" }.into()),
            _ => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_at_paths_and_null_for_everything_else() {
        let doc = r#"{"position": {"lat": 52.5, "lon": 13.4}, "tags": ["a", "b"], "ok": true, "n": null, "k y": "v"}"#;
        let at = |p: &str| JsonPath::parse(p).unwrap().value_of(doc);
        assert_eq!(at("$.position.lat"), Value::Str("52.5".into()));
        assert_eq!(at("$.tags[1]"), Value::Str("b".into()));
        assert_eq!(at("$.ok"), Value::Str("true".into()));
        assert_eq!(at("$['k y']"), Value::Str("v".into()));
        assert_eq!(at("$.position"), Value::Null);
        assert_eq!(at("$.n"), Value::Null);
        assert_eq!(at("$.missing.deeper"), Value::Null);
        assert_eq!(JsonPath::parse("$.a").unwrap().value_of("not json"), Value::Null);
    }

    #[test]
    fn bad_paths_say_what_a_path_is() {
        for bad in ["a.b", "$.", "$[x]", "$['a'"] {
            let e = JsonPath::parse(bad).unwrap_err();
            assert!(e.contains("is not a JSON path"), "{bad}: {e}");
        }
    }
}
