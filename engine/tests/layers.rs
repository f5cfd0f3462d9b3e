//! The engine's layers, kept by a test: reads every `crate::…` path in `engine/src` (comments and test modules
//! aside) and fails
//! when an import runs upward, when a kind imports another kind, when the modules gain a cycle, when a source
//! file of the workspace grows past 600 lines or lacks a module doc.
//!
//! The layers, bottom to top (a file imports only from its own layer or lower ones):
//!
//! 1. **foundation**: errors, the record model (`Record`, `Batch`, `Time`), schemas, words.
//! 2. **codecs and state**: reading options, expressions, decoding, chunks and their sequencing, checkpoints, metrics,
//!    object storage, views,
//!    the table history (and the table reader contract it drives), reports, scheduling hints.
//! 3. **dataflow machinery**: the kind-agnostic timely parts — the ordered driver, keyed timers, partition
//!    ends, dead letters, the chunked source, the sink driver, the table operator, rendering.
//! 4. **component contract**: the traits a kind implements, their build contexts, the shared chunked-source
//!    helper.
//! 5. **kinds**: `connectors/<system>/` and `operators/<kind>`, each importing only the layers below — never
//!    another kind.
//! 6. **plan**: the job graph.
//! 7. **runtime**: running a plan, the HTTP server, locks, `weir publish`, the crate root.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layer names with the paths (relative to `engine/src`; a trailing `/` is a folder) in each.
const LAYERS: &[(&str, &[&str])] = &[
    ("foundation", &["error.rs", "record.rs", "schema.rs", "words.rs"]),
    (
        "codecs and state",
        &[
            "config/",
            "expr/",
            "decode/",
            "chunk.rs",
            "sequencer.rs",
            "checkpoint/",
            "ingest/",
            "metrics.rs",
            "objects.rs",
            "sched.rs",
            "views.rs",
            "table/",
            "report.rs",
        ],
    ),
    ("dataflow machinery", &["dataflow/"]),
    ("component contract", &["component/"]),
    ("kinds", &["connectors/", "operators/"]),
    ("plan", &["plan.rs"]),
    ("runtime", &["runtime/", "serve/", "lock.rs", "publish.rs", "lib.rs"]),
];

/// Files still over [`MAX_LINES`], to be split (issue 31); each must stay listed only while it is over.
const STILL_TOO_LONG: &[&str] = &[];

const MAX_LINES: usize = 600;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `engine/src` files by their path relative to it (`a/b.rs`), with their text.
fn engine_sources() -> BTreeMap<String, String> {
    let src = workspace().join("engine/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// The layer of a file: the one with the longest matching path.
fn layer_of(rel: &str) -> usize {
    let mut best: Option<(usize, usize)> = None;
    for (i, (_, paths)) in LAYERS.iter().enumerate() {
        for p in *paths {
            let hit = if p.ends_with('/') {
                rel.starts_with(p)
            } else {
                rel == *p
            };
            if hit && best.is_none_or(|(_, len)| p.len() > len) {
                best = Some((i, p.len()));
            }
        }
    }
    best.unwrap_or_else(|| panic!("`{rel}` is in no layer: add it to LAYERS"))
        .0
}

/// The unit a file belongs to for cycles and kind boundaries: a kind's folder or file under `connectors/` or
/// `operators/`, else the top-level module.
fn unit_of(rel: &str) -> String {
    let parts: Vec<&str> = rel.trim_end_matches(".rs").split('/').collect();
    match parts.as_slice() {
        [top @ ("connectors" | "operators"), kind, ..] if *kind != "mod" => format!("{top}/{kind}"),
        [top, ..] => top.to_string(),
        [] => unreachable!(),
    }
}

/// A line without its comment (`//` at its start or after a space; `://` in a URL is not one).
fn code_of(line: &str) -> &str {
    let mut from = 0;
    while let Some(at) = line[from..].find("//").map(|i| i + from) {
        if at == 0 || line[..at].ends_with(char::is_whitespace) {
            return &line[..at];
        }
        from = at + 2;
    }
    line
}

/// Every `crate::a::b::…` path in `text`, comments and the inline test module (from `#[cfg(test)] mod … {` on,
/// at the end of a file) left out: a kind's tests may run it through the whole engine.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let tests_start = lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].starts_with("mod ") && w[1].trim_end().ends_with('{'))
        .unwrap_or(lines.len());
    for line in lines[..tests_start].iter().map(|l| code_of(l)) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().last();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // `weir_crate::…` and the like
            }
            let mut path = Vec::new();
            let mut tail = rest;
            loop {
                let end = tail
                    .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                    .unwrap_or(tail.len());
                if end == 0 {
                    break;
                }
                path.push(tail[..end].to_string());
                match tail[end..].strip_prefix("::") {
                    Some(t) => tail = t,
                    None => break,
                }
            }
            if !path.is_empty() {
                out.push(path);
            }
        }
    }
    out
}

