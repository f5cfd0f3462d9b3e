//! `kind = "file"`: a table in a JSONL or CSV file, read whole at the start and again whenever the file
//! changes (size or modification time).
//!
//! Every read is complete: a key the file no longer has is deleted. A last line without its newline is
//! still being written and waits for the next read. Replace a table file atomically (write another file and
//! rename it over) so that no read sees it half written.

use crate::component::{now_ms, TableComponent, TableReader};
use crate::decode::Decoder;
use crate::schema::Schema;
use crate::table::{parse_text_value, Found, Origin, TableError, TableRead};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// The layout of a table file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// One JSON object per line.
    Jsonl,
    /// A header line naming the columns, then one row per line.
    Csv,
}

/// `kind = "file"`.
#[derive(Clone, Debug)]
pub struct FileTable {
    pub path: PathBuf,
    pub format: FileFormat,
    /// How often the file is checked for changes.
    pub interval: Duration,
}

impl TableComponent for FileTable {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn describe(&self) -> String {
        let format = match self.format {
            FileFormat::Jsonl => "JSONL",
            FileFormat::Csv => "CSV",
        };
        format!(
            "{format} file `{}`, checked for changes every {}",
            self.path.display(),
            crate::words::humanize_ms(self.interval.as_millis() as i64)
        )
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn open(&self, schema: &Schema) -> Result<Box<dyn TableReader>, TableError> {
        Ok(Box::new(FileTableReader {
            table: self.clone(),
            decoder: Decoder::new(schema.clone()),
            schema: schema.clone(),
            seen: None,
        }))
    }
}

struct FileTableReader {
    table: FileTable,
    schema: Schema,
    decoder: Decoder,
    /// Size and modification time at the last read.
    seen: Option<(u64, SystemTime)>,
}

impl FileTableReader {
    fn io(&self, cause: std::io::Error) -> TableError {
        TableError::File {
            path: self.table.path.clone(),
            cause,
        }
    }

    fn parse(&mut self, text: &str) -> Result<Vec<(Origin, Found)>, TableError> {
        // A last line without its newline is still being written.
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        match self.table.format {
            FileFormat::Jsonl => Ok(self.jsonl(complete)),
            FileFormat::Csv => self.csv(complete),
        }
    }

    fn jsonl(&mut self, text: &str) -> Vec<(Origin, Found)> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.strip_prefix('\u{feff}').unwrap_or(line);
            if line.trim().is_empty() {
                continue;
            }
            let origin = Origin {
                partition: 0,
                offset: i as u64 + 1,
                raw: line.to_string(),
            };
            let found = Found::decoded(&mut self.decoder, line.as_bytes(), None);
            out.push((origin, found));
        }
        out
    }

    fn csv(&mut self, text: &str) -> Result<Vec<(Origin, Found)>, TableError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        let headers = reader.headers().map_err(|e| self.io(std::io::Error::other(e)))?.clone();
        let mut columns = Vec::new();
        for f in &self.schema.fields {
            match headers.iter().position(|h| h.trim() == f.name) {
                Some(c) => columns.push(Some(c)),
                None if f.nullable => columns.push(None),
                None => {
                    let have: Vec<&str> = headers.iter().collect();
                    return Err(self.io(std::io::Error::other(format!(
                        "the CSV header has no column `{}` (it has: {})",
                        f.name,
                        have.join(", ")
                    ))));
                }
            }
        }
        let mut out = Vec::new();
        for record in reader.records() {
            let (origin, found) = match record {
                Ok(r) => {
                    let line = r.position().map_or(0, |p| p.line());
                    let raw = r.iter().collect::<Vec<_>>().join(",");
                    let values: Result<Vec<_>, String> = self
                        .schema
                        .fields
                        .iter()
                        .zip(&columns)
                        .map(|(f, c)| match c {
                            Some(c) => parse_text_value(f, r.get(*c).unwrap_or("")),
                            None => Ok(weir_operators::Value::Null),
                        })
                        .collect();
                    let found = match values {
                        Ok(values) => Found::Row { values, version: None },
                        Err(reason) => Found::Bad(reason),
                    };
                    (
                        Origin {
                            partition: 0,
                            offset: line,
                            raw,
                        },
                        found,
                    )
                }
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    let origin = Origin {
                        partition: 0,
                        offset: line,
                        raw: String::new(),
                    };
                    (origin, Found::Bad(e.to_string()))
                }
            };
            out.push((origin, found));
        }
        Ok(out)
    }
}

impl TableReader for FileTableReader {
    fn read(&mut self) -> Result<TableRead, TableError> {
        let read_at = now_ms();
        let meta = std::fs::metadata(&self.table.path).map_err(|e| self.io(e))?;
        let stamp = (meta.len(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
        // A file changed within the last two seconds may change again within the same timestamp.
        let settled = stamp.1.elapsed().is_ok_and(|age| age > Duration::from_secs(2));
        if self.seen == Some(stamp) && settled {
            return Ok(TableRead {
                found: Vec::new(),
                complete: false,
                read_at,
                caught_up: true,
            });
        }
        let bytes = std::fs::read(&self.table.path).map_err(|e| self.io(e))?;
        let text = String::from_utf8_lossy(&bytes);
        let found = self.parse(&text)?;
        self.seen = Some(stamp);
        Ok(TableRead {
            found,
            complete: true,
            read_at,
            caught_up: true,
        })
    }

    fn check(&mut self) -> Result<(), TableError> {
        let meta = std::fs::metadata(&self.table.path).map_err(|e| self.io(e))?;
        if meta.is_dir() {
            return Err(self.io(std::io::Error::other("it is a directory; name the table's file")));
        }
        self.read().map(|_| ())?;
        self.seen = None;
        Ok(())
    }
}
