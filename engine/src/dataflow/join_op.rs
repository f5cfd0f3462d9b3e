//! `kind = "join"`: each record of a stream with its key's row in a reference table *as of the record's
//! event time* — the shape of differential's half-join: records are looked up in the table's arrangement,
//! nothing about them is remembered.
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

use crate::component::{BuildContext, OperatorComponent, Outputs};
use crate::dataflow::dead_letters::dead_letter;
use crate::dataflow::table_op::{BuiltTable, TableTrace};
use crate::dataflow::{per_record, RunContext, Time};
use crate::plan::{field_names, humanize_ms, JoinPlan};
use crate::record::{Batch, Record, RecordStream, SharedBatch};
use crate::schema::Schema;
use differential_dataflow::trace::cursor::{cursor_list, Cursor};
use differential_dataflow::trace::TraceReader;
use differential_dataflow::Hashable;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::progress::Antichain;
use weir_operators::{Key, Value};

/// A record on its way to the worker that holds its key's rows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Lookup {
    pub key: Key,
    pub record: Record,
}

/// Records waiting at one timely time, with the capabilities of both outputs there.
struct Waiting {
    caps: [Capability<Time>; 2],
    lookups: Vec<Lookup>,
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
    let on = plan.on;
    let lookups = per_record(input, "JoinKey", move |_, r| {
        Some(Lookup {
            key: Key::from(vec![r.values[on].clone()]),
            record: r.clone(),
        })
    });
    let scope = lookups.scope();
    let mut builder = OperatorBuilder::new(format!("Join({name})"), scope);
    let mut records = builder.new_input(lookups, Exchange::new(|l: &Lookup| l.key.hashed()));
    let mut table_in = builder.new_input(table.arranged.stream.clone(), Pipeline);
    let (joined_out, joined) = builder.new_output::<Vec<SharedBatch>>();
    let (dead_out, dead) = builder.new_output::<Vec<SharedBatch>>();
    let mut joined_out = OutputBuilder::from(joined_out);
    let mut dead_out = OutputBuilder::from(dead_out);
    let mut trace: Option<TableTrace> = Some(table.arranged.trace.clone());
    builder.build(move |_| {
        let mut waiting: BTreeMap<Time, Waiting> = BTreeMap::new();
        let mut reported_end = false;
        if let Some(t) = trace.as_mut() {
            // Cursors are taken over all of the trace's batches: let them merge freely.
            t.set_physical_compaction(Antichain::new().borrow());
        }
        move |frontiers| {
            records.for_each_stamp(|cap, data| {
                let t = *cap.least().expect("a message has a time");
                let w = waiting.entry(t).or_insert_with(|| Waiting {
                    caps: [
                        cap.retain_least(0).expect("a message has a time"),
                        cap.retain_least(1).expect("a message has a time"),
                    ],
                    lookups: Vec::new(),
                });
                for d in data {
                    w.lookups.append(d);
                }
            });
            table_in.for_each_stamp(|_, _| {});
            let table_frontier = &frontiers[1];
            let known = |tau: Time| !table_frontier.less_equal(&tau);
            let lookup_time = |r: &Record| r.ts.max(r.lt() as i64 - plan.history_ms).max(0) as Time;
            let Some(tr) = trace.as_mut() else { return };
            let any_ready = waiting
                .values()
                .any(|w| w.lookups.iter().any(|l| known(lookup_time(&l.record))));
            if any_ready {
                let spans = tr.batches_through(Antichain::new().borrow()).unwrap_or_default();
                let (mut cursor, storage) = cursor_list(spans);
                let mut out = joined_out.activate();
                let mut dl = dead_out.activate();
                let (mut n, mut matched) = (0u64, 0u64);
                for w in waiting.values_mut() {
                    let mut made = Vec::new();
                    let mut failed = Vec::new();
                    w.lookups.retain(|l| {
                        let tau = lookup_time(&l.record);
                        if !known(tau) {
                            return true;
                        }
                        // The key's row at τ: the value whose updates at or before τ sum to one.
                        let mut row: Option<Key> = None;
                        cursor.seek_key(&storage, &l.key);
                        if cursor.get_key(&storage) == Some(&l.key) {
                            while let Some(val) = cursor.get_val(&storage) {
                                let mut sum = 0isize;
                                cursor.map_times(&storage, |t, d| {
                                    if *t <= tau {
                                        sum += *d;
                                    }
                                });
                                if sum > 0 && row.as_ref().is_none_or(|r| val > r) {
                                    row = Some(val.clone());
                                }
                                cursor.step_val(&storage);
                            }
                        }
                        cursor.rewind_keys(&storage);
                        n += 1;
                        let mut r = l.record.clone();
                        match row {
                            Some(row) => {
                                matched += 1;
                                r.values.extend(plan.fields.iter().map(|(_, i)| row.0[*i].clone()));
                                made.push(r);
                            }
                            None if plan.inner => {
                                let reason = format!("no match in table {}", plan.table_name);
                                let raw = crate::sink::encode::json_object(&schema, &r.values);
                                ctx.metrics.dead_letter(&name, &reason);
                                failed.push(dead_letter(&name, r.pos, r.seq, &reason, raw.as_bytes()));
                            }
                            None => {
                                r.values.extend(plan.fields.iter().map(|_| Value::Null));
                                made.push(r);
                            }
                        }
                        false
                    });
                    if !made.is_empty() {
                        out.session(&w.caps[0]).give(Arc::new(Batch::new(made, None)));
                    }
                    if !failed.is_empty() {
                        dl.session(&w.caps[1]).give(Arc::new(Batch::new(failed, None)));
                    }
                }
                ctx.metrics.join_lookups(&name, n, matched);
            }
            waiting.retain(|_, w| !w.lookups.is_empty());
            // Every future lookup is at or after (least logical time to come) − history.
            let stream = &frontiers[0];
            let least = stream.frontier().iter().copied().chain(waiting.keys().copied()).min();
            if let Some(least) = least {
                let floor = (least as i64 - plan.history_ms).max(0) as Time;
                tr.set_logical_compaction(Antichain::from_elem(floor).borrow());
            }
            if stream.is_empty() && !reported_end {
                let pending_below_stop = match ctx.stopped_at() {
                    Some(stop) => waiting.values().any(|w| w.lookups.iter().any(|l| l.record.lt() < stop)),
                    None => false,
                };
                if !pending_below_stop {
                    reported_end = true;
                    ctx.end_table_use(plan.table);
                }
            }
            if stream.is_empty() && waiting.is_empty() {
                trace = None;
            }
        }
    });
    (joined, dead)
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
        format!(
            "{} join with table `{}` on {} as of each record's event time (history {}), adds [{}]",
            if self.inner { "inner" } else { "left" },
            self.table_name,
            field_names(input, &[self.on]),
            humanize_ms(self.history_ms),
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
