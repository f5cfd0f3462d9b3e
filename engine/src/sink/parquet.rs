//! Window rows to Parquet, partitioned hive-style by the UTC date (and hour) of `window_start`.
//!
//! Columns: `window_start`, `window_end` (TIMESTAMP ms, UTC), then the key fields, the carried fields and the
//! aggregates, in the job's order. One file per partition directory, rolled at `max_rows_per_file`; a file is
//! written as `.part-NNNNN.parquet.inprogress` and renamed to `part-NNNNN.parquet` once the watermark has
//! passed the last window that can land in its partition, or at the end of input.

use super::with_suffix;
use crate::plan::{PartitionBy, RowSchema};
use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weir_operators::value::ValueType;
use weir_operators::{Value, WindowRow, WindowSpec};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The Arrow schema of a window operator's rows.
pub fn arrow_schema(rows: &RowSchema) -> Schema {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let mut fields = vec![
        Field::new("window_start", ts.clone(), false),
        Field::new("window_end", ts, false),
    ];
    for (name, ty) in &rows.columns {
        let dt = match ty {
            ValueType::Str => DataType::Utf8,
            ValueType::Int => DataType::Int64,
            ValueType::Float => DataType::Float64,
        };
        fields.push(Field::new(name, dt, false));
    }
    Schema::new(fields)
}

/// Builds one record batch from rows.
pub fn record_batch(
    schema: &Arc<Schema>,
    row_schema: &RowSchema,
    rows: &[&WindowRow],
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMillisecondArray::from(rows.iter().map(|r| r.start).collect::<Vec<_>>()).with_timezone("UTC"),
        ),
        Arc::new(TimestampMillisecondArray::from(rows.iter().map(|r| r.end).collect::<Vec<_>>()).with_timezone("UTC")),
    ];
    let value = |r: &WindowRow, c: usize| -> Value {
        let nk = r.key.0.len();
        let nc = r.carry.len();
        if c < nk {
            r.key.0[c].clone()
        } else if c < nk + nc {
            r.carry[c - nk].clone()
        } else {
            r.values[c - nk - nc].clone()
        }
    };
    for (c, (_, ty)) in row_schema.columns.iter().enumerate() {
        let col: ArrayRef = match ty {
            ValueType::Str => {
                let mut b = StringBuilder::new();
                for r in rows {
                    b.append_value(value(r, c).to_string());
                }
                Arc::new(b.finish())
            }
            ValueType::Int => {
                let mut b = Int64Builder::new();
                for r in rows {
                    match value(r, c) {
                        Value::Int(i) => b.append_value(i),
                        other => b.append_value(other.as_f64().unwrap_or(0.0) as i64),
                    }
                }
                Arc::new(b.finish())
            }
            ValueType::Float => {
                let mut b = Float64Builder::new();
                for r in rows {
                    b.append_value(value(r, c).as_f64().unwrap_or(f64::NAN));
                }
                Arc::new(b.finish())
            }
        };
        cols.push(col);
    }
    RecordBatch::try_new(schema.clone(), cols)
}

struct OpenFile {
    writer: ArrowWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    rows: usize,
}

/// The Parquet output of one window operator.
pub struct ParquetRowWriter {
    dir: PathBuf,
    partition_by: PartitionBy,
    max_rows_per_file: usize,
    row_group_rows: usize,
    schema: Arc<Schema>,
    row_schema: RowSchema,
    window: WindowSpec,
    allowed_lateness_ms: i64,
    open: BTreeMap<i64, OpenFile>,
    next_part: HashMap<i64, u32>,
    pub files_written: Vec<PathBuf>,
}

