//! One worker's Parquet writer: the files of the (partition, bucket) pairs routed to it.
//!
//! A hive partition's rows are split into the sink's `buckets` by a stable hash of their values, and each
//! (partition, bucket) — a *file group* — is owned by one worker (`route(group) % workers`), so every file
//! is written by exactly one writer and its rows, order and roll points depend only on the input and the job
//! definition, never on the worker or process count. With one bucket (the default) files are named
//! `part-NNNNN.parquet`; with more, `part-bBBB-NNNNN.parquet`.

use super::{arrow_schema, arrow_schema_in, record_batch, Closing, PartitionBy, DAY_MS, HOUR_MS};
use crate::dataflow::sink_op::with_suffix;
use crate::record::{Record, Row};
use crate::schema::Schema;
use arrow_schema::TimeUnit;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weir_operators::{Key, Value};

/// A file group: (hive partition start in ms, bucket).
pub type Group = (i64, u32);

/// The stable route of a file group: its owner is `route(group) % workers` (as timely's exchange sends it).
pub fn route(group: Group) -> u64 {
    Key::route_hash_of(&[Value::Int(group.0), Value::Int(group.1 as i64)])
}

/// How records are split into file groups: by hive partition (the span of `partition_by`), then into
/// `buckets` by a stable hash of the row.
#[derive(Clone, Copy, Debug)]
pub struct Grouping {
    span: Option<i64>,
    buckets: u32,
}

impl Grouping {
    pub fn new(partition_by: PartitionBy, buckets: u32) -> Self {
        let span = match partition_by {
            PartitionBy::Hour => Some(HOUR_MS),
            PartitionBy::Date => Some(DAY_MS),
            PartitionBy::None => None,
        };
        Self {
            span,
            buckets: buckets.max(1),
        }
    }

    /// The start of the hive partition of event time `ts` (0 unpartitioned).
    pub fn partition_of(&self, ts: i64) -> i64 {
        self.span.map_or(0, |s| ts - ts.rem_euclid(s))
    }

    /// The file group of a record.
    pub fn group_of(&self, r: &Record) -> Group {
        let bucket = match self.buckets {
            1 => 0,
            n => (Key::route_hash_of(&r.values) % n as u64) as u32,
        };
        (self.partition_of(r.ts), bucket)
    }
}

/// One file group's file being gathered.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpenFile {
    /// The file rolls before a record with a later logical time joins it, and once the watermark passes it.
    pub deadline: u64,
    pub rows: Vec<Row>,
}

/// The part of a Parquet writer a checkpoint holds: rows of files not rolled yet and the next file number,
/// per file group.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ParquetState {
    pub open: BTreeMap<Group, OpenFile>,
    pub next_part: BTreeMap<Group, u32>,
}

impl ParquetState {
    /// The groups of every old writer's state that `worker` of `workers` owns now (a restore at any worker
    /// count).
    pub fn merged(parts: Vec<ParquetState>, worker: usize, workers: usize) -> ParquetState {
        let mine = |g: &Group| route(*g) % workers.max(1) as u64 == worker as u64;
        let mut out = ParquetState::default();
        for p in parts {
            out.open.extend(p.open.into_iter().filter(|(g, _)| mine(g)));
            out.next_part.extend(p.next_part.into_iter().filter(|(g, _)| mine(g)));
        }
        out
    }
}

/// A rolled file waiting to be published: where it is written, where it goes, and its size.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StagedFile {
    pub tmp: PathBuf,
    pub path: PathBuf,
    pub bytes: u64,
}

