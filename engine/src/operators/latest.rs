//! The `latest` operator: a live view of the newest record per key ([`LatestValues`]) published to the shared
//! [`ViewStore`] and as a changelog (`upsert` on every change, `delete` when a key expires).
//!
//! Expiries are timers: a key expiring at `T` is removed before the first record of the key with logical time
//! `≥ T`, and once the frontier passes `T` (a record of another key does not expire it: whether this worker
//! sees one depends on the routing). The end of a bounded input is not treated as +∞ (the final view is what
//! readers query afterwards): keys expire up to the job watermark just before the end, which the sources
//! report — the same in every run, however the frontier happened to advance. While partitions end one by one
//! the frontier runs ahead of that watermark (an ended partition stops holding it back, at a time that
//! depends on the run), so until the end keys expire no further than the least final watermark of the
//! partitions already ended ([`RunContext::ended_watermark`]).

use crate::component::registry::OperatorInputs;
use crate::config::Section;
use crate::config::fields_of;
use std::sync::Arc;
use crate::component::{BuildContext, OperatorComponent, Outputs};
use crate::dataflow::keyed_op::KeyedRecord;
use crate::dataflow::ordered::{ordered, OrderedLogic};
use crate::dataflow::partition_ends::{ends_barrier, EndsStream};
use crate::dataflow::{due_before, per_record, RunContext, Time};
use crate::record::{Record, RecordStream, Row};
use crate::schema::{Field, FieldType, Schema};
use crate::views::{View, ViewStore};
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::Concat;
use weir_operators::{Key, LatestValues, Position, Value};

/// A live view of the newest record per key, served over HTTP under the operator's name.
#[derive(Clone, Debug)]
pub struct LatestPlan {
    pub key: usize,
    /// The key field (how a key written as text in a lookup reads).
    pub key_field: crate::schema::Field,
    /// The field and values that make a record terminal (for `expiry.ttl_ms`).
    pub terminal: Option<(usize, Vec<String>)>,
    pub expiry: weir_operators::Expiry,
    /// The input's field names (the view's record shape).
    pub fields: Vec<String>,
}

/// One record's candidate value.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Candidate {
    pub ts: i64,
    pub terminal: bool,
    pub values: Vec<Value>,
}

/// The changelog's schema: `view`, `key`, `op` (`upsert` or `delete`), then the input's fields (NULL in a
/// delete).
pub fn changelog_schema(input: &Schema) -> Schema {
    let mut fields = vec![
        Field::new("view", FieldType::String),
        Field::new("key", FieldType::String),
        Field::new("op", FieldType::Enum(vec!["upsert".into(), "delete".into()])),
    ];
    fields.extend(input.fields.iter().map(|f| Field {
        nullable: true,
        ..f.clone()
    }));
    Schema {
        fields,
        event_time: input.event_time + 3,
    }
}

fn upsert(view: &str, key: &str, values: &[Value], pos: Position, ts: i64) -> Record {
    let mut row: Row = [
        Value::Str(view.into()),
        Value::Str(key.into()),
        Value::Str("upsert".into()),
    ]
    .into_iter()
    .collect();
    row.extend(values.iter().cloned());
    Record::derived(pos, 0, ts, row)
}

fn delete(view: &str, key: &str, at: i64, fields: usize) -> Record {
    let mut row: Row = [
        Value::Str(view.into()),
        Value::Str(key.into()),
        Value::Str("delete".into()),
    ]
    .into_iter()
    .collect();
    row.extend((0..fields).map(|_| Value::Null));
    let pos = Position {
        lt: at.max(0) as Time,
        source: 0,
        partition: 0,
        offset: 0,
    };
    Record::derived(pos, 0, at, row)
}

/// Where a `latest` operator instance publishes: the job's view store, this instance's number in it (for
/// the store's progress tracking), and how many sources the job has (whose ends bound expiry).
pub struct ViewTarget {
    pub store: Arc<ViewStore>,
    pub instance: usize,
    pub sources: usize,
}

