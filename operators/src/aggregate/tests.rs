//! The aggregates' results, their parsing, and their independence of order and grouping.

use super::*;
use crate::event_order::Position;
use crate::value::{Value, ValueType};

fn at(offset: u64) -> Position {
    Position {
        offset,
        ..Position::default()
    }
}

fn specs(exprs: &[&str]) -> Vec<AggregateSpec> {
    exprs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let func = AggregateFn::parse(e).unwrap();
            let input = func.field().map(|f| if f == "label" { 1 } else { 0 });
            let input_type = func
                .field()
                .map(|f| if f == "label" { ValueType::Str } else { ValueType::Float });
            AggregateSpec {
                name: format!("a{i}"),
                func,
                input,
                input_type,
            }
        })
        .collect()
}

fn run(exprs: &[&str], rows: &[(i64, f64, &str)]) -> Vec<Value> {
    let s = AggregateSet::new(specs(exprs));
    let mut acc = Accumulator::new(&s, vec![], at(0));
    for (i, (ts, x, label)) in rows.iter().enumerate() {
        acc.add(&s, *ts, at(i as u64), &[Value::Float(*x), Value::Str((*label).into())]);
    }
    acc.finish(&s)
}

#[test]
fn parses_every_function_and_rejects_nonsense() {
    assert_eq!(AggregateFn::parse("count").unwrap(), AggregateFn::Count);
    assert_eq!(AggregateFn::parse("count( * )").unwrap(), AggregateFn::Count);
    // Trap 9: `count` is known; what of it is not supported is said as such.
    let distinct = AggregateFn::parse("count(DISTINCT sensor_id)").unwrap_err().problem;
    assert!(distinct.starts_with("count(DISTINCT …) is not supported"), "{distinct}");
    let field = AggregateFn::parse("count(sensor_id)").unwrap_err().problem;
    assert!(field.contains("count takes no field"), "{field}");
    assert_eq!(
        AggregateFn::parse("count_if(ppv_mm_s > 5.0)").unwrap(),
        AggregateFn::CountIf {
            field: "ppv_mm_s".into(),
            cmp: Comparison::Gt,
            threshold: 5.0
        }
    );
    assert_eq!(
        AggregateFn::parse("count_if(x>=2)").unwrap(),
        AggregateFn::CountIf {
            field: "x".into(),
            cmp: Comparison::Ge,
            threshold: 2.0
        }
    );
    assert_eq!(
        AggregateFn::parse("quantile(ppv_mm_s, 0.99)").unwrap(),
        AggregateFn::Quantile {
            field: "ppv_mm_s".into(),
            q: 0.99
        }
    );
    assert_eq!(
        AggregateFn::parse("count_if(loud)").unwrap(),
        AggregateFn::CountTrue("loud".into())
    );
    for bad in [
        "median(x)",
        "min(",
        "quantile(x, 2)",
        "count_if(x ~ 3)",
        "min(a b)",
        "count_if(x == true)",
    ] {
        let e = AggregateFn::parse(bad).unwrap_err();
        assert!(e.to_string().contains("allowed:"), "{e}");
    }
    for e in [
        "count",
        "count_if(x > 5)",
        "count_if(x)",
        "sum(x)",
        "quantile(x, 0.5)",
        "last(x)",
    ] {
        assert_eq!(
            AggregateFn::parse(&AggregateFn::parse(e).unwrap().to_string()).unwrap(),
            AggregateFn::parse(e).unwrap()
        );
    }
}

#[test]
fn computes_each_aggregate() {
    let rows = [
        (30, 3.0, "c"),
        (10, 1.0, "a"),
        (20, 4.0, "b"),
        (10, 2.0, "d"),
        (30, 0.5, "e"),
    ];
    let out = run(
        &[
            "count",
            "count_if(x > 1.5)",
            "sum(x)",
            "min(x)",
            "max(x)",
            "mean(x)",
            "rms(x)",
            "stddev(x)",
            "first(label)",
            "last(label)",
            "quantile(x, 0.5)",
        ],
        &rows,
    );
    let xs = [3.0f64, 1.0, 4.0, 2.0, 0.5];
    let mean = xs.iter().sum::<f64>() / 5.0;
    let rms = (xs.iter().map(|x| x * x).sum::<f64>() / 5.0).sqrt();
    let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 5.0).sqrt();
    assert_eq!(out[0], Value::Int(5));
    assert_eq!(out[1], Value::Int(3));
    assert_eq!(out[2], Value::Float(10.5));
    assert_eq!(out[3], Value::Float(0.5));
    assert_eq!(out[4], Value::Float(4.0));
    assert!((out[5].as_f64().unwrap() - mean).abs() < 1e-12);
    assert!((out[6].as_f64().unwrap() - rms).abs() < 1e-12);
    assert!((out[7].as_f64().unwrap() - sd).abs() < 1e-12);
    // first: earliest ts 10, the first applied of the tie ("a"); last: latest ts 30, last applied ("e")
    assert_eq!(out[8], Value::Str("a".into()));
    assert_eq!(out[9], Value::Str("e".into()));
    // nearest rank ⌈0.5·5⌉ = 3rd of [0.5, 1, 2, 3, 4] = 2
    assert!((out[10].as_f64().unwrap() - 2.0).abs() <= 0.02);
}