/// The Parquet output of one worker's file groups.
pub struct ParquetRowWriter {
    /// Where files are written (the output directory, or the staging directory of an object URL).
    dir: PathBuf,
    /// The object URL files are published to (`None`: they are renamed into place under `dir`).
    publish_to: Option<String>,
    partition_by: PartitionBy,
    grouping: Grouping,
    max_rows_per_file: usize,
    max_file_age_ms: Option<i64>,
    row_group_rows: usize,
    arrow: Arc<arrow_schema::Schema>,
    schema: Schema,
    closing: Closing,
    state: ParquetState,
    /// Rolled files are staged (published later, by a checkpoint or at the end) rather than renamed at once.
    staging: bool,
    staged: Vec<StagedFile>,
    pub files_written: Vec<PathBuf>,
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
            grouping: Grouping::new(partition_by, 1),
            max_rows_per_file,
            max_file_age_ms: None,
            row_group_rows,
            arrow: Arc::new(arrow_schema(&schema)),
            schema,
            closing,
            state: ParquetState::default(),
            staging: false,
            staged: Vec::new(),
            files_written: Vec::new(),
        })
    }

    /// Publishes files to the object URL `url` (keys relative to it as files are to the staging directory);
    /// they are staged until then.
    pub fn publish_to(&mut self, url: String) {
        self.publish_to = Some(url);
        self.staging = true;
    }

    /// Splits each partition's rows into `buckets` file groups.
    pub fn set_buckets(&mut self, buckets: u32) {
        self.grouping = Grouping::new(self.partition_by, buckets);
    }

    /// How this writer's records are split into file groups.
    pub fn grouping(&self) -> Grouping {
        self.grouping
    }

    /// Where the file written at `local` (under `dir`) is published: itself, or its object URL.
    fn destination(&self, local: &Path) -> PathBuf {
        match (&self.publish_to, local.strip_prefix(&self.dir)) {
            (Some(url), Ok(relative)) => PathBuf::from(format!("{url}/{}", relative.to_string_lossy())),
            _ => local.to_path_buf(),
        }
    }

    /// Makes the files a Delta table's: microsecond timestamps, and every file staged for the table's
    /// committer.
    pub fn for_delta(&mut self) {
        self.arrow = Arc::new(arrow_schema_in(&self.schema, TimeUnit::Microsecond));
        self.staging = true;
    }

    /// Switches to two-phase commit (files staged until a checkpoint), continuing from `restored` (this
    /// worker's share of a checkpoint's state).
    pub fn two_phase(&mut self, restored: Option<ParquetState>) {
        self.staging = true;
        if let Some(state) = restored {
            self.state = state;
        }
    }

    /// Rolls a file once the watermark is `age` (event time) past its first row, whatever its size: a
    /// streaming job's output becomes readable within a bounded delay.
    pub fn set_max_file_age(&mut self, age: Option<i64>) {
        self.max_file_age_ms = age;
    }

    fn span(&self) -> Option<i64> {
        self.grouping.span
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

    /// Adds records (in output order); a group's file rolls when it reaches `max_rows_per_file`, and before
    /// a record past its deadline joins it.
    pub fn write(&mut self, records: Vec<Record>) -> io::Result<()> {
        for r in records {
            let g = self.grouping.group_of(&r);
            if self.state.open.get(&g).is_some_and(|f| r.lt() > f.deadline) {
                self.roll(g)?;
            }
            let deadline = self.deadline(g.0, r.lt());
            let open = self.state.open.entry(g).or_insert_with(|| OpenFile {
                deadline,
                rows: Vec::new(),
            });
            open.rows.push(r.values);
            if open.rows.len() >= self.max_rows_per_file {
                self.roll(g)?;
            }
        }
        Ok(())
    }

    /// Writes group `g`'s gathered rows as its next file (published now, or staged).
    fn roll(&mut self, g: Group) -> io::Result<()> {
        let Some(OpenFile { rows, .. }) = self.state.open.remove(&g) else {
            return Ok(());
        };
        if rows.is_empty() {
            return Ok(());
        }
        let dir = self.partition_dir(g.0);
        fs::create_dir_all(&dir)?;
        let n = self.state.next_part.entry(g).or_insert(0);
        let name = match self.grouping.buckets {
            1 => format!("part-{n:05}.parquet"),
            _ => format!("part-b{:03}-{n:05}.parquet", g.1),
        };
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
        if self.staging {
            let bytes = file.metadata()?.len();
            self.staged.push(StagedFile { tmp, path, bytes });
        } else {
            fs::rename(&tmp, &path)?;
            self.files_written.push(path);
        }
        Ok(())
    }

    /// Rolls the files whose deadline the watermark has passed (all of them for `None`, the end of input).
    pub fn close_ready(&mut self, watermark: Option<u64>) -> io::Result<()> {
        let ready: Vec<Group> = self
            .state
            .open
            .iter()
            .filter(|(_, f)| watermark.is_none_or(|w| f.deadline < w))
            .map(|(g, _)| *g)
            .collect();
        for g in ready {
            self.roll(g)?;
        }
        Ok(())
    }

    /// The files staged since the last call (to publish with a checkpoint, or at the end).
    pub fn take_staged(&mut self) -> Vec<StagedFile> {
        std::mem::take(&mut self.staged)
    }

    /// Publishes `files` now (the end of input: the run is complete).
    pub fn publish(&mut self, files: Vec<StagedFile>) -> io::Result<()> {
        let commits: Vec<(PathBuf, PathBuf)> = files.iter().map(|f| (f.tmp.clone(), f.path.clone())).collect();
        crate::checkpoint::coordinator::commit_files(&commits)?;
        self.files_written.extend(files.into_iter().map(|f| f.path));
        if self.publish_to.is_some() && fs::read_dir(&self.dir).is_ok_and(|mut d| d.next().is_none()) {
            // An emptied staging directory.
            let _ = fs::remove_dir(&self.dir);
        }
        Ok(())
    }

    /// This writer's state for a checkpoint.
    pub fn state(&self) -> &ParquetState {
        &self.state
    }

    /// Discards what is not published (after a failure).
    pub fn abort(&mut self) {
        self.state.open.clear();
        for f in std::mem::take(&mut self.staged) {
            let _ = fs::remove_file(f.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Field, FieldType};
    use weir_operators::WindowSpec;

    fn row(start: i64, k: &str) -> Record {
        crate::component::row_record(
            weir_operators::WindowRow {
                start,
                end: start + 60_000,
                key: weir_operators::Key::from(vec![Value::Str(k.into())]),
                carry: vec![],
                values: vec![Value::Int(1)],
            },
            0,
        )
    }

    fn schema() -> Schema {
        Schema {
            fields: vec![
                Field::new("window_start", FieldType::Timestamp),
                Field::new("window_end", FieldType::Timestamp),
                Field::new("k", FieldType::String),
                Field::new("n", FieldType::Int),
            ],
            event_time: 0,
        }
    }

    fn closing() -> Closing {
        Closing::Window {
            window: WindowSpec::tumbling(60_000),
            allowed_lateness_ms: 0,
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
        let mut w = ParquetRowWriter::create(dir.path(), PartitionBy::None, 1_000_000, 1024, schema(), closing()).unwrap();
        w.set_max_file_age(Some(600_000));
        w.two_phase(None);
        w.write(vec![row(0, "k"), row(60_000, "k")]).unwrap();
        // first row fired at 60 s: not 10 min past it yet
        w.close_ready(Some(660_000)).unwrap();
        assert!(parquet_files(dir.path()).is_empty());
        w.close_ready(Some(660_001)).unwrap();
        // written and staged, not published
        assert_eq!(parquet_files(dir.path()), vec![".part-00000.parquet.inprogress"]);
        assert!(w.state().open.is_empty());
        let staged = w.take_staged();
        w.publish(staged).unwrap();
        assert_eq!(parquet_files(dir.path()), vec!["part-00000.parquet"]);
    }

    #[test]
    fn buckets_split_a_partition_by_row_and_a_restore_gives_each_group_to_its_new_owner() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ParquetRowWriter::create(dir.path(), PartitionBy::None, 1_000_000, 1024, schema(), closing()).unwrap();
        w.set_buckets(4);
        let rows: Vec<Record> = (0..40).map(|i| row(0, &format!("k{i}"))).collect();
        let groups: std::collections::BTreeSet<Group> = rows.iter().map(|r| w.grouping().group_of(r)).collect();
        assert!(groups.len() > 1 && groups.iter().all(|g| g.1 < 4), "{groups:?}");
        // the same row is always in the same bucket
        assert_eq!(w.grouping().group_of(&rows[7]), w.grouping().group_of(&row(0, "k7")));
        w.write(rows).unwrap();
        let state = w.state().clone();
        // restored at 3 workers: every group goes to exactly one of them, with its rows
        let shares: Vec<ParquetState> = (0..3).map(|i| ParquetState::merged(vec![state.clone()], i, 3)).collect();
        let total: usize = shares.iter().map(|s| s.open.len()).sum();
        assert_eq!(total, state.open.len());
        for (i, s) in shares.iter().enumerate() {
            assert!(s.open.keys().all(|g| route(*g) % 3 == i as u64));
        }
        w.close_ready(None).unwrap();
        let names = parquet_files(dir.path());
        assert_eq!(names.len(), groups.len());
        assert!(names.iter().all(|n| n.starts_with("part-b") && n.ends_with("-00000.parquet")), "{names:?}");
    }
}
