//! The one driver of every stateful operator: gather the items that arrive, apply those below the frontier
//! in the deterministic order, fire what is due, hand in a checkpoint of the state when one is due, and hold
//! the output capability at the frontier acted on.
//!
//! An operator is an [`OrderedLogic`]: its keyed state and a `step` that applies a run of items and fires
//! what is due before a frontier. The driver owns everything else — exchange by route, the event-order
//! buffer, restoring this worker's share of a checkpoint, the checkpoint cut, stops — so each operator is
//! only its semantics. A logic may have several output streams ([`OrderedLogic::ports`]): rules that share
//! one exchange write each rule's alerts to its own.

use crate::dataflow::{
    drain_ordered, frontier_time, gather, ordered_frontier, participant, restore_state, snapshot, Positioned,
    RunContext, Time,
};
use crate::record::{Batch, Record, RecordStream, SharedBatch};
use std::sync::Arc;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::Stream;
use timely::ExchangeData;
use weir_operators::{KeyedState, Position};

/// What a stateful operator does with its items, in order.
pub trait OrderedLogic: 'static {
    /// What travels to the key's worker.
    type Item: ExchangeData + Positioned;
    /// The operator's state (checkpointed, split and merged by key on restore).
    type State: KeyedState + serde::Serialize + serde::de::DeserializeOwned + Clone + Send + 'static;

    /// The key route of an item (which worker applies it).
    fn route(item: &Self::Item) -> u64;

    /// A fresh state (no checkpoint to restore).
    fn fresh(&self) -> Self::State;

    /// Called once with the state the operator starts from (fresh or restored).
    fn started(&mut self, _state: &Self::State) {}

    /// How many output streams it has (`out` in [`step`](Self::step) has one `Vec` per port).
    fn ports(&self) -> usize {
        1
    }

    /// Applies `items` (the items below `f`, in order) and fires what is due before `f` (`None`: everything,
    /// the input has ended), pushing the records it outputs to `out[port]`. Every output record's logical
    /// time must be at least the previous frontier acted on.
    fn step(
        &mut self,
        state: &mut Self::State,
        items: &mut dyn Iterator<Item = (Position, Self::Item)>,
        f: Option<Time>,
        out: &mut [Vec<Record>],
    );

    /// Called after each step at the frontier acted on (the view progress of `latest`).
    fn acted(&mut self, _f: Option<Time>) {}

    /// The time to hold the output capability at after acting at `f` (`None`: let it go): `f`, unless the
    /// operator deferred outputs below it.
    fn hold(&self, f: Option<Time>) -> Option<Time> {
        f
    }
}

/// Runs `logic` over `items`; `state_name` names its state in checkpoints.
pub fn ordered<'s, L: OrderedLogic>(
    items: Stream<'s, Time, Vec<L::Item>>,
    name: &str,
    state_name: String,
    logic: L,
    ctx: RunContext,
) -> RecordStream<'s> {
    assert_eq!(logic.ports(), 1, "a logic with several ports runs with `ordered_ports`");
    ordered_ports(items, name, vec![state_name], logic, ctx).remove(0)
}

