//! `kind = "join"`: each record of a stream with its key's row in a reference table *as of the record's
//! event time* — the shape of differential's half-join: records are looked up in the table's arrangement,
//! nothing about them is remembered. Every worker holds the whole table, so records are looked up where they
//! are (in their batches, which keep their source chunk for dead letters' raw lines).
//!
//! A record with event time `t` is looked up at `τ = max(t, logical time − history)` once the table's
//! frontier has passed `τ` (every version at or before `τ` has been read), in the versions at or before
//! `τ`; so the result does not depend on when the table was read. Versions older than every future `τ`
//! are compacted away. Until the table is known at `τ` the record waits (its output capability is held),
//! which is how a live record waits for the table's next read and a historical one does not wait at all.
//!
//! A left join gives a record without a row nulls for the table's fields; an inner join sends it to the
//! operator's dead letters with reason `no match in table NAME`. When the stream ends the join tells the
//! table (which then lets go: its last read is final); after a stop it first joins every record below
//! the stop's watermark, so the final checkpoint covers them.

mod config;

pub use config::parse;

use std::sync::Arc;
use crate::component::{BuildContext, OperatorComponent, Outputs};
use crate::dataflow::dead_letters::dead_letter;
use crate::dataflow::table_op::{BuiltTable, TableTrace};
use crate::dataflow::{RunContext, Stopping, Tallies, Time};
use crate::metrics::Metrics;
use timely::progress::frontier::MutableAntichain;
use crate::record::{Batch, Record, RecordStream, SharedBatch};
use crate::schema::Schema;
use crate::words::{field_names, humanize_ms};
use differential_dataflow::trace::cursor::{cursor_list, BatchCursor, Cursor, CursorList};
use differential_dataflow::trace::TraceReader;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::progress::Antichain;
use weir_operators::{Key, Value};

/// `kind = "join"`: each record of the stream with the table's row for its key, as of the record's event
/// time.
#[derive(Clone, Debug)]
pub struct JoinPlan {
    /// The table (index into [`crate::plan::Plan::tables`]).
    pub table: usize,
    pub table_name: String,
    /// The stream's fields looked up, in the order of the table's key fields (one or more).
    pub on: Vec<usize>,
    /// Table fields added: (output name, table schema index).
    pub fields: Vec<(String, usize)>,
    /// `inner`: records without a row are dead letters; otherwise (`left`) they get nulls.
    pub inner: bool,
    /// A record is looked up no earlier than this long of logical time before it (very late records see
    /// the table as it was then); older versions are compacted away.
    pub history_ms: i64,
    /// The table's `lookup = "latest"`: each record is looked up in the newest version read when it is
    /// processed, once the table's first read is in, and never waits (results depend on timing).
    pub latest: bool,
}

/// Default [`JoinPlan::history_ms`]: 7 days.
pub const DEFAULT_JOIN_HISTORY_MS: i64 = 7 * 86_400_000;

/// A cursor over the table's arranged batches, and what it reads.
type TableCursor = CursorList<BatchCursor<TableTrace>>;
type TableStorage = <TableCursor as Cursor>::Storage;

/// Records of one batch still waiting for the table (indices into the batch), at one timely time.
struct Waiting {
    caps: [Capability<Time>; 2],
    batches: Vec<(SharedBatch, Vec<u32>)>,
}

/// Every update of `key` in the arrangement: (row, version time, diff).
fn updates_of<'a>(cursor: &mut TableCursor, storage: &'a TableStorage, key: &Key) -> Vec<(&'a Key, Time, isize)> {
    let mut out = Vec::new();
    cursor.seek_key(storage, key);
    if cursor.get_key(storage) == Some(key) {
        while let Some(val) = cursor.get_val(storage) {
            cursor.map_times(storage, |t, d| out.push((val, *t, *d)));
            cursor.step_val(storage);
        }
    }
    cursor.rewind_keys(storage);
    out
}

/// The row at `tau` among a key's updates: the value whose updates at or before `tau` sum to one (if
/// several do, which a keyed table never has, the greatest).
fn row_at<'a>(updates: &[(&'a Key, Time, isize)], tau: Time) -> Option<&'a Key> {
    let mut sums: smallvec::SmallVec<[(&Key, isize); 4]> = smallvec::SmallVec::new();
    for (val, t, d) in updates {
        if *t <= tau {
            match sums.iter_mut().find(|(v, _)| v == val) {
                Some(s) => s.1 += d,
                None => sums.push((val, *d)),
            }
        }
    }
    sums.into_iter().filter(|(_, s)| *s > 0).map(|(v, _)| v).max()
}

