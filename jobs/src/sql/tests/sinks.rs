//! Sinks in SQL: a sink table with a `PRIMARY KEY` is an upsert (Flink's upsert sink), on the connectors
//! that upsert; and `weir explain --format sql` writes an upserting sink back so.

use super::{plan_text, same_plan, PINGS_TOML};

const STATS_TOML: &str = r#"
[operators.insert_into_stats]
kind = "window"
inputs = ["pings"]
window = { kind = "tumbling", size = "15m" }
key = ["courier"]
aggregates = { pings = "count" }
[sinks.stats]
kind = "postgres"
url = "postgresql://weir@127.0.0.1/fleet"
table = "courier_stats"
mode = "upsert"
key = ["courier"]
inputs = ["insert_into_stats"]
"#;

#[test]
fn a_sink_table_with_a_primary_key_upserts_and_is_written_back_so() {
    let insert = "INSERT INTO stats
SELECT window_start, window_end, courier, COUNT(*) AS pings
FROM TABLE(TUMBLE(TABLE pings, DESCRIPTOR(ts), INTERVAL '15' MINUTE))
GROUP BY window_start, window_end, courier;
INSERT INTO out TABLE pings;";
    let planned = same_plan(
        &format!(
            "CREATE TABLE stats (PRIMARY KEY (courier) NOT ENFORCED)
  WITH ('connector' = 'postgres', 'url' = 'postgresql://weir@127.0.0.1/fleet', 'table' = 'courier_stats');
{insert}"
        ),
        &format!("[sinks.out]\nkind = \"jsonl\"\npath = \"out.jsonl\"\ninputs = [\"pings\"]\n{STATS_TOML}"),
    );
    assert!(planned.contains("upsert on courier"), "{planned}");
    let err = plan_text(
        "j.sql",
        &format!(
            "{}CREATE TABLE stats (PRIMARY KEY (courier) NOT ENFORCED) WITH ('connector' = 'jsonl', 'path' = 's.jsonl');
{insert}",
            super::PINGS
        ),
    )
    .unwrap_err();
    assert!(
        err.contains("sink `stats`: a PRIMARY KEY makes a sink upsert, which the 'postgres' connector does"),
        "{err}"
    );

    let sql = super::written_as_sql(format!("{PINGS_TOML}{STATS_TOML}"));
    assert!(
        sql.contains("CREATE TABLE stats (PRIMARY KEY (courier) NOT ENFORCED) WITH ('connector' = 'postgres'"),
        "{sql}"
    );
}
