//! The delivery rules of DESIGN §4 as a [`KeyedLogic`] per order: `delivery_delayed`, `delivery_resolved`,
//! `courier_silent` and `courier_resumed`.
//!
//! - `delivery_delayed` at `T = first picked_up ts + budget`, unless a `delivered` record was applied first;
//! - `delivery_resolved` when `delivered` is applied to an order that had `delivery_delayed` (at its ts);
//! - `courier_silent` at `T = latest ping ts + silence` (pings: `picked_up`/`en_route` records newer than the
//!   latest ping), unless delivered; `courier_resumed` on the next newer ping after that (at its ts).
//!
//! An order's state is kept until `retention` of event time after its newest record, so state stays bounded on
//! an endless stream; a record arriving later than that starts the order afresh.

use crate::keyed_timers::{KeyedLogic, TimerRequests};
use crate::value::Key;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};

const DELAYED: u8 = 0;
const SILENCE: u8 = 1;
const EXPIRE: u8 = 2;

/// The lifecycle states of a delivery (DESIGN §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryState {
    Assigned,
    PickedUp,
    EnRoute,
    Delivered,
}

impl DeliveryState {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "assigned" => Self::Assigned,
            "picked_up" => Self::PickedUp,
            "en_route" => Self::EnRoute,
            "delivered" => Self::Delivered,
            _ => return None,
        })
    }
}

/// One location ping of an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocationPing {
    pub ts: i64,
    pub state: DeliveryState,
    pub deliverer_id: CompactString,
    pub lat: f64,
    pub lon: f64,
}

/// The configurable durations of the rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRules {
    pub budget_ms: i64,
    pub silence_ms: i64,
    pub retention_ms: i64,
}

/// What the rules remember about one order.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OrderState {
    picked_up_at: Option<i64>,
    delivered: bool,
    delayed: bool,
    latest_ping: Option<i64>,
    silent: bool,
    /// The newest record's position and courier (greatest ts; ties: the later applied).
    position_ts: Option<i64>,
    deliverer_id: CompactString,
    lat: f64,
    lon: f64,
    newest_ts: Option<i64>,
    expired: bool,
}

/// One alert raised by the rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryAlert {
    pub kind: &'static str,
    pub event_time: i64,
    pub deliverer_id: CompactString,
    pub lat: f64,
    pub lon: f64,
    pub picked_up_at: Option<i64>,
    pub deadline: Option<i64>,
}

impl DeliveryAlert {
    pub fn severity(&self) -> &'static str {
        match self.kind {
            "courier_silent" => "critical",
            "delivery_delayed" => "warning",
            _ => "info",
        }
    }
}

impl DeliveryRules {
    fn alert(&self, kind: &'static str, event_time: i64, s: &OrderState) -> DeliveryAlert {
        DeliveryAlert {
            kind,
            event_time,
            deliverer_id: s.deliverer_id.clone(),
            lat: s.lat,
            lon: s.lon,
            picked_up_at: s.picked_up_at,
            deadline: s.picked_up_at.map(|p| p.saturating_add(self.budget_ms)),
        }
    }
}

impl KeyedLogic for DeliveryRules {
    type State = OrderState;
    type Record = LocationPing;
    type Output = DeliveryAlert;

    fn on_record(
        &self,
        _: &Key,
        s: &mut OrderState,
        r: &LocationPing,
        timers: &mut TimerRequests,
        out: &mut Vec<DeliveryAlert>,
    ) {
        if s.position_ts.is_none_or(|t| r.ts >= t) {
            s.position_ts = Some(r.ts);
            s.deliverer_id = r.deliverer_id.clone();
            s.lat = r.lat;
            s.lon = r.lon;
        }
        if s.newest_ts.is_none_or(|t| r.ts > t) {
            s.newest_ts = Some(r.ts);
            timers.set(EXPIRE, r.ts.saturating_add(self.retention_ms));
        }
        match r.state {
            DeliveryState::Assigned => {}
            DeliveryState::Delivered => {
                if !s.delivered {
                    s.delivered = true;
                    if s.delayed {
                        out.push(self.alert("delivery_resolved", r.ts, s));
                    }
                    timers.clear(DELAYED);
                    timers.clear(SILENCE);
                }
            }
            DeliveryState::PickedUp | DeliveryState::EnRoute => {
                if r.state == DeliveryState::PickedUp && s.picked_up_at.is_none() {
                    s.picked_up_at = Some(r.ts);
                    if !s.delivered {
                        timers.set(DELAYED, r.ts.saturating_add(self.budget_ms));
                    }
                }
                if s.latest_ping.is_none_or(|l| r.ts > l) {
                    s.latest_ping = Some(r.ts);
                    if s.silent {
                        s.silent = false;
                        out.push(self.alert("courier_resumed", r.ts, s));
                    }
                    if !s.delivered {
                        timers.set(SILENCE, r.ts.saturating_add(self.silence_ms));
                    }
                }
            }
        }
    }