pub fn latest<'s>(
    input: RecordStream<'s>,
    name: String,
    plan: LatestPlan,
    target: ViewTarget,
    ends: &EndsStream<'s>,
    ctx: RunContext,
) -> RecordStream<'s> {
    let ViewTarget {
        store,
        instance,
        sources,
    } = target;
    let feed = plan.clone();
    let records = per_record(input, "LatestFeed", move |_, r| {
        let key = Key::from(vec![r.values[feed.key].clone()]);
        let terminal = feed.terminal.as_ref().is_some_and(|(f, values)| match &r.values[*f] {
            Value::Str(s) => values.iter().any(|v| v == s.as_str()),
            other => values.iter().any(|v| *v == other.to_string()),
        });
        Some(KeyedRecord {
            pos: r.pos,
            seq: r.seq,
            route: key.route_hash(),
            key,
            record: Candidate {
                ts: r.ts,
                terminal,
                values: r.values.to_vec(),
            },
        })
    });
    // The ends of partitions expiry depends on are recorded before the frontier passes them.
    let records = records.concat(ends_barrier(ends));
    let logic = LatestLogic {
        view: store.views[&name].clone(),
        name: name.clone(),
        plan,
        store,
        instance,
        sources,
        ctx: ctx.clone(),
    };
    ordered(records, &format!("Latest({name})"), name, logic, ctx)
}

/// The newest value per key as an ordered operator, published to the view store as it changes.
struct LatestLogic {
    name: String,
    plan: LatestPlan,
    view: Arc<View>,
    store: Arc<ViewStore>,
    instance: usize,
    sources: usize,
    ctx: RunContext,
}

impl OrderedLogic for LatestLogic {
    type Item = KeyedRecord<Candidate>;
    type State = LatestValues<Arc<Vec<Value>>>;

    fn route(r: &KeyedRecord<Candidate>) -> u64 {
        r.route
    }

    fn fresh(&self) -> Self::State {
        LatestValues::new(self.plan.expiry.clone())
    }

    fn started(&mut self, state: &Self::State) {
        for (k, v) in state.iter() {
            self.view.upsert(&k.display(), v.clone());
        }
    }

    fn step(
        &mut self,
        state: &mut Self::State,
        items: &mut dyn Iterator<Item = (Position, KeyedRecord<Candidate>)>,
        f: Option<Time>,
        out: &mut [Vec<Record>],
    ) {
        out[0] = apply(&self.name, &self.view, state, items, f, self.sources, &self.ctx);
    }

    fn acted(&mut self, f: Option<Time>) {
        if f.is_none() {
            self.store.set_final_watermark(self.ctx.progress.final_watermark(self.sources));
        }
        self.store.progress(self.instance, f);
    }

    /// The expiries deferred past the ended partitions' watermark are still to come: hold there.
    fn hold(&self, f: Option<Time>) -> Option<Time> {
        match (f, self.ctx.progress.ended_watermark()) {
            (Some(t), Some(Some(w))) => Some(t.min(w.saturating_add(1).max(0) as Time)),
            (Some(_), Some(None)) => Some(0),
            (f, _) => f,
        }
    }
}

