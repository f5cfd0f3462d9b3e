//! The rollup Parquet read back by independent readers: arrow's Rust reader (column names, types, UTC
//! timestamps, non-null) and, where installed, pyarrow and DuckDB — what analysts actually use.

mod support;

use arrow_array::RecordBatch;
use parquet::file::reader::{FileReader, SerializedFileReader};
use support::*;

const COLUMNS: [(&str, &str); 14] = [
    ("window_start", "Timestamp(ms, \"UTC\")"),
    ("window_end", "Timestamp(ms, \"UTC\")"),
    ("sensor_id", "Utf8"),
    ("site", "Utf8"),
    ("readings", "Int64"),
    ("ppv_min", "Float64"),
    ("ppv_max", "Float64"),
    ("ppv_mean", "Float64"),
    ("ppv_rms", "Float64"),
    ("ppv_p50", "Float64"),
    ("ppv_p90", "Float64"),
    ("ppv_p99", "Float64"),
    ("freq_max", "Float64"),
    ("over_limit", "Int64"),
];

fn normalise(t: &str) -> String {
    t.replace("Millisecond", "ms")
        .replace("Some(", "")
        .replace(")", "")
        .replace(" ", "")
}

#[test]
fn rollup_parquet_has_exactly_the_contract_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("vibration.jsonl");
    generate_vibration(&input, 12, 3.0, 5, 0.001, 0.001);
    let out = run_vibration(&input, &tmp.path().join("out"), 2, &[]);
    let files = parquet_files(&out.rollups());
    assert_eq!(files.len(), 3, "one file per hour partition: {files:?}");
    for f in &files {
        let rel = f.strip_prefix(out.rollups()).unwrap().display().to_string();
        assert!(
            rel.starts_with("date=2026-11-21/hour=0") && rel.ends_with("/part-00000.parquet"),
            "{rel}"
        );
        let batches: Vec<RecordBatch> = read_batches(f);
        let schema = batches[0].schema();
        let got: Vec<(String, String)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), normalise(&format!("{:?}", f.data_type()))))
            .collect();
        let want: Vec<(String, String)> = COLUMNS.iter().map(|(n, t)| (n.to_string(), normalise(t))).collect();
        assert_eq!(got, want, "{rel}");
        assert!(schema.fields().iter().all(|f| !f.is_nullable()));
        assert_eq!(
            batches.iter().map(|b| b.num_rows()).sum::<usize>(),
            12,
            "{rel}: one row per sensor"
        );
        // Parquet-level metadata: timestamps are adjusted to UTC, columns are zstd-compressed.
        let reader = SerializedFileReader::new(std::fs::File::open(f).unwrap()).unwrap();
        let meta = reader.metadata();
        let ws = meta.file_metadata().schema_descr().column(0);
        let logical = format!("{:?}", ws.logical_type_ref());
        assert!(
            logical.contains("is_adjusted_to_u_t_c: true") && logical.contains("MILLIS"),
            "{logical}"
        );
        let codec = format!("{:?}", meta.row_group(0).column(2).compression());
        assert!(codec.starts_with("ZSTD"), "{codec}");
    }
    // No in-progress files are left behind.
    let mut stack = vec![out.rollups()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            assert!(!p.to_string_lossy().ends_with(".inprogress"), "{}", p.display());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    python_readers(&out.rollups());
}

/// pyarrow and DuckDB, when the Python packages are installed (`.ci/run` installs them and sets
/// WEIR_REQUIRE_PY_READERS=1, so there the check is mandatory).
fn python_readers(dir: &std::path::Path) {
    let script = r#"
import sys, pyarrow.parquet as pq, pyarrow as pa, duckdb
root = sys.argv[1]
t = pq.read_table(root, partitioning="hive")
want = ["window_start","window_end","sensor_id","site","readings","ppv_min","ppv_max","ppv_mean","ppv_rms",
        "ppv_p50","ppv_p90","ppv_p99","freq_max","over_limit"]
assert t.column_names[:14] == want, t.column_names
assert t.schema.field("window_start").type == pa.timestamp("ms", tz="UTC"), t.schema
assert t.schema.field("readings").type == pa.int64()
assert t.num_rows == 36, t.num_rows
n, s = duckdb.sql(f"SELECT count(*), sum(readings) FROM read_parquet('{root}/**/*.parquet', hive_partitioning=true)").fetchall()[0]
assert n == 36, n
print(n, s)
"#;
    let required = std::env::var("WEIR_REQUIRE_PY_READERS").is_ok_and(|v| v == "1");
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir)
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(text.starts_with("36 "), "{text}");
        }
        Ok(o) if !required && String::from_utf8_lossy(&o.stderr).contains("ModuleNotFoundError") => {
            eprintln!("note: pyarrow/duckdb not installed; only arrow's Rust reader checked the Parquet here");
        }
        Ok(o) => panic!("python readers failed:\n{}", String::from_utf8_lossy(&o.stderr)),
        Err(e) if !required => eprintln!("note: python3 unavailable ({e}); skipped pyarrow/duckdb"),
        Err(e) => panic!("python3: {e}"),
    }
}
