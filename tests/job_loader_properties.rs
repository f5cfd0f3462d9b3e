//! Property tests of the job-definition loader under arbitrary input: raw bytes, and the reference jobs with
//! lines dropped, duplicated or swapped and tokens replaced. Loading never panics; every input is either a
//! plan or a definition error that names at least one problem.

use proptest::prelude::*;
use weir_jobs::definition::JobSource;

fn reference_jobs() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut jobs: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    jobs.sort();
    assert!(jobs.len() >= 5, "the reference jobs are found");
    jobs
}

/// Loads `text` as a job; panics only if the loader does.
fn load(text: &str) -> Result<(), TestCaseError> {
    let source = JobSource {
        name: "fuzzed.toml".into(),
        text: text.into(),
        base_dir: std::env::temp_dir(),
    };
    if let Err(e) = weir_jobs::load_plan(&source, &Default::default(), None) {
        let shown = e.to_string();
        prop_assert!(
            shown.contains("fuzzed.toml") && shown.len() > "fuzzed.toml".len() + 4,
            "{shown}"
        );
    }
    Ok(())
}

/// One edit of a job's text.
#[derive(Clone, Debug)]
enum Edit {
    DropLine(prop::sample::Index),
    DuplicateLine(prop::sample::Index),
    SwapLines(prop::sample::Index, prop::sample::Index),
    ReplaceToken(prop::sample::Index, String),
    TruncateAt(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    let token = prop_oneof![
        Just("".to_string()),
        Just("\"\"".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("nan".to_string()),
        Just("1e999".to_string()),
        Just("\"1ms\"".to_string()),
        Just("\"9999999999d\"".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("\"${UNSET}\"".to_string()),
        Just("\"x.late\"".to_string()),
        Just("\"count(*) >\"".to_string()),
        "[a-z_.]{1,8}",
        "\"[ -~]{0,12}\"",
    ];
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Edit::DropLine),
        any::<prop::sample::Index>().prop_map(Edit::DuplicateLine),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (any::<prop::sample::Index>(), token).prop_map(|(i, t)| Edit::ReplaceToken(i, t)),
        any::<prop::sample::Index>().prop_map(Edit::TruncateAt),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    if lines.is_empty() {
        return text.to_string();
    }
    match edit {
        Edit::DropLine(i) => {
            lines.remove(i.index(lines.len()));
        }
        Edit::DuplicateLine(i) => {
            let at = i.index(lines.len());
            lines.insert(at, lines[at].clone());
        }
        Edit::SwapLines(a, b) => {
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(a, b);
        }
        Edit::ReplaceToken(i, t) => {
            // Replace the value of the chosen `key = value` line (or the whole line).
            let at = i.index(lines.len());
            lines[at] = match lines[at].split_once('=') {
                Some((k, _)) => format!("{k}= {t}"),
                None => t.clone(),
            };
        }
        Edit::TruncateAt(i) => {
            let cut = i.index(text.len());
            let cut = (0..=cut).rev().find(|&c| text.is_char_boundary(c)).unwrap_or(0);
            return text[..cut].to_string();
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn edited_reference_jobs_load_or_explain(job in any::<prop::sample::Index>(), edits in prop::collection::vec(edit(), 1..4)) {
        let jobs = reference_jobs();
        let mut text = jobs[job.index(jobs.len())].clone();
        for e in &edits {
            text = apply(&text, e);
        }
        load(&text)?;
    }

    #[test]
    fn arbitrary_text_loads_or_explains(text in "[\\x00-\\x7f]{0,200}|[ -~\\n]{0,400}") {
        load(&text)?;
    }

    #[test]
    fn arbitrary_bytes_load_or_explain(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        load(&String::from_utf8_lossy(&bytes))?;
    }
}
