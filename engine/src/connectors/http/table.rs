//! `kind = "http"`: a table polled from a web API with `GET url` every `interval` (default 1 minute) — the
//! weather per site, a vendor's device registry.
//!
//! The body is a JSON array of objects or JSON lines (one object per line), each object a row in the table's
//! schema. Every poll is complete, as a file's read: a key the answer no longer has is deleted (from the time
//! the table was known up to before that poll). A row that does not fit the schema is a dead letter with its
//! 1-based index in the answer. A failed poll — no answer, a status other than 2xx, a body that is neither —
//! keeps the versions read so far, is reported (rate-limited) and retried every `interval`; records that need
//! a newer version wait for it, as with every table.

use crate::component::{now_ms, TableComponent, TableReader};
use crate::decode::Decoder;
use crate::schema::Schema;
use crate::table::{Found, Origin, TableError, TableRead};
use std::time::Duration;

/// `kind = "http"`.
#[derive(Clone, Debug)]
pub struct HttpTable {
    pub url: String,
    /// Request headers (e.g. `authorization`), as given.
    pub headers: Vec<(String, String)>,
    pub interval: Duration,
    /// How long a poll may take.
    pub timeout: Duration,
}

impl TableComponent for HttpTable {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn describe(&self) -> String {
        format!(
            "GET {} every {}",
            self.url,
            crate::words::humanize_ms(self.interval.as_millis() as i64)
        )
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn open(&self, schema: &Schema) -> Result<Box<dyn TableReader>, TableError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Box::new(HttpTableReader {
            table: self.clone(),
            decoder: Decoder::new(schema.clone()),
            agent,
        }))
    }
}

struct HttpTableReader {
    table: HttpTable,
    decoder: Decoder,
    agent: ureq::Agent,
}

impl HttpTableReader {
    fn error(&self, e: impl std::fmt::Display) -> TableError {
        TableError::Http(format!("GET {}: {e}", self.table.url))
    }

    fn get(&self) -> Result<String, TableError> {
        let mut req = self.agent.get(&self.table.url).header("accept", "application/json");
        for (k, v) in &self.table.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let mut resp = req.call().map_err(|e| self.error(e))?;
        let status = resp.status();
        let body = resp
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| self.error(e))?;
        if !status.is_success() {
            let text: String = body.chars().take(200).collect();
            return Err(self.error(format!("status {status}: {text}")));
        }
        Ok(body)
    }
}

/// The rows of an answer: the objects of a JSON array, or its non-empty lines. `None` when it is neither.
pub fn rows_of(body: &str) -> Option<Vec<String>> {
    let body = body.trim_start_matches('\u{feff}').trim();
    if body.starts_with('[') {
        let items: Vec<serde_json::Value> = serde_json::from_str(body).ok()?;
        return Some(items.iter().map(|v| v.to_string()).collect());
    }
    if !body.is_empty() && !body.starts_with('{') {
        return None;
    }
    Some(body.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect())
}

impl TableReader for HttpTableReader {
    fn read(&mut self) -> Result<TableRead, TableError> {
        let read_at = now_ms();
        let body = self.get()?;
        let rows = rows_of(&body).ok_or_else(|| self.error("the answer is neither a JSON array nor JSON lines"))?;
        let found = rows
            .into_iter()
            .enumerate()
            .map(|(i, raw)| {
                let found = Found::decoded(&mut self.decoder, raw.as_bytes(), None);
                let origin = Origin {
                    partition: 0,
                    offset: i as u64 + 1,
                    raw,
                };
                (origin, found)
            })
            .collect();
        Ok(TableRead {
            found,
            complete: true,
            read_at,
            caught_up: true,
        })
    }

    fn check(&mut self) -> Result<(), TableError> {
        self.read().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::rows_of;

    #[test]
    fn an_answer_is_a_json_array_or_json_lines() {
        assert_eq!(
            rows_of(r#"[{"a": 1}, {"a": 2}]"#),
            Some(vec![r#"{"a":1}"#.to_string(), r#"{"a":2}"#.to_string()])
        );
        assert_eq!(
            rows_of("{\"a\": 1}\n\n{\"a\": 2}\n"),
            Some(vec!["{\"a\": 1}".to_string(), "{\"a\": 2}".to_string()])
        );
        assert_eq!(rows_of("[]"), Some(vec![]));
        assert_eq!(rows_of("<html>busy</html>"), None);
        assert_eq!(rows_of("[{\"a\": 1}"), None);
    }
}
