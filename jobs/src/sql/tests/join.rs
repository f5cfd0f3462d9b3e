//! Temporal joins in SQL plan like their TOML twins: one key column or several, keys that are expressions
//! of the stream's columns; and `weir explain --format sql` writes a join on several columns back.

use super::{plan_text, same_plan, PINGS_TOML};

#[test]
fn a_temporal_join_with_a_filter_and_fewer_columns_plans_like_toml() {
    same_plan(
        "CREATE TABLE sites (site_id STRING, zone STRING, speed_limit DOUBLE, since BIGINT,
  PRIMARY KEY (site_id) NOT ENFORCED, WATERMARK FOR since AS since)
  WITH ('connector' = 'file', 'path' = 'sites.csv');
CREATE VIEW limited AS
SELECT p.courier, p.ts, p.speed, s.zone, s.speed_limit AS lim
FROM pings AS p LEFT JOIN sites FOR SYSTEM_TIME AS OF p.ts AS s ON p.site = s.site_id
WHERE p.speed > s.speed_limit;
INSERT INTO out TABLE limited;
",
        r#"
[tables.sites]
kind = "file"
path = "sites.csv"
key = "site_id"
version = "since"
max_out_of_orderness = "0s"
schema = { site_id = "string", zone = "string", speed_limit = "float", since = "int" }
[operators.limited_join]
kind = "join"
inputs = ["pings", "sites"]
on = { stream = "site", table = "site_id" }
fields = ["zone", "speed_limit AS lim"]
mode = "left"
[operators.limited_where]
kind = "filter"
inputs = ["limited_join"]
where = "speed > lim"
[operators.limited]
kind = "derive"
inputs = ["limited_where"]
drop = ["site", "state"]
[sinks.out]
kind = "jsonl"
path = "out.jsonl"
inputs = ["limited"]
"#,
    );
}

/// A table keyed by (site, courier): the same courier id at two sites is two rows.
const ASSIGNMENTS_SQL: &str = "CREATE TABLE assignments (site STRING, courier STRING, team STRING, since BIGINT,
  PRIMARY KEY (site, courier) NOT ENFORCED, WATERMARK FOR since AS since)
  WITH ('connector' = 'file', 'path' = 'assignments.csv');
";

const ASSIGNMENTS_TOML: &str = r#"
[tables.assignments]
kind = "file"
path = "assignments.csv"
key = ["site", "courier"]
version = "since"
max_out_of_orderness = "0s"
schema = { site = "string", courier = "string", team = "string", since = "int" }
"#;

#[test]
fn a_join_on_two_key_columns_plans_like_toml_whichever_order_on_names_them() {
    for on in [
        "p.site = a.site AND p.courier = a.courier",
        "a.courier = p.courier AND (p.site = a.site)",
    ] {
        let planned = same_plan(
            &format!(
                "{ASSIGNMENTS_SQL}INSERT INTO out
SELECT p.*, a.team FROM pings AS p JOIN assignments FOR SYSTEM_TIME AS OF p.ts AS a ON {on};"
            ),
            &format!(
                r#"{ASSIGNMENTS_TOML}
[operators.insert_into_out]
kind = "join"
inputs = ["pings", "assignments"]
on = ["courier", "site"]
fields = ["team"]
mode = "inner"
[sinks.out]
kind = "jsonl"
path = "out.jsonl"
inputs = ["insert_into_out"]
"#
            ),
        );
        assert!(planned.contains("on site, courier"), "{planned}");
        assert!(planned.contains("key `site, courier`"), "{planned}");
    }
}

#[test]
fn a_key_that_is_an_expression_of_the_stream_is_derived_before_the_join_and_dropped_after() {
    same_plan(
        &format!(
            "{ASSIGNMENTS_SQL}INSERT INTO out
SELECT * FROM pings AS p LEFT JOIN assignments FOR SYSTEM_TIME AS OF p.ts AS a
  ON UPPER(p.site) = a.site AND p.courier = a.courier;"
        ),
        &format!(
            r#"{ASSIGNMENTS_TOML}
[operators.insert_into_out_on]
kind = "derive"
inputs = ["pings"]
fields = {{ on_site = "UPPER(site)" }}
[operators.insert_into_out_join]
kind = "join"
inputs = ["insert_into_out_on", "assignments"]
on = {{ stream = ["on_site", "courier"], table = ["site", "courier"] }}
mode = "left"
[operators.insert_into_out]
kind = "derive"
inputs = ["insert_into_out_join"]
drop = ["on_site"]
[sinks.out]
kind = "jsonl"
path = "out.jsonl"
inputs = ["insert_into_out"]
"#
        ),
    );
}

