//! The options of `[sinks.NAME] kind = "parquet"` and `kind = "delta"` (the same files, made a Delta table):
//! `path` (a local directory, or an `s3://`, `gs://` or `az://` URL), `partition_by`, `max_rows_per_file`, `row_group_rows`, `max_file_age`, `buckets`
//! (file groups per partition, default 1, at most 1024).

use super::{Location, ParquetSink, PartitionBy};
use crate::component::SinkComponent;
use crate::config::Section;
use crate::schema::Schema;
use std::path::PathBuf;
use std::sync::Arc;

/// The most file groups a partition may be split into.
const MAX_BUCKETS: u64 = 1024;

/// `kind = "parquet"`.
pub fn sink(s: &Section, _: &[Option<Schema>]) -> Option<Arc<dyn SinkComponent>> {
    Some(Arc::new(files(s, false)?))
}

/// `kind = "delta"`: the stream may not have a field named as a partition column.
pub fn delta(s: &Section, schemas: &[Option<Schema>]) -> Option<Arc<dyn SinkComponent>> {
    let sink = files(s, true)?;
    for schema in schemas.iter().flatten() {
        for column in super::delta::partition_columns(sink.partition_by) {
            if schema.index_of(column).is_some() {
                s.problem(
                    "partition_by",
                    format!("the stream has a field `{column}`, which is also a partition column of the Delta table; rename it with a derive, or partition_by = \"none\""),
                );
            }
        }
    }
    Some(Arc::new(sink))
}

fn files(s: &Section, delta: bool) -> Option<ParquetSink> {
    let location = s.req_local_path_or_object_url("path").map(|p| match crate::objects::is_object_url(p) {
        true => Location::Object(p.trim_end_matches('/').to_string()),
        false => Location::Local(PathBuf::from(p)),
    });
    let partition_by = match s.str("partition_by").unwrap_or("hour") {
        "hour" => Some(PartitionBy::Hour),
        "date" => Some(PartitionBy::Date),
        "none" => Some(PartitionBy::None),
        other => {
            s.problem(
                "partition_by",
                format!("unknown partitioning \"{other}\"; allowed: hour (date=YYYY-MM-DD/hour=HH), date, none"),
            );
            None
        }
    };
    let max_rows_per_file = s.count("max_rows_per_file", 1).unwrap_or(1_000_000) as usize;
    let row_group_rows = s.count("row_group_rows", 1).unwrap_or(128 * 1024) as usize;
    let max_file_age_ms = s.duration_ms("max_file_age");
    let buckets = match s.count("buckets", 1).unwrap_or(1) {
        n if n > MAX_BUCKETS => {
            s.problem("buckets", format!("must be at most {MAX_BUCKETS}, found {n}"));
            1
        }
        n => n as u32,
    };
    Some(ParquetSink {
        location: location?,
        partition_by: partition_by?,
        max_rows_per_file,
        max_file_age_ms,
        row_group_rows,
        buckets,
        delta,
    })
}
