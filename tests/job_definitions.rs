//! Job definitions through the library: interpolation, overrides, every validation rule the issue names
//! (unknown kind, dangling input, a sink fed by nothing, bad duration, wrong type), and the plan they yield.

mod support;

use weir_engine::plan::StreamRef;
use weir_jobs::definition::{load, JobSource, Overrides};
use weir_jobs::planner::plan;

fn job(text: &str) -> JobSource {
    JobSource {
        name: "test.toml".into(),
        text: text.into(),
        base_dir: ".".into(),
    }
}

fn plan_of(text: &str, sets: &[&str], env: &[(&str, &str)]) -> Result<weir_engine::plan::Plan, String> {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let src = job(text);
    let table = load(&src, &Overrides::sets(sets), &lookup).map_err(|e| e.to_string())?;
    plan(&src, &table).map_err(|e| e.to_string())
}

const GOOD: &str = r#"
[job]
name = "t"
[sources.v]
kind = "file"
path = "${IN:-default.jsonl}"
schema = "vibration"
max_out_of_orderness = "30s"
[operators.w]
kind = "window"
inputs = ["v"]
window = { kind = "hopping", size = "1h", slide = "15m" }
key = ["sensor_id", "site"]
aggregates = { n = "count", s = "sum(ts)", hi = "max(ppv_mm_s)" }
[sinks.out]
kind = "jsonl"
inputs = ["w"]
path = "out.jsonl"
[sinks.dead_letters]
kind = "stdout"
"#;

#[test]
fn a_valid_job_plans_with_interpolation_and_overrides() {
    let p = plan_of(
        GOOD,
        &["job.workers=3", "sinks.out.path=o2.jsonl"],
        &[("IN", "in.jsonl")],
    )
    .unwrap();
    assert_eq!(p.workers, 3);
    assert_eq!(p.sources[0].component.kind(), "file");
    assert!(p.sources[0].component.describe(1).contains("in.jsonl"));
    assert_eq!(p.sinks[0].component.kind(), "jsonl");
    assert!(p.sinks[0].component.path().unwrap().ends_with("o2.jsonl"));
    assert_eq!(p.operators[0].component.kind(), "window");
    let cols: Vec<&str> = p.operators[0].schema.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        cols,
        ["window_start", "window_end", "sensor_id", "site", "n", "s", "hi"],
        "aggregate order is the file's order"
    );
    // unrouted dead letters and late records go to the sink named dead_letters
    assert_eq!(
        p.sinks[1].inputs,
        vec![StreamRef::SourceDeadLetters(0), StreamRef::Late(0)]
    );
    let p = plan_of(GOOD, &[], &[]).unwrap();
    assert!(p.sources[0].component.describe(1).contains("default.jsonl"));
}

