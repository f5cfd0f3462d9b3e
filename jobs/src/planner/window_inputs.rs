//! A window's computed inputs: an aggregate over an expression (`sum(ppv_mm_s * 2)`), an aggregate with
//! its own filter (`{ of = "max(ppv_mm_s)", where = "site = 'pit'" }`, SQL's `MAX(x) FILTER (WHERE …)`), a
//! `count_if` over any condition, and a key that is an expression (`key = ["lower(site) AS site_l"]`, SQL's
//! `GROUP BY lower(site)`). Before planning, each such window gets a `derive` in front of it, named
//! `WINDOW_inputs`, computing one field per computed input; the window then aggregates and keys by plain
//! fields. A filtered aggregate's input is `CASE WHEN cond THEN x END`: aggregates skip NULLs, so only the
//! records where `cond` is TRUE count (`count` with a filter counts them with `count_if`). A record whose
//! expression fails goes to `WINDOW_inputs.dead_letters`, like any derive's.
//!
//! Windows with plain fields only are left as they are (their plans do not change).

use toml::Value as Toml;
use weir_operators::AggregateFn;

/// The derive's name for a window's computed inputs.
pub fn inputs_name(window: &str) -> String {
    format!("{window}_inputs")
}

/// The derived field holding aggregate `name`'s input.
fn input_field(aggregate: &str) -> String {
    format!("{aggregate}__input")
}

/// What the expansion did, for naming problems by what the user wrote: a path the expansion generated, and
/// the path it came from.
pub type Origins = Vec<(String, String)>;

/// `table` with a computed-inputs derive in front of each window that needs one, and where each generated
/// key path came from.
pub fn expand(table: &toml::Table) -> (toml::Table, Origins) {
    let mut out = table.clone();
    let mut origins = Origins::new();
    let Some(Toml::Table(operators)) = table.get("operators") else {
        return (out, origins);
    };
    let mut new_operators = toml::Table::new();
    for (name, section) in operators {
        let Toml::Table(section) = section else {
            new_operators.insert(name.clone(), section.clone());
            continue;
        };
        if section.get("kind").and_then(|k| k.as_str()) != Some("window") {
            new_operators.insert(name.clone(), Toml::Table(section.clone()));
            continue;
        }
        let mut window = section.clone();
        let mut computed = toml::Table::new();
        let derive = inputs_name(name);
        if let Some(Toml::Table(aggregates)) = section.get("aggregates") {
            let mut rewritten = toml::Table::new();
            for (agg, spec) in aggregates {
                let Some((text, field)) = computed_aggregate(agg, spec) else {
                    // `{ of = "max(x)" }` without a filter is `"max(x)"`; anything else the window reports.
                    let plain_of = match spec {
                        Toml::Table(t) if t.len() == 1 => t.get("of").filter(|o| o.is_str()).cloned(),
                        _ => None,
                    };
                    rewritten.insert(agg.clone(), plain_of.unwrap_or_else(|| spec.clone()));
                    continue;
                };
                origins.push((
                    format!("operators.{derive}.fields.{}", input_field(agg)),
                    format!("operators.{name}.aggregates.{agg}"),
                ));
                computed.insert(input_field(agg), Toml::String(field));
                rewritten.insert(agg.clone(), Toml::String(text));
            }
            window.insert("aggregates".into(), Toml::Table(rewritten));
        }
        if let Some(keys) = section.get("key") {
            let list: Vec<String> = match keys {
                Toml::String(s) => vec![s.clone()],
                Toml::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
                _ => Vec::new(),
            };
            if list.iter().any(|k| key_expression(k).is_some()) {
                let mut plain = Vec::new();
                for (i, k) in list.iter().enumerate() {
                    match key_expression(k) {
                        Some((expr, as_name)) => {
                            origins.push((
                                format!("operators.{derive}.fields.{as_name}"),
                                format!("operators.{name}.key[{i}]"),
                            ));
                            computed.insert(as_name.clone(), Toml::String(expr));
                            plain.push(Toml::String(as_name));
                        }
                        None => plain.push(Toml::String(k.clone())),
                    }
                }
                window.insert("key".into(), Toml::Array(plain));
            }
        }
        if computed.is_empty() {
            new_operators.insert(name.clone(), Toml::Table(section.clone()));
            continue;
        }
        let mut d = toml::Table::new();
        d.insert("kind".into(), Toml::String("derive".into()));
        d.insert(
            "inputs".into(),
            section.get("inputs").cloned().unwrap_or(Toml::Array(Vec::new())),
        );
        d.insert("fields".into(), Toml::Table(computed));
        origins.push((format!("operators.{derive}.inputs"), format!("operators.{name}.inputs")));
        new_operators.insert(derive.clone(), Toml::Table(d));
        window.insert("inputs".into(), Toml::Array(vec![Toml::String(derive)]));
        new_operators.insert(name.clone(), Toml::Table(window));
    }
    out.insert("operators".into(), Toml::Table(new_operators));
    (out, origins)
}

/// `EXPR AS name` (an expression key), as (expression, name); `None` for a plain field.
fn key_expression(k: &str) -> Option<(String, String)> {
    let lower = k.to_ascii_lowercase();
    let at = lower.rfind(" as ")?;
    let (expr, name) = (k[..at].trim(), k[at + 4..].trim());
    let plain = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
    (plain(name) && !plain(expr)).then(|| (expr.to_string(), name.to_string()))
}

