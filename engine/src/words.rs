//! How the engine writes things in words — durations, windows, field lists — in messages, `weir explain`
//! and the descriptions checkpoints compare.

use crate::schema::Schema;
use weir_operators::WindowSpec;

/// Field names of `schema` at `idx`, comma-separated.
pub fn field_names(schema: &Schema, idx: &[usize]) -> String {
    idx.iter()
        .map(|i| schema.fields[*i].name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A window's shape in words (`tumbling 1h`, `hopping 1h every 5m`, `session gap 5m`).
pub fn describe_window(w: &WindowSpec) -> String {
    let d = |ms: i64| humanize_ms(ms);
    let shape = match *w {
        WindowSpec::Tumbling { size_ms } => format!("tumbling {}", d(size_ms)),
        WindowSpec::Aligned { size_ms, slide_ms, .. } if size_ms == slide_ms => format!("tumbling {}", d(size_ms)),
        WindowSpec::Hopping { size_ms, slide_ms } | WindowSpec::Aligned { size_ms, slide_ms, .. } => {
            format!("hopping {} every {}", d(size_ms), d(slide_ms))
        }
        WindowSpec::Session { gap_ms } => format!("session gap {}", d(gap_ms)),
    };
    let align = w.alignment();
    let offset = match align.offset_ms {
        0 => String::new(),
        o if o < 0 => format!(" offset -{}", d(-o)),
        o => format!(" offset {}", d(o)),
    };
    let zone = align.zone.map_or(String::new(), |z| format!(" in {}", z.name()));
    format!("{shape}{offset}{zone}")
}

/// Milliseconds as the largest exact unit (`90m` stays `90m`, `3600000` is `1h`).
pub fn humanize_ms(ms: i64) -> String {
    for (unit, n) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms != 0 && ms % n == 0 {
            return format!("{}{unit}", ms / n);
        }
    }
    format!("{ms}ms")
}

/// An RFC 3339 time (`2026-11-01T00:00:00Z`; a space instead of `T` and `+00` as PostgreSQL writes it are
/// accepted) as epoch milliseconds.
pub fn rfc3339_ms(text: &str) -> Option<i64> {
    let mut t = text.replacen(' ', "T", 1);
    // `+00` → `+00:00`
    if t.rfind(['+', '-']).is_some_and(|i| i > 10 && t.len() - i == 3) {
        t.push_str(":00");
    }
    chrono::DateTime::parse_from_rfc3339(&t)
        .ok()
        .map(|d| d.timestamp_millis())
}