/// The join: returns the joined records and the dead letters of an inner join's unmatched ones.
pub fn join<'s>(
    input: RecordStream<'s>,
    table: &BuiltTable<'s>,
    name: String,
    plan: JoinPlan,
    schema: Schema,
    ctx: RunContext,
) -> (RecordStream<'s>, RecordStream<'s>) {
    let scope = input.scope();
    let mut builder = OperatorBuilder::new(format!("Join({name})"), scope);
    let mut records = builder.new_input(input, Pipeline);
    let mut table_in = builder.new_input(table.arranged.stream.clone(), Pipeline);
    let (joined_out, joined) = builder.new_output::<Vec<SharedBatch>>();
    let (dead_out, dead) = builder.new_output::<Vec<SharedBatch>>();
    let mut joined_out = OutputBuilder::from(joined_out);
    let mut dead_out = OutputBuilder::from(dead_out);
    let trace = table.arranged.trace.clone();
    builder.build(move |_| {
        let mut join = TableJoin::new(name, plan, schema, trace, &ctx);
        move |frontiers| {
            records.for_each_stamp(|cap, data| {
                // Record-less batches (a partition's end) wait for nothing.
                let mut batches = data
                    .flat_map(|d| d.drain(..))
                    .filter(|b| !b.records.is_empty())
                    .peekable();
                if batches.peek().is_some() {
                    let caps = [0, 1].map(|port| cap.retain_least(port).expect("a message has a time"));
                    join.admit(caps, batches);
                }
            });
            table_in.for_each_stamp(|_, _| {});
            let made = join.look_up(&frontiers[1]);
            if !made.is_empty() {
                let (mut out, mut dl) = (joined_out.activate(), dead_out.activate());
                for (t, port, batch) in made {
                    let cap = &join.waiting[&t].caps[port];
                    match port {
                        JOINED => out.session(cap).give(batch),
                        _ => dl.session(cap).give(batch),
                    }
                }
            }
            join.settle(&frontiers[0]);
        }
    });
    (joined, dead)
}

/// The time at which `r` is looked up: its event time, but no earlier than `history_ms` of logical time
/// before it arrived.
fn lookup_time(r: &Record, history_ms: i64) -> Time {
    r.ts.max(r.lt() as i64 - history_ms).max(0) as Time
}

/// When a `latest` lookup may happen: once the table's frontier is past its start (its first read is in).
const FIRST_READ: Time = 0;

/// The output port of joined records (the other, 1, is the dead letters').
const JOINED: usize = 0;

/// One join instance: records waiting for the table, looked up once it is known at their lookup time.
struct TableJoin {
    name: String,
    plan: JoinPlan,
    schema: Schema,
    /// The dead-letter reason of an inner join's unmatched record.
    reason: String,
    /// The table's arrangement (`None` once the stream has ended and nothing waits).
    trace: Option<TableTrace>,
    /// Records waiting for the table, by the timely time they came at.
    waiting: BTreeMap<Time, Waiting>,
    reported_end: bool,
    stop: Stopping,
    tallies: Tallies,
    metrics: Arc<Metrics>,
}

impl TableJoin {
    fn new(name: String, plan: JoinPlan, schema: Schema, mut trace: TableTrace, ctx: &RunContext) -> Self {
        // Cursors are taken over all of the trace's batches: let them merge freely.
        trace.set_physical_compaction(Antichain::new().borrow());
        Self {
            reason: format!("no match in table {}", plan.table_name),
            name,
            plan,
            schema,
            trace: Some(trace),
            waiting: BTreeMap::new(),
            reported_end: false,
            stop: ctx.stop.clone(),
            tallies: ctx.tallies.clone(),
            metrics: ctx.metrics.clone(),
        }
    }

    /// Takes in batches that came at the least time of `caps` (one per output port).
    fn admit(&mut self, caps: [Capability<Time>; 2], batches: impl Iterator<Item = SharedBatch>) {
        let w = self.waiting.entry(*caps[0].time()).or_insert_with(|| Waiting {
            caps,
            batches: Vec::new(),
        });
        for batch in batches {
            let all = (0..batch.records.len() as u32).collect();
            w.batches.push((batch, all));
        }
    }

