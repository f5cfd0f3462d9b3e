//! Options that name fields of a kind's input: a list of names (or one name), resolved against a schema with
//! every unknown name reported; and the near-miss hint for a misspelt name.

use super::Section;
use crate::schema::Schema;

/// A list of field names, or one name (`key = "order_id"`).
pub fn name_list<'a>(s: &Section<'a>, key: &str) -> Option<Vec<&'a str>> {
    match s.value(key) {
        Some(toml::Value::String(one)) => Some(vec![one.as_str()]),
        Some(_) => s.str_list(key),
        None => None,
    }
}

/// Resolves field names against a schema, reporting unknown ones.
pub fn fields_of(s: &Section, key: &str, names: &[&str], schema: &Schema) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    let mut ok = true;
    for n in names {
        match schema.index_of(n) {
            Some(i) => out.push(i),
            None => {
                s.problem(
                    key,
                    format!(
                        "field `{n}` is not in the input's schema; available: {}",
                        schema.names()
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// ` — did you mean "NEAR"?` for a misspelt name close to one of `known` (at most two edits), else nothing.
pub fn did_you_mean<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(word, k), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map_or(String::new(), |(_, k)| format!(" — did you mean \"{k}\"?"))
}
