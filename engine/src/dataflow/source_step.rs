//! The timely shell every source operator shares: a [`SourceLogic`] says, a step per activation, what to
//! emit at which time, how low its capability must stay and when to run again; the shell gives the batches,
//! moves or drops the capability and schedules the next activation. The logic holds no timely handle, so it
//! is a plain struct that tests can step.

use std::time::Duration;

use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::Scope;
use timely::scheduling::SyncActivator;

use crate::record::{RecordStream, SharedBatch, Time};

/// One source operator instance's behaviour, a step at a time.
pub trait SourceLogic: 'static {
    /// One activation, with the operator's capability at `cap` (`None`: already let go).
    fn step(&mut self, cap: Option<Time>) -> Step;
}

/// What one step asks of the operator.
#[derive(Debug)]
pub enum Step {
    /// Nothing (the capability is already gone).
    Idle,
    /// Stopped or failed: drop the capability without emitting anything.
    Stopped,
    /// Give `batches` at their times (none below the capability), then `ends` (end-of-partition markers) at
    /// the capability; then drop the capability if `finished`, else move it up to `lower_bound` (when given
    /// and higher) and run again as `wake` says.
    Going {
        batches: Vec<(Time, SharedBatch)>,
        ends: Vec<SharedBatch>,
        finished: bool,
        lower_bound: Option<Time>,
        wake: Wake,
    },
}

/// When the operator should run again, besides when something else (a stop, a sequencer) wakes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wake {
    pub now: bool,
    pub after: Option<Duration>,
}

/// Builds a source operator named `name` around the logic `make` returns; `make` gets a factory of
/// activators for this operator (for whoever must wake it) and the worker's index.
pub fn source_operator<'s, L, M>(scope: Scope<'s, Time>, name: &str, make: M) -> RecordStream<'s>
where
    L: SourceLogic,
    M: FnOnce(&dyn Fn() -> SyncActivator, usize) -> L + 'static,
{
    source(scope, name, move |capability, info| {
        let activator = scope.activator_for(info.address.clone());
        let sync = || scope.worker().sync_activator_for(info.address.to_vec());
        let mut logic = make(&sync, scope.worker().index());
        let mut cap = Some(capability);
        move |output| match logic.step(cap.as_ref().map(|c| *c.time())) {
            Step::Idle => {}
            Step::Stopped => cap = None,
            Step::Going {
                batches,
                ends,
                finished,
                lower_bound,
                wake,
            } => {
                let Some(c) = cap.as_mut() else { return };
                for (t, batch) in batches {
                    output.session(&c.delayed(&t)).give(batch);
                }
                for end in ends {
                    output.session(&*c).give(end);
                }
                if finished {
                    cap = None;
                    return;
                }
                if let Some(t) = lower_bound.filter(|t| t > c.time()) {
                    c.downgrade(&t);
                }
                if let Some(d) = wake.after {
                    activator.activate_after(d);
                }
                if wake.now {
                    activator.activate();
                }
            }
        }
    })
}