#[test]
fn every_problem_is_reported_at_once_with_its_key_path() {
    let bad = GOOD
        .replace("kind = \"file\"", "kind = \"files\"")
        .replace("\"30s\"", "\"soon\"")
        .replace("inputs = [\"w\"]", "inputs = [\"nope\"]")
        .replace("aggregates = {", "aggregates = { bad = \"median(x)\",")
        .replace(
            "[sinks.dead_letters]",
            "[sinks.empty]\nkind = \"jsonl\"\npath = \"e.jsonl\"\n[sinks.dead_letters]",
        )
        .replace("name = \"t\"", "name = \"t\"\nworkers = \"two\"");
    let err = plan_of(&bad, &[], &[]).unwrap_err();
    for want in [
        "sources.v.kind: unknown source kind \"files\"; allowed: file, generator",
        "sources.v.max_out_of_orderness: \"soon\" is not a duration",
        "sinks.out.inputs: no stream named `nope`; available: v, v.dead_letters, w, w.late",
        "operators.w.aggregates.bad: `median(x)`: unknown function `median`",
        "sinks.empty.inputs: is required",
        "job.workers: expected an integer, found a string",
        "operators.w: its output is not read by any sink",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    assert!(err.starts_with("test.toml: "), "{err}");
}

/// A replay rate that is zero or negative is a definition problem for every source kind that takes one, not
/// a job that stalls after its first chunk.
#[test]
fn replay_rates_must_be_positive_for_every_source_kind() {
    let generator = GOOD.replace(
        "kind = \"file\"\npath = \"${IN:-default.jsonl}\"",
        "kind = \"generator\"\nworkload = \"vibration\"",
    );
    assert!(generator.contains("workload"), "{generator}");
    for (text, rate) in [(GOOD, "-5"), (generator.as_str(), "-3"), (generator.as_str(), "0")] {
        let err = plan_of(text, &[&format!("sources.v.rate={rate}")], &[]).unwrap_err();
        assert!(
            err.contains("sources.v.rate: must be a positive number of records per second"),
            "rate {rate}: {err}"
        );
    }
    plan_of(&generator, &["sources.v.rate=200"], &[]).unwrap();
}

#[test]
fn environment_and_override_errors_name_the_key() {
    let err = plan_of(&GOOD.replace("${IN:-default.jsonl}", "${IN}"), &[], &[]).unwrap_err();
    assert!(
        err.contains("sources.v.path: environment variable `IN` is not set"),
        "{err}"
    );
    let err = plan_of(GOOD, &["job.name.deeper=1"], &[]).unwrap_err();
    assert!(
        err.contains("job.name.deeper: `job.name` is a value, not a table"),
        "{err}"
    );
    let err = plan_of("[job\nname=1", &[], &[]).unwrap_err();
    assert!(err.contains("not valid TOML") && err.contains("line 1"), "{err}");
}

/// A `latest` view that only HTTP reads is an output when the job serves, and a problem that says so when
/// it does not.
#[test]
fn a_view_may_be_read_only_over_http() {
    let view = GOOD.replace(
        "[sinks.out]",
        "[operators.now]\nkind = \"latest\"\ninputs = [\"v\"]\nkey = \"sensor_id\"\n[sinks.out]",
    );
    let err = plan_of(&view, &[], &[]).unwrap_err();
    assert!(
        err.contains(
            "operators.now: its view is not served (the job has no [serve]) and its changelog is not read by any \
             sink or operator; add [serve]"
        ),
        "{err}"
    );
    let served = format!("{view}[serve]\nlisten = \"127.0.0.1:0\"\n");
    let p = plan_of(&served, &[], &[]).unwrap();
    assert!(p.serve.is_some() && p.operators.iter().any(|o| o.name == "now"));
}

#[test]
fn dead_letters_need_a_destination() {
    let no_dl = GOOD.replace("[sinks.dead_letters]\nkind = \"stdout\"\n", "");
    let err = plan_of(&no_dl, &[], &[]).unwrap_err();
    assert!(err.contains("malformed and late records need somewhere to go"), "{err}");
    // routing them explicitly is enough
    let routed = no_dl.replace("inputs = [\"w\"]", "inputs = [\"w\", \"w.late\", \"v.dead_letters\"]");
    plan_of(&routed, &[], &[]).unwrap();
}

#[test]
fn parquet_sinks_read_one_stream() {
    let p = GOOD.replace(
        "kind = \"jsonl\"\ninputs = [\"w\"]",
        "kind = \"parquet\"\ninputs = [\"w\", \"v.dead_letters\"]",
    );
    let err = plan_of(&p, &[], &[]).unwrap_err();
    assert!(
        err.contains("sinks.out.inputs: a parquet sink writes one stream (its columns are that stream's fields)"),
        "{err}"
    );
    let p = GOOD.replace(
        "kind = \"jsonl\"\ninputs = [\"w\"]",
        "kind = \"parquet\"\npartition_by = \"week\"\ninputs = [\"w\"]",
    );
    let err = plan_of(&p, &[], &[]).unwrap_err();
    assert!(err.contains("unknown partitioning \"week\""), "{err}");
}

const TABLE_JOB: &str = r#"
[job]
name = "t"
[sources.v]
kind = "file"
path = "in.jsonl"
schema = "vibration"
[tables.sensors]
kind = "file"
path = "sensors.csv"
key = "sensor_id"
version = "since"
schema = { sensor_id = "string", zone = "string", limit = "float", since = "timestamp" }
[operators.j]
kind = "join"
inputs = ["v", "sensors"]
on = "sensor_id"
fields = ["zone", "limit AS sensor_limit"]
mode = "inner"
[operators.over]
kind = "filter"
inputs = ["j"]
where = "ppv_mm_s > sensor_limit"
[sinks.out]
kind = "jsonl"
inputs = ["over"]
path = "out.jsonl"
[sinks.dead_letters]
kind = "jsonl"
path = "dead.jsonl"
"#;

#[test]
fn a_join_adds_typed_table_fields_that_later_operators_use() {
    let plan = plan_of(TABLE_JOB, &[], &[]).unwrap();
    assert_eq!(plan.tables.len(), 1);
    let j = &plan.operators[0];
    assert_eq!(j.component.kind(), "join");
    assert_eq!(j.inputs, vec![StreamRef::Source(0)], "the table is not a stream input");
    let names: Vec<&str> = j.schema.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["sensor_id", "site", "ts", "ppv_mm_s", "freq_hz", "zone", "sensor_limit"]
    );
    assert!(
        !j.schema.fields[6].nullable,
        "an inner join's fields are as the table declares them"
    );
    // The table's bad rows and the join's unmatched records reach the dead-letter sink.
    let dead = plan.sinks.iter().find(|s| s.name == "dead_letters").unwrap();
    assert!(dead.inputs.contains(&StreamRef::TableDeadLetters(0)));
    assert!(dead.inputs.contains(&StreamRef::OperatorDeadLetters(0)));
    // A left join's fields may be null.
    let left = plan_of(TABLE_JOB, &["operators.j.mode=left"], &[]).unwrap();
    assert!(left.operators[0].schema.fields[6].nullable);
}

