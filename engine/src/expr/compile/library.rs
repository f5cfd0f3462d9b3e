//! Typing the function library's calls ([`crate::expr::library`]): checking argument types, reading the
//! literal arguments compiled once (a pattern, a JSON path, a date format, a unit), and the result type.

use super::{err, known, Ctx, Node};
use crate::expr::library::json::JsonPath;
use crate::expr::library::math::MathFn;
use crate::expr::library::text::{pattern, Side, TextFn};
use crate::expr::library::time::{java_pattern, TimeFn, Unit, UNITS};
use crate::expr::library::Lib;
use crate::expr::Expr;
use sqlparser::ast::{self as sql};
use weir_operators::value::ValueType;

/// Every name of the function library, for the message about one weir does not have.
pub(super) const NAMES: &[&str] = &[
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "atan2",
    "radians",
    "degrees",
    "pi",
    "replace",
    "split_index",
    "regexp_like",
    "regexp",
    "regexp_extract",
    "regexp_replace",
    "json_value",
    "date_trunc",
    "date_format",
    "to_timestamp",
    "to_timestamp_ltz",
    "year",
    "quarter",
    "month",
    "week",
    "dayofmonth",
    "dayofweek",
    "dayofyear",
    "hour",
    "minute",
    "second",
];

/// A string literal argument's text.
fn literal<'e>(e: &'e sql::Expr, what: &str) -> Result<&'e str, String> {
    match e {
        sql::Expr::Value(v) => match &v.value {
            sql::Value::SingleQuotedString(s) => Ok(s),
            _ => Err(err(format!("{what} is a string literal ('…'): it is compiled once"))),
        },
        _ => Err(err(format!("{what} is a string literal ('…'): it is compiled once"))),
    }
}

