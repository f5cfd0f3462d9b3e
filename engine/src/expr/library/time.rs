//! Date and time over timestamps (epoch milliseconds, UTC; a `BIGINT` argument is read as epoch
//! milliseconds too): `EXTRACT(unit FROM t)` and its shorthands (`HOUR(t)`, `DAYOFWEEK(t)`, …),
//! `DATE_TRUNC('unit', t)` / `FLOOR(t TO unit)`, `DATE_FORMAT(t, 'yyyy-MM-dd HH:mm')` and `TO_TIMESTAMP(s
//! [, format])` with Flink's (Java's) pattern letters, and `TO_TIMESTAMP_LTZ(n, 0 | 3)` from epoch seconds
//! or milliseconds. A string `TO_TIMESTAMP` cannot read is NULL (Flink's rule); a timestamp outside the
//! years chrono represents fails.

use super::integer;
use crate::expr::scalar::EvalError;
use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};
use weir_operators::Value;

/// A calendar or clock unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Year,
    Quarter,
    Month,
    /// The ISO week (weeks start on Monday; week 1 holds the year's first Thursday).
    Week,
    Day,
    /// 1 = Sunday … 7 = Saturday (Flink's `DAYOFWEEK`).
    DayOfWeek,
    /// 1 = Monday … 7 = Sunday.
    IsoDayOfWeek,
    DayOfYear,
    Hour,
    Minute,
    Second,
    Millisecond,
    /// Seconds since the epoch.
    Epoch,
}

impl Unit {
    /// The unit of a name (any case): `HOUR`, `DOW`, `DAYOFWEEK`, …
    pub fn of(name: &str) -> Option<Unit> {
        Some(match name.to_ascii_lowercase().as_str() {
            "year" | "years" => Unit::Year,
            "quarter" => Unit::Quarter,
            "month" | "months" => Unit::Month,
            "week" | "weeks" => Unit::Week,
            "day" | "days" | "dayofmonth" => Unit::Day,
            "dow" | "dayofweek" => Unit::DayOfWeek,
            "isodow" => Unit::IsoDayOfWeek,
            "doy" | "dayofyear" => Unit::DayOfYear,
            "hour" | "hours" => Unit::Hour,
            "minute" | "minutes" => Unit::Minute,
            "second" | "seconds" => Unit::Second,
            "millisecond" | "milliseconds" => Unit::Millisecond,
            "epoch" => Unit::Epoch,
            _ => return None,
        })
    }

    /// Whether `DATE_TRUNC` can truncate to it.
    pub fn truncates(self) -> bool {
        !matches!(
            self,
            Unit::DayOfWeek | Unit::IsoDayOfWeek | Unit::DayOfYear | Unit::Epoch
        )
    }
}

pub const UNITS: &str = "YEAR, QUARTER, MONTH, WEEK, DAY, DAYOFWEEK (DOW), ISODOW, DAYOFYEAR (DOY), HOUR, MINUTE, SECOND, MILLISECOND, EPOCH";

#[derive(Clone, Debug)]
pub enum TimeFn {
    Extract(Unit),
    Trunc(Unit),
    /// A date format translated from the Java pattern.
    Format(Pattern),
    /// `None`: the default forms (`yyyy-MM-dd HH:mm:ss[.SSS]`, ISO 8601 / RFC 3339, `yyyy-MM-dd`).
    Parse(Option<Pattern>),
    /// Epoch seconds (1000) or milliseconds (1) to a timestamp.
    FromEpoch(i64),
}

fn at(v: &Value) -> Result<NaiveDateTime, EvalError> {
    let ms = integer(v)?;
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.naive_utc())
        .ok_or_else(|| EvalError(format!("{ms} ms is outside the dates weir can read")))
}

fn millis(t: NaiveDateTime) -> Value {
    Value::Int(t.and_utc().timestamp_millis())
}