#[test]
fn join_and_table_mistakes_are_all_reported() {
    let bad = TABLE_JOB
        .replace("on = \"sensor_id\"", "on = \"ts\"")
        .replace(
            "fields = [\"zone\", \"limit AS sensor_limit\"]",
            "fields = [\"zone\", \"site\", \"altitude\"]",
        )
        .replace("version = \"since\"", "version = \"zone\"")
        .replace("mode = \"inner\"", "mode = \"outer\"")
        + "[operators.f2]\nkind = \"filter\"\ninputs = [\"sensors\"]\nwhere = \"true\"\n"
        + "[sinks.t]\nkind = \"jsonl\"\ninputs = [\"sensors\", \"f2\"]\npath = \"t.jsonl\"\n"
        + "[tables.v]\nkind = \"ftp\"\nkey = \"a\"\nschema = { a = \"string\" }\n";
    let err = plan_of(&bad, &[], &[]).unwrap_err();
    for want in [
        "tables.sensors.version: field `zone` must be declared \"int\" or \"timestamp\"",
        "unknown table kind \"ftp\"",
        "tables.v: the name is already used by sources.v",
        "`sensors` is a table; only a join reads tables",
        "`sensors` is a table, not a stream",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    let err = plan_of(&TABLE_JOB.replace("on = \"sensor_id\"", "on = \"ts\""), &[], &[]).unwrap_err();
    assert!(
        err.contains("operators.j.on: a join looks rows up by table `sensors`'s key (sensor_id): write on = { stream = \"ts\", table = \"sensor_id\" }"),
        "{err}"
    );
    let err = plan_of(
        &TABLE_JOB.replace("on = \"sensor_id\"", "on = { stream = \"ts\", table = \"sensor_id\" }"),
        &[],
        &[],
    )
    .unwrap_err();
    assert!(
        err.contains("`ts` is int but table `sensors`'s key `sensor_id` is string"),
        "{err}"
    );
    let err = plan_of(
        &TABLE_JOB.replace(
            "fields = [\"zone\", \"limit AS sensor_limit\"]",
            "fields = [\"site\", \"altitude\"]",
        ),
        &[],
        &[],
    )
    .unwrap_err();
    assert!(err.contains("table `sensors` has no field `site`"), "{err}");
    assert!(err.contains("no field `altitude`"), "{err}");
    let err = plan_of(
        &TABLE_JOB.replace("inputs = [\"v\", \"sensors\"]", "inputs = [\"v\"]"),
        &[],
        &[],
    )
    .unwrap_err();
    assert!(err.contains("a join reads a stream and a table"), "{err}");
}

/// Review B17: a `--set` value is interpolated like the file's own (`--set 'serve.token=${WEIR_TOKEN}'` from a
/// unit file that does not expand it installs the variable's value, not the text `${WEIR_TOKEN}`); an unset
/// variable is a problem naming the key.
#[test]
fn set_values_are_interpolated_like_the_files_own() {
    let src = job(GOOD);
    let env = |name: &str| (name == "WEIR_TOKEN").then(|| "s3cret".to_string());
    let overrides = Overrides::sets(vec!["serve.token=${WEIR_TOKEN}".into()]);
    let table = load(&src, &overrides, &env).unwrap();
    assert_eq!(table["serve"]["token"].as_str(), Some("s3cret"));
    let missing = Overrides::sets(vec!["serve.token=${NOT_SET}".into()]);
    let e = load(&src, &missing, &env).unwrap_err().to_string();
    assert!(e.contains("serve.token") && e.contains("NOT_SET"), "{e}");
}

/// Trap 4: one source switched between Kafka and a file from the command line, the job file unchanged.
#[test]
fn a_section_is_replaced_by_an_inline_table_and_removed_by_unset() {
    let kafka = GOOD.replace(
        "kind = \"file\"\npath = \"${IN:-default.jsonl}\"",
        "kind = \"kafka\"\nbrokers = \"127.0.0.1:9092\"\ntopic = \"vib\"",
    );
    assert!(kafka.contains("topic = \"vib\""), "the fixture changed: {kafka}");
    let src = job(&kafka);
    let file = Overrides::sets(vec![
        r#"sources.v={ kind = "file", path = "v.jsonl", schema = "vibration" }"#.into(),
    ]);
    let table = load(&src, &file, &|_| None).unwrap();
    let v = table["sources"]["v"].as_table().unwrap();
    assert_eq!(v.get("topic"), None);
    assert_eq!(v["path"].as_str(), Some("v.jsonl"));
    let unset = Overrides {
        unset: vec!["sources.v.brokers".into(), "sources.v.topic".into()],
        set: vec!["sources.v.kind=file".into(), "sources.v.path=v.jsonl".into()],
    };
    let table = load(&src, &unset, &|_| None).unwrap();
    assert_eq!(table["sources"]["v"].get("brokers"), None);
    assert_eq!(table["sources"]["v"]["kind"].as_str(), Some("file"));
    let e = load(
        &src,
        &Overrides {
            unset: vec!["sources.nope".into()],
            set: vec![],
        },
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("sources.nope") && e.contains("no such key"), "{e}");
}

/// Trap 1: `path = "s3://lake/raw"` passed `weir check` and wrote a local `./s3:/lake/raw`. URL-shaped paths
/// are problems now, for inputs, outputs and the checkpoint directory alike, all reported at once.
#[test]
fn url_shaped_paths_are_refused() {
    let e = plan_of(
        GOOD,
        &[
            "sinks.out.path=s3://lake/raw",
            "sources.v.path=https://example.org/v.jsonl",
            "job.checkpoint.dir=gs://bucket/state",
        ],
        &[],
    )
    .unwrap_err();
    for (key, scheme) in [
        ("sinks.out.path", "s3"),
        ("sources.v.path", "https"),
        ("job.checkpoint.dir", "gs"),
    ] {
        assert!(
            e.contains(key) && e.contains(&format!("is a URL ({scheme}://)")),
            "{key}: {e}"
        );
    }
    // A colon elsewhere is a local name.
    assert!(plan_of(GOOD, &["sinks.out.path=out/a:b.jsonl"], &[]).is_ok());
}

/// Trap 8: the demo's query lines work with what the README installs (DuckDB's Python package, not a
/// `duckdb` CLI), it says its dead letters are the generator's deliberate faults, ends with what to do next,
/// and its help names the five jobs it runs.
#[test]
fn the_demo_prints_queries_that_run_and_says_what_next() {
    let tmp = tempfile::tempdir().unwrap();
    let out = support::weir()
        .args(["demo", "--hours", "0.2", "--sensors", "5", "--workers", "1", "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("deliberate faults") && text.contains("What next:"),
        "{text}"
    );
    let help = support::weir().args(["demo", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("five reference jobs") && help.contains("sensor-health"),
        "{help}"
    );
    let queries: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            l.split_once("read the ")
                .map(|(_, q)| q.split_once(':').unwrap().1.trim())
        })
        .collect();
    assert_eq!(queries.len(), 2, "{text}");
    if !support::have_duckdb() {
        return;
    }
    for q in queries {
        let ran = std::process::Command::new("bash").args(["-c", q]).output().unwrap();
        let shown = String::from_utf8_lossy(&ran.stdout);
        assert!(ran.status.success() && shown.contains("sensor_id"), "{q}: {shown}");
    }
}
