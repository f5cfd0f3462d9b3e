//! SQL jobs plan to the graph their TOML twins do: compared through `weir explain`, which describes every
//! source, operator and sink with its parameters; and SQL's problems carry their line and column.

use crate::definition::{JobSource, Overrides};
use crate::explain::explain;

mod join;
mod sinks;

fn plan_text(name: &str, text: &str) -> Result<String, String> {
    let source = JobSource {
        name: name.into(),
        base_dir: ".".into(),
        text: text.to_string(),
    };
    crate::load_plan(&source, &Overrides::default(), None)
        .map(|p| explain(&p))
        .map_err(|e| e.to_string())
}

/// The hourly rollup of the issue, written the Flink way.
const ROLLUP_SQL: &str = "
CREATE TABLE vibration (sensor_id STRING, site STRING, ts BIGINT, ppv_mm_s DOUBLE, freq_hz DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '30' SECOND) WITH ('connector' = 'file', 'path' = 'vibration.jsonl', 'format' = 'jsonl');
CREATE TABLE rollups WITH ('connector' = 'parquet', 'path' = 'out/rollups', 'partition_by' = 'hour');
CREATE TABLE dead_letters WITH ('connector' = 'jsonl', 'path' = 'out/dead_letters.jsonl');
INSERT INTO rollups
SELECT window_start, window_end, sensor_id, LAST_VALUE(site) AS site, COUNT(*) AS readings,
       MAX(ppv_mm_s) AS ppv_max, APPROX_PERCENTILE(ppv_mm_s, 0.9) AS ppv_p90,
       COUNT(*) FILTER (WHERE ppv_mm_s > 5.0) AS over_limit
FROM TABLE(TUMBLE(TABLE vibration, DESCRIPTOR(ts), INTERVAL '1' HOUR))
GROUP BY window_start, window_end, sensor_id;
";

const ROLLUP_TOML: &str = r#"
[job]
name = "rollup"

[sources.vibration]
kind = "file"
path = "vibration.jsonl"
format = "jsonl"
event_time = "ts"
max_out_of_orderness = "30s"
schema = { sensor_id = "string", site = "string", ts = "int", ppv_mm_s = "float", freq_hz = "float" }

[operators.insert_into_rollups]
kind = "window"
inputs = ["vibration"]
window = { kind = "tumbling", size = "1h" }
key = ["sensor_id"]
aggregates = { site = "last(site)", readings = "count", ppv_max = "max(ppv_mm_s)", ppv_p90 = "quantile(ppv_mm_s, 0.9)", over_limit = "count_if(ppv_mm_s > 5.0)" }

[sinks.rollups]
kind = "parquet"
inputs = ["insert_into_rollups"]
path = "out/rollups"
partition_by = "hour"

[sinks.dead_letters]
kind = "jsonl"
path = "out/dead_letters.jsonl"
"#;

#[test]
fn the_flink_shaped_rollup_plans_to_the_graph_of_its_toml_twin() {
    let sql = plan_text("rollup.sql", ROLLUP_SQL).unwrap();
    let toml = plan_text("rollup.toml", ROLLUP_TOML).unwrap();
    assert_eq!(sql, toml);
    assert!(sql.contains("quantile"), "{sql}");
}