impl TimeFn {
    pub fn eval(&self, args: &[&Value]) -> Result<Value, EvalError> {
        Ok(match self {
            TimeFn::Extract(unit) => {
                let t = at(args[0])?;
                Value::Int(match unit {
                    Unit::Year => t.year() as i64,
                    Unit::Quarter => (t.month0() / 3 + 1) as i64,
                    Unit::Month => t.month() as i64,
                    Unit::Week => t.iso_week().week() as i64,
                    Unit::Day => t.day() as i64,
                    Unit::DayOfWeek => t.weekday().number_from_sunday() as i64,
                    Unit::IsoDayOfWeek => t.weekday().number_from_monday() as i64,
                    Unit::DayOfYear => t.ordinal() as i64,
                    Unit::Hour => t.hour() as i64,
                    Unit::Minute => t.minute() as i64,
                    Unit::Second => t.second() as i64,
                    Unit::Millisecond => (t.nanosecond() / 1_000_000) as i64,
                    Unit::Epoch => t.and_utc().timestamp(),
                })
            }
            TimeFn::Trunc(unit) => millis(truncate(at(args[0])?, *unit)),
            TimeFn::Format(f) => Value::Str(at(args[0])?.format_with_items(f.0.iter()).to_string().into()),
            TimeFn::Parse(format) => {
                let Value::Str(s) = args[0] else { return Ok(Value::Null) };
                parse(s, format.as_ref()).map_or(Value::Null, millis)
            }
            TimeFn::FromEpoch(scale) => {
                let n = integer(args[0])?;
                Value::Int(
                    n.checked_mul(*scale)
                        .ok_or_else(|| EvalError(format!("{n} is outside the timestamps weir can hold")))?,
                )
            }
        })
    }
}

/// `t` truncated to the start of its `unit` (weeks start on Monday).
pub fn truncate(t: NaiveDateTime, unit: Unit) -> NaiveDateTime {
    let day = t.date();
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight exists");
    match unit {
        Unit::Year => midnight(NaiveDate::from_ymd_opt(day.year(), 1, 1).expect("1 January")),
        Unit::Quarter => midnight(NaiveDate::from_ymd_opt(day.year(), day.month0() / 3 * 3 + 1, 1).expect("a quarter")),
        Unit::Month => midnight(day.with_day(1).expect("the first")),
        Unit::Week => midnight(day - chrono::Days::new(day.weekday().num_days_from_monday() as u64)),
        Unit::Day => midnight(day),
        Unit::Hour => day.and_hms_opt(t.hour(), 0, 0).expect("an hour"),
        Unit::Minute => day.and_hms_opt(t.hour(), t.minute(), 0).expect("a minute"),
        Unit::Second => day.and_hms_opt(t.hour(), t.minute(), t.second()).expect("a second"),
        Unit::Millisecond => day
            .and_hms_milli_opt(t.hour(), t.minute(), t.second(), t.nanosecond() / 1_000_000)
            .expect("a millisecond"),
        Unit::DayOfWeek | Unit::IsoDayOfWeek | Unit::DayOfYear | Unit::Epoch => t,
    }
}

