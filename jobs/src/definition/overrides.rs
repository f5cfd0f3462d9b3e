//! `--set dotted.key=value`: override (or add) any value of a job definition from the command line; an inline
//! table replaces a whole section (`--set 'sources.vibration={ kind = "file", path = "v.jsonl" }'`, e.g. to
//! switch a source from Kafka to a file). `--unset dotted.key` removes a key or a section. A key that itself
//! holds dots is quoted as in TOML: `sources.vibration.properties."fetch.max.bytes"=1048576`.

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
    if let (Some(toml::Value::Table(_)), false) = (t.get(last), value.is_table()) {
        return Err(Problem {
            path: path.to_string(),
            message: format!(
                "is a table: replace it whole with an inline table (--set '{path}={{ kind = \"…\", … }}') or \
                 remove it (--unset {path})"
            ),
        });
    }
    t.insert(last.to_string(), value);
    Ok(())
}

/// Removes `dotted.key` (a value or a whole table); a key the job does not have is a problem.
pub fn remove(table: &mut toml::Table, path: &str) -> Result<(), Problem> {
    let problem = |message: String| Problem {
        path: path.to_string(),
        message,
    };
    let keys =
        key_path(path.trim()).ok_or_else(|| problem("--unset needs a dotted key path like sinks.alerts".into()))?;
    let mut t = table;
    for k in &keys[..keys.len() - 1] {
        t = match t.get_mut(k) {
            Some(toml::Value::Table(inner)) => inner,
            _ => return Err(problem("--unset: the job has no such key".into())),
        };
    }
    match t.remove(&keys[keys.len() - 1]) {
        Some(_) => Ok(()),
        None => Err(problem("--unset: the job has no such key".into())),
    }
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
        assert!(apply(&mut t, "sources=1")
            .unwrap_err()
            .message
            .contains("replace it whole"));
        assert!(apply(&mut t, "nothing").is_err());
    }

    /// Trap 4: a source switched from Kafka to a file without copying the job.
    #[test]
    fn an_inline_table_replaces_a_section_and_unset_removes_one() {
        let mut t: toml::Table =
            "[sources.v]\nkind = \"kafka\"\ntopic = \"vib\"\nbrokers = \"b:9092\"\n[sinks.a]\npath = \"a\"\n"
                .parse()
                .unwrap();
        apply(&mut t, r#"sources.v={ kind = "file", path = "v.jsonl" }"#).unwrap();
        let v = t["sources"]["v"].as_table().unwrap();
        assert_eq!(v.len(), 2, "{v:?}");
        assert_eq!(v["kind"].as_str(), Some("file"));
        remove(&mut t, "sinks.a").unwrap();
        assert!(t["sinks"].as_table().unwrap().is_empty());
        remove(&mut t, "sources.v.path").unwrap();
        assert!(remove(&mut t, "sources.v.path")
            .unwrap_err()
            .message
            .contains("no such key"));
        assert!(remove(&mut t, "nothing.here")
            .unwrap_err()
            .message
            .contains("no such key"));
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
