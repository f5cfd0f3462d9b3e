//! Oracle test for the delivery-alerts job: a plain simulation of DESIGN §2 (arrival watermarks, timers
//! between records by logical time, `(T, key)` ties) and §4 (the four delivery rules) over generated
//! locations with jitter, over-budget orders, silent couriers and very late records, plus hand-placed orders
//! for silence-then-resumption and a `delivered` record arriving before its `picked_up`. The alert sequence
//! (kind, key, event_time) must match exactly, in order per key; and it is identical for 1, 2 and 4 workers.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use support::*;

const MIN: i64 = 60_000;

struct Ping {
    order: String,
    state: String,
    ts: i64,
}

fn parse(line: &str) -> Option<Ping> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let state = v.get("state")?.as_str()?.to_string();
    if !["assigned", "picked_up", "en_route", "delivered"].contains(&state.as_str()) {
        return None;
    }
    v.get("deliverer_id")?.as_str()?;
    v.get("lat")?.as_f64()?;
    v.get("lon")?.as_f64()?;
    let ts = v.get("ts")?;
    if !(ts.is_i64() || ts.is_u64()) {
        return None;
    }
    Some(Ping {
        order: v.get("order_id")?.as_str()?.to_string(),
        state,
        ts: ts.as_i64()?,
    })
}

#[derive(Default)]
struct Order {
    picked_up_at: Option<i64>,
    delivered: bool,
    delayed: bool,
    latest_ping: Option<i64>,
    silent: bool,
}

/// Alerts per order, in the order they happen.
fn oracle(text: &str) -> BTreeMap<String, Vec<(String, i64)>> {
    let mut orders: BTreeMap<String, Order> = BTreeMap::new();
    // (T, order, kind) → pending; "delayed" and "silent" timers, at most one of each per order
    let mut timers: BTreeMap<(i64, String, u8), ()> = BTreeMap::new();
    let mut alerts: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    let mut max_ts: Option<i64> = None;
    fn fire(
        upto: Option<i64>,
        timers: &mut BTreeMap<(i64, String, u8), ()>,
        orders: &mut BTreeMap<String, Order>,
        alerts: &mut BTreeMap<String, Vec<(String, i64)>>,
    ) {
        while let Some(((t, _, _), _)) = timers.first_key_value() {
            if upto.is_some_and(|u| *t > u) {
                break;
            }
            let ((t, order, kind), _) = timers.pop_first().unwrap();
            let o = orders.get_mut(&order).unwrap();
            if kind == 0 && !o.delivered && !o.delayed {
                o.delayed = true;
                alerts.entry(order).or_default().push(("delivery_delayed".into(), t));
            } else if kind == 1 && !o.delivered && !o.silent {
                o.silent = true;
                alerts.entry(order).or_default().push(("courier_silent".into(), t));
            }
        }
    }
    let set = |timers: &mut BTreeMap<(i64, String, u8), ()>, order: &str, kind: u8, at: Option<i64>| {
        timers.retain(|(_, o, k), _| !(o == order && *k == kind));
        if let Some(at) = at {
            timers.insert((at, order.to_string(), kind), ());
        }
    };
    for line in text.lines() {
        let Some(p) = parse(line.trim_end_matches('\r')) else {
            continue;
        };
        let lt = max_ts.map_or(0, |m| (m - 30_000).max(0));
        max_ts = Some(max_ts.map_or(p.ts, |m| m.max(p.ts)));
        fire(Some(lt), &mut timers, &mut orders, &mut alerts);
        let o = orders.entry(p.order.clone()).or_default();
        match p.state.as_str() {
            "delivered" if !o.delivered => {
                o.delivered = true;
                if o.delayed {
                    alerts
                        .entry(p.order.clone())
                        .or_default()
                        .push(("delivery_resolved".into(), p.ts));
                }
                set(&mut timers, &p.order, 0, None);
                set(&mut timers, &p.order, 1, None);
            }
            "picked_up" | "en_route" => {
                if p.state == "picked_up" && o.picked_up_at.is_none() {
                    o.picked_up_at = Some(p.ts);
                    if !o.delivered {
                        set(&mut timers, &p.order, 0, Some(p.ts + 30 * MIN));
                    }
                }
                if o.latest_ping.is_none_or(|l| p.ts > l) {
                    o.latest_ping = Some(p.ts);
                    if o.silent {
                        o.silent = false;
                        alerts
                            .entry(p.order.clone())
                            .or_default()
                            .push(("courier_resumed".into(), p.ts));
                    }
                    if !o.delivered {
                        set(&mut timers, &p.order, 1, Some(p.ts + 5 * MIN));
                    }
                }
            }
            _ => {}
        }
        fire(Some(lt), &mut timers, &mut orders, &mut alerts);
    }
    fire(None, &mut timers, &mut orders, &mut alerts);
    alerts
}

