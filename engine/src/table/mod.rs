//! Reference tables: keyed, versioned collections a `join` looks records up in, at the record's event time.
//!
//! **Versions.** A table is a history per key: rows (or deletions) each valid from a *version time* (epoch
//! ms, the same clock as the streams' event times) until the key's next version. A row's version time is
//! its `version` field when the table has one, or for a Kafka table without one the message timestamp. A
//! row without a version time is valid from the beginning of time when the table's first read found it,
//! and otherwise from the time the table was known up to before the read that saw it change.
//!
//! **Known up to.** Each table has a watermark `known_until`: every version with a time below it has been
//! read and will not change. A join looks a record with event time `t` up only once `known_until > t`, so
//! what it sees is a function of the table's versions, not of when the table was read. `known_until`
//! moves with the wall clock: after a complete read (a file, a PostgreSQL poll) or once a Kafka table has
//! read every partition to its end, it is the time the read started minus the table's
//! `max_out_of_orderness` (the longest a version may take to be written after its version time). So a table
//! that stops changing never holds a join back: historical records are joined at once, a live record waits
//! for the next read after its event time. A version found with a time already below `known_until` is
//! *late*: it is applied from `known_until` instead (never rewriting what was joined) and counted.
//!
//! **Deletions.** A Kafka tombstone deletes its key at its message timestamp; a PostgreSQL soft-delete
//! column deletes at the row's version; a key missing from a complete read (a file, a PostgreSQL poll
//! without a soft-delete column) is deleted from the time the table was known up to before that read.
//!
//! **State.** [`TableHistory`] holds every version read so far and turns each read into differential
//! updates of the collection of `(key, row)` pairs (a row at its version time, its predecessor retracted
//! there). It is part of checkpoints, so a restored job looks records up in the same versions its crashed
//! run had read; reads after the restore only add versions.
//!
//! The kinds that read tables live with their connectors: `connectors::file` (JSONL or CSV files, re-read when
//! they change), `connectors::kafka` (compacted topics, read from the start), `connectors::postgres` (a query
//! polled every `interval`), `connectors::http` (a web API polled every `interval`); [`kind`] is what they
//! implement.

pub mod kind;
mod text;

pub use text::{parse_display_key, parse_message_key, parse_text_value};

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use weir_operators::{Key, Value};

/// A table row's values in schema order (compared and ordered as a whole, as differential needs).
pub type TableRow = Key;

/// A differential update of a table's `(key, row)` collection: data, version time, diff.
pub type TableUpdate = ((Key, TableRow), u64, isize);

/// Where a row a read found came from (for its dead letter).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Origin {
    /// The Kafka partition (0 for files and PostgreSQL).
    pub partition: u32,
    /// The 1-based line number, Kafka offset, or 1-based row number of the poll.
    pub offset: u64,
    /// The row as read (the line, the message value, the row as JSON).
    pub raw: String,
}

/// What a read found at one origin.
#[derive(Clone, Debug)]
pub enum Found {
    /// A row: every schema field (`Value::Null` where null); `version` is its version time when the table
    /// has no `version` field but the kind has one (a Kafka message's timestamp).
    Row { values: Vec<Value>, version: Option<i64> },
    /// The key (its fields' values, in key order) is deleted, at this version time (`None`: from when the
    /// table was known up to).
    Delete { key: Key, at: Option<i64> },
    /// A row that cannot be read: the reason.
    Bad(String),
}

impl Found {
    /// A row decoded from one JSON object (`version`: the kind's version time, if it has one), or why not.
    pub fn decoded(decoder: &mut crate::decode::Decoder, json: &[u8], version: Option<i64>) -> Found {
        match decoder.decode(json) {
            Ok(slots) => Found::Row {
                values: slots.iter_mut().map(|s| s.take().expect("decoded")).collect(),
                version,
            },
            Err(e) => Found::Bad(e.0),
        }
    }
}