impl Ctx<'_> {
    /// The call of library function `name`, or `None` if the library has no such function.
    pub(super) fn library(&self, name: &str, args: &[sql::Expr]) -> Option<Result<Node, String>> {
        if let Some((m, arity)) = MathFn::of(name) {
            return Some(self.math(m, arity, name, args));
        }
        let unit_of = |n: &str| match n {
            "year" | "quarter" | "month" | "week" | "dayofmonth" | "dayofweek" | "dayofyear" | "hour" | "minute"
            | "second" => Unit::of(n),
            _ => None,
        };
        if let Some(unit) = unit_of(name) {
            return Some(self.time_call(Lib::Time(TimeFn::Extract(unit)), name, args, 1, ValueType::Int, false));
        }
        Some(match name {
            "replace" => self.strings(
                Lib::Text(TextFn::Replace),
                name,
                args,
                &[ValueType::Str; 3],
                ValueType::Str,
                false,
            ),
            "split_index" => self.strings(
                Lib::Text(TextFn::SplitIndex),
                name,
                args,
                &[ValueType::Str, ValueType::Str, ValueType::Int],
                ValueType::Str,
                true,
            ),
            "regexp_like" | "regexp" => self.regexp(name, args),
            "regexp_extract" => self.regexp(name, args),
            "regexp_replace" => self.regexp(name, args),
            "json_value" => (|| {
                let [doc, path] = args else {
                    return Err(err("json_value takes (json_text, '$.path')"));
                };
                let path = JsonPath::parse(literal(path, "json_value's path")?).map_err(err)?;
                let (x, t) = self.node(doc)?;
                self.expect(&t, ValueType::Str, "json_value")?;
                Ok((
                    Expr::Lib(Box::new(Lib::Json(path)), vec![x]),
                    known(ValueType::Str, true),
                ))
            })(),
            "date_trunc" => (|| {
                let [unit, t] = args else {
                    return Err(err("date_trunc takes ('unit', timestamp), e.g. date_trunc('hour', ts)"));
                };
                let unit = self.unit(literal(unit, "date_trunc's unit")?, true)?;
                self.time_call(
                    Lib::Time(TimeFn::Trunc(unit)),
                    name,
                    std::slice::from_ref(t),
                    1,
                    ValueType::Timestamp,
                    false,
                )
            })(),
            "date_format" => (|| {
                let pattern = match args {
                    [_] => "yyyy-MM-dd HH:mm:ss",
                    [_, p] => literal(p, "date_format's pattern")?,
                    _ => return Err(err("date_format takes (timestamp [, 'yyyy-MM-dd HH:mm:ss'])")),
                };
                let format = java_pattern(pattern).map_err(err)?;
                self.time_call(
                    Lib::Time(TimeFn::Format(format)),
                    name,
                    &args[..1],
                    1,
                    ValueType::Str,
                    false,
                )
            })(),
            "to_timestamp" => (|| {
                let format = match args {
                    [_] => None,
                    [_, p] => Some(java_pattern(literal(p, "to_timestamp's pattern")?).map_err(err)?),
                    _ => return Err(err("to_timestamp takes (string [, 'yyyy-MM-dd HH:mm:ss'])")),
                };
                self.strings(
                    Lib::Time(TimeFn::Parse(format)),
                    name,
                    &args[..1],
                    &[ValueType::Str],
                    ValueType::Timestamp,
                    true,
                )
            })(),
            "to_timestamp_ltz" => (|| {
                let scale = match args {
                    [_] => 1,
                    [_, sql::Expr::Value(v)] if v.value.to_string() == "3" => 1,
                    [_, sql::Expr::Value(v)] if v.value.to_string() == "0" => 1000,
                    _ => {
                        return Err(err(
                            "to_timestamp_ltz takes (epoch, 3) for milliseconds or (epoch, 0) for seconds",
                        ))
                    }
                };
                self.strings(
                    Lib::Time(TimeFn::FromEpoch(scale)),
                    name,
                    &args[..1],
                    &[ValueType::Int],
                    ValueType::Timestamp,
                    false,
                )
            })(),
            _ => return None,
        })
    }

    fn math(&self, m: MathFn, arity: usize, name: &str, args: &[sql::Expr]) -> Result<Node, String> {
        if args.len() != arity {
            return Err(err(format!("{name} takes {arity} argument(s), found {}", args.len())));
        }
        let mut nodes = Vec::new();
        let mut nullable = false;
        for a in args {
            let (x, t) = self.node(a)?;
            self.expect_number(&t, name)?;
            nullable |= t.nullable;
            nodes.push(x);
        }
        Ok((
            Expr::Lib(Box::new(Lib::Math(m)), nodes),
            known(ValueType::Float, nullable),
        ))
    }

    /// A call whose arguments have the types `want`.
    fn strings(
        &self,
        f: Lib,
        name: &str,
        args: &[sql::Expr],
        want: &[ValueType],
        out: ValueType,
        may_be_null: bool,
    ) -> Result<Node, String> {
        if args.len() != want.len() {
            return Err(err(format!(
                "{name} takes {} argument(s), found {}",
                want.len(),
                args.len()
            )));
        }
        let mut nodes = Vec::new();
        let mut nullable = may_be_null;
        for (a, ty) in args.iter().zip(want) {
            let (x, t) = self.node(a)?;
            self.expect(&t, *ty, name)?;
            nullable |= t.nullable;
            nodes.push(x);
        }
        Ok((Expr::Lib(Box::new(f), nodes), known(out, nullable)))
    }

    /// A call over one timestamp (or epoch-millisecond `BIGINT`).
    pub(super) fn time_call(
        &self,
        f: Lib,
        name: &str,
        args: &[sql::Expr],
        arity: usize,
        out: ValueType,
        may_be_null: bool,
    ) -> Result<Node, String> {
        if args.len() != arity {
            return Err(err(format!(
                "{name} takes a timestamp, found {} argument(s)",
                args.len()
            )));
        }
        let (x, t) = self.node(&args[0])?;
        if !matches!(t.ty, None | Some(ValueType::Timestamp | ValueType::Int)) {
            return Err(err(format!(
                "{name} takes a timestamp (or a BIGINT of epoch milliseconds), not {}",
                t.ty.map_or("NULL".to_string(), |ty| ty.to_string())
            )));
        }
        Ok((Expr::Lib(Box::new(f), vec![x]), known(out, t.nullable || may_be_null)))
    }

    /// A unit's name, checked.
    pub(super) fn unit(&self, name: &str, truncating: bool) -> Result<Unit, String> {
        match Unit::of(name) {
            Some(u) if !truncating || u.truncates() => Ok(u),
            _ => Err(err(format!(
                "unknown unit `{name}`; {}",
                if truncating {
                    "date_trunc takes YEAR, QUARTER, MONTH, WEEK, DAY, HOUR, MINUTE, SECOND or MILLISECOND".to_string()
                } else {
                    format!("units: {UNITS}")
                }
            ))),
        }
    }

    fn regexp(&self, name: &str, args: &[sql::Expr]) -> Result<Node, String> {
        let (s, rest) = args
            .split_first()
            .ok_or_else(|| err(format!("{name} takes (string, 'pattern', …)")))?;
        let p = rest
            .first()
            .ok_or_else(|| err(format!("{name} takes (string, 'pattern', …)")))?;
        let re = pattern(literal(p, &format!("{name}'s pattern"))?).map_err(err)?;
        let (f, out, may_be_null) = match (name, &rest[1..]) {
            ("regexp_like" | "regexp", []) => (TextFn::RegexpLike(re), ValueType::Bool, false),
            ("regexp_extract", []) => (TextFn::RegexpExtract(re, 0), ValueType::Str, true),
            ("regexp_extract", [sql::Expr::Value(v)]) => {
                let group: usize = v
                    .value
                    .to_string()
                    .parse()
                    .map_err(|_| err("regexp_extract's group is a whole number"))?;
                if group > re.captures_len() - 1 {
                    return Err(err(format!(
                        "the pattern has {} group(s), not {group}",
                        re.captures_len() - 1
                    )));
                }
                (TextFn::RegexpExtract(re, group), ValueType::Str, true)
            }
            ("regexp_replace", [to]) => (
                TextFn::RegexpReplace(re, literal(to, "regexp_replace's replacement")?.to_string()),
                ValueType::Str,
                false,
            ),
            _ => {
                return Err(err(format!(
                    "{name} takes {}",
                    match name {
                        "regexp_extract" => "(string, 'pattern' [, group])",
                        "regexp_replace" => "(string, 'pattern', 'replacement')",
                        _ => "(string, 'pattern')",
                    }
                )))
            }
        };
        let (x, t) = self.node(s)?;
        self.expect(&t, ValueType::Str, name)?;
        Ok((
            Expr::Lib(Box::new(Lib::Text(f)), vec![x]),
            known(out, t.nullable || may_be_null),
        ))
    }

    /// `TRIM([BOTH | LEADING | TRAILING] ['chars'] FROM s)`.
    pub(super) fn trim(
        &self,
        expr: &sql::Expr,
        side: Option<&sql::TrimWhereField>,
        what: Option<&sql::Expr>,
    ) -> Result<Node, String> {
        let side = match side {
            None | Some(sql::TrimWhereField::Both) => Side::Both,
            Some(sql::TrimWhereField::Leading) => Side::Leading,
            Some(sql::TrimWhereField::Trailing) => Side::Trailing,
        };
        let chars = what
            .map(|w| literal(w, "TRIM's characters").map(str::to_string))
            .transpose()?;
        let (x, t) = self.node(expr)?;
        self.expect(&t, ValueType::Str, "trim")?;
        Ok((
            Expr::Lib(Box::new(Lib::Text(TextFn::Trim(side, chars))), vec![x]),
            known(ValueType::Str, t.nullable),
        ))
    }

    /// `POSITION(needle IN s)`.
    pub(super) fn position(&self, needle: &sql::Expr, haystack: &sql::Expr) -> Result<Node, String> {
        let (n, nt) = self.node(needle)?;
        let (h, ht) = self.node(haystack)?;
        self.expect(&nt, ValueType::Str, "position")?;
        self.expect(&ht, ValueType::Str, "position")?;
        Ok((
            Expr::Lib(Box::new(Lib::Text(TextFn::Position)), vec![n, h]),
            known(ValueType::Int, nt.nullable || ht.nullable),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::expr::compile;
    use crate::schema::{Field, FieldType, Schema};
    use weir_operators::Value;

    fn schema() -> Schema {
        Schema {
            fields: vec![
                Field::new("ts", FieldType::Timestamp),
                Field::new("ms", FieldType::Int),
                Field::new("lat", FieldType::Float),
                Field::new("lon", FieldType::Float),
                Field::new("topic", FieldType::String),
                Field::nullable("payload", FieldType::String),
            ],
            event_time: 0,
        }
    }

    /// 2026-03-29 01:30:15.250 UTC, a Sunday.
    const T: i64 = 1_774_747_815_250;

    fn eval(text: &str) -> Result<Value, String> {
        let row = vec![
            Value::Int(T),
            Value::Int(T),
            Value::Float(52.52),
            Value::Float(13.405),
            Value::Str("fleet/v-12/pings".into()),
            Value::Str(r#"{"battery": {"level": 87}, "ok": true}"#.into()),
        ];
        let t = compile(text, &schema()).map_err(|e| e.to_string())?;
        t.eval(&row).map(|v| v.into_owned()).map_err(|e| e.0)
    }

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    #[test]
    fn date_and_time_in_sql_syntax() {
        assert_eq!(eval("EXTRACT(HOUR FROM ts)"), Ok(Value::Int(1)));
        assert_eq!(eval("EXTRACT(DOW FROM ms)"), Ok(Value::Int(1)), "a BIGINT is epoch ms");
        assert_eq!(eval("HOUR(ts) + MINUTE(ts)"), Ok(Value::Int(31)));
        assert_eq!(eval("DAYOFWEEK(ts)"), Ok(Value::Int(1)));
        assert_eq!(eval("DATE_TRUNC('day', ts)"), Ok(Value::Int(T - 5_415_250)));
        assert_eq!(eval("FLOOR(ts TO HOUR)"), Ok(Value::Int(T - 1_815_250)));
        assert_eq!(eval("DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm')"), Ok(s("2026-03-29 01:30")));
        assert_eq!(eval("DATE_FORMAT(ts)"), Ok(s("2026-03-29 01:30:15")));
        assert_eq!(
            eval("TO_TIMESTAMP('2026-03-29 01:30:15.250') = ts"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            eval("TO_TIMESTAMP('29.03.2026', 'dd.MM.yyyy')"),
            Ok(Value::Int(T - 5_415_250))
        );
        assert_eq!(eval("TO_TIMESTAMP('soon')"), Ok(Value::Null));
        assert_eq!(eval("TO_TIMESTAMP_LTZ(1774747815, 0)"), Ok(Value::Int(T - 250)));
        let e = eval("DATE_TRUNC('fortnight', ts)").unwrap_err();
        assert!(e.contains("unknown unit `fortnight`"), "{e}");
        let e = eval("HOUR(topic)").unwrap_err();
        assert!(e.contains("hour takes a timestamp"), "{e}");
    }

    #[test]
    fn a_haversine_distance_in_sql() {
        let km = eval(
            "2 * 6371 * asin(sqrt(power(sin(radians(48.1351 - lat) / 2), 2) + cos(radians(lat)) * \
             cos(radians(48.1351)) * power(sin(radians(11.582 - lon) / 2), 2)))",
        )
        .unwrap();
        let Value::Float(km) = km else { panic!("{km:?}") };
        assert!((km - 504.0).abs() < 1.0, "{km}");
        assert_eq!(eval("degrees(pi())"), Ok(Value::Float(180.0)));
        assert_eq!(eval("atan2(1, 1) * 4 = pi()"), Ok(Value::Bool(true)));
    }

    #[test]
    fn strings_regular_expressions_and_json() {
        assert_eq!(eval("SPLIT_INDEX(topic, '/', 1)"), Ok(s("v-12")));
        assert_eq!(eval("REGEXP_EXTRACT(topic, 'v-(\\d+)', 1)"), Ok(s("12")));
        assert_eq!(eval("REGEXP_LIKE(topic, '^fleet/')"), Ok(Value::Bool(true)));
        assert_eq!(eval("REGEXP_REPLACE(topic, '/', '.')"), Ok(s("fleet.v-12.pings")));
        assert_eq!(eval("REPLACE(topic, 'pings', 'acks')"), Ok(s("fleet/v-12/acks")));
        assert_eq!(eval("POSITION('v-' IN topic)"), Ok(Value::Int(7)));
        assert_eq!(eval("TRIM(BOTH 'f' FROM 'ffxff')"), Ok(s("x")));
        assert_eq!(eval("TRIM('  x ')"), Ok(s("x")));
        assert_eq!(eval("JSON_VALUE(payload, '$.battery.level')"), Ok(s("87")));
        assert_eq!(
            eval("CAST(JSON_VALUE(payload, '$.battery.level') AS BIGINT) > 50"),
            Ok(Value::Bool(true))
        );
        assert_eq!(eval("JSON_VALUE(payload, '$.nothing')"), Ok(Value::Null));
        let e = eval("REGEXP_EXTRACT(topic, payload)").unwrap_err();
        assert!(e.contains("is a string literal"), "{e}");
        let e = eval("REGEXP_EXTRACT(topic, '(a)', 2)").unwrap_err();
        assert!(e.contains("the pattern has 1 group(s), not 2"), "{e}");
    }

    #[test]
    fn an_unknown_function_names_the_near_one_and_lists_the_rest() {
        let e = eval("regexp_extrct(topic, 'a')").unwrap_err();
        assert!(e.contains("did you mean \"regexp_extract\""), "{e}");
        assert!(e.contains("json_value") && e.contains("date_trunc"), "{e}");
    }
}
