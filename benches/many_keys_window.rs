//! Benchmark (review B3): one tumbling window holding 1 M keys that all close at once, at 2 workers, on the
//! two-phase path (pre-aggregated partials, `count` + `max`) against the same job on the in-order path
//! (`stddev` added, which is not combinable). Before the event-order buffer took a loose heap, the two-phase
//! path was quadratic in the keys closing together (400 k keys: 42 s against 0.75 s).
//!
//!   cargo bench -p weir-benches --bench many_keys_window          # WEIR_BENCH_KEYS=N for another size
//!
//! The two configurations alternate, round by round; the medians and their ratio are printed (target: the
//! two-phase path within 2× of the in-order one).

use anyhow::Result;
use std::io::Write;
use std::process::{Command, Stdio};
use weir_benches::*;

fn job(dir: &std::path::Path, input: &std::path::Path, aggregates: &str) -> Result<std::path::PathBuf> {
    let path = dir.join(format!("job-{}.toml", aggregates.len()));
    std::fs::write(
        &path,
        format!(
            r#"[job]
name = "many-keys"
workers = 2
[sources.in]
kind = "file"
path = "{}"
event_time = "ts"
schema = {{ k = "string", v = "float", ts = "int" }}
[operators.w]
kind = "window"
inputs = ["in"]
window = {{ kind = "tumbling", size = "1h" }}
key = ["k"]
aggregates = {{ {aggregates} }}
max_open_windows = 10000000
[sinks.out]
kind = "jsonl"
inputs = ["w"]
path = "{}"
[sinks.dead_letters]
kind = "jsonl"
path = "{}"
"#,
            input.display(),
            dir.join("out.jsonl").display(),
            dir.join("dead.jsonl").display()
        ),
    )?;
    Ok(path)
}

fn main() -> Result<()> {
    let weir = build_weir()?;
    let keys: usize = std::env::var("WEIR_BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let repeat = repeats();
    let dir = std::env::temp_dir().join(format!("weir-bench-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let input = dir.join("keys.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&input)?);
    // Keys in a shuffled order (a multiplicative hash of the index), all in one hour.
    for i in 0..keys as u64 {
        let k = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
        writeln!(f, r#"{{"k":"key-{k:07x}-{i}","v":1.5,"ts":{}}}"#, 1000 + i % 3_600_000)?;
    }
    f.flush()?;
    drop(f);
    let two_phase = job(&dir, &input, r#"n = "count", hi = "max(v)""#)?;
    let in_order = job(&dir, &input, r#"n = "count", hi = "max(v)", sd = "stddev(v)""#)?;
    println!("{keys} keys closing in one tumbling window, 2 workers, {repeat} alternating rounds");
    println!(
        "{:>12} {:>10} {:>10} {:>14} {:>12}",
        "path", "median s", "best s", "keys/s (med)", "peak RSS MB"
    );
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..repeat {
        for (runs, job) in [(&mut a, &two_phase), (&mut b, &in_order)] {
            let _ = std::fs::remove_file(dir.join("out.jsonl"));
            let mut cmd = Command::new(&weir);
            cmd.arg("run")
                .arg(job)
                .arg("--quiet")
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            runs.push(measure(&mut cmd)?);
        }
    }
    let ma = print_row("two-phase", 12, &a, keys);
    let mb = print_row("in-order", 12, &b, keys);
    println!(
        "two-phase / in-order = {:.2} (target ≤ 2)",
        ma.wall.as_secs_f64() / mb.wall.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
