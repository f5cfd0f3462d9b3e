//! `--set dotted.key=value`: override (or add) any scalar of a job definition from the command line. A key
//! that itself holds dots is quoted as in TOML: `sources.vibration.properties."fetch.max.bytes"=1048576`.

use super::Problem;

/// Applies one `dotted.key=value`. The value is read as a TOML value when it parses as one (`4`, `true`,
/// `2.5`, `"x"`, `["a"]`) and as a plain string otherwise (`out/`, `30s`).
pub fn apply(table: &mut toml::Table, assignment: &str) -> Result<(), Problem> {
    let (path, raw) = assignment.split_once('=').ok_or_else(|| Problem {
        path: assignment.to_string(),
        message: "--set takes dotted.key=value".into(),
    })?;
    let path = path.trim();
    let value = parse_value(raw.trim());
    let Some(keys) = key_path(path) else {
        return Err(Problem {
            path: path.to_string(),
            message: "--set needs a dotted key path like sources.vibration.path (quote a key that holds dots: \
                      properties.\"fetch.max.bytes\")"
                .into(),
        });
    };
    let mut t = table;
    for (i, k) in keys[..keys.len() - 1].iter().enumerate() {
        let entry = t
            .entry(k.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = match entry {
            toml::Value::Table(inner) => inner,
            _ => {
                return Err(Problem {
                    path: path.to_string(),
                    message: format!(
                        "`{}` is a value, not a table, so it has no key `{}`",
                        keys[..=i].join("."),
                        keys[i + 1]
                    ),
                })
            }
        };
    }
    let last = keys[keys.len() - 1].as_str();
    if let Some(toml::Value::Table(_)) = t.get(last) {
        return Err(Problem {
            path: path.to_string(),
            message: "is a table; --set overrides scalars only".into(),
        });
    }
    t.insert(last.to_string(), value);
    Ok(())
}

/// The keys of a dotted path, a `"quoted"` part kept whole; `None` for an empty key or an open quote.
fn key_path(path: &str) -> Option<Vec<String>> {
    let (mut keys, mut key, mut quoted) = (Vec::new(), String::new(), false);
    for c in path.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => keys.push(std::mem::take(&mut key)),
            c => key.push(c),
        }
    }
    keys.push(key);
    (!quoted && keys.iter().all(|k| !k.is_empty())).then_some(keys)
}

fn parse_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_scalars_by_dotted_path() {
        let mut t: toml::Table = "[job]\nname = \"x\"\n[sources.v]\npath = \"a\"\n".parse().unwrap();
        apply(&mut t, "sources.v.path=in.jsonl").unwrap();
        apply(&mut t, "job.workers=4").unwrap();
        apply(&mut t, "sinks.rollups.path=out/").unwrap();
        assert_eq!(t["sources"]["v"]["path"].as_str(), Some("in.jsonl"));
        assert_eq!(t["job"]["workers"].as_integer(), Some(4));
        assert_eq!(t["sinks"]["rollups"]["path"].as_str(), Some("out/"));
        assert!(apply(&mut t, "job.name.x=1")
            .unwrap_err()
            .message
            .contains("not a table"));
        assert!(apply(&mut t, "sources=1").unwrap_err().message.contains("scalars only"));
        assert!(apply(&mut t, "nothing").is_err());
    }

    #[test]
    fn a_quoted_key_keeps_its_dots() {
        let mut t: toml::Table = "[sources.v]\npath = \"a\"\n".parse().unwrap();
        apply(&mut t, r#"sources.v.properties."fetch.max.bytes"=1048576"#).unwrap();
        assert_eq!(
            t["sources"]["v"]["properties"]["fetch.max.bytes"].as_integer(),
            Some(1048576)
        );
        assert!(apply(&mut t, r#"sources.v."open=1"#).is_err());
        assert!(apply(&mut t, "sources..v=1").is_err());
    }
}