impl ParquetRowWriter {
    pub fn create(
        dir: &Path,
        partition_by: PartitionBy,
        max_rows_per_file: usize,
        row_group_rows: usize,
        row_schema: RowSchema,
        window: WindowSpec,
        allowed_lateness_ms: i64,
    ) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            partition_by,
            max_rows_per_file,
            row_group_rows,
            schema: Arc::new(arrow_schema(&row_schema)),
            row_schema,
            window,
            allowed_lateness_ms,
            open: BTreeMap::new(),
            next_part: HashMap::new(),
            files_written: Vec::new(),
        })
    }

    fn span(&self) -> Option<i64> {
        match self.partition_by {
            PartitionBy::Hour => Some(HOUR_MS),
            PartitionBy::Date => Some(DAY_MS),
            PartitionBy::None => None,
        }
    }

    fn partition_of(&self, start: i64) -> i64 {
        self.span().map_or(0, |s| start - start.rem_euclid(s))
    }

    fn partition_dir(&self, p: i64) -> PathBuf {
        let dt = chrono::DateTime::from_timestamp_millis(p).unwrap_or_default();
        match self.partition_by {
            PartitionBy::Hour => self
                .dir
                .join(dt.format("date=%Y-%m-%d").to_string())
                .join(dt.format("hour=%H").to_string()),
            PartitionBy::Date => self.dir.join(dt.format("date=%Y-%m-%d").to_string()),
            PartitionBy::None => self.dir.clone(),
        }
    }

    /// The fire time of the last window that can land in partition `p`.
    fn last_firing(&self, p: i64) -> Option<i64> {
        let span = self.span()?;
        Some(self.window.last_start_below(p + span) + self.window.size_ms() + self.allowed_lateness_ms)
    }

    fn open_file(&mut self, p: i64) -> io::Result<&mut OpenFile> {
        if !self.open.contains_key(&p) {
            let dir = self.partition_dir(p);
            fs::create_dir_all(&dir)?;
            let n = self.next_part.entry(p).or_insert(0);
            let name = format!("part-{n:05}.parquet");
            *n += 1;
            let path = dir.join(&name);
            let tmp = with_suffix(&dir.join(format!(".{name}")), ".inprogress");
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .set_max_row_group_row_count(Some(self.row_group_rows))
                .build();
            let writer = ArrowWriter::try_new(File::create(&tmp)?, self.schema.clone(), Some(props))
                .map_err(io::Error::other)?;
            self.open.insert(
                p,
                OpenFile {
                    writer,
                    tmp,
                    path,
                    rows: 0,
                },
            );
        }
        Ok(self.open.get_mut(&p).expect("just opened"))
    }

    /// Appends rows (already in output order).
    pub fn write(&mut self, rows: &[WindowRow]) -> io::Result<()> {
        let mut i = 0;
        while i < rows.len() {
            let p = self.partition_of(rows[i].start);
            let mut j = i;
            while j < rows.len() && self.partition_of(rows[j].start) == p {
                j += 1;
            }
            let mut k = i;
            while k < j {
                let max = self.max_rows_per_file;
                let room = max.saturating_sub(self.open_file(p)?.rows).max(1);
                let end = (k + room).min(j);
                let batch_rows: Vec<&WindowRow> = rows[k..end].iter().collect();
                let batch = record_batch(&self.schema, &self.row_schema, &batch_rows).map_err(io::Error::other)?;
                let f = self.open.get_mut(&p).expect("open");
                f.writer.write(&batch).map_err(io::Error::other)?;
                f.rows += batch_rows.len();
                if f.rows >= self.max_rows_per_file {
                    self.close(p)?;
                }
                k = end;
            }
            i = j;
        }
        Ok(())
    }

    fn close(&mut self, p: i64) -> io::Result<()> {
        if let Some(f) = self.open.remove(&p) {
            let file = f.writer.into_inner().map_err(io::Error::other)?;
            file.sync_all()?;
            fs::rename(&f.tmp, &f.path)?;
            self.files_written.push(f.path);
        }
        Ok(())
    }

    /// Publishes the files no further row can land in, given the watermark (`None`: input ended).
    pub fn close_ready(&mut self, watermark: Option<u64>) -> io::Result<()> {
        let ready: Vec<i64> = self
            .open
            .keys()
            .copied()
            .filter(|p| match (watermark, self.last_firing(*p)) {
                (None, _) => true,
                (Some(w), Some(last)) => last < w as i64,
                (Some(_), None) => false,
            })
            .collect();
        for p in ready {
            self.close(p)?;
        }
        Ok(())
    }

    /// Discards unpublished files after a failure.
    pub fn abort(&mut self) {
        for (_, f) in std::mem::take(&mut self.open) {
            drop(f.writer);
            let _ = fs::remove_file(&f.tmp);
        }
    }
}