#[test]
fn views_filters_projections_and_union_all_plan_like_toml() {
    let sql = "
CREATE TABLE pings (courier STRING, ts BIGINT, speed DOUBLE, WATERMARK FOR ts AS ts) WITH ('connector' = 'file', 'path' = 'p.jsonl', 'format' = 'jsonl');
CREATE VIEW fast AS SELECT courier, ts, speed * 3.6 AS kmh FROM pings WHERE speed > 10;
CREATE VIEW both_ AS SELECT * FROM fast UNION ALL SELECT * FROM fast;
CREATE TABLE out WITH ('connector' = 'jsonl', 'path' = 'out.jsonl');
CREATE TABLE dead_letters WITH ('connector' = 'jsonl', 'path' = 'dl.jsonl');
INSERT INTO out SELECT * FROM both_;
SET job.name = 'couriers';
SET job.workers = 3;
";
    let toml = r#"
[job]
name = "couriers"
workers = 3
[sources.pings]
kind = "file"
path = "p.jsonl"
format = "jsonl"
event_time = "ts"
max_out_of_orderness = "0ms"
schema = { courier = "string", ts = "int", speed = "float" }
[operators.fast_where]
kind = "filter"
inputs = ["pings"]
where = "speed > 10"
[operators.fast]
kind = "derive"
inputs = ["fast_where"]
fields = { kmh = "speed * 3.6" }
drop = ["speed"]
[operators.both_]
kind = "union"
inputs = ["fast", "fast"]
[sinks.out]
kind = "jsonl"
path = "out.jsonl"
inputs = ["both_"]
[sinks.dead_letters]
kind = "jsonl"
path = "dl.jsonl"
"#;
    let planned = plan_text("j.sql", sql).unwrap();
    assert_eq!(planned, plan_text("j.toml", toml).unwrap());
    assert!(
        planned.contains("couriers") && planned.contains("3 worker"),
        "{planned}"
    );
}