#[test]
fn count_if_a_flag_counts_its_true_values_alone_and_merged() {
    let s = AggregateSet::new(vec![AggregateSpec {
        name: "loud".into(),
        func: AggregateFn::parse("count_if(flag)").unwrap(),
        input: Some(0),
        input_type: Some(ValueType::Bool),
    }]);
    let flags = [
        Value::Bool(true),
        Value::Null,
        Value::Bool(false),
        Value::Bool(true),
        Value::Bool(true),
    ];
    let mut whole = Accumulator::new(&s, vec![], at(0));
    let (mut early, mut late) = (Accumulator::new(&s, vec![], at(0)), Accumulator::new(&s, vec![], at(2)));
    for (i, v) in flags.iter().enumerate() {
        let row = std::slice::from_ref(v);
        whole.add(&s, 10, at(i as u64), row);
        let part = if i < 2 { &mut early } else { &mut late };
        part.add(&s, 10, at(i as u64), row);
    }
    assert_eq!(whole.finish(&s), vec![Value::Int(3)], "NULL and FALSE are not counted");
    early.merge(&s, late);
    assert_eq!(early.finish(&s), vec![Value::Int(3)]);
    assert_eq!(AggregateFn::CountTrue("flag".into()).accepts(ValueType::Bool), Ok(()));
    assert!(AggregateFn::CountTrue("x".into())
        .accepts(ValueType::Float)
        .unwrap_err()
        .contains("a boolean"));
}

#[test]
fn integer_sums_and_extremes_stay_integers() {
    let s = AggregateSet::new(vec![
        AggregateSpec {
            name: "s".into(),
            func: AggregateFn::Sum("n".into()),
            input: Some(0),
            input_type: Some(ValueType::Int),
        },
        AggregateSpec {
            name: "m".into(),
            func: AggregateFn::Max("n".into()),
            input: Some(0),
            input_type: Some(ValueType::Int),
        },
    ]);
    let mut acc = Accumulator::new(&s, vec![], at(0));
    for (n, i) in [5i64, 7, -2].into_iter().enumerate() {
        acc.add(&s, 0, at(n as u64), &[Value::Int(i)]);
    }
    assert_eq!(acc.finish(&s), vec![Value::Int(10), Value::Int(7)]);
    assert_eq!(
        AggregateFn::Sum("n".into()).output_type(Some(ValueType::Int)),
        ValueType::Int
    );
    assert_eq!(
        AggregateFn::Mean("n".into()).output_type(Some(ValueType::Int)),
        ValueType::Float
    );
}

#[test]
fn partial_accumulators_merged_in_any_grouping_equal_one_in_position_order() {
    let exprs = [
        "count",
        "count_if(x > 1.5)",
        "sum(x)",
        "min(x)",
        "max(x)",
        "mean(x)",
        "rms(x)",
        "first(label)",
        "last(label)",
        "quantile(x, 0.9)",
    ];
    let s = AggregateSet::new(specs(&exprs));
    assert!(s.combinable());
    assert!(!AggregateSet::new(specs(&["stddev(x)"])).combinable());
    // Values with many bits, repeated event times (first/last ties) and equal extremes of both signs.
    let rows: Vec<(i64, f64, String)> = (0..500u64)
        .map(|i| {
            let x = match i % 7 {
                0 => 0.0,
                1 => -0.0,
                _ => ((i * 2654435761) % 1000) as f64 / 3.0 - 100.0,
            };
            ((i % 13) as i64, x, format!("l{i}"))
        })
        .collect();
    let add = |acc: &mut Option<Accumulator>, i: usize| {
        let (ts, x, label) = &rows[i];
        let values = [Value::Float(*x), Value::Str(label.as_str().into())];
        let carry = [Value::Int(i as i64)];
        let acc = acc.get_or_insert_with(|| Accumulator::new(&s, carry.to_vec(), at(i as u64)));
        if at(i as u64) < acc.carry_at() {
            acc.set_carry(carry.to_vec(), at(i as u64));
        }
        acc.add(&s, *ts, at(i as u64), &values);
    };
    let mut whole = None;
    for i in 0..rows.len() {
        add(&mut whole, i);
    }
    let want = whole.unwrap().finish(&s);
    for groups in [2usize, 3, 7] {
        // Records dealt to groups out of order; the groups merged in reverse.
        let mut parts: Vec<Option<Accumulator>> = vec![None; groups];
        for i in (0..rows.len()).rev() {
            add(&mut parts[(i * 31) % groups], i);
        }
        let mut merged = parts.pop().unwrap().unwrap();
        while let Some(p) = parts.pop() {
            merged.merge(&s, p.unwrap());
        }
        let got = merged.finish(&s);
        assert_eq!(format!("{got:?}"), format!("{want:?}"), "{groups} groups");
        assert_eq!(merged.carry, vec![Value::Int(0)]);
    }
}
