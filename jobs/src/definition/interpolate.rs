//! `${VAR}` and `${VAR:-default}` in string values, resolved from the environment.

use super::Problem;

/// Replaces every `${…}` in the strings of `table`; problems name the key path.
pub fn interpolate_table(
    table: &mut toml::Table,
    prefix: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) {
    for (k, v) in table.iter_mut() {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        interpolate_value(v, &path, env, problems);
    }
}

fn interpolate_value(
    v: &mut toml::Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) {
    match v {
        toml::Value::String(s) => match interpolate(s, env) {
            Ok(out) => *s = out,
            Err(message) => problems.push(Problem {
                path: path.to_string(),
                message,
            }),
        },
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_value(item, &format!("{path}[{i}]"), env, problems);
            }
        }
        toml::Value::Table(t) => interpolate_table(t, path, env, problems),
        _ => {}
    }
}

/// Interpolates one string.
pub fn interpolate(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('}').ok_or_else(|| format!("unclosed `${{` in \"{s}\""))?;
        let expr = &after[..end];
        let (name, default) = match expr.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "`${{{expr}}}` is not a variable reference; use ${{VAR}} or ${{VAR:-default}}"
            ));
        }
        match (env(name).filter(|v| !v.is_empty()), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(format!(
                    "environment variable `{name}` is not set (set it, or write ${{{name}:-default}})"
                ))
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "HOST").then(|| "broker:9092".to_string())
    }

    #[test]
    fn substitutes_variables_and_defaults() {
        assert_eq!(interpolate("${HOST}", &env).unwrap(), "broker:9092");
        assert_eq!(interpolate("a ${MISSING:-x/y} b", &env).unwrap(), "a x/y b");
        assert_eq!(interpolate("${HOST:-z}/t", &env).unwrap(), "broker:9092/t");
        assert!(interpolate("${MISSING}", &env)
            .unwrap_err()
            .contains("`MISSING` is not set"));
        assert!(interpolate("${HOST", &env).unwrap_err().contains("unclosed"));
        assert_eq!(interpolate("no vars", &env).unwrap(), "no vars");
    }
}