/// One read of a table.
#[derive(Clone, Debug)]
pub struct TableRead {
    pub found: Vec<(Origin, Found)>,
    /// Whether the read holds the whole table (keys it does not have are deleted).
    pub complete: bool,
    /// Wall-clock time the read started (epoch ms).
    pub read_at: i64,
    /// Whether the table is now known up to `read_at` (a Kafka table still catching up is not).
    pub caught_up: bool,
}

/// What applying a read changed.
#[derive(Debug, Default)]
pub struct Applied {
    pub updates: Vec<TableUpdate>,
    /// Rows that could not be read, with the reason (each reported once).
    pub dead: Vec<(Origin, String)>,
    /// Versions found below `known_until` (applied from it instead).
    pub late: u64,
    /// The table's watermark after the read.
    pub known_until: i64,
    /// Rows the read found (deletions not counted), and how many of them were refused (whether or not they
    /// were reported before).
    pub rows: usize,
    pub refused: usize,
    /// Whether the read held the whole table.
    pub complete: bool,
    /// A reason one of them was refused for.
    pub refusal: Option<String>,
}

impl Applied {
    /// A warning when the read found no usable row or refused most of its rows: joins then see (mostly)
    /// nothing, silently (trap 3 of the review round).
    pub fn warning(&self) -> Option<String> {
        let usable = self.rows - self.refused;
        let why = self
            .refusal
            .as_deref()
            .map_or(String::new(), |r| format!(" (e.g. {r})"));
        if self.rows == 0 {
            // An incremental read (a Kafka table) with nothing new is normal.
            self.complete
                .then(|| "its last read found no rows: joins find nothing in it".to_string())
        } else if usable == 0 || self.refused * 2 > self.rows {
            Some(format!(
                "{} of the {} rows of its last read are dead letters{why}: joins do not see them",
                self.refused, self.rows
            ))
        } else {
            None
        }
    }
}

/// Every version of a table read so far (see the module doc).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TableHistory {
    /// The key's first field and the version field, by schema index (the first key field stays in the
    /// checkpoint format of single-field keys; `key_fields` is the whole key).
    key: usize,
    version: Option<usize>,
    /// key → version time → row (`None`: deleted).
    keys: BTreeMap<Key, BTreeMap<i64, Option<TableRow>>>,
    known_until: i64,
    reads: u64,
    /// Bad rows already reported: (origin, reason).
    reported: BTreeSet<(Origin, String)>,
    /// The key's fields, by schema index, in key order (from the plan, also after a restore).
    #[serde(skip)]
    key_fields: Vec<usize>,
}

impl TableHistory {
    /// An empty history of a table keyed by the fields `key` (schema indices, in key order; not empty).
    pub fn new(key: &[usize], version: Option<usize>) -> TableHistory {
        TableHistory {
            key: key[0],
            version,
            key_fields: key.to_vec(),
            ..Default::default()
        }
    }

    /// A history restored from a checkpoint, for a table keyed by `key` (the checkpoint keeps only the
    /// key's first field).
    pub fn restored(mut self, key: &[usize]) -> TableHistory {
        self.key_fields = key.to_vec();
        self
    }

    /// A row's key, `None` when one of its fields is NULL (no key: a join never matches NULL).
    fn key_of(&self, values: &[Value]) -> Option<Key> {
        let fields: &[usize] = if self.key_fields.is_empty() {
            std::slice::from_ref(&self.key)
        } else {
            &self.key_fields
        };
        let key: Vec<Value> = fields.iter().map(|i| values[*i].clone()).collect();
        (!key.iter().any(|v| matches!(v, Value::Null))).then(|| Key::from(key))
    }

    /// The time below which every version is known.
    pub fn known_until(&self) -> i64 {
        self.known_until
    }

