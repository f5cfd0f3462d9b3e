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
//! **In parallel.** Each partition's rows are split into `buckets` file groups, each written by the worker
//! that owns it (`writer`); a Delta table's files reach one committer (`committer`).
//!
//! [`ParquetSink`] is the `kind = "parquet"` sink component.

mod columns;
mod committer;
pub mod config;
pub mod delta;
mod operator;
pub mod writer;

pub use columns::{arrow_schema, arrow_schema_in, record_batch};
pub use writer::ParquetRowWriter;

use crate::component::{SinkBuildContext, SinkComponent, SinkPrepareContext};
use crate::dataflow::sink_op::unbatched;
use crate::error::{BuildError, RunError};
use crate::record::RecordStream;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
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

/// Where a file sink's files go: a local directory, or an object-storage URL (`s3://bucket/prefix`).
#[derive(Clone, Debug)]
pub enum Location {
    Local(PathBuf),
    Object(String),
}

/// The local directory an object-storage sink writes its files into before publishing them: under the
/// checkpoint directory (staged files must outlive a crash), else a temporary one of this process.
fn staging_dir(checkpoint_dir: Option<&Path>, job: &str, sink: &str) -> PathBuf {
    match checkpoint_dir {
        Some(dir) => dir.join("staging").join(sink),
        None => std::env::temp_dir().join(format!("weir-staging-{job}-{sink}-{}", std::process::id())),
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
    /// File groups per hive partition (each written by one worker): how far writing spreads over workers.
    pub buckets: u32,
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

    fn object_url(&self) -> Option<&str> {
        match &self.location {
            Location::Object(url) => Some(url),
            Location::Local(_) => None,
        }
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
        let spread = match self.buckets {
            1 => String::new(),
            n => format!(", {n} buckets per partition written in parallel"),
        };
        format!("{} {at} {layout}{spread}", if self.delta { "delta table" } else { "parquet" })
    }

    /// Files of one output share one layout: a changed `partition_by` would mix `date=/hour=` with `date=`.
    fn shape_details(&self) -> Vec<(&'static str, String)> {
        let layout = match self.partition_by {
            PartitionBy::Hour => "hour",
            PartitionBy::Date => "date",
            PartitionBy::None => "none",
        };
        vec![("partition_by", layout.to_string()), ("buckets", self.buckets.to_string())]
    }

    /// Checkpoint participants per worker: the writer, and a Delta table's committer.
    fn participants(&self) -> usize {
        1 + self.delta as usize
    }

    /// Checks that an object URL is reachable, and removes the files a crashed run left unpublished (once
    /// per process, before any worker writes; a checkpoint's staged files were published just before).
    fn prepare(&self, cx: SinkPrepareContext<'_>) -> Result<(), RunError> {
        let dir = match &self.location {
            Location::Local(path) => path.clone(),
            Location::Object(url) => {
                crate::objects::check_reachable(url).map_err(|cause| RunError::Output {
                    sink: cx.name.to_string(),
                    path: PathBuf::from(url),
                    cause,
                })?;
                match cx.checkpoint_dir {
                    Some(_) => staging_dir(cx.checkpoint_dir, cx.job, cx.name),
                    None => return Ok(()),
                }
            }
        };
        remove_temp_files(&dir).map_err(|cause| RunError::Output {
            sink: cx.name.to_string(),
            path: dir,
            cause,
        })
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
        let checkpoint_dir = cx.ctx.checkpoints.coordinator().config().map(|c| c.dir.clone());
        let (dir, url) = match &self.location {
            Location::Local(path) => (path.clone(), None),
            Location::Object(url) => (staging_dir(checkpoint_dir.as_deref(), cx.job, cx.name), Some(url.clone())),
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
        writer.set_buckets(self.buckets);
        if cx.checkpoints() {
            writer.two_phase(None); // its share of a restored state is taken by the operator
        }
        if let Some(url) = &url {
            writer.publish_to(url.clone());
        }
        if self.delta {
            writer.for_delta();
        }
        // The table's log is kept by its committer, on worker 0.
        let log = if self.delta && cx.writes {
            let app_id = format!("{}/{}", cx.job, cx.name);
            let table = delta::Table {
                staging: dir.clone(),
                published: url.as_ref().map_or(dir.clone(), PathBuf::from),
            };
            let log = delta::DeltaLog::open(table, app_id, &schema, self.partition_by, cx.restored.is_some());
            Some(log.map_err(cx.output_error(&dir))?)
        } else {
            None
        };
        let records = unbatched(records).probe_with(cx.probe);
        let notes = operator::parquet_writers(
            records,
            cx.job_end,
            cx.name.to_string(),
            writer,
            self.delta,
            cx.ctx.clone(),
        );
        if self.delta {
            committer::delta_committer(notes, cx.name.to_string(), log, cx.ctx.clone());
        }
        Ok(None)
    }
}
