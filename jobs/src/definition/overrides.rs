//! `--set dotted.key=value`: override (or add) any scalar of a job definition from the command line.

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
    let keys: Vec<&str> = path.split('.').collect();
    if keys.iter().any(|k| k.is_empty()) {
        return Err(Problem {
            path: path.to_string(),
            message: "--set needs a dotted key path like sources.vibration.path".into(),
        });
    }
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
    let last = keys[keys.len() - 1];
    if let Some(toml::Value::Table(_)) = t.get(last) {
        return Err(Problem {
            path: path.to_string(),
            message: "is a table; --set overrides scalars only".into(),
        });
    }
    t.insert(last.to_string(), value);
    Ok(())
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
}
