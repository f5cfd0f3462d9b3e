//! The webhook sink's operator: orders alerts on worker 0 and hands them to the delivery threads, never
//! waiting on the endpoint; its unanswered alerts are its checkpoint state.

use super::{WebhookConfig, WebhookDelivery};
use crate::dataflow::dead_letters::dead_letter;
use crate::dataflow::sink_op::take_ready;
use crate::dataflow::{acting_frontier, frontier_time, participant, snapshot, Line, RunContext, Time};
use crate::error::JobFailure;
use crate::record::{Batch, RecordStream, SharedBatch};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;
use weir_operators::Position;

/// POSTs lines to a webhook in deterministic order from delivery threads (the worker never waits on the
/// endpoint); returns the records that could not be delivered, as dead letters (source = the sink's name).
/// `config` is `Some` on worker 0 only.
///
/// **Checkpoints never wait on the endpoint** (review B2). The output capability follows the input frontier,
/// not the oldest unanswered alert, and a checkpoint at `T` holds the alerts below `T` not answered yet as
/// this sink's state: a restored run submits them again first (delivery stays at least once). So every alert
/// below `T` is exactly one of: answered before the cut, a dead letter below `T` in `NAME.failed`, or pending in
/// the checkpoint. A dead letter of an alert below the last cut is stamped at that cut's time (its partition
/// and offset still name the alert's), so it never lands below a cut that holds its alert as pending.
///
/// Alerts still unanswered `stop_grace` after a stop become dead letters.
pub fn webhook_sink<'s>(
    stream: Stream<'s, Time, Vec<Line>>,
    name: String,
    config: Option<WebhookConfig>,
    restored: Vec<Line>,
    ctx: RunContext,
) -> RecordStream<'s> {
    let scope = stream.scope();
    stream.unary_frontier(
        Exchange::new(|_: &Line| 0),
        &format!("Sink({name})"),
        move |initial, info| {
            let mut cap = Some(initial);
            let activator = scope.activator_for(info.address.clone());
            let mut part = participant(scope, &info, &crate::checkpoint::sink_state_name(&name), &ctx.checkpoints);
            let mut delivery = config.and_then(|c| {
                ctx.stop.wake_on_stop(scope.worker().sync_activator_for(info.address.to_vec()));
                let wake = scope.worker().sync_activator_for(info.address.to_vec());
                WebhookDelivery::start(c, wake)
                    .map_err(|e| {
                        ctx.stop.fail(JobFailure::SinkWrite {
                            sink: name.clone(),
                            cause: format!("starting the delivery threads: {e}"),
                        })
                    })
                    .ok()
            });
            let mut pending: Vec<Line> = Vec::new();
            // The alerts a checkpoint held as pending go first.
            let mut waiting: VecDeque<Line> = restored.into();
            let mut in_flight: BTreeMap<u64, Line> = BTreeMap::new();
            let mut next_id = 0u64;
            let mut stop_deadline: Option<Instant> = None;
            // The time of the last checkpoint cut: alerts below it that fail are dead letters at it.
            let mut last_cut: Time = 0;
            move |(input, frontier), output| {
                input.for_each_stamp(|_, data| {
                    for d in data {
                        pending.append(d);
                    }
                });
                let raw = frontier_time(frontier);
                let f = acting_frontier(raw, &ctx.stop);
                let Some(c) = cap.as_mut() else { return };
                if let Some((epoch, at)) = part.due(raw) {
                    last_cut = last_cut.max(at);
                    // Every alert below the cut not answered yet, wherever it waits.
                    let unanswered: Vec<Line> = in_flight
                        .values()
                        .chain(waiting.iter())
                        .chain(pending.iter())
                        .filter(|l| l.pos.lt < at)
                        .cloned()
                        .collect();
                    part.submit(epoch, snapshot(&unanswered));
                }
                if let Some(d) = delivery.as_mut() {
                    waiting.extend(take_ready(&mut pending, f, |l| l.pos.lt, Ord::cmp));
                    let mut failed = Vec::new();
                    let mut fail = |line: Line, reason: &str| {
                        ctx.metrics.dead_letter(&name, reason);
                        let pos = Position {
                            lt: line.pos.lt.max(last_cut),
                            ..line.pos
                        };
                        let mut letter = dead_letter(&name, line.pos, line.seq, reason, line.text.as_bytes());
                        letter.pos = pos;
                        failed.push(letter);
                    };
                    for (id, result) in d.answered() {
                        let Some(line) = in_flight.remove(&id) else { continue };
                        match result {
                            Ok(()) => ctx.metrics.records_written(&name, 1),
                            Err(reason) => fail(line, &reason),
                        }
                    }
                    while let Some(line) = waiting.pop_front() {
                        match d.try_submit(next_id, line.text.clone()) {
                            Ok(()) => {
                                in_flight.insert(next_id, line);
                                next_id += 1;
                            }
                            Err(_) => {
                                waiting.push_front(line);
                                break;
                            }
                        }
                    }
                    let unanswered = !(in_flight.is_empty() && waiting.is_empty());
                    if unanswered && (ctx.stop.aborted() || ctx.stop.error().is_some()) {
                        let grace = if ctx.stop.error().is_some() {
                            Duration::ZERO
                        } else {
                            d.stop_grace()
                        };
                        let deadline = *stop_deadline.get_or_insert_with(|| Instant::now() + grace);
                        let now = Instant::now();
                        if now >= deadline {
                            d.give_up();
                            let reason = d.stop_reason();
                            for line in std::mem::take(&mut in_flight).into_values().chain(waiting.drain(..)) {
                                fail(line, &reason);
                            }
                        } else {
                            activator.activate_after(deadline - now);
                        }
                    }
                    if !failed.is_empty() {
                        let batch: SharedBatch = Arc::new(Batch::new(failed, None));
                        output.session(&*c).give(batch);
                    }
                }
                let unanswered = !(in_flight.is_empty() && waiting.is_empty() && pending.is_empty());
                match raw {
                    Some(t) => c.downgrade(&t.max(*c.time())),
                    // The input ended: the capability stays until every alert is answered.
                    None if unanswered => {}
                    None => {
                        cap = None;
                        delivery = None;
                    }
                }
            }
        },
    )
}
