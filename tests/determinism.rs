//! Determinism (DESIGN §2): the same input gives identical rollups, alerts and dead letters for 1, 2 and 4
//! workers and for any chunk size — compared row by row and byte by byte; also for a source of several
//! partitions (one file each).

mod support;

use support::*;

#[test]
fn outputs_are_identical_for_any_worker_count_and_chunk_size() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("vibration.jsonl");
    generate_vibration(&input, 30, 2.0, 3, 0.004, 0.003);
    let runs = [(1usize, "1048576"), (2, "65536"), (4, "8192"), (2, "1000000")];
    let mut outputs = Vec::new();
    for (i, (workers, chunk)) in runs.iter().enumerate() {
        let out = run_vibration(
            &input,
            &tmp.path().join(format!("out{i}")),
            *workers,
            &["--chunk-bytes", chunk],
        );
        let rows = read_rollups(&out.rollups());
        let alerts = std::fs::read(out.alerts()).unwrap();
        let dead = std::fs::read(out.dead_letters()).unwrap();
        outputs.push((rows, alerts, dead, out));
    }
    let (rows0, alerts0, dead0, _) = &outputs[0];
    assert!(rows0.len() >= 60, "two hours of 30 sensors");
    assert!(!alerts0.is_empty() && !dead0.is_empty());
    for ((rows, alerts, dead, out), (workers, chunk)) in outputs.iter().zip(runs).skip(1) {
        let ctx = format!("{workers} workers, {chunk}-byte chunks");
        assert_eq!(rows.len(), rows0.len(), "{ctx}");
        for (a, b) in rows.iter().zip(rows0) {
            // bit-identical floats, not just close
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{ctx}");
            assert_eq!(a.ppv_mean.to_bits(), b.ppv_mean.to_bits(), "{ctx}");
        }
        assert_eq!(alerts, alerts0, "alerts file, {ctx}");
        assert_eq!(dead, dead0, "dead letters file, {ctx}");
        // the Parquet files themselves are the same bytes too
        let files0 = parquet_files(&outputs[0].3.rollups());
        let files = parquet_files(&out.rollups());
        assert_eq!(files.len(), files0.len(), "{ctx}");
        for (f, f0) in files.iter().zip(&files0) {
            assert_eq!(
                std::fs::read(f).unwrap(),
                std::fs::read(f0).unwrap(),
                "{} vs {}, {ctx}",
                f.display(),
                f0.display()
            );
        }
    }
}

#[test]
fn a_source_of_several_files_is_deterministic_across_workers_and_chunk_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("vibration.jsonl");
    generate_vibration(&input, 24, 2.0, 8, 0.004, 0.003);
    // Three partitions, each sensor in one of them (as keyed Kafka partitions); malformed lines round-robin.
    let text = std::fs::read_to_string(&input).unwrap();
    let mut parts = vec![String::new(); 3];
    for (i, line) in text.lines().enumerate() {
        let p = line
            .find("\"vib-")
            .and_then(|at| line[at + 5..at + 9].parse::<usize>().ok())
            .unwrap_or(i)
            % 3;
        parts[p].push_str(line);
        parts[p].push('\n');
    }
    let paths: Vec<std::path::PathBuf> = parts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let p = tmp.path().join(format!("p{i}.jsonl"));
            std::fs::write(&p, t).unwrap();
            p
        })
        .collect();
    let job = file_job_over_partitions("vibration-rollup.toml", &paths, tmp.path());
    let mut outputs = Vec::new();
    for (i, (workers, chunk)) in [(1usize, "1048576"), (3, "8192"), (2, "65536")].iter().enumerate() {
        let out = tmp.path().join(format!("out{i}"));
        ok(weir()
            .args([
                "run",
                job.to_str().unwrap(),
                "--quiet",
                "--workers",
                &workers.to_string(),
            ])
            .args(["--chunk-bytes", chunk])
            .env("WEIR_OUT", &out));
        let v = out.join("vibration");
        let rows: Vec<String> = read_rollups(&v.join("rollups"))
            .iter()
            .map(|r| format!("{r:?}"))
            .collect();
        outputs.push((
            rows,
            std::fs::read(v.join("alerts.jsonl")).unwrap(),
            std::fs::read(v.join("dead_letters.jsonl")).unwrap(),
        ));
    }
    let dead: Vec<serde_json::Value> = std::str::from_utf8(&outputs[0].2)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let partitions: std::collections::BTreeSet<i64> = dead.iter().map(|d| d["partition"].as_i64().unwrap()).collect();
    assert_eq!(partitions.len(), 3, "dead letters name their file's partition");
    assert!(outputs[0].0.len() >= 48 && !outputs[0].1.is_empty());
    for o in &outputs[1..] {
        assert!(*o == outputs[0], "outputs differ across worker counts or chunk sizes");
    }
}
