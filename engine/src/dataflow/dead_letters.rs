//! Dead letters: malformed records and late records, rendered as `{"source","partition","offset","reason",
//! "raw"}` (DESIGN §1) at their position in the deterministic order.

use crate::chunk::StampedChunk;
use crate::dataflow::source_op::ChunkStream;
use crate::dataflow::{Line, Time};
use serde::Serialize;
use std::sync::Arc;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;
use weir_operators::Position;

#[derive(Serialize)]
struct DeadLetter<'a> {
    source: &'a str,
    partition: u32,
    offset: u64,
    reason: &'a str,
    raw: std::borrow::Cow<'a, str>,
}

/// Renders one dead letter.
pub fn render(source: &str, pos: Position, reason: &str, raw: &[u8]) -> Line {
    let text = serde_json::to_string(&DeadLetter {
        source,
        partition: pos.partition,
        offset: pos.offset,
        reason,
        raw: String::from_utf8_lossy(raw),
    })
    .expect("dead letters serialize");
    Line { pos, seq: 0, text }
}

/// The malformed records of a source's chunks (`SOURCE.dead_letters`).
pub fn malformed<'s>(chunks: ChunkStream<'s>, source_name: String) -> Stream<'s, Time, Vec<Line>> {
    chunks.unary(Pipeline, "DeadLetters", move |_, _| {
        move |input, output| {
            input.for_each_time(|cap, data| {
                let mut session = output.session(&cap);
                for chunk in data.flat_map(|d| d.drain(..)) {
                    let chunk: Arc<StampedChunk> = chunk;
                    for bad in &chunk.chunk.invalid {
                        let pos = chunk.invalid_position(bad);
                        session.give(render(&source_name, pos, &bad.reason, chunk.raw(bad.range)));
                    }
                }
            });
        }
    })
}
