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
        let mut part = participant(scope, &info, &state_names[0], &ctx);
        let mut others: Vec<_> = state_names[1..]
            .iter()
            .map(|n| participant(scope, &info, n, &ctx))
            .collect();
        let mut state = restore_state(&part, scope.peers(), &ctx).unwrap_or_else(|| logic.fresh());
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
            let f = ordered_frontier(frontier, &ctx);
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
