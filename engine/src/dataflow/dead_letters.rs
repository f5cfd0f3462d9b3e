//! Dead letters: malformed records, late records, records an expression failed on and records a sink could
//! not deliver, as typed records of the dead-letter schema `{source, partition, offset, reason, raw}` at
//! their record's position in the deterministic order.

use crate::record::{Batch, Record, RecordStream, Row};
use crate::schema::Schema;
use std::sync::Arc;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use weir_operators::{Position, Value};

/// One dead letter: `source` names where the record came from (a source, or the sink that failed it).
pub fn dead_letter(source: &str, pos: Position, seq: u32, reason: &str, raw: &[u8]) -> Record {
    let values: Row = [
        Value::Str(source.into()),
        Value::Int(pos.partition as i64),
        Value::Int(pos.offset as i64),
        Value::Str(reason.into()),
        Value::Str(String::from_utf8_lossy(raw).as_ref().into()),
    ]
    .into_iter()
    .collect();
    Record::derived(pos, seq, pos.lt as i64, values)
}

/// The raw bytes to show for a record that is not a valid input: its source line if it has one, else the
/// record itself as JSON in its schema.
pub fn raw_of(batch: &Batch, r: &Record, schema: &Schema) -> Vec<u8> {
    match batch.raw(r) {
        Some(raw) => raw.to_vec(),
        None => crate::sink::encode::json_object(schema, &r.values).into_bytes(),
    }
}

/// The malformed records of a source's batches (`SOURCE.dead_letters`).
pub fn malformed<'s>(records: RecordStream<'s>, source_name: String) -> RecordStream<'s> {
    records.unary(Pipeline, "DeadLetters", move |_, _| {
        move |input, output| {
            input.for_each_time(|cap, data| {
                let mut out = Vec::new();
                for batch in data.flat_map(|d| d.drain(..)) {
                    let Some(chunk) = &batch.origin else { continue };
                    for bad in &chunk.chunk.invalid {
                        let pos = chunk.invalid_position(bad);
                        out.push(dead_letter(&source_name, pos, 0, &bad.reason, chunk.raw(bad.range)));
                    }
                }
                if !out.is_empty() {
                    output.session(&cap).give(Arc::new(Batch::new(out, None)));
                }
            });
        }
    })
}