/// A date pattern, compiled once (not per record).
#[derive(Clone, Debug)]
pub struct Pattern(Vec<Item<'static>>);

/// A string as a UTC timestamp: with a `format`, or in the default forms.
pub fn parse(s: &str, format: Option<&Pattern>) -> Option<NaiveDateTime> {
    let s = s.trim();
    if let Some(f) = format {
        let mut parsed = Parsed::new();
        chrono::format::parse(&mut parsed, s, f.0.iter()).ok()?;
        return parsed
            .to_naive_datetime_with_offset(0)
            .ok()
            .or_else(|| parsed.to_naive_date().ok().and_then(|d| d.and_hms_opt(0, 0, 0)));
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t);
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// A Java (Flink) date pattern — `yyyy-MM-dd HH:mm:ss.SSS`, `EEE`, `'literal'` — compiled.
pub fn java_pattern(pattern: &str) -> Result<Pattern, String> {
    let format = chrono_format(pattern)?;
    StrftimeItems::new(&format)
        .parse_to_owned()
        .map(Pattern)
        .map_err(|e| format!("'{pattern}': {e}"))
}

/// A Java date pattern as a chrono format string.
fn chrono_format(pattern: &str) -> Result<String, String> {
    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let close = chars[i + 1..]
                .iter()
                .position(|&x| x == '\'')
                .ok_or_else(|| format!("'{pattern}': a quoted literal is not closed"))?;
            for &x in &chars[i + 1..i + 1 + close] {
                if x == '%' {
                    out.push_str("%%");
                } else {
                    out.push(x);
                }
            }
            if close == 0 {
                out.push('\'');
            }
            i += close + 2;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            if c == '%' {
                out.push_str("%%");
            } else {
                out.push(c);
            }
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        let spec = match (c, run) {
            ('y', 2) => "%y",
            ('y', _) => "%Y",
            ('M', 1) => "%-m",
            ('M', 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', 1) => "%-d",
            ('d', _) => "%d",
            ('D', _) => "%j",
            ('H', 1) => "%-H",
            ('H', _) => "%H",
            ('h', 1) => "%-I",
            ('h', _) => "%I",
            ('m', 1) => "%-M",
            ('m', _) => "%M",
            ('s', 1) => "%-S",
            ('s', _) => "%S",
            ('S', 3) => "%3f",
            ('S', 6) => "%6f",
            ('S', 9) => "%9f",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('a', _) => "%p",
            ('X' | 'Z', _) => "%:z",
            _ => {
                return Err(format!(
                "'{pattern}': the pattern letter {} is not supported; use y M d D H h m s S E a X and 'quoted text'",
                c.to_string().repeat(run)
            ))
            }
        };
        out.push_str(spec);
        i += run;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-03-29 01:30:15.250 UTC, a Sunday.
    const T: i64 = 1_774_747_815_250;

    fn ts(v: i64) -> Value {
        Value::Int(v)
    }

    fn eval(f: TimeFn, args: &[Value]) -> Value {
        let refs: Vec<&Value> = args.iter().collect();
        f.eval(&refs).unwrap()
    }

    #[test]
    fn extract_each_unit() {
        let got: Vec<Value> = [
            "year",
            "quarter",
            "month",
            "week",
            "day",
            "dow",
            "isodow",
            "doy",
            "hour",
            "minute",
            "second",
            "millisecond",
            "epoch",
        ]
        .iter()
        .map(|u| eval(TimeFn::Extract(Unit::of(u).unwrap()), &[ts(T)]))
        .collect();
        let want = [2026, 1, 3, 13, 29, 1, 7, 88, 1, 30, 15, 250, T / 1000];
        assert_eq!(got, want.map(Value::Int).to_vec());
    }

    #[test]
    fn truncation_to_each_unit() {
        let trunc = |u: &str| eval(TimeFn::Trunc(Unit::of(u).unwrap()), &[ts(T)]);
        let at = |s: &str| Value::Int(parse(s, None).unwrap().and_utc().timestamp_millis());
        assert_eq!(trunc("year"), at("2026-01-01 00:00:00"));
        assert_eq!(trunc("quarter"), at("2026-01-01 00:00:00"));
        assert_eq!(trunc("month"), at("2026-03-01 00:00:00"));
        assert_eq!(trunc("week"), at("2026-03-23 00:00:00"), "the Monday before");
        assert_eq!(trunc("day"), at("2026-03-29 00:00:00"));
        assert_eq!(trunc("hour"), at("2026-03-29 01:00:00"));
        assert_eq!(trunc("minute"), at("2026-03-29 01:30:00"));
        assert_eq!(trunc("second"), at("2026-03-29 01:30:15"));
    }

    #[test]
    fn formats_with_java_pattern_letters_and_parses_back() {
        let f = java_pattern("yyyy-MM-dd'T'HH:mm:ss.SSS EEE").unwrap();
        assert_eq!(
            eval(TimeFn::Format(f), &[ts(T)]),
            Value::Str("2026-03-29T01:30:15.250 Sun".into())
        );
        let p = java_pattern("dd/MM/yyyy HH:mm").unwrap();
        assert_eq!(
            eval(TimeFn::Parse(Some(p)), &[Value::Str("29/03/2026 01:30".into())]),
            ts(T - 15_250)
        );
        assert!(java_pattern("yyyy-QQ").unwrap_err().contains("QQ"));
    }

    #[test]
    fn parses_the_default_forms_and_gives_null_for_the_rest() {
        let p = |s: &str| eval(TimeFn::Parse(None), &[Value::Str(s.into())]);
        assert_eq!(p("2026-03-29 01:30:15.25"), ts(T));
        assert_eq!(p("2026-03-29T01:30:15.250Z"), ts(T));
        assert_eq!(p("2026-03-29T03:30:15.250+02:00"), ts(T));
        assert_eq!(p("2026-03-29"), ts(T - 5_415_250));
        assert_eq!(p("yesterday"), Value::Null);
        assert_eq!(eval(TimeFn::FromEpoch(1000), &[ts(T / 1000)]), ts(T - 250));
    }
}
