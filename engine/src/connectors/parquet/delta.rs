//! Delta Lake (`kind = "delta"`, DESIGN §11): the Parquet sink's files, made a Delta table by a transaction
//! log it writes itself — the small, documented part of the Delta protocol an append-only committer needs
//! (reader 1 / writer 2: `protocol`, `metaData`, `add`, `txn`, `commitInfo`), so weir keeps one Arrow version
//! and no object-store stack it does not use (see the closing note of issue 33).
//!
//! **Commits.** The files of every writer (worker) go to one committer (worker 0, see `committer`). Each
//! checkpoint that rolled files is one Delta commit, `_delta_log/<version>.json`, written
//! and fsynced under a temp name and renamed into place with the checkpoint's files, after them, once the
//! checkpoint is durable — so a reader sees every file of a checkpoint or none. The commit carries a `txn`
//! action (`appId` = `JOB/SINK`, `version` = the checkpoint's epoch): a restored run recognises the epochs
//! already committed and commits nothing twice. A fresh run (no checkpoint) of a job whose `txn` is
//! already in the table would add its rows again, and is refused. A job that ends by itself without
//! checkpoints makes one commit at its end.
//!
//! **Object storage.** On `s3://…` (and `gs://`, `az://`) the log is read from the store at start, and a
//! commit is staged locally and uploaded after the checkpoint's files, as they are.
//!
//! **Layout.** Partition columns `date` (`YYYY-MM-DD`) and `hour` (`HH`), strings, as the Parquet sink's hive
//! directories; timestamps are Delta `timestamp` (µs, UTC).

use super::writer::StagedFile;
use super::PartitionBy;
use crate::schema::{FieldType, Schema};
use serde_json::{json, Value};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where a Delta table is: the directory its files and commits are written in, and where they are published
/// (the same directory, or the table's object URL carried as a path).
#[derive(Clone, Debug)]
pub struct Table {
    pub staging: PathBuf,
    pub published: PathBuf,
}

/// A Delta table's log as this sink writes it.
#[derive(Debug)]
pub struct DeltaLog {
    table: Table,
    app_id: String,
    /// The version the next commit gets.
    next_version: u64,
    /// The largest epoch this job/sink committed (its `txn` version).
    committed_epoch: Option<u64>,
    /// The `metaData` action of a new table (`None` once the table has one).
    metadata: Option<Value>,
}

fn log_dir(table: &Path) -> PathBuf {
    table.join("_delta_log")
}

/// The commits in a log directory (local, or an object URL carried as a path): (version, text), in order.
fn commits(dir: &Path) -> io::Result<Vec<(u64, String)>> {
    let version = |name: &str| name.strip_suffix(".json")?.parse::<u64>().ok();
    let mut found: Vec<(u64, String)> = if crate::objects::is_object_path(dir) {
        let objects = crate::objects::read_all(&dir.to_string_lossy(), |n| version(n).is_some())?;
        objects
            .into_iter()
            .map(|(name, bytes)| Ok((version(&name).unwrap_or(0), String::from_utf8(bytes).map_err(io::Error::other)?)))
            .collect::<io::Result<_>>()?
    } else {
        let mut found = Vec::new();
        for e in fs::read_dir(dir)? {
            let path = e?.path();
            if let Some(v) = path.file_name().and_then(|n| n.to_str()).and_then(version) {
                found.push((v, fs::read_to_string(&path)?));
            }
        }
        found
    };
    found.sort();
    Ok(found)
}

fn delta_type(ty: &FieldType) -> &'static str {
    match ty {
        FieldType::String | FieldType::Enum(_) => "string",
        FieldType::Int => "long",
        FieldType::Float => "double",
        FieldType::Bool => "boolean",
        FieldType::Timestamp => "timestamp",
        FieldType::Sketch => "binary",
    }
}

/// The partition columns of a layout.
pub fn partition_columns(partition_by: PartitionBy) -> &'static [&'static str] {
    match partition_by {
        PartitionBy::Hour => &["date", "hour"],
        PartitionBy::Date => &["date"],
        PartitionBy::None => &[],
    }
}

fn now_ms() -> i64 {
    crate::checkpoint::coordinator::now_ms()
}