/// [`ordered`] for a logic with several output streams (one per port, in port order) that may run for
/// several operators of the job: its state is checkpointed under `state_names[0]`, and every other name hands
/// in an empty part at each checkpoint (so each operator still has its part).
pub fn ordered_ports<'s, L: OrderedLogic>(
    items: Stream<'s, Time, Vec<L::Item>>,
    name: &str,
    state_names: Vec<String>,
    mut logic: L,
    ctx: RunContext,
) -> Vec<RecordStream<'s>> {
    let scope = items.scope();
    let ports = logic.ports();
    let mut builder = OperatorBuilder::new(name.to_string(), scope);
    let info = builder.operator_info();
    let mut input = builder.new_input(items, Exchange::new(L::route));
    let (mut outputs, streams): (Vec<_>, Vec<_>) = (0..ports)
        .map(|_| {
            let (output, stream) = builder.new_output::<Vec<SharedBatch>>();
            (OutputBuilder::from(output), stream)
        })
        .unzip();
    builder.build(move |caps| {
        let mut caps = Some(caps);
        let mut buffer = weir_operators::EventOrderBuffer::<L::Item>::default();
        let mut part = participant(scope, &info, &state_names[0], &ctx.checkpoints);
        let mut others: Vec<_> = state_names[1..]
            .iter()
            .map(|n| participant(scope, &info, n, &ctx.checkpoints))
            .collect();
        let mut state = restore_state(&part, scope.peers(), &ctx.stop).unwrap_or_else(|| logic.fresh());
        logic.started(&state);
        let mut out: Vec<Vec<Record>> = vec![Vec::new(); ports];
        move |frontiers| {
            gather(&mut input, &mut buffer);
            let frontier = &frontiers[0];
            let mut run = |state: &mut L::State, f: Option<Time>, logic: &mut L, out: &mut [Vec<Record>]| {
                let mut drained = drain_ordered(&mut buffer, f);
                logic.step(state, &mut drained, f, out);
            };
            let mut send = |caps: &[timely::dataflow::operators::Capability<Time>], out: &mut [Vec<Record>]| {
                for ((o, records), cap) in outputs.iter_mut().zip(out.iter_mut()).zip(caps) {
                    if !records.is_empty() {
                        debug_assert!(records.iter().all(|r| r.lt() >= *cap.time()));
                        let batch = Arc::new(Batch::new(std::mem::take(records), None));
                        o.activate().session(cap).give(batch);
                    }
                }
            };
            if let Some((epoch, at)) = part.due(frontier_time(frontier)) {
                if let Some(c) = caps.as_ref() {
                    run(&mut state, Some(at), &mut logic, &mut out);
                    send(c, &mut out);
                }
                part.submit(epoch, snapshot(&state));
                for other in &mut others {
                    other.submit(epoch, crate::checkpoint::Contribution::empty());
                }
            }
            let f = ordered_frontier(frontier, &ctx.stop);
            let Some(c) = caps.as_mut() else { return };
            run(&mut state, f, &mut logic, &mut out);
            send(c, &mut out);
            logic.acted(f);
            hold_at_frontier(&mut caps, frontier, logic.hold(f));
        }
    });
    streams
}