/// An aggregate whose input must be computed: the rewritten aggregate and the computed field's expression.
fn computed_aggregate(name: &str, spec: &Toml) -> Option<(String, String)> {
    let (text, filter) = match spec {
        Toml::String(s) => (s.clone(), None),
        Toml::Table(t) if t.keys().all(|k| k == "of" || k == "where") => (
            t.get("of")?.as_str()?.to_string(),
            t.get("where").and_then(|w| w.as_str()).map(str::to_string),
        ),
        _ => return None,
    };
    let field = input_field(name);
    let text = text.trim();
    if text == "count" {
        return filter.map(|f| (format!("count_if({field})"), f));
    }
    let open = text.find('(')?;
    let function = text[..open].trim().to_ascii_lowercase();
    let args = text[open + 1..].strip_suffix(')')?.trim();
    if function == "count_if" {
        // Native: `count_if(FIELD > 5)`, `count_if(FLAG)` — and one the native form refuses for its number
        // (`count_if(x > nan)`), which keeps its own message.
        let native = match AggregateFn::parse(text) {
            Ok(_) => true,
            Err(e) => e.to_string().contains("finite number"),
        };
        return match (filter, native) {
            (None, true) => None,
            (None, false) => Some((format!("count_if({field})"), args.to_string())),
            (Some(f), _) => Some((format!("count_if({field})"), format!("({args}) AND ({f})"))),
        };
    }
    // The value argument, and what follows it (`quantile(x, 0.9)`'s `, 0.9`).
    let (value, rest) = match function.as_str() {
        "quantile" => match args.rfind(',') {
            Some(i) => (args[..i].trim(), &args[i..]),
            None => return None,
        },
        _ => (args, ""),
    };
    let plain = !value.is_empty() && value.chars().all(|c| c.is_alphanumeric() || c == '_');
    let input = match (&filter, plain) {
        (None, true) => return None,
        (None, false) => value.to_string(),
        (Some(f), _) => format!("CASE WHEN {f} THEN {value} END"),
    };
    Some((format!("{function}({field}{rest})"), input))
}

/// Names a problem found in the expanded job by the key path the user wrote.
pub fn original_path(origins: &Origins, path: &str) -> Option<String> {
    origins
        .iter()
        .find(|(generated, _)| path == generated || path.starts_with(&format!("{generated}.")))
        .map(|(_, original)| original.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(aggregates: &str, key: &str) -> toml::Table {
        format!(
            "[operators.w]\nkind = \"window\"\ninputs = [\"v\"]\nwindow = {{ kind = \"tumbling\", size = \"1h\" }}\nkey = {key}\n[operators.w.aggregates]\n{aggregates}\n"
        )
        .parse()
        .unwrap()
    }

    #[test]
    fn plain_windows_are_left_as_they_are() {
        let t = window(
            "n = \"count\"\nm = \"max(x)\"\nq = \"quantile(x, 0.9)\"\nc = \"count_if(x > 5)\"",
            "[\"k\"]",
        );
        assert_eq!(expand(&t).0, t);
    }

    #[test]
    fn filters_expressions_and_key_expressions_get_a_derive_in_front() {
        let t = window(
            "n = { of = \"count\", where = \"site = 'pit'\" }\nm = { of = \"max(x)\", where = \"y > 1\" }\n\
             q = \"quantile(x * 2, 0.9)\"\nc = \"count_if(x > 5 AND y < 2)\"\ns = \"sum(x)\"",
            "[\"k\", \"lower(site) AS site_l\"]",
        );
        let (out, origins) = expand(&t);
        let ops = out["operators"].as_table().unwrap();
        let d = ops["w_inputs"].as_table().unwrap();
        assert_eq!(d["inputs"], Toml::Array(vec![Toml::String("v".into())]));
        let fields = d["fields"].as_table().unwrap();
        assert_eq!(fields["n__input"].as_str(), Some("site = 'pit'"));
        assert_eq!(fields["m__input"].as_str(), Some("CASE WHEN y > 1 THEN x END"));
        assert_eq!(fields["q__input"].as_str(), Some("x * 2"));
        assert_eq!(fields["c__input"].as_str(), Some("x > 5 AND y < 2"));
        assert_eq!(fields["site_l"].as_str(), Some("lower(site)"));
        let w = ops["w"].as_table().unwrap();
        assert_eq!(w["inputs"], Toml::Array(vec![Toml::String("w_inputs".into())]));
        let aggs = w["aggregates"].as_table().unwrap();
        assert_eq!(aggs["n"].as_str(), Some("count_if(n__input)"));
        assert_eq!(aggs["m"].as_str(), Some("max(m__input)"));
        assert_eq!(aggs["q"].as_str(), Some("quantile(q__input, 0.9)"));
        assert_eq!(aggs["s"].as_str(), Some("sum(x)"));
        assert_eq!(
            w["key"],
            Toml::Array(vec![Toml::String("k".into()), Toml::String("site_l".into())])
        );
        assert_eq!(
            original_path(&origins, "operators.w_inputs.fields.m__input"),
            Some("operators.w.aggregates.m".into())
        );
    }
}