/// The file a module path names: its longest prefix that is a file.
fn file_of(path: &[String], files: &BTreeMap<String, String>) -> Option<String> {
    (1..=path.len()).rev().find_map(|k| {
        let stem = path[..k].join("/");
        [format!("{stem}.rs"), format!("{stem}/mod.rs")]
            .into_iter()
            .find(|c| files.contains_key(c))
    })
}

/// (importing file, imported file) for every import between two files.
fn imports(files: &BTreeMap<String, String>) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (rel, text) in files {
        for path in crate_paths(text) {
            if let Some(target) = file_of(&path, files).filter(|t| t != rel) {
                out.insert((rel.clone(), target));
            }
        }
    }
    out
}

#[test]
fn no_import_runs_up_a_layer() {
    let files = engine_sources();
    let upward: Vec<String> = imports(&files)
        .into_iter()
        .filter(|(from, to)| layer_of(to) > layer_of(from))
        .map(|(from, to)| {
            format!(
                "{from} ({}) imports {to} ({})",
                LAYERS[layer_of(&from)].0,
                LAYERS[layer_of(&to)].0
            )
        })
        .collect();
    assert!(
        upward.is_empty(),
        "imports that run up a layer:\n  {}",
        upward.join("\n  ")
    );
}

#[test]
fn no_kind_imports_another_kind() {
    let files = engine_sources();
    let kinds = LAYERS.iter().position(|(name, _)| *name == "kinds").unwrap();
    let crossing: Vec<String> = imports(&files)
        .into_iter()
        .filter(|(from, to)| layer_of(from) == kinds && layer_of(to) == kinds && unit_of(from) != unit_of(to))
        .map(|(from, to)| format!("{from} imports {to}"))
        .collect();
    assert!(
        crossing.is_empty(),
        "a kind imports another kind (move what they share down a layer):\n  {}",
        crossing.join("\n  ")
    );
}

#[test]
fn the_modules_form_no_cycle() {
    let files = engine_sources();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in imports(&files) {
        let (a, b) = (unit_of(&from), unit_of(&to));
        if a != b {
            graph.entry(a).or_default().insert(b);
        }
    }
    // A unit is on a cycle when it reaches itself.
    let mut on_cycles = Vec::new();
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = graph[start].iter().collect();
        while let Some(u) = stack.pop() {
            if u == start {
                on_cycles.push(start.clone());
                break;
            }
            if seen.insert(u.clone()) {
                stack.extend(graph.get(u).into_iter().flatten());
            }
        }
    }
    assert!(on_cycles.is_empty(), "modules on an import cycle: {on_cycles:?}");
}

#[test]
fn the_test_sees_the_imports_it_checks() {
    // A guard for the parser above: a layering test that reads no imports would pass on anything.
    let files = engine_sources();
    let found = imports(&files);
    assert!(
        found.contains(&("dataflow/mod.rs".into(), "record.rs".into())),
        "{found:?}"
    );
    assert!(found.contains(&("runtime/mod.rs".into(), "plan.rs".into())));
    assert_eq!(
        crate_paths("use crate::a::{b, c}; // crate::x\nlet y = crate::d::e(1); weir_crate::f;\n#[cfg(test)]\nmod tests {\nuse crate::g;"),
        vec![vec!["a".to_string()], vec!["d".to_string(), "e".to_string()]]
    );
    assert_eq!(layer_of("connectors/kafka/source.rs"), 4);
    assert_eq!(unit_of("connectors/kafka/source.rs"), "connectors/kafka");
    assert_eq!(unit_of("operators/window/mod.rs"), "operators/window");
    assert_eq!(unit_of("operators/mod.rs"), "operators");
}

#[test]
fn every_source_file_is_short_and_says_what_it_is() {
    let root = workspace();
    let mut files = Vec::new();
    for dir in ["engine/src", "jobs/src", "operators/src", "benches"] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut problems = Vec::new();
    let mut still_long = BTreeSet::new();
    for path in files {
        let rel = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines = text.lines().count();
        if lines > MAX_LINES {
            if STILL_TOO_LONG.contains(&rel.as_str()) {
                still_long.insert(rel.clone());
            } else {
                problems.push(format!("{rel}: {lines} lines (at most {MAX_LINES})"));
            }
        }
        if !text.starts_with("//!") {
            problems.push(format!("{rel}: no module doc (`//!`) at its top"));
        }
    }
    for listed in STILL_TOO_LONG {
        if !still_long.contains(*listed) {
            problems.push(format!(
                "{listed}: no longer over {MAX_LINES} lines; take it off STILL_TOO_LONG"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
