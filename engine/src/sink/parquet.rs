//! Window rows to Parquet, partitioned hive-style by the UTC date (and hour) of `window_start`.
//!
//! Columns: `window_start`, `window_end` (TIMESTAMP ms, UTC), then the key fields, the carried fields and the
//! aggregates, in the job's order. A partition's rows are gathered until its file rolls — at
//! `max_rows_per_file`, once the watermark has passed the last window that can land in the partition, once it
//! is `max_file_age` (event time) past the file's first row, or at the end of input — then written as `.part-NNNNN.parquet.inprogress` and renamed to `part-NNNNN.parquet`.
//! File size therefore follows the data and the roll rules, never the checkpoint interval.
//!
//! **Two-phase commit** (with checkpoints): a rolled file is written and fsynced under its temp name and
//! *staged*; the next checkpoint lists it, and it is renamed into place only once that checkpoint is on disk.
//! The rows of files not rolled yet are part of the checkpoint. A crashed run's staged files are either
//! committed on restore (their checkpoint completed) or regenerated: names are deterministic, so a
//! regenerated file replaces its earlier copy with the same bytes, never adds a second one.

use super::with_suffix;
use crate::plan::{PartitionBy, RowSchema};
use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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

/// The part of a Parquet sink a checkpoint holds: rows of files not rolled yet and the next file number per
/// partition.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ParquetState {
    pub open: BTreeMap<i64, Vec<WindowRow>>,
    pub next_part: BTreeMap<i64, u32>,
}

