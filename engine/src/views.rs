//! Live views: the latest value per key of each `latest` operator, shared between the dataflow (writer) and
//! the HTTP server (readers).
//!
//! Values are immutable `Arc`s swapped in under a short per-shard write lock, so a reader never sees a torn
//! value and never holds up the dataflow for more than a map insert. Each key is written by exactly one
//! worker (keys are routed by hash), so writers never contend with each other on a key.
//!
//! With several processes each process's store holds the keys its workers own. The store knows every
//! process's HTTP address (exchanged in the cluster's start-up handshake, [`ViewStore::set_peers`]) and which
//! process owns a key — the owner of the worker its route hash picks, exactly as the exchange routes it —
//! so the HTTP API answers a key from its owner ([`ViewStore::owner`]).

use compact_str::CompactString;
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use weir_operators::Value;

const SHARDS: usize = 16;

/// One view's current values, by key.
pub struct View {
    /// The names of the stored fields (the source schema's).
    pub fields: Vec<String>,
    /// The key field (to route a key written as text to its worker).
    pub key: crate::schema::Field,
    shards: Vec<RwLock<BTreeMap<CompactString, Arc<Vec<Value>>>>>,
    len: AtomicUsize,
}

fn shard_of(key: &str) -> usize {
    let mut h = weir_operators::alert::Fnv64::new();
    h.write(key.as_bytes());
    (h.finish() % SHARDS as u64) as usize
}

impl View {
    pub fn new(fields: Vec<String>, key: crate::schema::Field) -> Self {
        Self {
            fields,
            key,
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            len: AtomicUsize::new(0),
        }
    }