impl DeltaLog {
    /// Reads the table's log (if any): its last version and this sink's last committed epoch. `restored`:
    /// the run resumes from a checkpoint; a fresh run of a job already committed to the table is refused.
    pub fn open(
        table: Table,
        app_id: String,
        schema: &Schema,
        partition_by: PartitionBy,
        restored: bool,
    ) -> io::Result<DeltaLog> {
        fs::create_dir_all(log_dir(&table.staging))?;
        let versions = commits(&log_dir(&table.published))?;
        let mut committed_epoch = None;
        for (_, text) in &versions {
            for line in text.lines() {
                let action: Value = serde_json::from_str(line).map_err(io::Error::other)?;
                if action["txn"]["appId"] == app_id.as_str() {
                    committed_epoch = committed_epoch.max(action["txn"]["version"].as_u64());
                }
            }
        }
        if let (false, Some(epoch)) = (restored, committed_epoch) {
            return Err(io::Error::other(format!(
                "the Delta table already holds this job's commits (txn `{app_id}` up to epoch {epoch}) and this run \
                 starts without a checkpoint, so it would add its rows again; resume from the job's checkpoints, or \
                 write to a new path (or delete the table)"
            )));
        }
        let metadata = versions.is_empty().then(|| {
            let mut fields: Vec<Value> = schema
                .fields
                .iter()
                .map(|f| json!({"name": f.name, "type": delta_type(&f.ty), "nullable": f.nullable, "metadata": {}}))
                .collect();
            for p in partition_columns(partition_by) {
                fields.push(json!({"name": p, "type": "string", "nullable": false, "metadata": {}}));
            }
            let schema_string = json!({"type": "struct", "fields": fields}).to_string();
            json!({"metaData": {
                "id": format!("{:032x}", rand::random::<u128>()),
                "format": {"provider": "parquet", "options": {}},
                "schemaString": schema_string,
                "partitionColumns": partition_columns(partition_by),
                "configuration": {},
                "createdTime": now_ms(),
            }})
        });
        Ok(DeltaLog {
            table,
            app_id,
            next_version: versions.last().map_or(0, |(v, _)| v + 1),
            committed_epoch,
            metadata,
        })
    }

    /// Writes (under a temp name, fsynced) the commit adding `files` for `epoch`; gives the (temp, final)
    /// pair that publishes it, to go after the files. `None` when there is nothing to add or the epoch is
    /// already committed.
    pub fn stage(&mut self, epoch: u64, files: &[StagedFile]) -> io::Result<Option<(PathBuf, PathBuf)>> {
        if files.is_empty() || self.committed_epoch.is_some_and(|e| epoch <= e) {
            return Ok(None);
        }
        let now = now_ms();
        let mut actions: Vec<Value> = vec![json!({"commitInfo": {
            "timestamp": now, "operation": "WRITE", "operationParameters": {"mode": "Append"},
            "engineInfo": concat!("weir/", env!("CARGO_PKG_VERSION")),
        }})];
        if let Some(metadata) = self.metadata.take() {
            actions.push(json!({"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}}));
            actions.push(metadata);
        }
        actions.push(json!({"txn": {"appId": self.app_id, "version": epoch, "lastUpdated": now}}));
        for file in files {
            let relative = file.path.strip_prefix(&self.table.published).map_err(io::Error::other)?;
            let mut partition_values = serde_json::Map::new();
            for part in relative.iter().filter_map(|c| c.to_str()) {
                if let Some((k, v)) = part.split_once('=') {
                    partition_values.insert(k.to_string(), Value::from(v));
                }
            }
            actions.push(json!({"add": {
                "path": relative.to_string_lossy().replace('\\', "/"),
                "partitionValues": partition_values,
                "size": file.bytes,
                "modificationTime": now,
                "dataChange": true,
            }}));
        }
        let name = format!("{:020}.json", self.next_version);
        let tmp = log_dir(&self.table.staging).join(format!(".{name}.inprogress"));
        let mut f = fs::File::create(&tmp)?;
        for a in &actions {
            writeln!(f, "{a}")?;
        }
        f.sync_all()?;
        self.next_version += 1;
        self.committed_epoch = Some(epoch);
        Ok(Some((tmp, log_dir(&self.table.published).join(name))))
    }

    /// The epoch of the last commit staged or found (the end-of-input commit comes after it).
    pub fn last_epoch(&self) -> u64 {
        self.committed_epoch.unwrap_or(0)
    }
}