    /// Looks up every waiting record whose lookup time the table's frontier has passed; returns what to
    /// emit, each at the capability of the time its records came at: (that time, port, batch).
    fn look_up(&mut self, table_frontier: &MutableAntichain<Time>) -> Vec<(Time, usize, SharedBatch)> {
        let known = |tau: Time| !table_frontier.less_equal(&tau);
        let mut emitted = Vec::new();
        let Some(tr) = self.trace.as_mut() else {
            return emitted;
        };
        let (history_ms, latest) = (self.plan.history_ms, self.plan.latest);
        // A `latest` lookup waits only for the first read, and reads every version arranged so far.
        let lookup_time = |r: &Record| if latest { FIRST_READ } else { lookup_time(r, history_ms) };
        let any_ready = self.waiting.values().any(|w| {
            w.batches
                .iter()
                .any(|(b, idx)| idx.iter().any(|i| known(lookup_time(&b.records[*i as usize]))))
        });
        if !any_ready {
            return emitted;
        }
        let spans = tr.batches_through(Antichain::new().borrow()).unwrap_or_default();
        let (mut cursor, storage) = cursor_list(spans);
        let (mut n, mut matched) = (0u64, 0u64);
        let (plan, name, schema, reason) = (&self.plan, &self.name, &self.schema, &self.reason);
        // Each key's updates, read from the arrangement once per activation.
        let mut by_key: HashMap<Key, Vec<(&Key, Time, isize)>> = HashMap::new();
        for (t, w) in self.waiting.iter_mut() {
            for (batch, pending) in w.batches.iter_mut() {
                let mut made = Vec::with_capacity(pending.len());
                let mut failed = Vec::new();
                pending.retain(|i| {
                    let r = &batch.records[*i as usize];
                    let tau = lookup_time(r);
                    if !known(tau) {
                        return true;
                    }
                    let key: Key = plan.on.iter().map(|i| r.values[*i].clone()).collect();
                    let updates = match by_key.entry(key) {
                        Entry::Occupied(e) => e.into_mut(),
                        Entry::Vacant(e) => {
                            let u = updates_of(&mut cursor, &storage, e.key());
                            e.insert(u)
                        }
                    };
                    n += 1;
                    match row_at(updates, if latest { Time::MAX } else { tau }) {
                        Some(row) => {
                            matched += 1;
                            let mut r = r.clone();
                            r.values.extend(plan.fields.iter().map(|(_, i)| row.0[*i].clone()));
                            made.push(r);
                        }
                        None if plan.inner => {
                            let raw = crate::dataflow::dead_letters::raw_of(batch, r, schema);
                            failed.push(dead_letter(name, r.pos, r.seq, reason, &raw));
                        }
                        None => {
                            let mut r = r.clone();
                            r.values.extend(plan.fields.iter().map(|_| Value::Null));
                            made.push(r);
                        }
                    }
                    false
                });
                if !made.is_empty() {
                    emitted.push((*t, JOINED, Arc::new(Batch::new(made, batch.origin.clone()))));
                }
                if !failed.is_empty() {
                    emitted.push((*t, 1 - JOINED, Arc::new(Batch::new(failed, None))));
                }
            }
        }
        self.metrics.join_lookups(name, n, matched);
        emitted
    }

    /// After the outputs are given: lets go of what no longer waits, compacts the table's history to what
    /// future lookups can still see, and tells the table once this instance is done with it.
    fn settle(&mut self, stream: &MutableAntichain<Time>) {
        for w in self.waiting.values_mut() {
            w.batches.retain(|(_, pending)| !pending.is_empty());
        }
        self.waiting.retain(|_, w| !w.batches.is_empty());
        let Some(tr) = self.trace.as_mut() else { return };
        // Every future lookup is at or after (least logical time to come) − history.
        let least = stream.frontier().iter().copied().chain(self.waiting.keys().copied()).min();
        if let Some(least) = least {
            let floor = (least as i64 - self.plan.history_ms).max(0) as Time;
            tr.set_logical_compaction(Antichain::from_elem(floor).borrow());
        }
        if stream.is_empty() && !self.reported_end {
            let pending_below_stop = match self.stop.stopped_at() {
                Some(stop) => self.waiting.values().any(|w| {
                    w.batches
                        .iter()
                        .any(|(b, idx)| idx.iter().any(|i| b.records[*i as usize].lt() < stop))
                }),
                None => false,
            };
            if !pending_below_stop {
                self.reported_end = true;
                self.tallies.add(crate::dataflow::table_op::uses_ended(self.plan.table));
            }
        }
        if stream.is_empty() && self.waiting.is_empty() {
            self.trace = None;
        }
    }
}

impl OperatorComponent for JoinPlan {
    fn kind(&self) -> &'static str {
        "join"
    }
    fn has_dead_letters(&self) -> bool {
        self.inner
    }
    fn is_stateful(&self) -> bool {
        false
    }
    fn describe(&self, input: &Schema) -> String {
        let when = if self.latest {
            "in the latest version read when each record is processed (results depend on timing)".to_string()
        } else {
            format!("as of each record's event time (history {})", humanize_ms(self.history_ms))
        };
        format!(
            "{} join with table `{}` on {} {when}, adds [{}]",
            if self.inner { "inner" } else { "left" },
            self.table_name,
            field_names(input, &self.on),
            self.fields
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
    fn table(&self) -> Option<usize> {
        Some(self.table)
    }
    fn build<'s>(&self, cx: BuildContext<'s, '_>) -> Outputs<'s> {
        let input = cx.inputs.into_iter().next().expect("one input");
        let table = &cx.tables[self.table];
        let (joined, dead) = join(
            input,
            table,
            cx.name.to_string(),
            self.clone(),
            cx.input_schema,
            cx.ctx.clone(),
        );
        if self.inner {
            Outputs::with_dead_letters(joined, dead)
        } else {
            Outputs::main(joined)
        }
    }
}
