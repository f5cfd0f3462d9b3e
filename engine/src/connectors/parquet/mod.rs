//! Any stream to Parquet, partitioned hive-style by the UTC date (and hour) of each record's event time
//! (window rows: `window_start`).
//!
//! Columns are the stream's fields in order: int → INT64, float → DOUBLE, string/enum → UTF8, bool →
//! BOOLEAN, timestamp → TIMESTAMP(ms, UTC), sketch → BINARY (the sketch's portable encoding, see
//! `QuantileSketch::to_bytes`); a `T?` field is a nullable column. A partition's rows are gathered until its
//! file rolls — at `max_rows_per_file`, once the job watermark has passed the last logical time a record of
//! the partition can have, once it is `max_file_age` past the file's first record, or at the end of input —
//! then written as `.part-NNNNN.parquet.inprogress` and renamed to `part-NNNNN.parquet`. Every roll is
//! decided in logical time (a file holds exactly the partition's records up to its deadline), so files are
//! the same in every run; file size follows the data and the roll rules, never the checkpoint interval.
//!
//! A record of a raw event archive can arrive after its partition rolled (a late record): it starts the
//! partition's next file (which gathers the partition's late records for one more partition span of logical
//! time), so every record lands in exactly one file.
//!
//! **Two-phase commit** (with checkpoints): a rolled file is written and fsynced under its temp name and
//! *staged*; the next checkpoint lists it, and it is renamed into place only once that checkpoint is on disk.
//! The rows of files not rolled yet are part of the checkpoint. A crashed run's staged files are either
//! committed on restore (their checkpoint completed) or regenerated: names are deterministic, so a
//! regenerated file replaces its earlier copy with the same bytes, never adds a second one.
//!
//! **Object storage.** A `path` of `s3://…`, `gs://…` or `az://…` is written the same way into a local
//! staging directory (`<checkpoint dir>/staging/<sink>`, or a temporary one without checkpoints); publishing
//! a file uploads it to the same relative key under the URL and removes the local copy (see
//! [`crate::objects`]). Without checkpoints such files are published at the end of input.
//!
//! [`ParquetSink`] is the `kind = "parquet"` sink component.

mod columns;
pub mod config;
pub mod delta;
mod operator;

pub use columns::{arrow_schema, arrow_schema_in, record_batch};

use crate::component::{SinkBuildContext, SinkComponent};
use crate::dataflow::sink_op::unbatched;
use crate::dataflow::sink_op::with_suffix;
use crate::error::BuildError;
use crate::record::RecordStream;
use crate::record::{Record, Row};
use crate::schema::Schema;
use arrow_schema::TimeUnit;
use operator::parquet_sink;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use timely::dataflow::operators::Probe;
use weir_operators::WindowSpec;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionBy {
    Hour,
    Date,
    None,
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The last logical time a record of a partition can have, which decides when its file rolls.
#[derive(Clone, Copy, Debug)]
pub enum Closing {
    /// Rows of this window: a partition's last window fires at `end + allowed_lateness`.
    Window {
        window: WindowSpec,
        allowed_lateness_ms: i64,
    },
    /// Records partitioned by their own event time: a partition is complete once the job watermark passes its
    /// end (later records of it are late and start its next file).
    EventTime,
}

/// One partition's file being gathered.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpenFile {
    /// The file rolls before a record with a later logical time joins it, and once the watermark passes it.
    pub deadline: u64,
    pub rows: Vec<Row>,
}

/// The part of a Parquet sink a checkpoint holds: rows of files not rolled yet and the next file number per
/// partition.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ParquetState {
    pub open: BTreeMap<i64, OpenFile>,
    pub next_part: BTreeMap<i64, u32>,
}

/// Where a file sink's files go: a local directory, or an object-storage URL (`s3://bucket/prefix`).
#[derive(Clone, Debug)]
pub enum Location {
    Local(PathBuf),
    Object(String),
}

/// The Parquet output of one stream.
pub struct ParquetRowWriter {
    /// Where files are written (the output directory, or the staging directory of an object URL).
    dir: PathBuf,
    /// The object URL files are published to (`None`: they are renamed into place under `dir`).
    publish_to: Option<String>,
    partition_by: PartitionBy,
    max_rows_per_file: usize,
    max_file_age_ms: Option<i64>,
    row_group_rows: usize,
    arrow: Arc<arrow_schema::Schema>,
    schema: Schema,
    closing: Closing,
    state: ParquetState,
    /// With two-phase commit: rolled files waiting for a checkpoint, (temp, final).
    two_phase: bool,
    staged: Vec<(PathBuf, PathBuf)>,
    pub files_written: Vec<PathBuf>,
    /// A Delta table's log, committed with the files.
    delta: Option<delta::DeltaLog>,
}

