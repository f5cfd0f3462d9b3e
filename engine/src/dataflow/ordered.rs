//! The one driver of every stateful operator: gather the items that arrive, apply those below the frontier
//! in the deterministic order, fire what is due, hand in a checkpoint of the state when one is due, and hold
//! the output capability at the frontier acted on.
//!
//! An operator is an [`OrderedLogic`]: its keyed state and a `step` that applies a run of items and fires
//! what is due before a frontier. The driver owns everything else — exchange by route, the event-order
//! buffer, restoring this worker's share of a checkpoint, the checkpoint cut, stops — so each operator is
//! only its semantics.

use crate::dataflow::{
    drain_ordered, frontier_time, gather, hold_at_frontier, ordered_frontier, participant, restore_state, snapshot,
    Positioned, RunContext, Time,
};
use crate::record::{Batch, Record, RecordStream};
use std::sync::Arc;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
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

    /// Applies `items` (the items below `f`, in order) and fires what is due before `f` (`None`: everything,
    /// the input has ended), returning the records it outputs. Every output record's logical time must be at
    /// least the previous frontier acted on.
    fn step(
        &mut self,
        state: &mut Self::State,
        items: &mut dyn Iterator<Item = (Position, Self::Item)>,
        f: Option<Time>,
    ) -> Vec<Record>;

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
    mut logic: L,
    ctx: RunContext,
) -> RecordStream<'s> {
    let scope = items.scope();
    items.unary_frontier(Exchange::new(L::route), name, move |initial, info| {
        let mut cap = Some(initial);
        let mut buffer = weir_operators::EventOrderBuffer::<L::Item>::default();
        let mut part = participant(scope, &info, &state_name, &ctx);
        let mut state = restore_state(&part, scope.peers(), &ctx).unwrap_or_else(|| logic.fresh());
        logic.started(&state);
        move |(input, frontier), output| {
            gather(input, &mut buffer);
            let mut run = |state: &mut L::State, f: Option<Time>, logic: &mut L| -> Vec<Record> {
                let mut drained = drain_ordered(&mut buffer, f);
                logic.step(state, &mut drained, f)
            };
            if let Some((epoch, at)) = part.due(frontier_time(frontier)) {
                if let Some(c) = cap.as_ref() {
                    let out = run(&mut state, Some(at), &mut logic);
                    if !out.is_empty() {
                        output.session(c).give(Arc::new(Batch::new(out, None)));
                    }
                }
                part.submit(epoch, snapshot(&state));
            }
            let f = ordered_frontier(frontier, &ctx);
            let Some(c) = cap.as_ref() else { return };
            let out = run(&mut state, f, &mut logic);
            if !out.is_empty() {
                debug_assert!(out.iter().all(|r| r.lt() >= *c.time()));
                output.session(c).give(Arc::new(Batch::new(out, None)));
            }
            logic.acted(f);
            hold_at_frontier(&mut cap, frontier, logic.hold(f));
        }
    })
}
