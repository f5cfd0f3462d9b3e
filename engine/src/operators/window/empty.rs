//! `emit_empty = true` on a window without key: a row for every window from the first that has records on,
//! with zero counts where a window has none (trap 6 of the review round: a data-quality summary needs a row
//! per window even when nothing failed).
//!
//! An empty window's row is made when its window closes, exactly when a row with records would have been
//! (the frontier passes `window_end + allowed_lateness`), at the position such a row has — so the rows, and
//! where they stand among a sink's other inputs, are the same for any worker count, batch size or restore.
//! While the input runs, every closed window after the first with records has a row; when the input ends,
//! the rows stop at the last window with records (nothing says more was to come).
//!
//! The state is the window state plus the start of the next window to emit: a type of its own, used only with
//! `emit_empty` (whose jobs have another shape), so checkpoints of other windows are unchanged.

use super::ms;
use crate::component::row_record;
use crate::dataflow::ordered::OrderedLogic;
use crate::dataflow::{JobFailure, RunContext, Time};
use crate::record::Record;
use serde::{Deserialize, Serialize};
use weir_operators::keyed_state::KeyedState;
use weir_operators::{Key, Position, Value, WindowAggregator, WindowRow, WindowSpec};

/// At most this many empty windows in one step (a watermark that jumps years ahead over one-second windows
/// would otherwise write millions of rows): past it the job fails, saying why.
pub const MAX_EMPTY_PER_STEP: i64 = 1_000_000;

/// The window state and the start of the next window to emit (`None`: no window had records yet).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EmptyAwareState {
    pub windows: WindowAggregator,
    pub next: Option<i64>,
}

impl KeyedState for EmptyAwareState {
    fn retain_keys(&mut self, keep: &dyn Fn(&Key) -> bool) {
        self.windows.retain_keys(keep);
        // The windows have no key: their one state lives where the empty key is routed.
        if !keep(&Key::from(Vec::new())) {
            self.next = None;
        }
    }
    fn absorb(&mut self, other: Self) {
        self.windows.absorb(other.windows);
        self.next = self.next.max(other.next);
    }
}

/// A window logic whose rows are completed with the empty windows between them.
pub struct EmptyWindows<L> {
    pub inner: L,
    pub window: WindowSpec,
    pub allowed_lateness_ms: i64,
    /// How many carried fields a row has (NULL in an empty window's row).
    pub carried: usize,
    /// Each aggregate's value over no record: 0 for counts, NULL for the rest.
    pub zero: Vec<Value>,
    /// The operator's name and the run, to fail on too many empty windows at once.
    pub guard: (String, RunContext),
}

impl<L> EmptyWindows<L> {
    /// The distance between two windows' starts.
    fn slide_ms(&self) -> i64 {
        match self.window {
            WindowSpec::Session { .. } => unreachable!("emit_empty is refused for session windows"),
            w => w.slide_ms(),
        }
    }

    fn empty_row(&self, start: i64) -> Record {
        row_record(
            WindowRow {
                start,
                end: self.window.end_of(start),
                key: Key::from(Vec::new()),
                carry: vec![Value::Null; self.carried],
                values: self.zero.clone(),
            },
            self.allowed_lateness_ms,
        )
    }

    /// Whether the window starting at `start` has closed at frontier `f`.
    fn closed(&self, start: i64, f: Time) -> bool {
        self.window.end_of(start).saturating_add(self.allowed_lateness_ms) <= ms(f)
    }
}

impl<L: OrderedLogic<State = WindowAggregator>> OrderedLogic for EmptyWindows<L> {
    type Item = L::Item;
    type State = EmptyAwareState;

    fn route(item: &Self::Item) -> u64 {
        L::route(item)
    }

    fn fresh(&self) -> EmptyAwareState {
        EmptyAwareState {
            windows: self.inner.fresh(),
            next: None,
        }
    }

    fn step(
        &mut self,
        state: &mut EmptyAwareState,
        items: &mut dyn Iterator<Item = (Position, Self::Item)>,
        f: Option<Time>,
        out: &mut [Vec<Record>],
    ) {
        self.inner.step(&mut state.windows, items, f, out);
        let fired = std::mem::take(&mut out[0]);
        let start_of = |r: &Record| match r.values.first() {
            Some(Value::Int(s)) => *s,
            _ => unreachable!("a window row starts with window_start"),
        };
        let (Some(first), Some(last)) = (
            state.next.or_else(|| fired.first().map(start_of)),
            fired.last().map(start_of).or(state.next.map(|n| n - self.slide_ms())),
        ) else {
            return;
        };
        let slide = self.slide_ms();
        // Every window from `first` on that is closed at `f`; at the end of input, up to the last with rows.
        let closed = |s: i64| match f {
            Some(f) => self.closed(s, f),
            None => s <= last,
        };
        let mut rows = fired.into_iter().peekable();
        let (mut s, mut empties) = (first, 0i64);
        while closed(s) || rows.peek().is_some() {
            let mut any = false;
            while rows.peek().is_some_and(|r| start_of(r) == s) {
                out[0].push(rows.next().expect("peeked"));
                any = true;
            }
            if !any {
                if rows.peek().is_some_and(|r| start_of(r) < s) {
                    // A row below the next start: emitted before (cannot happen), kept rather than lost.
                    out[0].push(rows.next().expect("peeked"));
                    continue;
                }
                empties += 1;
                if empties > MAX_EMPTY_PER_STEP {
                    let (operator, ctx) = &self.guard;
                    ctx.stop.fail(JobFailure::TooManyEmptyWindows {
                        operator: operator.clone(),
                        limit: MAX_EMPTY_PER_STEP,
                    });
                    return;
                }
                out[0].push(self.empty_row(s));
            }
            s = s.saturating_add(slide);
        }
        // Empty windows' rows are windows written too (the run summary, `weir_window_rows_total`).
        crate::metrics::Metrics::add(&self.guard.1.metrics.window_rows, empties as u64);
        state.next = Some(s);
    }
}