impl ParquetRowWriter {
    pub fn create(
        dir: &Path,
        partition_by: PartitionBy,
        max_rows_per_file: usize,
        row_group_rows: usize,
        schema: Schema,
        closing: Closing,
    ) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            publish_to: None,
            partition_by,
            max_rows_per_file,
            max_file_age_ms: None,
            row_group_rows,
            arrow: Arc::new(arrow_schema(&schema)),
            schema,
            closing,
            state: ParquetState::default(),
            two_phase: false,
            staged: Vec::new(),
            files_written: Vec::new(),
            delta: None,
        })
    }

    /// Publishes files to the object URL `url` (keys relative to it as files are to the staging directory).
    pub fn publish_to(&mut self, url: String) {
        self.publish_to = Some(url);
    }

    /// Where the file written at `local` (under `dir`) is published: itself, or its object URL.
    fn destination(&self, local: &Path) -> PathBuf {
        match (&self.publish_to, local.strip_prefix(&self.dir)) {
            (Some(url), Ok(relative)) => PathBuf::from(format!("{url}/{}", relative.to_string_lossy())),
            _ => local.to_path_buf(),
        }
    }

    /// Makes the output a Delta table: its files get microsecond timestamps and each checkpoint's files are
    /// one commit of `log`.
    pub fn set_delta(&mut self, log: delta::DeltaLog) {
        self.arrow = Arc::new(arrow_schema_in(&self.schema, TimeUnit::Microsecond));
        self.delta = Some(log);
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

    /// Rolls a file once the watermark is `age` (event time) past its first row, whatever its size: a
    /// streaming job's output becomes readable within a bounded delay.
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
        let Some(dt) = chrono::DateTime::from_timestamp_millis(p) else {
            // Beyond the calendar (years past ±262 000): a directory of its own, named by the milliseconds.
            return self.dir.join(format!("date=ms{p}"));
        };
        match self.partition_by {
            PartitionBy::Hour => self
                .dir
                .join(dt.format("date=%Y-%m-%d").to_string())
                .join(dt.format("hour=%H").to_string()),
            PartitionBy::Date => self.dir.join(dt.format("date=%Y-%m-%d").to_string()),
            PartitionBy::None => self.dir.clone(),
        }
    }

    /// The last logical time a record of partition `p` can have (`None`: unpartitioned, no such time).
    fn partition_end(&self, p: i64) -> Option<i64> {
        let span = self.span()?;
        Some(match self.closing {
            Closing::Window {
                window,
                allowed_lateness_ms,
            } => window.end_of(window.last_start_below(p.saturating_add(span))) + allowed_lateness_ms - 1,
            Closing::EventTime => p.saturating_add(span) - 1,
        })
    }

    /// The deadline of a file of partition `p` whose first record has logical time `first`: the
    /// partition's end; for a file of records that came after it (late records), one partition span after
    /// the first of them, so late records of a partition gather in a few files rather than one each.
    fn deadline(&self, p: i64, first: u64) -> u64 {
        let end = match (self.partition_end(p), self.span()) {
            (Some(e), Some(span)) if first > e.max(0) as u64 => first.saturating_add(span as u64),
            (Some(e), _) => e.max(0) as u64,
            (None, _) => u64::MAX,
        };
        match self.max_file_age_ms {
            Some(age) => end.min(first.saturating_add(age.max(0) as u64).saturating_add(1)),
            None => end,
        }
    }

    /// Adds records (in output order); a partition's file rolls when it reaches `max_rows_per_file`, and
    /// before a record past its deadline joins it.
    pub fn write(&mut self, records: Vec<Record>) -> io::Result<()> {
        for r in records {
            let p = self.partition_of(r.ts);
            if self.state.open.get(&p).is_some_and(|f| r.lt() > f.deadline) {
                self.roll(p)?;
            }
            let deadline = self.deadline(p, r.lt());
            let open = self.state.open.entry(p).or_insert_with(|| OpenFile {
                deadline,
                rows: Vec::new(),
            });
            open.rows.push(r.values);
            if open.rows.len() >= self.max_rows_per_file {
                self.roll(p)?;
            }
        }
        Ok(())
    }

    /// Writes partition `p`'s gathered rows as its next file (published now, or staged with two-phase
    /// commit).
    fn roll(&mut self, p: i64) -> io::Result<()> {
        let Some(OpenFile { rows, .. }) = self.state.open.remove(&p) else {
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
        let path = self.destination(&dir.join(&name));
        let tmp = with_suffix(&dir.join(format!(".{name}")), ".inprogress");
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .build();
        let mut writer =
            ArrowWriter::try_new(File::create(&tmp)?, self.arrow.clone(), Some(props)).map_err(io::Error::other)?;
        for group in rows.chunks(self.row_group_rows.max(1)) {
            let refs: Vec<&Row> = group.iter().collect();
            let batch = record_batch(&self.arrow, &self.schema, &refs).map_err(io::Error::other)?;
            writer.write(&batch).map_err(io::Error::other)?;
        }
        let file = writer.into_inner().map_err(io::Error::other)?;
        file.sync_all()?;
        if self.two_phase || self.publish_to.is_some() {
            self.staged.push((tmp, path));
        } else {
            fs::rename(&tmp, &path)?;
            self.files_written.push(path);
        }
        Ok(())
    }

    /// Rolls the files whose deadline the watermark has passed (all of them for `None`, the end of input).
    pub fn close_ready(&mut self, watermark: Option<u64>) -> io::Result<()> {
        let ready: Vec<i64> = self
            .state
            .open
            .iter()
            .filter(|(_, f)| watermark.is_none_or(|w| f.deadline < w))
            .map(|(p, _)| *p)
            .collect();
        for p in ready {
            self.roll(p)?;
        }
        Ok(())
    }

    /// The end of input with two-phase commit: publishes what is staged (the run is complete).
    pub fn publish_staged(&mut self) -> io::Result<()> {
        let staged = std::mem::take(&mut self.staged);
        let mut commits = staged.clone();
        if let Some(log) = self.delta.as_mut() {
            // Without checkpoints a local file was published as it rolled: one commit adds them all.
            let mut files: Vec<(PathBuf, PathBuf)> = self.files_written.iter().map(|p| (p.clone(), p.clone())).collect();
            files.extend(staged.iter().cloned());
            commits.extend(log.stage(log.last_epoch() + 1, &files)?);
        }
        crate::checkpoint::coordinator::commit_files(&commits)?;
        self.files_written.extend(staged.into_iter().map(|(_, p)| p));
        if self.publish_to.is_some() && !self.two_phase {
            // A temporary staging directory, emptied by the uploads.
            let _ = fs::remove_dir_all(&self.dir);
        }
        Ok(())
    }

    /// The checkpoint part of `epoch`: the state, and the staged files the checkpoint publishes once it is
    /// durable (a Delta table's commit of them last).
    pub fn checkpoint(&mut self, epoch: u64) -> io::Result<(ParquetState, Vec<(PathBuf, PathBuf)>)> {
        let mut commits = std::mem::take(&mut self.staged);
        if let Some(log) = self.delta.as_mut() {
            let commit = log.stage(epoch, &commits)?;
            commits.extend(commit);
        }
        Ok((self.state.clone(), commits))
    }

    /// Discards what is not published (after a failure).
    pub fn abort(&mut self) {
        self.state.open.clear();
        for (tmp, _) in std::mem::take(&mut self.staged) {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// The local directory an object-storage sink writes its files into before publishing them: under the
/// checkpoint directory (staged files must outlive a crash), else a temporary one of this process.
fn staging_dir(cx: &SinkBuildContext<'_, '_>) -> PathBuf {
    match cx.ctx.checkpoints.coordinator().config() {
        Some(c) => c.dir.join("staging").join(cx.name),
        None => std::env::temp_dir().join(format!("weir-staging-{}-{}-{}", cx.job, cx.name, std::process::id())),
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

/// `kind = "parquet"`: one stream's records as Parquet files, partitioned by event time.
#[derive(Clone, Debug)]
pub struct ParquetSink {
    pub location: Location,
    pub partition_by: PartitionBy,
    pub max_rows_per_file: usize,
    /// Roll a file once the watermark is this far (event time) past its first row.
    pub max_file_age_ms: Option<i64>,
    pub row_group_rows: usize,
    /// `kind = "delta"`: the files make a Delta table.
    pub delta: bool,
}

impl SinkComponent for ParquetSink {
    fn path_is_directory(&self) -> bool {
        true
    }

    fn kind(&self) -> &'static str {
        if self.delta {
            "delta"
        } else {
            "parquet"
        }
    }

    fn path(&self) -> Option<&Path> {
        match &self.location {
            Location::Local(path) => Some(path),
            Location::Object(_) => None,
        }
    }

    fn output_dir(&self) -> Option<&Path> {
        self.path()
    }

    fn reads_one_stream(&self) -> bool {
        true
    }

    fn describe(&self, _name: &str) -> String {
        let layout = match self.partition_by {
            PartitionBy::Hour => "partitioned date=YYYY-MM-DD/hour=HH",
            PartitionBy::Date => "partitioned date=YYYY-MM-DD",
            PartitionBy::None => "unpartitioned",
        };
        let at = match &self.location {
            Location::Local(path) => path.display().to_string(),
            Location::Object(url) => format!("{url} (object storage)"),
        };
        format!("{} {at} {layout}", if self.delta { "delta table" } else { "parquet" })
    }

    /// Files of one output share one layout: a changed `partition_by` would mix `date=/hour=` with `date=`.
    fn shape_details(&self) -> Vec<(&'static str, String)> {
        let layout = match self.partition_by {
            PartitionBy::Hour => "hour",
            PartitionBy::Date => "date",
            PartitionBy::None => "none",
        };
        vec![("partition_by", layout.to_string())]
    }

    fn build<'s>(&self, cx: SinkBuildContext<'s, '_>) -> Result<Option<RecordStream<'s>>, BuildError> {
        let (records, schema) = cx.inputs[0].clone();
        let closing = match cx.window {
            Some(w) => Closing::Window {
                window: w.window,
                allowed_lateness_ms: w.allowed_lateness_ms,
            },
            None => Closing::EventTime,
        };
        let writer = if cx.writes {
            let (dir, url) = match &self.location {
                Location::Local(path) => (path.clone(), None),
                Location::Object(url) => {
                    crate::objects::check_reachable(url).map_err(cx.output_error(Path::new(url)))?;
                    (staging_dir(&cx), Some(url.clone()))
                }
            };
            let created = ParquetRowWriter::create(
                &dir,
                self.partition_by,
                self.max_rows_per_file,
                self.row_group_rows,
                schema.clone(),
                closing,
            );
            let mut writer = created.map_err(cx.output_error(&dir))?;
            writer.set_max_file_age(self.max_file_age_ms);
            if cx.checkpoints() {
                let restored = cx.restored_state()?;
                writer.two_phase(restored).map_err(cx.output_error(&dir))?;
            }
            if let Some(url) = &url {
                writer.publish_to(url.clone());
            }
            if self.delta {
                let app_id = format!("{}/{}", cx.job, cx.name);
                let table = delta::Table {
                    staging: dir.clone(),
                    published: url.as_ref().map_or(dir.clone(), PathBuf::from),
                };
                let log = delta::DeltaLog::open(table, app_id, &schema, self.partition_by, cx.restored.is_some());
                writer.set_delta(log.map_err(cx.output_error(&dir))?);
            }
            Some(writer)
        } else {
            None
        };
        let records = unbatched(records).probe_with(cx.probe);
        parquet_sink(records, cx.job_end, cx.name.to_string(), writer, cx.ctx.clone());
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Field, FieldType};
    use weir_operators::Value;

    fn row(start: i64) -> Record {
        crate::component::row_record(
            weir_operators::WindowRow {
                start,
                end: start + 60_000,
                key: weir_operators::Key::from(vec![Value::Str("k".into())]),
                carry: vec![],
                values: vec![Value::Int(1)],
            },
            0,
        )
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
        let schema = Schema {
            fields: vec![
                Field::new("window_start", FieldType::Timestamp),
                Field::new("window_end", FieldType::Timestamp),
                Field::new("k", FieldType::String),
                Field::new("n", FieldType::Int),
            ],
            event_time: 0,
        };
        let closing = Closing::Window {
            window: WindowSpec::tumbling(60_000),
            allowed_lateness_ms: 0,
        };
        let mut w = ParquetRowWriter::create(dir.path(), PartitionBy::None, 1_000_000, 1024, schema, closing).unwrap();
        w.set_max_file_age(Some(600_000));
        w.two_phase(None).unwrap();
        w.write(vec![row(0), row(60_000)]).unwrap();
        // first row fired at 60 s: not 10 min past it yet
        w.close_ready(Some(660_000)).unwrap();
        assert!(parquet_files(dir.path()).is_empty());
        w.close_ready(Some(660_001)).unwrap();
        // written and staged, not published
        assert_eq!(parquet_files(dir.path()), vec![".part-00000.parquet.inprogress"]);
        let (state, commits) = w.checkpoint(1).unwrap();
        assert!(state.open.is_empty());
        crate::checkpoint::coordinator::commit_files(&commits).unwrap();
        assert_eq!(parquet_files(dir.path()), vec!["part-00000.parquet"]);
    }
}
