//! Strings and regular expressions: `TRIM`, `REPLACE`, `POSITION`, `SPLIT_INDEX`, `REGEXP_LIKE`,
//! `REGEXP_EXTRACT`, `REGEXP_REPLACE`. A pattern is a string literal compiled once (Rust `regex` syntax, which
//! for the common cases is Java's: classes, groups, `$1` in a replacement); positions count characters from 1,
//! `SPLIT_INDEX` counts parts from 0 (Flink's rules).

use super::integer;
use crate::expr::scalar::EvalError;
use compact_str::CompactString;
use regex::Regex;
use std::sync::Arc;
use weir_operators::Value;

/// Which end(s) `TRIM` trims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Both,
    Leading,
    Trailing,
}

#[derive(Clone, Debug)]
pub enum TextFn {
    /// `TRIM([BOTH | LEADING | TRAILING] ['chars'] FROM s)`: spaces, or any of `chars`.
    Trim(Side, Option<String>),
    /// `REPLACE(s, from, to)`: every occurrence.
    Replace,
    /// `POSITION(needle IN s)`: 1-based, 0 when absent.
    Position,
    /// `SPLIT_INDEX(s, delimiter, n)`: the `n`-th part (from 0), NULL past the last.
    SplitIndex,
    RegexpLike(Arc<Regex>),
    /// The whole match (group 0) or a group's; NULL without a match.
    RegexpExtract(Arc<Regex>, usize),
    /// Every match replaced (`$1` names a group).
    RegexpReplace(Arc<Regex>, String),
}

fn text(v: &Value) -> &str {
    match v {
        Value::Str(s) => s,
        _ => "",
    }
}

fn string(s: impl Into<CompactString>) -> Value {
    Value::Str(s.into())
}

impl TextFn {
    pub fn eval(&self, args: &[&Value]) -> Result<Value, EvalError> {
        let s = text(args[0]);
        Ok(match self {
            TextFn::Trim(side, chars) => {
                let set = |c: char| chars.as_deref().map_or(c == ' ', |cs| cs.contains(c));
                string(match side {
                    Side::Both => s.trim_matches(set),
                    Side::Leading => s.trim_start_matches(set),
                    Side::Trailing => s.trim_end_matches(set),
                })
            }
            TextFn::Replace => {
                let (from, to) = (text(args[1]), text(args[2]));
                if from.is_empty() {
                    string(s)
                } else {
                    string(s.replace(from, to))
                }
            }
            TextFn::Position => {
                // POSITION(needle IN haystack): args are (needle, haystack).
                let haystack = text(args[1]);
                match haystack.find(s) {
                    Some(byte) => Value::Int(haystack[..byte].chars().count() as i64 + 1),
                    None => Value::Int(0),
                }
            }
            TextFn::SplitIndex => {
                let (delimiter, n) = (text(args[1]), integer(args[2])?);
                if n < 0 || delimiter.is_empty() {
                    return Ok(Value::Null);
                }
                s.split(delimiter).nth(n as usize).map_or(Value::Null, string)
            }
            TextFn::RegexpLike(re) => Value::Bool(re.is_match(s)),
            TextFn::RegexpExtract(re, group) => re
                .captures(s)
                .and_then(|c| c.get(*group))
                .map_or(Value::Null, |m| string(m.as_str())),
            TextFn::RegexpReplace(re, to) => string(re.replace_all(s, to.as_str()).as_ref()),
        })
    }
}

/// A pattern compiled once, or why it is no regular expression.
pub fn pattern(text: &str) -> Result<Arc<Regex>, String> {
    Regex::new(text)
        .map(Arc::new)
        .map_err(|e| format!("'{text}' is not a regular expression: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    fn eval(f: TextFn, args: &[Value]) -> Value {
        let refs: Vec<&Value> = args.iter().collect();
        f.eval(&refs).unwrap()
    }

    #[test]
    fn trim_replace_position_split() {
        assert_eq!(eval(TextFn::Trim(Side::Both, None), &[s("  a b  ")]), s("a b"));
        assert_eq!(
            eval(TextFn::Trim(Side::Leading, Some("x".into())), &[s("xxaxx")]),
            s("axx")
        );
        assert_eq!(
            eval(TextFn::Trim(Side::Trailing, Some("x".into())), &[s("xxaxx")]),
            s("xxa")
        );
        assert_eq!(eval(TextFn::Replace, &[s("a-b-c"), s("-"), s("+")]), s("a+b+c"));
        assert_eq!(eval(TextFn::Replace, &[s("abc"), s(""), s("+")]), s("abc"));
        assert_eq!(eval(TextFn::Position, &[s("b"), s("äbc")]), Value::Int(2));
        assert_eq!(eval(TextFn::Position, &[s("z"), s("abc")]), Value::Int(0));
        assert_eq!(
            eval(TextFn::SplitIndex, &[s("fleet/v-12/pings"), s("/"), Value::Int(1)]),
            s("v-12")
        );
        assert_eq!(
            eval(TextFn::SplitIndex, &[s("a/b"), s("/"), Value::Int(5)]),
            Value::Null
        );
        assert_eq!(
            eval(TextFn::SplitIndex, &[s("a/b"), s("/"), Value::Int(-1)]),
            Value::Null
        );
    }

    #[test]
    fn regular_expressions() {
        let re = pattern(r"channel_id=(\d+)").unwrap();
        assert_eq!(
            eval(TextFn::RegexpLike(re.clone()), &[s("x?channel_id=42&y")]),
            Value::Bool(true)
        );
        assert_eq!(
            eval(TextFn::RegexpExtract(re.clone(), 1), &[s("x?channel_id=42&y")]),
            s("42")
        );
        assert_eq!(
            eval(TextFn::RegexpExtract(re.clone(), 0), &[s("channel_id=7")]),
            s("channel_id=7")
        );
        assert_eq!(eval(TextFn::RegexpExtract(re.clone(), 1), &[s("none")]), Value::Null);
        assert_eq!(
            eval(TextFn::RegexpReplace(re, "c=$1".into()), &[s("a channel_id=3 b")]),
            s("a c=3 b")
        );
        assert!(pattern("(").unwrap_err().contains("is not a regular expression"));
    }
}
