//! The job graph's shape before planning: operators in dependency order (a cycle is a problem), stream
//! references, and the schema a reference has.

use super::{Declared, DeclaredSource, Node, Port};
use crate::definition::Problems;
use std::collections::HashMap;
use weir_engine::plan::{OperatorPlan, StreamRef};
use weir_engine::schema::Schema;

/// Operators in an order where each comes after the operators it reads; a cycle is a problem naming it.
pub(super) fn topological_order(declared: &[Declared], problems: &Problems) -> Vec<usize> {
    let n = declared.len();
    let deps: Vec<Vec<usize>> = declared
        .iter()
        .map(|d| {
            d.inputs
                .iter()
                .filter_map(|(node, _)| match node {
                    Node::Operator(j) => Some(*j),
                    Node::Source(_) | Node::Table(_) => None,
                })
                .collect()
        })
        .collect();
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; n];
    let mut order = Vec::new();
    let mut reported = false;
    fn visit(
        i: usize,
        deps: &[Vec<usize>],
        state: &mut [u8],
        stack: &mut Vec<usize>,
        order: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        match state[i] {
            2 => return None,
            1 => {
                let from = stack.iter().position(|s| *s == i).expect("on the stack");
                let mut cycle = stack[from..].to_vec();
                cycle.push(i);
                return Some(cycle);
            }
            _ => {}
        }
        state[i] = 1;
        stack.push(i);
        for &d in &deps[i] {
            if let Some(c) = visit(d, deps, state, stack, order) {
                return Some(c);
            }
        }
        stack.pop();
        state[i] = 2;
        order.push(i);
        None
    }
    for i in 0..n {
        let mut stack = Vec::new();
        if let Some(cycle) = visit(i, &deps, &mut state, &mut stack, &mut order) {
            if !reported {
                // Reads left to right as "x reads y reads … reads x".
                let names: Vec<&str> = cycle.iter().rev().map(|c| declared[*c].name.as_str()).collect();
                problems.add(
                    &format!("operators.{}.inputs", declared[cycle[0]].name),
                    format!("the operators form a cycle: {}", names.join(" reads ")),
                );
                reported = true;
            }
            // Leave the cycle's operators out; everything else is still checked.
            for c in cycle {
                state[c] = 2;
            }
        }
    }
    order
}

pub(super) fn stream_ref(node: Node, port: Port, index_of: &HashMap<usize, usize>) -> StreamRef {
    match (node, port) {
        (Node::Source(i), Port::DeadLetters) => StreamRef::SourceDeadLetters(i),
        (Node::Source(i), _) => StreamRef::Source(i),
        // A table's rows are not a stream (callers take table inputs out first); its dead letters are.
        (Node::Table(i), _) => StreamRef::TableDeadLetters(i),
        // An operator left out of the order (in a cycle) gets an index no stream has.
        (Node::Operator(d), port) => {
            let i = index_of.get(&d).copied().unwrap_or(usize::MAX);
            match port {
                Port::Main => StreamRef::Output(i),
                Port::Late => StreamRef::Late(i),
                Port::DeadLetters => StreamRef::OperatorDeadLetters(i),
            }
        }
    }
}

/// The schema of a stream, if the node producing it passed validation.
pub(super) fn schema_of(
    r: StreamRef,
    sources: &[DeclaredSource],
    operators: &[Option<OperatorPlan>],
) -> Option<Schema> {
    match r {
        StreamRef::Source(i) => sources[i].2.clone(),
        StreamRef::Output(i) => operators.get(i)?.as_ref().map(|o| o.schema.clone()),
        StreamRef::Late(i) | StreamRef::OperatorDeadLetters(i) if operators.get(i)?.is_none() => None,
        _ => Some(Schema::dead_letters()),
    }
}