/// Keeps the capabilities at the frontier acted on — the operator emits nothing earlier from now on — and
/// drops them once the input has ended.
fn hold_at_frontier(
    caps: &mut Option<Vec<timely::dataflow::operators::Capability<Time>>>,
    frontier: &timely::progress::frontier::MutableAntichain<Time>,
    acted: Option<Time>,
) {
    let Some(c) = caps.as_mut() else { return };
    match (frontier_time(frontier), acted) {
        (None, _) | (_, None) => *caps = None,
        (Some(_), Some(t)) => {
            for cap in c.iter_mut() {
                let to = t.max(*cap.time());
                cap.downgrade(&to);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The driver in logical time: items reach it out of order, at any timely time up to their own, on one or
    //! several workers; a logic must still see each key's items in position order.

    use super::*;
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;
    use timely::dataflow::operators::{Input, Inspect, Probe};
    use weir_operators::{Key, Value};

    /// One item: a key and a value, at a position.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    struct Item {
        pos: Position,
        key: u64,
        value: i64,
    }

    impl Positioned for Item {
        fn position(&self) -> Position {
            self.pos
        }
    }

    /// Per key, the values so far joined in the order applied (order-sensitive on purpose).
    #[derive(Clone, Default, Serialize, Deserialize)]
    struct Trail(BTreeMap<u64, String>);

    impl KeyedState for Trail {
        fn retain_keys(&mut self, keep: &dyn Fn(&Key) -> bool) {
            self.0.retain(|k, _| keep(&Key::from(vec![Value::Int(*k as i64)])));
        }
        fn absorb(&mut self, other: Self) {
            self.0.extend(other.0);
        }
    }

    /// Outputs, for each item, its key's trail after it.
    struct Trails;

    impl OrderedLogic for Trails {
        type Item = Item;
        type State = Trail;
        fn route(item: &Item) -> u64 {
            item.key
        }
        fn fresh(&self) -> Trail {
            Trail::default()
        }
        fn step(
            &mut self,
            state: &mut Trail,
            items: &mut dyn Iterator<Item = (Position, Item)>,
            _f: Option<Time>,
            out: &mut [Vec<Record>],
        ) {
            for (pos, item) in items {
                let trail = state.0.entry(item.key).or_default();
                trail.push_str(&format!("{},", item.value));
                let values = [Value::Int(item.key as i64), Value::Str(trail.as_str().into())];
                out[0].push(Record::derived(pos, 0, item.value, values.into_iter().collect()));
            }
        }
    }

    /// Runs `Trails` on `workers` workers; worker 0 sends `arrivals` (timely time, item) in order. Returns
    /// every output as (logical time, key, trail), sorted.
    fn run(workers: usize, arrivals: Vec<(Time, Item)>) -> Vec<(Time, i64, String)> {
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let collected = seen.clone();
        timely::execute(timely::Config::process(workers), move |worker| {
            let seen = collected.clone();
            let (mut input, probe) = worker.dataflow::<Time, _, _>(|scope| {
                let (input, items) = scope.new_input::<Vec<Item>>();
                let out = ordered(items, "Trails", "trails".into(), Trails, RunContext::default());
                let (probe, _) = out
                    .inspect(move |batch: &SharedBatch| {
                        for r in &batch.records {
                            let (Value::Int(k), Value::Str(t)) = (&r.values[0], &r.values[1]) else {
                                panic!("{r:?}")
                            };
                            seen.lock().push((r.lt(), *k, t.to_string()));
                        }
                    })
                    .probe();
                (input, probe)
            });
            if worker.index() == 0 {
                for (t, item) in &arrivals {
                    input.advance_to(*t);
                    input.send(item.clone());
                }
            }
            input.close();
            worker.step_while(|| !probe.done());
        })
        .expect("timely runs");
        let mut out = std::mem::take(&mut *seen.lock());
        out.sort();
        out
    }

    /// What the driver must produce: each key's items applied in position order.
    fn expected(items: &[Item]) -> Vec<(Time, i64, String)> {
        let mut sorted: Vec<&Item> = items.iter().collect();
        sorted.sort_by_key(|i| i.pos);
        let mut trails: BTreeMap<u64, String> = BTreeMap::new();
        let mut out: Vec<(Time, i64, String)> = sorted
            .into_iter()
            .map(|i| {
                let trail = trails.entry(i.key).or_default();
                trail.push_str(&format!("{},", i.value));
                (i.pos.lt, i.key as i64, trail.clone())
            })
            .collect();
        out.sort();
        out
    }

    /// Items at logical times `lts` (offsets make positions unique), keys 0..4, each arriving at a timely
    /// time at or below its own: `delays[i]` before it, with arrivals in nondecreasing timely time.
    fn schedule(lts: &[u8], delays: &[u8]) -> (Vec<Item>, Vec<(Time, Item)>) {
        let items: Vec<Item> = lts
            .iter()
            .enumerate()
            .map(|(i, lt)| Item {
                pos: Position {
                    lt: *lt as Time,
                    source: 0,
                    partition: (i % 2) as u32,
                    offset: i as u64,
                },
                key: (i % 4) as u64,
                value: i as i64,
            })
            .collect();
        let mut arrivals: Vec<(Time, Item)> = items
            .iter()
            .zip(delays.iter().cycle())
            .map(|(item, d)| (item.pos.lt.saturating_sub(*d as Time), item.clone()))
            .collect();
        arrivals.sort_by_key(|(t, _)| *t);
        (items, arrivals)
    }

    #[test]
    fn items_arriving_in_reverse_are_applied_in_position_order() {
        let (items, mut arrivals) = schedule(&[5, 3, 9, 3, 1, 7, 2, 8], &[0]);
        // Everything at time 0, newest first.
        arrivals.iter_mut().for_each(|(t, _)| *t = 0);
        arrivals.reverse();
        assert_eq!(run(1, arrivals.clone()), expected(&items));
        assert_eq!(run(3, arrivals), expected(&items));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Any arrival schedule and 1 or 3 workers: the same outputs, those of position order.
        #[test]
        fn outputs_do_not_depend_on_arrival_or_workers(
            lts in proptest::collection::vec(0u8..40, 1..60),
            delays in proptest::collection::vec(0u8..40, 1..8),
        ) {
            let (items, arrivals) = schedule(&lts, &delays);
            let want = expected(&items);
            prop_assert_eq!(run(1, arrivals.clone()), want.clone());
            prop_assert_eq!(run(3, arrivals), want);
        }
    }
}