    /// Keys with a row (not deleted) at the newest version.
    pub fn len(&self) -> usize {
        self.keys
            .values()
            .filter(|h| h.values().next_back().is_some_and(Option::is_some))
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The versions of `key`: (version time, row or `None` for deleted), oldest first.
    pub fn versions(&self, key: &Key) -> Vec<(i64, Option<TableRow>)> {
        self.keys
            .get(key)
            .map(|h| h.iter().map(|(t, r)| (*t, r.clone())).collect())
            .unwrap_or_default()
    }

    /// The whole history as updates (to rebuild the collection after a restore).
    pub fn all_updates(&self) -> Vec<TableUpdate> {
        let mut out = Vec::new();
        for (k, h) in &self.keys {
            push_diffs(k, h, 1, &mut out);
        }
        out
    }

    /// Applies one read: new versions, deletions, bad rows; moves `known_until` when the read says the
    /// table is known up to its start, minus `max_out_of_orderness_ms`.
    pub fn apply(&mut self, read: TableRead, max_out_of_orderness_ms: i64) -> Applied {
        let floor = self.known_until;
        let first = self.reads == 0;
        let mut applied = Applied::default();
        let mut seen: BTreeSet<Key> = BTreeSet::new();
        let mut changed: BTreeMap<Key, BTreeMap<i64, Option<TableRow>>> = BTreeMap::new();
        let conflicts = self.conflicting_versions(&read.found);
        applied.rows = read
            .found
            .iter()
            .filter(|(_, f)| !matches!(f, Found::Delete { .. }))
            .count();
        applied.complete = read.complete;
        for (origin, found) in read.found {
            let (key, at, row) = match found {
                Found::Bad(reason) => {
                    self.report(origin, reason, &mut applied);
                    continue;
                }
                Found::Delete { key, at } => (key, at, None),
                Found::Row { values, version } => {
                    let Some(key) = self.key_of(&values) else {
                        self.report(
                            origin,
                            "the row has no key (a key field is missing or null)".into(),
                            &mut applied,
                        );
                        continue;
                    };
                    let at = match self.version {
                        Some(v) => match &values[v] {
                            Value::Int(t) => Some(*t),
                            _ => {
                                self.report(
                                    origin,
                                    "the row has no version (its version field is null)".into(),
                                    &mut applied,
                                );
                                continue;
                            }
                        },
                        None => version,
                    };
                    (key, at, Some(Key::from(values)))
                }
            };
            if let (Some(v), Some(_)) = (at, &row) {
                if conflicts.contains(&(key.clone(), v)) {
                    // The key is in the table all the same (a complete read does not delete it).
                    seen.insert(key.clone());
                    let reason = format!(
                        "rows with key {} and version {v} differ: neither is used (a versioned key has one row per \
                         version)",
                        key.display()
                    );
                    self.report(origin, reason, &mut applied);
                    continue;
                }
                let earlier = self.version.and_then(|_| self.keys.get(&key)?.get(&v));
                if earlier.is_some_and(|e| e != &row) {
                    seen.insert(key.clone());
                    let reason = format!(
                        "key {} already has another row at version {v} (read earlier): a version is never rewritten",
                        key.display()
                    );
                    self.report(origin, reason, &mut applied);
                    continue;
                }
            }
            if row.is_some() && read.complete && self.version.is_none() && seen.contains(&key) {
                self.report(
                    origin,
                    "a second row with the same key in one read".into(),
                    &mut applied,
                );
                continue;
            }
            seen.insert(key.clone());
            let history = self.keys.entry(key.clone()).or_default();
            let known = match (&row, at) {
                // A versioned row already read (a complete read finds it again).
                (Some(r), Some(_)) => history.values().any(|x| x.as_ref() == Some(r)),
                // An unversioned row or a deletion: no change if it is the key's newest state already.
                _ => history.values().next_back() == Some(&row) || (row.is_none() && history.is_empty()),
            };
            if known {
                continue;
            }
            let at = match at {
                Some(t) if t < floor && !first => {
                    applied.late += 1;
                    floor
                }
                Some(t) => t.max(0),
                None if first => 0,
                None => floor,
            };
            changed.entry(key.clone()).or_insert_with(|| history.clone());
            history.insert(at, row);
        }
        if read.complete {
            for (key, history) in self.keys.iter_mut() {
                let live = history.values().next_back().is_some_and(Option::is_some);
                if live && !seen.contains(key) {
                    changed.entry(key.clone()).or_insert_with(|| history.clone());
                    history.insert(floor.max(0), None);
                }
            }
        }
        for (key, before) in changed {
            let mut diffs = Vec::new();
            push_diffs(&key, &self.keys[&key], 1, &mut diffs);
            push_diffs(&key, &before, -1, &mut diffs);
            applied.updates.extend(consolidate(diffs));
        }
        self.reads += 1;
        if read.caught_up {
            self.known_until = self
                .known_until
                .max(read.read_at.saturating_sub(max_out_of_orderness_ms));
        }
        applied.known_until = self.known_until;
        applied
    }

    /// In a versioned table, the (key, version time) pairs not read before that one read gives differing rows
    /// for: whichever row came first in the read (a PostgreSQL table's heap order) would win, so none does
    /// (review B19). A version read before stays as it was; rows differing from it are refused one by one.
    fn conflicting_versions(&self, found: &[(Origin, Found)]) -> BTreeSet<(Key, i64)> {
        let Some(v) = self.version else {
            return BTreeSet::new();
        };
        let mut rows: BTreeMap<(Key, i64), &Vec<Value>> = BTreeMap::new();
        let mut conflicts = BTreeSet::new();
        for (_, f) in found {
            let Found::Row { values, .. } = f else { continue };
            let (Some(key), Value::Int(at)) = (self.key_of(values), &values[v]) else {
                continue;
            };
            let slot = (key, *at);
            if self.keys.get(&slot.0).is_some_and(|h| h.contains_key(at)) {
                continue;
            }
            match rows.get(&slot) {
                Some(first) if *first != values => {
                    conflicts.insert(slot);
                }
                Some(_) => {}
                None => {
                    rows.insert(slot, values);
                }
            }
        }
        conflicts
    }

    fn report(&mut self, origin: Origin, reason: String, applied: &mut Applied) {
        applied.refused += 1;
        applied.refusal.get_or_insert_with(|| reason.clone());
        let entry = (origin, reason);
        if self.reported.insert(entry.clone()) {
            applied.dead.push(entry);
        }
    }
}

/// The updates of one key's history, times `sign`: each row at its version time, its predecessor retracted
/// there.
fn push_diffs(key: &Key, history: &BTreeMap<i64, Option<TableRow>>, sign: isize, out: &mut Vec<TableUpdate>) {
    let mut previous: Option<&TableRow> = None;
    for (t, row) in history {
        let t = (*t).max(0) as u64;
        if let Some(p) = previous {
            out.push(((key.clone(), p.clone()), t, -sign));
        }
        if let Some(r) = row {
            out.push(((key.clone(), r.clone()), t, sign));
        }
        previous = row.as_ref();
    }
}

/// Sums the diffs of equal (data, time) and drops the zeros.
fn consolidate(diffs: Vec<TableUpdate>) -> Vec<TableUpdate> {
    let mut sums: BTreeMap<((Key, TableRow), u64), isize> = BTreeMap::new();
    for (d, t, r) in diffs {
        *sums.entry((d, t)).or_default() += r;
    }
    sums.into_iter()
        .filter(|(_, r)| *r != 0)
        .map(|((d, t), r)| (d, t, r))
        .collect()
}

/// Why a table cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("cannot read `{path}`: {cause}")]
    File {
        path: std::path::PathBuf,
        cause: std::io::Error,
    },
    #[error("{0}")]
    Kafka(String),
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error("{0}")]
    Http(String),
}

#[cfg(test)]
mod tests;