    fn on_timer(
        &self,
        _: &Key,
        s: &mut OrderState,
        tag: u8,
        at: i64,
        _: &mut TimerRequests,
        out: &mut Vec<DeliveryAlert>,
    ) {
        match tag {
            DELAYED if !s.delivered && !s.delayed => {
                s.delayed = true;
                out.push(self.alert("delivery_delayed", at, s));
            }
            SILENCE if !s.delivered && !s.silent => {
                s.silent = true;
                out.push(self.alert("courier_silent", at, s));
            }
            EXPIRE => s.expired = true,
            _ => {}
        }
    }

    fn is_finished(&self, s: &OrderState) -> bool {
        s.expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyed_timers::{Cause, KeyedTimers};
    use crate::value::Value;

    const MIN: i64 = 60_000;

    fn ping(ts: i64, state: DeliveryState) -> LocationPing {
        LocationPing {
            ts,
            state,
            deliverer_id: "d-1".into(),
            lat: 1.0,
            lon: 2.0,
        }
    }

    fn run(records: &[(i64, LocationPing)]) -> Vec<(&'static str, i64)> {
        let rules = DeliveryRules {
            budget_ms: 30 * MIN,
            silence_ms: 5 * MIN,
            retention_ms: 24 * 60 * MIN,
        };
        let mut t: KeyedTimers<OrderState> = KeyedTimers::default();
        let key = Key::from(vec![Value::Str("o-1".into())]);
        let mut out: Vec<(Cause, Key, DeliveryAlert)> = Vec::new();
        for (lt, r) in records {
            t.record(&rules, &key, *lt, r, &mut out);
        }
        t.advance(&rules, None, &mut out);
        assert_eq!(t.live_keys(), 0, "expired at the end");
        out.into_iter().map(|(_, _, a)| (a.kind, a.event_time)).collect()
    }

    #[test]
    fn on_time_delivery_raises_nothing() {
        use DeliveryState::*;
        let got = run(&[
            (0, ping(0, Assigned)),
            (0, ping(MIN, PickedUp)),
            (MIN, ping(3 * MIN, EnRoute)),
            (3 * MIN, ping(6 * MIN, Delivered)),
        ]);
        assert_eq!(got, vec![]);
    }

    #[test]
    fn late_delivery_is_delayed_then_resolved() {
        use DeliveryState::*;
        let mut recs = vec![(0, ping(0, PickedUp))];
        for k in 1..=40 {
            recs.push(((k - 1) * MIN, ping(k * MIN, EnRoute)));
        }
        recs.push((40 * MIN, ping(41 * MIN, Delivered)));
        assert_eq!(
            run(&recs),
            vec![("delivery_delayed", 30 * MIN), ("delivery_resolved", 41 * MIN)]
        );
    }

    #[test]
    fn silence_and_resumption_follow_newer_pings_only() {
        use DeliveryState::*;
        let got = run(&[
            (0, ping(0, PickedUp)),
            (0, ping(MIN, EnRoute)),           // silence timer → 6 min
            (2 * MIN, ping(MIN / 2, EnRoute)), // older ping: no reset
            (7 * MIN, ping(8 * MIN, EnRoute)), // logical time 7 min: silent at 6 min fired first; resumed at 8 min
            (9 * MIN, ping(10 * MIN, Delivered)),
        ]);
        assert_eq!(got, vec![("courier_silent", 6 * MIN), ("courier_resumed", 8 * MIN)]);
    }

    #[test]
    fn delivered_before_picked_up_cancels_everything() {
        use DeliveryState::*;
        let got = run(&[(0, ping(10 * MIN, Delivered)), (0, ping(MIN, PickedUp))]);
        assert_eq!(got, vec![]);
    }
}