    pub fn upsert(&self, key: &str, value: Arc<Vec<Value>>) {
        if self.shards[shard_of(key)].write().insert(key.into(), value).is_none() {
            self.len.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn remove(&self, key: &str) {
        if self.shards[shard_of(key)].write().remove(key).is_some() {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub fn get(&self, key: &str) -> Option<Arc<Vec<Value>>> {
        self.shards[shard_of(key)].read().get(key).cloned()
    }

    /// The route hash of a key written as text (as [`weir_operators::Key::display`] writes the view's key
    /// field: `\N` for NULL, `\\` and `\|` escaped), `None` if no key of the field's type reads so.
    pub fn route_of(&self, key: &str) -> Option<u64> {
        use crate::schema::FieldType;
        let [field] = <[Option<String>; 1]>::try_from(weir_operators::Key::parse_display(key)?).ok()?;
        let value = match (field, &self.key.ty) {
            (None, _) => Value::Null,
            (Some(text), FieldType::String | FieldType::Enum(_)) => Value::Str(text.into()),
            (Some(text), _) => crate::table::parse_text_value(&self.key, &text).ok()?,
        };
        Some(weir_operators::Key::route_hash_of(&[value]))
    }

    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `limit` entries in key order, after the key `after` (from the first with `None`).
    pub fn list(&self, after: Option<&str>, limit: usize) -> Vec<(CompactString, Arc<Vec<Value>>)> {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, |a| Bound::Excluded(CompactString::from(a)));
        let mut out: Vec<(CompactString, Arc<Vec<Value>>)> = Vec::new();
        for s in &self.shards {
            let s = s.read();
            out.extend(
                s.range((from.clone(), Bound::Unbounded))
                    .take(limit)
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.truncate(limit);
        out
    }

    /// `{"key": KEY, FIELD: VALUE, …}`.
    pub fn render(&self, key: &str, value: &[Value]) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("key".into(), key.into());
        for (name, v) in self.fields.iter().zip(value) {
            m.insert(name.clone(), v.to_json());
        }
        serde_json::Value::Object(m)
    }
}

/// What a table holds, for `GET /v1/tables/{table}/{key}` (worker 0 reads the table and registers it).
pub struct TableView {
    pub schema: crate::schema::Schema,
    /// The key's fields, by schema index.
    pub key: Vec<usize>,
    pub history: Arc<parking_lot::Mutex<crate::table::TableHistory>>,
}

impl TableView {
    /// `{"table", "key", "known_until", "versions": [{"since", "row": {…} | null}]}` for the key written
    /// as text, or why not.
    pub fn render(&self, table: &str, key: &str) -> Result<serde_json::Value, String> {
        let fields: Vec<_> = self.key.iter().map(|i| &self.schema.fields[*i]).collect();
        let value = crate::table::parse_display_key(&fields, key).map_err(|e| format!("key `{key}`: {e}"))?;
        let history = self.history.lock();
        let versions = history.versions(&value);
        if versions.is_empty() {
            return Err(format!("no key `{key}` in table `{table}`"));
        }
        let rendered: Vec<serde_json::Value> = versions
            .iter()
            .map(|(since, row)| {
                let row = row.as_ref().map(|r| {
                    let m: serde_json::Map<String, serde_json::Value> = self
                        .schema
                        .fields
                        .iter()
                        .zip(r.0.iter())
                        .map(|(f, v)| (f.name.clone(), v.to_json()))
                        .collect();
                    serde_json::Value::Object(m)
                });
                serde_json::json!({"since": since, "row": row})
            })
            .collect();
        Ok(serde_json::json!({
            "table": table,
            "key": key,
            "known_until": history.known_until(),
            "versions": rendered,
        }))
    }
}

/// The processes of a cluster as the views see them.
#[derive(Clone, Debug)]
pub struct ViewPeers {
    /// This process's index.
    pub process: usize,
    /// Workers per process.
    pub workers: usize,
    /// Per process: the `host:port` its HTTP API answers on (`None`: it serves none).
    pub http: Vec<Option<String>>,
}

/// All views of a job, plus how far the job has got.
#[derive(Default)]
pub struct ViewStore {
    pub views: HashMap<String, Arc<View>>,
    /// The port this process's HTTP API listens on (0: none yet), told to the other processes.
    http_port: std::sync::atomic::AtomicU16,
    /// With several processes: where the others serve.
    peers: std::sync::OnceLock<ViewPeers>,
    /// The job's tables, by name (registered by worker 0 as it builds them).
    tables: RwLock<BTreeMap<String, Arc<TableView>>>,
    /// Per view-operator instance: the last finite frontier it has applied.
    frontiers: Vec<AtomicU64>,
    /// Per view-operator instance: whether its input has ended.
    ended: Vec<AtomicBool>,
    caught_up: AtomicBool,
    /// The job watermark just before the end of the inputs (`u64::MAX`: not ended, or unknown), reported
    /// by the view operators when their inputs end.
    final_watermark: AtomicU64,
}

impl ViewStore {
    pub fn new(views: HashMap<String, Arc<View>>, instances: usize) -> Self {
        Self {
            views,
            frontiers: (0..instances).map(|_| AtomicU64::new(0)).collect(),
            ended: (0..instances).map(|_| AtomicBool::new(false)).collect(),
            caught_up: AtomicBool::new(false),
            final_watermark: AtomicU64::new(u64::MAX),
            tables: RwLock::default(),
            http_port: Default::default(),
            peers: Default::default(),
        }
    }

    /// Records the port this process's HTTP API listens on.
    pub fn set_http_port(&self, port: u16) {
        self.http_port.store(port, Ordering::SeqCst);
    }

    /// The port this process's HTTP API listens on (0: it has none).
    pub fn http_port(&self) -> u16 {
        self.http_port.load(Ordering::SeqCst)
    }

    /// Records the cluster's processes (once; later calls are ignored).
    pub fn set_peers(&self, peers: ViewPeers) {
        let _ = self.peers.set(peers);
    }

    /// The cluster's processes, once known.
    pub fn peers(&self) -> Option<&ViewPeers> {
        self.peers.get()
    }

    /// The other process that holds `key` of `view`, and where it serves: `None` when this process holds it
    /// (or runs alone). `Err` names the owner when it serves no HTTP API.
    pub fn owner(&self, view: &View, key: &str) -> Result<Option<(usize, &str)>, String> {
        let Some(peers) = self.peers.get() else {
            return Ok(None);
        };
        let Some(route) = view.route_of(key) else {
            return Ok(None);
        };
        let workers = (peers.workers.max(1) * peers.http.len()) as u64;
        let owner = (route % workers) as usize / peers.workers.max(1);
        if owner == peers.process {
            return Ok(None);
        }
        match peers.http.get(owner).and_then(Option::as_deref) {
            Some(addr) => Ok(Some((owner, addr))),
            None => Err(format!("process {owner} holds this key but serves no HTTP API")),
        }
    }

    /// Makes a table readable over HTTP.
    pub fn register_table(&self, name: &str, table: TableView) {
        self.tables.write().insert(name.to_string(), Arc::new(table));
    }

    /// A table by name, and the names of all of them.
    pub fn table(&self, name: &str) -> (Option<Arc<TableView>>, Vec<String>) {
        let t = self.tables.read();
        (t.get(name).cloned(), t.keys().cloned().collect())
    }

    /// Records the job watermark just before the end of the inputs (the same in every run): what the views
    /// were expired up to, and what `/healthz` shows once everything is applied.
    pub fn set_final_watermark(&self, watermark: Option<i64>) {
        if let Some(w) = watermark {
            self.final_watermark.store(w.max(0) as u64, Ordering::Relaxed);
        }
    }

    /// Records that instance `i` has applied everything below `frontier` (`None`: its input ended).
    pub fn progress(&self, i: usize, frontier: Option<u64>) {
        match frontier {
            Some(t) => self.frontiers[i].store(t, Ordering::Relaxed),
            None => self.ended[i].store(true, Ordering::Relaxed),
        }
        if self.ended.iter().all(|e| e.load(Ordering::Relaxed)) {
            self.caught_up.store(true, Ordering::Relaxed);
        }
    }

    /// The job watermark as the views have applied it: the minimum over the view operators' frontiers, and
    /// once every input has ended, the job watermark just before the end (not whatever frontier each worker
    /// happened to see last); `None` before any progress.
    pub fn watermark(&self) -> Option<u64> {
        let last = self.final_watermark.load(Ordering::Relaxed);
        if self.caught_up() && last != u64::MAX {
            return Some(last);
        }
        let m = self.frontiers.iter().map(|f| f.load(Ordering::Relaxed)).min()?;
        (m > 0).then_some(m)
    }

    /// Whether every bounded input has been fully applied.
    pub fn caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Field, FieldType, Schema, NO_EVENT_TIME};
    use crate::table::{Found, Origin, TableHistory, TableRead};

    /// `GET /v1/tables/T/KEY` of a table keyed by (site, id): the key written as `latest` views write theirs.
    #[test]
    fn a_key_of_several_fields_is_looked_up_by_its_display_text() {
        let schema = Schema {
            fields: vec![
                Field::new("site", FieldType::String),
                Field::new("id", FieldType::Int),
                Field::new("zone", FieldType::String),
            ],
            event_time: NO_EVENT_TIME,
        };
        let mut history = TableHistory::new(&[0, 1], None);
        let row = |site: &str| Found::Row {
            values: vec![
                Value::Str(site.into()),
                Value::Int(7),
                Value::Str(format!("{site}-zone").into()),
            ],
            version: None,
        };
        let origin = |offset| Origin {
            partition: 0,
            offset,
            raw: String::new(),
        };
        history.apply(
            TableRead {
                found: vec![(origin(1), row("eu|west")), (origin(2), row("us"))],
                complete: true,
                read_at: 1000,
                caught_up: true,
            },
            0,
        );
        let view = TableView {
            schema,
            key: vec![0, 1],
            history: Arc::new(parking_lot::Mutex::new(history)),
        };
        let found = view.render("sites", r"eu\|west|7").unwrap();
        assert_eq!(found["versions"][0]["row"]["zone"], "eu|west-zone");
        assert!(view.render("sites", "us|8").unwrap_err().contains("no key `us|8`"));
        assert!(view.render("sites", "us").unwrap_err().contains("written site|id"));
    }
}