#[test]
fn every_problem_is_named_with_its_line_and_column_at_once() {
    let sql = "CREATE TABLE v (a STRING, ts BIGINT) WITH ('connector' = 'file', 'path' = 'v.jsonl');
CREATE TABLE out WITH ('connector' = 'jsonl', 'path' = 'o.jsonl');
INSERT INTO out SELECT a, COUNT(*) AS n FROM nope GROUP BY a;
INSERT INTO out SELECT * FROM v ORDER BY ts;";
    let err = plan_text("bad.sql", sql).unwrap_err();
    for want in [
        "bad.sql: line 1, column 14: source `v` needs an event time",
        "line 3, column 46: no table or view named `nope`",
        "line 4, column 17: ORDER BY and LIMIT over a stream",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}

#[test]
fn a_group_by_without_a_window_and_unknown_aggregates_are_refused_with_what_to_write() {
    let sql = "CREATE TABLE v (a STRING, x DOUBLE, ts BIGINT, WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) WITH ('connector' = 'file', 'path' = 'v.jsonl');
CREATE TABLE out WITH ('connector' = 'jsonl', 'path' = 'o.jsonl');
INSERT INTO out SELECT a, SUM(x) AS s FROM v GROUP BY a;
INSERT INTO out SELECT window_start, window_end, MEDIAN(x) AS m FROM TABLE(TUMBLE(TABLE v, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end;";
    let err = plan_text("bad.sql", sql).unwrap_err();
    assert!(err.contains("GROUP BY over a stream without a window"), "{err}");
    assert!(err.contains("unknown aggregate `MEDIAN`; weir has COUNT(*)"), "{err}");
}

#[test]
fn allowed_lateness_and_side_streams_plan_like_toml() {
    let sql = "
CREATE TABLE v (k STRING, x DOUBLE, ts BIGINT, WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
  WITH ('connector' = 'file', 'path' = 'v.jsonl', 'format' = 'jsonl');
CREATE TABLE sums WITH ('connector' = 'jsonl', 'path' = 'sums.jsonl');
CREATE TABLE too_late WITH ('connector' = 'jsonl', 'path' = 'late.jsonl');
CREATE TABLE malformed WITH ('connector' = 'jsonl', 'path' = 'bad.jsonl');
CREATE VIEW per_minute AS
SELECT window_start, window_end, k, SUM(x) AS total
FROM TABLE(TUMBLE(TABLE v, DESCRIPTOR(ts), INTERVAL '1' MINUTE, ALLOWED_LATENESS => INTERVAL '10' MINUTE))
GROUP BY window_start, window_end, k;
INSERT INTO sums SELECT * FROM per_minute;
INSERT INTO too_late SELECT * FROM per_minute.late;
INSERT INTO malformed SELECT * FROM v.dead_letters;
";
    let toml = r#"
[job]
name = "j"
[sources.v]
kind = "file"
path = "v.jsonl"
format = "jsonl"
event_time = "ts"
max_out_of_orderness = "5s"
schema = { k = "string", x = "float", ts = "int" }
[operators.per_minute]
kind = "window"
inputs = ["v"]
window = { kind = "tumbling", size = "1m" }
allowed_lateness = "10m"
key = ["k"]
aggregates = { total = "sum(x)" }
[sinks.sums]
kind = "jsonl"
path = "sums.jsonl"
inputs = ["per_minute"]
[sinks.too_late]
kind = "jsonl"
path = "late.jsonl"
inputs = ["per_minute.late"]
[sinks.malformed]
kind = "jsonl"
path = "bad.jsonl"
inputs = ["v.dead_letters"]
"#;
    let planned = plan_text("j.sql", sql).unwrap();
    assert_eq!(planned, plan_text("j.toml", toml).unwrap());
    assert!(planned.contains("allowed lateness 10m"), "{planned}");
}

/// Each SQL twin in `config/` plans to the graph of its TOML file (the outputs are compared by
/// `tests/sql_jobs.rs`).
#[test]
fn every_reference_job_s_sql_twin_plans_to_its_toml_graph() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut twins = 0;
    for entry in std::fs::read_dir(&config).unwrap() {
        let sql_path = entry.unwrap().path();
        let toml_path = sql_path.with_extension("toml");
        if sql_path.extension().is_none_or(|e| e != "sql") || !toml_path.exists() {
            continue;
        }
        let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
        let stem = sql_path.file_stem().unwrap().to_string_lossy().into_owned();
        let sql = plan_text(&format!("{stem}.sql"), &read(&sql_path)).unwrap();
        let toml = plan_text(&format!("{stem}.toml"), &read(&toml_path)).unwrap();
        assert_eq!(sql, toml, "{}", sql_path.display());
        twins += 1;
    }
    assert_eq!(twins, 7, "a SQL twin for each reference job");
}

/// A stream with two columns and an enum, for the tests below.
const PINGS: &str = "CREATE TABLE pings (courier STRING, site STRING, state STRING CHECK (state IN ('idle', 'busy')),
  ts BIGINT, speed DOUBLE, WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
  WITH ('connector' = 'file', 'path' = 'p.jsonl', 'format' = 'jsonl');
CREATE TABLE dead_letters WITH ('connector' = 'jsonl', 'path' = 'dl.jsonl');
CREATE TABLE out WITH ('connector' = 'jsonl', 'path' = 'out.jsonl');
";

const PINGS_TOML: &str = r#"
[job]
name = "j"
[sources.pings]
kind = "file"
path = "p.jsonl"
format = "jsonl"
event_time = "ts"
max_out_of_orderness = "5s"
schema = { courier = "string", site = "string", state = ["idle", "busy"], ts = "int", speed = "float" }
[sinks.dead_letters]
kind = "jsonl"
path = "dl.jsonl"
"#;

/// A TOML job written as SQL by `weir explain --format sql`, asserted to plan to the identical graph: the SQL.
fn written_as_sql(toml: String) -> String {
    let source = JobSource {
        name: "j.toml".into(),
        base_dir: ".".into(),
        text: toml,
    };
    let plan = crate::load_plan(&source, &Overrides::default(), None).unwrap();
    let table = crate::definition::load_as_written(&source, &Overrides::default()).unwrap();
    let sql = super::job_sql(&table, &plan).unwrap();
    assert_eq!(plan_text("again.sql", &sql).unwrap(), explain(&plan), "{sql}");
    sql
}

fn same_plan(sql: &str, toml: &str) -> String {
    let planned = plan_text("j.sql", &format!("{PINGS}{sql}")).unwrap();
    assert_eq!(planned, plan_text("j.toml", &format!("{PINGS_TOML}{toml}")).unwrap());
    planned
}

#[test]
fn sessions_carried_columns_and_rules_plan_like_toml() {
    let planned = same_plan(
        "CREATE VIEW trips AS
SELECT window_start, window_end, courier, site, COUNT(*) AS pings, MAX(speed) AS top
FROM TABLE(SESSION(TABLE pings PARTITION BY courier, DESCRIPTOR(ts), INTERVAL '5' MINUTE))
GROUP BY window_start, window_end, courier;
CREATE VIEW fast AS SELECT courier, top FROM TABLE(ALERT(TABLE trips PARTITION BY courier,
  when => top > 30, cooldown => INTERVAL '1' HOUR, alert => 'fast_trip', severity => 'info'));
CREATE VIEW gone AS SELECT * FROM TABLE(ABSENCE(TABLE pings PARTITION BY (courier, site),
  of => state IN ('busy'), silence => INTERVAL '10' MINUTE, alert => 'courier_gone'));
CREATE VIEW stuck AS SELECT courier FROM TABLE(DEADLINE(TABLE pings PARTITION BY courier,
  start => state = 'busy', done => state = 'idle', within => INTERVAL '2' HOUR, repeat => TRUE,
  alert => 'stuck'));
INSERT INTO out SELECT * FROM fast UNION ALL SELECT * FROM gone UNION ALL SELECT * FROM stuck;
",
        r#"
[operators.trips]
kind = "window"
inputs = ["pings"]
window = { kind = "session", gap = "5m" }
key = ["courier"]
carry = ["site"]
aggregates = { pings = "count", top = "max(speed)" }
[operators.fast]
kind = "alert"
inputs = ["trips"]
key = "courier"
when = "top > 30"
cooldown = "1h"
alert = "fast_trip"
severity = "info"
fields = ["courier", "top"]
[operators.gone]
kind = "absence"
inputs = ["pings"]
key = ["courier", "site"]
of = "state IN ('busy')"
silence = "10m"
alert = "courier_gone"
fields = ["courier", "site", "state", "ts", "speed"]
[operators.stuck]
kind = "deadline"
inputs = ["pings"]
key = "courier"
start = "state = 'busy'"
done = "state = 'idle'"
within = "2h"
repeat = true
alert = "stuck"
fields = ["courier"]
[sinks.out]
kind = "jsonl"
path = "out.jsonl"
inputs = ["fast", "gone", "stuck"]
"#,
    );
    assert!(planned.contains("session"), "{planned}");
}

#[test]
fn latest_views_and_serve_plan_like_toml() {
    same_plan(
        "SET serve.listen = '127.0.0.1:0';
CREATE VIEW couriers AS SELECT * FROM TABLE(LATEST(TABLE pings PARTITION BY courier,
  terminal => state IN ('idle'), ttl => INTERVAL '1' HOUR));
INSERT INTO out TABLE couriers;
",
        r#"
[serve]
listen = "127.0.0.1:0"
[operators.couriers]
kind = "latest"
inputs = ["pings"]
key = "courier"
terminal = { field = "state", values = ["idle"] }
ttl = "1h"
[sinks.out]
kind = "jsonl"
path = "out.jsonl"
inputs = ["couriers"]
"#,
    );
}

#[test]
fn what_would_change_meaning_is_refused_with_what_to_write() {
    let sql = format!(
        "{PINGS}CREATE TABLE other (courier STRING, ts BIGINT, WATERMARK FOR ts AS ts) WITH ('connector' = 'file', 'path' = 'o.jsonl');
INSERT INTO out SELECT p.*, o.ts FROM pings AS p JOIN other FOR SYSTEM_TIME AS OF p.ts AS o ON p.courier = o.courier;
INSERT INTO out SELECT window_start, window_end, courier, COUNT(*) AS n
  FROM TABLE(SESSION(TABLE pings PARTITION BY site, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end, courier;
INSERT INTO out SELECT window_start, window_end, COUNT(*) AS n
  FROM TABLE(TUMBLE(TABLE pings.dead_letters, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end;
INSERT INTO out SELECT * FROM TABLE(ALERT(TABLE pings PARTITION BY courier, when => speed > 1, alert => 'a')) WHERE speed > 2;
INSERT INTO out SELECT * FROM TABLE(TOP_N(TABLE pings));
"
    );
    let err = plan_text("bad.sql", &sql).unwrap_err();
    for want in [
        "line 7, column 55: `other` is a stream: a join of two streams needs time bounds",
        "a session's PARTITION BY keys are its GROUP BY keys after window_start, window_end: PARTITION BY courier",
        "DESCRIPTOR(arrival_watermark), a dead or late record's event time is its arrival watermark",
        "ALERT(…) takes no WHERE or GROUP BY",
        "unknown table function `TOP_N`; weir has TUMBLE, HOP, SESSION, ALERT, DEADLINE, ABSENCE and LATEST",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}

/// `weir explain JOB.toml --format sql` of every job under `config/` plans to the identical graph.
#[test]
fn every_toml_job_in_config_written_as_sql_plans_to_the_identical_graph() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut dirs = vec![config];
    let mut jobs = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let source = JobSource {
                name: path.display().to_string(),
                base_dir: ".".into(),
                text: std::fs::read_to_string(&path).unwrap(),
            };
            let plan = crate::load_plan(&source, &Overrides::default(), None).unwrap();
            let table = crate::definition::load_as_written(&source, &Overrides::default()).unwrap();
            let sql = super::job_sql(&table, &plan).unwrap_or_else(|p| panic!("{}: {p:?}", path.display()));
            assert!(sql.contains("${WEIR_OUT:-out}"), "variables are kept: {sql}");
            let again = plan_text("again.sql", &sql).unwrap_or_else(|e| panic!("{}:\n{sql}\n{e}", path.display()));
            assert_eq!(again, explain(&plan), "{}:\n{sql}", path.display());
            jobs += 1;
        }
    }
    assert!(jobs >= 10, "{jobs} jobs");
}

#[test]
fn what_sql_cannot_say_yet_is_named_instead_of_printed_wrongly() {
    let toml = format!(
        "{PINGS_TOML}
[tables.sites]
kind = \"file\"
path = \"sites.csv\"
key = \"site_id\"
schema = {{ site_id = \"string\", zone = \"string\" }}
[operators.j]
kind = \"join\"
inputs = [\"pings\", \"sites\"]
on = {{ stream = \"site\", table = \"site_id\" }}
history = \"1d\"
[sinks.out]
kind = \"jsonl\"
path = \"out.jsonl\"
inputs = [\"j\"]
"
    );
    let source = JobSource {
        name: "j.toml".into(),
        base_dir: ".".into(),
        text: toml,
    };
    let plan = crate::load_plan(&source, &Overrides::default(), None).unwrap();
    let table = crate::definition::load_as_written(&source, &Overrides::default()).unwrap();
    let problems = super::job_sql(&table, &plan).unwrap_err();
    assert_eq!(problems, vec!["operators.j.history: has no SQL form yet".to_string()]);
}

#[test]
fn filtered_and_computed_aggregates_expression_keys_and_having_plan_like_toml() {
    let planned = same_plan(
        "CREATE VIEW busy AS
SELECT window_start, window_end, lower(site) AS site_l,
       COUNT(*) AS pings,
       MAX(speed) FILTER (WHERE state = 'busy') AS top_busy,
       AVG(speed * 3.6) AS kmh,
       COUNT(*) FILTER (WHERE speed > 5 AND state = 'busy') AS fast_busy,
       COUNT(courier) AS with_courier
FROM TABLE(TUMBLE(TABLE pings, DESCRIPTOR(ts), INTERVAL '1' HOUR))
GROUP BY window_start, window_end, lower(site)
HAVING COUNT(*) > 10;
INSERT INTO out TABLE busy;
",
        r#"
[operators.busy_window]
kind = "window"
inputs = ["pings"]
window = { kind = "tumbling", size = "1h" }
key = ["lower(site) AS site_l"]
[operators.busy_window.aggregates]
pings = "count"
top_busy = { of = "max(speed)", where = "state = 'busy'" }
kmh = "mean(speed * 3.6)"
fast_busy = "count_if(speed > 5 AND state = 'busy')"
with_courier = "count_if(courier IS NOT NULL)"
[operators.busy]
kind = "filter"
inputs = ["busy_window"]
where = "pings > 10"
[sinks.out]
kind = "jsonl"
path = "out.jsonl"
inputs = ["busy"]
"#,
    );
    // The computed inputs are a derive in front of the window.
    for want in [
        "busy_window_inputs",
        "top_busy__input = `CASE WHEN state = 'busy' THEN speed END`",
        "site_l = `lower(site)`",
        "top_busy = max(top_busy__input)",
        "`pings > 10`",
    ] {
        assert!(planned.contains(want), "missing {want:?} in:\n{planned}");
    }
}

#[test]
fn having_needs_its_aggregates_named_and_distinct_counts_are_refused() {
    let sql = format!(
        "{PINGS}INSERT INTO out SELECT window_start, window_end, site, COUNT(*) AS n
FROM TABLE(TUMBLE(TABLE pings, DESCRIPTOR(ts), INTERVAL '1' HOUR)) GROUP BY window_start, window_end, site HAVING MAX(speed) > 3;
INSERT INTO out SELECT window_start, window_end, COUNT(DISTINCT courier) AS n
FROM TABLE(TUMBLE(TABLE pings, DESCRIPTOR(ts), INTERVAL '1' HOUR)) GROUP BY window_start, window_end;
INSERT INTO out SELECT window_start, window_end, COUNT(*) AS n
FROM TABLE(TUMBLE(TABLE pings, DESCRIPTOR(ts), INTERVAL '1' HOUR)) GROUP BY window_start, window_end, upper(site);
"
    );
    let err = plan_text("bad.sql", &sql).unwrap_err();
    for want in [
        "HAVING reads the window's columns: select MAX(speed) AS name and write HAVING name",
        "DISTINCT aggregates would keep every distinct value",
        "a key that is an expression needs a name: SELECT …, upper(site) AS name",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}

#[test]
fn window_offsets_and_time_zones_plan_like_toml_in_both_spellings() {
    let toml = r#"
[operators.weekly]
kind = "window"
inputs = ["pings"]
window = { kind = "tumbling", size = "7d", offset = "4d" }
key = []
aggregates = { n = "count" }
[operators.local_days]
kind = "window"
inputs = ["pings"]
window = { kind = "hopping", size = "1d", slide = "12h", time_zone = "America/Santiago" }
key = ["courier"]
aggregates = { n = "count" }
[sinks.out]
kind = "jsonl"
path = "out.jsonl"
inputs = ["weekly", "local_days"]
"#;
    for weekly in [
        "TUMBLE(TABLE pings, DESCRIPTOR(ts), INTERVAL '7' DAY, INTERVAL '4' DAY)",
        "TUMBLE(TABLE pings, DESCRIPTOR(ts), INTERVAL '7' DAY, OFFSET => INTERVAL '4' DAY)",
    ] {
        let planned = same_plan(
            &format!(
                "CREATE VIEW weekly AS SELECT window_start, window_end, COUNT(*) AS n FROM TABLE({weekly})
GROUP BY window_start, window_end;
CREATE VIEW local_days AS SELECT window_start, window_end, courier, COUNT(*) AS n
FROM TABLE(HOP(TABLE pings, DESCRIPTOR(ts), INTERVAL '12' HOUR, INTERVAL '1' DAY, TIME_ZONE => 'America/Santiago'))
GROUP BY window_start, window_end, courier;
INSERT INTO out SELECT * FROM weekly UNION ALL SELECT * FROM local_days;
"
            ),
            toml,
        );
        assert!(planned.contains("tumbling 7d offset 4d"), "{planned}");
        assert!(
            planned.contains("hopping 1d every 12h in America/Santiago"),
            "{planned}"
        );
    }
    let err = plan_text(
        "bad.sql",
        &format!(
            "{PINGS}INSERT INTO out SELECT window_start, window_end, COUNT(*) AS n
FROM TABLE(TUMBLE(TABLE pings, DESCRIPTOR(ts), INTERVAL '1' DAY, TIME_ZONE => 'Europe/Berlinn'))
GROUP BY window_start, window_end;"
        ),
    )
    .unwrap_err();
    assert!(err.contains("unknown time zone \"Europe/Berlinn\""), "{err}");
}
