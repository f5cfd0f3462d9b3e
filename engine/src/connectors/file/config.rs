//! The options of the file kinds: `[sources.NAME] kind = "file"` (`path` or `paths`, `rate`) and
//! `[tables.NAME] kind = "file"` (`path`, `format`, `interval`).

use super::source::FileSource;
use super::table::{FileFormat, FileTable};
use crate::component::{SourceComponent, TableComponent};
use crate::config::Section;
use crate::dataflow::pace::rate_option;
use crate::schema::Schema;
use crate::table::kind::read_interval;
use std::path::Path;
use std::sync::Arc;

/// `kind = "file"` source; paths are relative to `base_dir` (the job file's directory).
pub fn source(s: &Section, base_dir: &Path) -> (Option<Arc<dyn SourceComponent>>, Option<Schema>) {
    // `path` (one partition) or `paths` (one partition per file, like a topic's partitions).
    let paths = match (s.has("path"), s.has("paths")) {
        (true, true) => {
            s.problem(
                "paths",
                "give either `path` (one file) or `paths` (one partition per file), not both",
            );
            None
        }
        (false, true) => s
            .str_list("paths")
            .filter(|p| {
                if p.is_empty() {
                    s.problem("paths", "list at least one file");
                }
                !p.is_empty()
            })
            .and_then(|ps| ps.into_iter().map(|p| s.local("paths", p)).collect::<Option<Vec<_>>>()),
        _ => s.req_local_path("path").map(|p| vec![p]),
    };
    let rate = rate_option(s);
    let planned = paths.map(|ps| -> Arc<dyn SourceComponent> {
        Arc::new(FileSource {
            paths: ps.iter().map(|p| base_dir.join(p)).collect(),
            rate,
        })
    });
    (planned, None)
}

/// `kind = "file"` table.
pub fn table(s: &Section, base_dir: &Path, _key: &[usize]) -> Option<Arc<dyn TableComponent>> {
    let path = base_dir.join(s.req_local_path("path")?);
    let by_extension = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        "csv"
    } else {
        "jsonl"
    };
    let format = match s.str("format").unwrap_or(by_extension) {
        "jsonl" | "json" => FileFormat::Jsonl,
        "csv" => FileFormat::Csv,
        other => {
            s.problem(
                "format",
                format!(
                    "unsupported format \"{other}\"; allowed: jsonl, csv (the default follows the file's extension)"
                ),
            );
            return None;
        }
    };
    let interval = read_interval(s, 1_000);
    Some(Arc::new(FileTable { path, format, interval }))
}