#[test]
fn an_on_that_misses_a_key_column_or_reads_the_table_is_refused_with_the_form_to_write() {
    let refused = |on: &str| {
        plan_text(
            "j.sql",
            &format!(
                "{}{ASSIGNMENTS_SQL}INSERT INTO out
SELECT p.*, a.team FROM pings AS p JOIN assignments FOR SYSTEM_TIME AS OF p.ts AS a ON {on};",
                super::PINGS
            ),
        )
        .unwrap_err()
    };
    let err = refused("p.courier = a.courier");
    assert!(
        err.contains("ON p.column = a.site AND p.column = a.courier: a stream column (or an expression of them) equal to each of the table's key columns"),
        "{err}"
    );
    let err = refused("p.courier = a.courier AND p.site = a.team");
    assert!(
        err.contains("a table is looked up by its key (site, courier): `team` is not a key column"),
        "{err}"
    );
    let err = refused("p.courier = a.courier AND p.site = a.site AND p.speed > 3");
    assert!(
        err.contains("ON holds the key equalities only (joined with AND): filter with WHERE"),
        "{err}"
    );
    let err = refused("p.courier = a.courier AND LOWER(a.team) = a.site");
    assert!(err.contains("a key expression reads the stream's columns"), "{err}");
    assert!(err.contains("not `a.team`"), "{err}");
}

#[test]
fn a_toml_join_on_several_fields_is_written_as_sql_that_plans_to_the_identical_graph() {
    for on in [
        r#"on = ["site", "courier"]"#,
        r#"on = { stream = ["courier", "site"], table = ["courier", "site"] }"#,
    ] {
        let toml = format!(
            r#"{PINGS_TOML}{ASSIGNMENTS_TOML}
[operators.j]
kind = "join"
inputs = ["pings", "assignments"]
{on}
fields = ["team AS crew"]
[sinks.out]
kind = "jsonl"
path = "out.jsonl"
inputs = ["j"]
"#
        );
        let sql = super::written_as_sql(toml);
        assert!(sql.contains("PRIMARY KEY (site, courier) NOT ENFORCED"), "{sql}");
    }
}

#[test]
fn a_latest_lookup_table_is_joined_as_of_proctime_and_the_two_forms_are_not_mixed() {
    let latest_sql = "CREATE TABLE zones (site STRING, zone STRING, PRIMARY KEY (site) NOT ENFORCED)
  WITH ('connector' = 'file', 'path' = 'zones.csv', 'lookup' = 'latest');
";
    let planned = same_plan(
        &format!(
            "{latest_sql}INSERT INTO out
SELECT p.*, z.zone FROM pings AS p LEFT JOIN zones FOR SYSTEM_TIME AS OF PROCTIME() AS z ON p.site = z.site;"
        ),
        r#"
[tables.zones]
kind = "file"
path = "zones.csv"
key = "site"
lookup = "latest"
schema = { site = "string", zone = "string" }
[operators.insert_into_out]
kind = "join"
inputs = ["pings", "zones"]
on = "site"
fields = ["zone"]
mode = "left"
[sinks.out]
kind = "jsonl"
path = "out.jsonl"
inputs = ["insert_into_out"]
"#,
    );
    assert!(planned.contains("results depend on timing"), "{planned}");
    let refused = |table: &str, as_of: &str| {
        plan_text(
            "j.sql",
            &format!(
                "{}{table}INSERT INTO out
SELECT p.*, z.zone FROM pings AS p JOIN zones FOR SYSTEM_TIME AS OF {as_of} AS z ON p.site = z.site;",
                super::PINGS
            ),
        )
        .unwrap_err()
    };
    let err = refused(latest_sql, "p.ts");
    assert!(
        err.contains("table `zones` has 'lookup' = 'latest': join it FOR SYSTEM_TIME AS OF PROCTIME()"),
        "{err}"
    );
    let event_time_sql = latest_sql.replace(", 'lookup' = 'latest'", "");
    let err = refused(&event_time_sql, "PROCTIME()");
    assert!(
        err.contains("AS OF PROCTIME() joins the newest version read, so results depend on timing: say so on the table with WITH (…, 'lookup' = 'latest'), or join AS OF p.ts"),
        "{err}"
    );

    // And back: a TOML job with a latest table is written AS OF PROCTIME().
    let toml = format!(
        r#"{PINGS_TOML}
[tables.zones]
kind = "file"
path = "zones.csv"
key = "site"
lookup = "latest"
schema = {{ site = "string", zone = "string" }}
[operators.j]
kind = "join"
inputs = ["pings", "zones"]
on = "site"
[sinks.out]
kind = "jsonl"
path = "out.jsonl"
inputs = ["j"]
"#
    );
    let sql = super::written_as_sql(toml);
    assert!(
        sql.contains("FOR SYSTEM_TIME AS OF PROCTIME()") && sql.contains("'lookup' = 'latest'"),
        "{sql}"
    );
}
