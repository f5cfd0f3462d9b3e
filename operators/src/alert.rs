//! Alerts as on-call receives them (DESIGN §4) and their deterministic ids.

use crate::value::Value;
use serde::{Deserialize, Serialize};

/// 64-bit FNV-1a: tiny, stable across versions and platforms.
pub struct Fnv64(u64);

impl Fnv64 {
    pub fn new() -> Self {
        Fnv64(0xcbf29ce484222325)
    }
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x100000001b3);
        }
    }
    pub fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv64 {
    fn default() -> Self {
        Self::new()
    }
}

/// The id of an alert: a hash of what identifies it (job, kind, key, event time), so the same input always
/// yields the same id — downstream systems can deduplicate on it.
pub fn alert_id(job: &str, kind: &str, key: &str, event_time: i64) -> String {
    let mut a = Fnv64::new();
    let mut b = Fnv64::new();
    b.write(b"weir-alert");
    for part in [
        job.as_bytes(),
        kind.as_bytes(),
        key.as_bytes(),
        &event_time.to_le_bytes(),
    ] {
        a.write(part);
        a.write(&[0]);
        b.write(part);
        b.write(&[0]);
    }
    format!("{:016x}{:016x}", a.finish(), b.finish())
}

/// One alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub alert_id: String,
    pub kind: String,
    pub severity: String,
    pub key: String,
    pub event_time: i64,
    pub job: String,
    /// The kind's own fields, in output order.
    pub fields: Vec<(String, Value)>,
}

impl Alert {
    /// One JSON object with the fixed fields first, then the kind's fields.
    pub fn to_json(&self) -> String {
        let mut m = serde_json::Map::new();
        m.insert("alert_id".into(), self.alert_id.clone().into());
        m.insert("kind".into(), self.kind.clone().into());
        m.insert("severity".into(), self.severity.clone().into());
        m.insert("key".into(), self.key.clone().into());
        m.insert("event_time".into(), self.event_time.into());
        m.insert("job".into(), self.job.clone().into());
        for (name, v) in &self.fields {
            m.insert(name.clone(), v.to_json());
        }
        serde_json::Value::Object(m).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let a = alert_id("j", "vibration_exceeded", "vib-1", 100);
        assert_eq!(a, alert_id("j", "vibration_exceeded", "vib-1", 100));
        assert_eq!(a.len(), 32);
        assert_ne!(a, alert_id("j", "vibration_exceeded", "vib-1", 101));
        assert_ne!(a, alert_id("j", "vibration_exceeded", "vib-2", 100));
    }
}