/// Applies the records below `f` and expires the keys due before it; returns the changelog records.
fn apply(
    name: &str,
    view: &View,
    state: &mut LatestValues<Arc<Vec<Value>>>,
    items: &mut dyn Iterator<Item = (Position, KeyedRecord<Candidate>)>,
    f: Option<Time>,
    sources: usize,
    ctx: &RunContext,
) -> Vec<Record> {
    let mut lines = Vec::new();
    let nfields = view.fields.len();
    let expire = |state: &mut LatestValues<Arc<Vec<Value>>>, upto: i64, lines: &mut Vec<Record>| {
        for (at, key) in state.expire(upto) {
            let k = key.display();
            view.remove(&k);
            lines.push(delete(name, &k, at, nfields));
        }
    };
    for (pos, r) in items {
        // The record's own key first, if it expired before the record's logical time. Other keys wait for the
        // frontier: whether this worker sees a record at or after their expiry depends on the routing.
        if let Some(at) = state.expire_key(&r.key, pos.lt as i64) {
            let k = r.key.display();
            view.remove(&k);
            lines.push(delete(name, &k, at, nfields));
        }
        let values = Arc::new(r.record.values);
        if state.apply(&r.key, r.record.ts, values.clone(), r.record.terminal) {
            let k = r.key.display();
            lines.push(upsert(name, &k, &values, pos, r.record.ts));
            view.upsert(&k, values);
        }
    }
    match due_before(f) {
        Some(t) => match ctx.progress.ended_watermark() {
            None => expire(state, t, &mut lines),
            Some(Some(w)) => expire(state, t.min(w), &mut lines),
            Some(None) => {}
        },
        None => {
            if let Some(w) = ctx.progress.final_watermark(sources) {
                expire(state, w, &mut lines);
            }
        }
    }
    lines
}

impl OperatorComponent for LatestPlan {
    fn kind(&self) -> &'static str {
        "latest"
    }
    fn is_stateful(&self) -> bool {
        true
    }
    fn view_fields(&self) -> Option<&[String]> {
        Some(&self.fields)
    }
    fn view_key(&self) -> Option<&Field> {
        Some(&self.key_field)
    }
    fn describe(&self, input: &Schema) -> String {
        let ms = |v: Option<i64>| v.map_or("-".to_string(), crate::words::humanize_ms);
        format!(
            "latest value by {} (greatest ts){}, ttl {}, idle_ttl {}, served at /v1/views/NAME",
            input.fields[self.key].name,
            self.terminal.as_ref().map_or(String::new(), |(f, v)| format!(
                ", terminal {} in [{}]",
                input.fields[*f].name,
                v.join(", ")
            )),
            ms(self.expiry.ttl_ms),
            ms(self.expiry.idle_ttl_ms)
        )
    }
    fn build<'s>(&self, cx: BuildContext<'s, '_>) -> Outputs<'s> {
        let input = cx.inputs.into_iter().next().expect("one input");
        Outputs::main(latest(
            input,
            cx.name.to_string(),
            self.clone(),
            ViewTarget {
                store: cx.views.clone(),
                instance: cx.view_instance,
                sources: cx.sources.len(),
            },
            cx.partition_ends,
            cx.ctx.clone(),
        ))
    }
}

/// `kind = "latest"`: the newest record per key, served over HTTP and published as a changelog.
/// `kind = "latest"`.
pub fn parse(s: &Section, inputs: &OperatorInputs) -> Option<(Arc<dyn OperatorComponent>, Schema)> {
    let schema = &inputs[0];
    let key = s.req_str("key");
    let ttl_ms = s.duration_ms("ttl");
    let idle_ttl_ms = s.duration_ms("idle_ttl");
    let terminal = s.table("terminal").map(|t| {
        let field = t.req_str("field");
        let values = t.str_list("values");
        if !t.has("values") {
            t.problem(
                "values",
                "is required: the values of the field that end a key's life, e.g. [\"delivered\"]",
            );
        }
        t.finish("");
        (field, values)
    });
    if ttl_ms.is_some() && terminal.is_none() {
        s.problem(
            "ttl",
            "applies to keys in a terminal state: add terminal = { field = \"state\", values = [\"delivered\"] }",
        );
    }
    let key = fields_of(s, "key", &[key?], schema)?[0];
    let terminal = match terminal {
        Some((Some(f), Some(values))) => Some((
            fields_of(s, "terminal", &[f], schema)?[0],
            values.iter().map(|v| v.to_string()).collect(),
        )),
        Some(_) => return None,
        None => None,
    };
    Some((
        Arc::new(LatestPlan {
            key,
            key_field: schema.fields[key].clone(),
            terminal,
            expiry: weir_operators::Expiry { ttl_ms, idle_ttl_ms },
            fields: schema.fields.iter().map(|f| f.name.clone()).collect(),
        }),
        changelog_schema(schema),
    ))
}