/// The Parquet output of one window operator.
pub struct ParquetRowWriter {
    dir: PathBuf,
    partition_by: PartitionBy,
    max_rows_per_file: usize,
    max_file_age_ms: Option<i64>,
    row_group_rows: usize,
    schema: Arc<Schema>,
    row_schema: RowSchema,
    window: WindowSpec,
    allowed_lateness_ms: i64,
    state: ParquetState,
    /// With two-phase commit: rolled files waiting for a checkpoint, (temp, final).
    two_phase: bool,
    staged: Vec<(PathBuf, PathBuf)>,
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
            max_file_age_ms: None,
            row_group_rows,
            schema: Arc::new(arrow_schema(&row_schema)),
            row_schema,
            window,
            allowed_lateness_ms,
            state: ParquetState::default(),
            two_phase: false,
            staged: Vec::new(),
            files_written: Vec::new(),
        })
    }

    /// Switches to two-phase commit, continuing from a checkpoint's `state` (if restored): files it staged
    /// are already published by then; any other temp file under the directory is a crashed run's and is
    /// removed (its rows are regenerated).
    pub fn two_phase(&mut self, restored: Option<ParquetState>) -> io::Result<()> {
        self.two_phase = true;
        if let Some(state) = restored {
            self.state = state;
        }
        remove_temp_files(&self.dir)
    }

    /// Rolls a file once the watermark is `age` (event time) past the firing of its first row, whatever its
    /// size: a streaming job's output becomes readable within a bounded delay.
    pub fn set_max_file_age(&mut self, age: Option<i64>) {
        self.max_file_age_ms = age;
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

    /// When the last window that can land in partition `p` fires (`None`: unpartitioned, never).
    fn last_firing(&self, p: i64) -> Option<i64> {
        let span = self.span()?;
        Some(self.window.last_start_below(p + span) + self.window.size_ms() + self.allowed_lateness_ms)
    }

    /// Adds rows (in output order); a partition's file rolls when it reaches `max_rows_per_file`.
    pub fn write(&mut self, rows: &[WindowRow]) -> io::Result<()> {
        for row in rows {
            let p = self.partition_of(row.start);
            let open = self.state.open.entry(p).or_default();
            open.push(row.clone());
            if open.len() >= self.max_rows_per_file {
                self.roll(p)?;
            }
        }
        Ok(())
    }

    /// Writes partition `p`'s gathered rows as its next file (published now, or staged with two-phase
    /// commit).
    fn roll(&mut self, p: i64) -> io::Result<()> {
        let Some(rows) = self.state.open.remove(&p) else {
            return Ok(());
        };
        if rows.is_empty() {
            return Ok(());
        }
        let dir = self.partition_dir(p);
        fs::create_dir_all(&dir)?;
        let n = self.state.next_part.entry(p).or_insert(0);
        let name = format!("part-{n:05}.parquet");
        *n += 1;
        let path = dir.join(&name);
        let tmp = with_suffix(&dir.join(format!(".{name}")), ".inprogress");
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .build();
        let mut writer =
            ArrowWriter::try_new(File::create(&tmp)?, self.schema.clone(), Some(props)).map_err(io::Error::other)?;
        for group in rows.chunks(self.row_group_rows.max(1)) {
            let refs: Vec<&WindowRow> = group.iter().collect();
            let batch = record_batch(&self.schema, &self.row_schema, &refs).map_err(io::Error::other)?;
            writer.write(&batch).map_err(io::Error::other)?;
        }
        let file = writer.into_inner().map_err(io::Error::other)?;
        file.sync_all()?;
        if self.two_phase {
            self.staged.push((tmp, path));
        } else {
            fs::rename(&tmp, &path)?;
            self.files_written.push(path);
        }
        Ok(())
    }

    /// Rolls the files of every partition no further row can land in (all of them for `None`, the end of
    /// input).
    pub fn close_ready(&mut self, watermark: Option<u64>) -> io::Result<()> {
        let ready: Vec<i64> = self
            .state
            .open
            .keys()
            .copied()
            .filter(|p| match (watermark, self.last_firing(*p)) {
                (None, _) => true,
                (Some(w), Some(last)) if last < w as i64 => true,
                (Some(w), _) => self.max_file_age_ms.is_some_and(|age| {
                    let first = &self.state.open[p][0];
                    first.end + self.allowed_lateness_ms + age < w as i64
                }),
            })
            .collect();
        for p in ready {
            self.roll(p)?;
        }
        Ok(())
    }

    /// The end of input with two-phase commit: publishes what is staged (the run is complete).
    pub fn publish_staged(&mut self) -> io::Result<()> {
        let staged = std::mem::take(&mut self.staged);
        crate::checkpoint::coordinator::commit_files(&staged)?;
        self.files_written.extend(staged.into_iter().map(|(_, p)| p));
        Ok(())
    }

    /// The checkpoint part: the state, and the staged files the checkpoint publishes once it is durable.
    pub fn checkpoint(&mut self) -> (ParquetState, Vec<(PathBuf, PathBuf)>) {
        (self.state.clone(), std::mem::take(&mut self.staged))
    }

    /// Discards what is not published (after a failure).
    pub fn abort(&mut self) {
        self.state.open.clear();
        for (tmp, _) in std::mem::take(&mut self.staged) {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Removes the `.part-*.inprogress` files under `dir` (a crashed run's unpublished files).
fn remove_temp_files(dir: &Path) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let path = e.path();
        if e.file_type()?.is_dir() {
            remove_temp_files(&path)?;
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(".part-") && n.ends_with(".inprogress"))
        {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_operators::value::ValueType;
    use weir_operators::Key;

    fn row(start: i64) -> WindowRow {
        WindowRow {
            start,
            end: start + 60_000,
            key: Key::from(vec![Value::Str("k".into())]),
            carry: vec![],
            values: vec![Value::Int(1)],
        }
    }

    fn parquet_files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn files_roll_by_event_time_age_and_stage_until_committed() {
        let dir = tempfile::tempdir().unwrap();
        let schema = RowSchema {
            columns: vec![("k".into(), ValueType::Str), ("n".into(), ValueType::Int)],
        };
        let mut w = ParquetRowWriter::create(
            dir.path(),
            PartitionBy::None,
            1_000_000,
            1024,
            schema,
            WindowSpec::Tumbling { size_ms: 60_000 },
            0,
        )
        .unwrap();
        w.set_max_file_age(Some(600_000));
        w.two_phase(None).unwrap();
        w.write(&[row(0), row(60_000)]).unwrap();
        // first row fired at 60 s: not 10 min past it yet
        w.close_ready(Some(660_000)).unwrap();
        assert!(parquet_files(dir.path()).is_empty());
        w.close_ready(Some(660_001)).unwrap();
        // written and staged, not published
        assert_eq!(parquet_files(dir.path()), vec![".part-00000.parquet.inprogress"]);
        let (state, commits) = w.checkpoint();
        assert!(state.open.is_empty());
        crate::checkpoint::coordinator::commit_files(&commits).unwrap();
        assert_eq!(parquet_files(dir.path()), vec!["part-00000.parquet"]);
    }
}