fn loc(order: &str, state: &str, ts: i64) -> String {
    format!(r#"{{"order_id":"{order}","deliverer_id":"d-9999","state":"{state}","ts":{ts},"lat":37.87,"lon":-122.27}}"#)
}

fn run_delivery(input: &Path, out: &Path, workers: usize) -> Vec<serde_json::Value> {
    let alerts = out.join("alerts.jsonl");
    ok(weir()
        .arg("run")
        .arg(repo_root().join("config/delivery-alerts.toml"))
        .arg("--set")
        .arg(format!("sources.locations.path={}", input.display()))
        .arg("--set")
        .arg(format!("sinks.alerts.path={}", alerts.display()))
        .arg("--set")
        .arg(format!(
            "sinks.dead_letters.path={}",
            out.join("dead_letters.jsonl").display()
        ))
        .args(["--workers", &workers.to_string(), "--quiet", "--chunk-bytes", "65536"]));
    read_jsonl(&alerts)
}

#[test]
fn delivery_alerts_match_an_independent_oracle_for_any_worker_count() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("locations.jsonl");
    ok(weir()
        .args([
            "generate",
            "locations",
            "--orders",
            "1500",
            "--hours",
            "3",
            "--seed",
            "21",
            "--late-frac",
            "0.004",
            "--bad-frac",
            "0.002",
            "-o",
        ])
        .arg(&input));
    {
        let text = std::fs::read_to_string(&input).unwrap();
        let max_ts = text.lines().filter_map(parse).map(|p| p.ts).max().unwrap();
        let t0 = max_ts + MIN;
        let mut f = std::fs::OpenOptions::new().append(true).open(&input).unwrap();
        for l in [
            // silent, then resumed: another order's record moves the watermark past the silence deadline
            loc("o-9000001", "picked_up", t0),
            loc("o-9000001", "en_route", t0 + MIN),
            loc("o-9000002", "assigned", t0 + 7 * MIN),
            loc("o-9000001", "en_route", t0 + 8 * MIN),
            loc("o-9000001", "delivered", t0 + 9 * MIN),
            // delivered arrives before its picked_up: nothing to alert
            loc("o-9000003", "delivered", t0 + 7 * MIN + 2_000),
            loc("o-9000003", "picked_up", t0 + 2 * MIN),
            // a record whose logical time equals a timer exactly: the timer (silence at t0 + 12 min) fires
            // first, so the ping at that logical time resumes a silent courier
            loc("o-9000004", "picked_up", t0 + 6 * MIN),
            loc("o-9000004", "en_route", t0 + 7 * MIN),
            loc("o-9000005", "assigned", t0 + 12 * MIN + 30_000),
            loc("o-9000004", "en_route", t0 + 12 * MIN + 10_000),
        ] {
            writeln!(f, "{l}").unwrap();
        }
    }
    let expect = oracle(&std::fs::read_to_string(&input).unwrap());
    let count = |kind: &str| expect.values().flatten().filter(|(k, _)| k == kind).count();
    assert!(
        count("delivery_delayed") > 50 && count("delivery_resolved") > 30 && count("courier_silent") > 10,
        "rich input"
    );
    assert_eq!(
        expect["o-9000001"],
        vec![
            ("courier_silent".to_string(), expect["o-9000001"][0].1),
            ("courier_resumed".to_string(), expect["o-9000001"][1].1)
        ]
    );
    assert!(!expect.contains_key("o-9000003"));
    let o4: Vec<&str> = expect["o-9000004"].iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        o4,
        [
            "courier_silent",
            "courier_resumed",
            "courier_silent",
            "delivery_delayed"
        ],
        "the boundary order"
    );

    let mut first: Option<Vec<u8>> = None;
    for workers in [1, 2, 4] {
        let out = tmp.path().join(format!("out{workers}"));
        let alerts = run_delivery(&input, &out, workers);
        let mut got: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
        for a in &alerts {
            let key = a["key"].as_str().unwrap().to_string();
            assert_eq!(a["order_id"], a["key"]);
            assert_eq!(a["job"], "delivery-alerts");
            if let (Some(p), Some(d)) = (a["picked_up_at"].as_i64(), a["deadline"].as_i64()) {
                assert_eq!(d, p + 30 * MIN);
            }
            assert!(a["lat"].is_number() && a["lon"].is_number() && a["deliverer_id"].is_string());
            got.entry(key).or_default().push((
                a["kind"].as_str().unwrap().to_string(),
                a["event_time"].as_i64().unwrap(),
            ));
        }
        let differing: Vec<_> = expect
            .keys()
            .chain(got.keys())
            .filter(|k| got.get(*k) != expect.get(*k))
            .take(5)
            .map(|k| format!("{k}: engine {:?}, oracle {:?}", got.get(k), expect.get(k)))
            .collect();
        assert!(
            differing.is_empty(),
            "{workers} workers: per-order alert sequences differ:\n{}",
            differing.join("\n")
        );
        let bytes = std::fs::read(out.join("alerts.jsonl")).unwrap();
        match &first {
            None => first = Some(bytes),
            Some(f) => assert_eq!(&bytes, f, "{workers} workers: the alerts file is byte-identical"),
        }
    }
}
