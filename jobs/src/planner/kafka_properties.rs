//! The `properties` of Kafka sources, sinks and tables: librdkafka settings passed through as written,
//! checked by librdkafka's own configuration parser when the job is planned, so that a misspelt name or a
//! value librdkafka refuses is a definition problem naming the key, not a failure when the job starts.

use crate::definition::section::Section;
use weir_engine::connectors::kafka::client::check_property;

/// The `properties` table of `s`, each setting checked by librdkafka (without connecting anywhere).
pub(super) fn kafka_properties(s: &Section) -> Vec<(String, String)> {
    let properties = s.string_map("properties");
    if let Some(table) = s.table("properties") {
        for (key, value) in &properties {
            if let Err(why) = check_property(key, value) {
                table.problem(key, format!("librdkafka refuses it: {why}"));
            }
        }
    }
    properties
}
