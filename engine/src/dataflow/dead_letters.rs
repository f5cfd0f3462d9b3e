//! Dead letters: malformed records, late records, records an expression failed on and records a sink could
//! not deliver, as typed records of the dead-letter schema `{source, partition, offset, reason, raw}` at
//! their record's position in the deterministic order.

use crate::dataflow::Time;
use crate::record::{Batch, Record, RecordStream, Row, SharedBatch};
use crate::schema::Schema;
use std::sync::Arc;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::{Operator, OutputBuilder};
use timely::dataflow::Stream;
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

/// The dead letter of `batch`'s record `i` (read in `schema`), which `source` could not process for `reason`.
pub fn failed_record(source: &str, schema: &Schema, batch: &Batch, i: usize, reason: &str) -> Record {
    let r = &batch.records[i];
    dead_letter(source, r.pos, r.seq, reason, &raw_of(batch, r, schema))
}

/// Runs `f` over each batch of `input` on the worker that holds it: `f` pushes what it makes of the batch's
/// records into its first vector and the dead letters of those it could not take into the second. Returns
/// both streams (the first step of every operator that can reject a record).
pub fn split_batches<'s, T, F>(
    input: RecordStream<'s>,
    name: &str,
    mut f: F,
) -> (Stream<'s, Time, Vec<T>>, RecordStream<'s>)
where
    T: Clone + 'static,
    F: FnMut(&SharedBatch, &mut Vec<T>, &mut Vec<Record>) + 'static,
{
    let (ok, mut err) = split_batches_to(input, name, 1, move |batch, made, dead| f(batch, made, &mut dead[0]));
    (ok, err.remove(0))
}

/// [`split_batches`] with `n` dead-letter streams (one per operator, for operators that share this step):
/// `f` pushes the dead letters of stream `i` into the `i`-th vector.
pub fn split_batches_to<'s, T, F>(
    input: RecordStream<'s>,
    name: &str,
    n: usize,
    mut f: F,
) -> (Stream<'s, Time, Vec<T>>, Vec<RecordStream<'s>>)
where
    T: Clone + 'static,
    F: FnMut(&SharedBatch, &mut Vec<T>, &mut [Vec<Record>]) + 'static,
{
    let mut builder = OperatorBuilder::new(name.to_string(), input.scope());
    let mut input = builder.new_input(input, Pipeline);
    let (ok_out, ok) = builder.new_output::<Vec<T>>();
    let mut ok_out = OutputBuilder::from(ok_out);
    let (mut err_outs, errs): (Vec<_>, Vec<_>) = (0..n)
        .map(|_| {
            let (out, stream) = builder.new_output::<Vec<SharedBatch>>();
            (OutputBuilder::from(out), stream)
        })
        .unzip();
    builder.build(move |_| {
        let mut made = Vec::new();
        let mut dead: Vec<Vec<Record>> = vec![Vec::new(); n];
        move |_frontiers| {
            let mut ok_handle = ok_out.activate();
            let mut err_handles: Vec<_> = err_outs.iter_mut().map(|o| o.activate()).collect();
            input.for_each_stamp(|cap, data| {
                for batch in data.flat_map(|d| d.drain(..)) {
                    f(&batch, &mut made, &mut dead);
                }
                if !made.is_empty() {
                    let ok_cap = cap.retain_least(0).expect("a message has a time");
                    ok_handle.session(&ok_cap).give_container(&mut made);
                    made.clear();
                }
                for (i, (handle, letters)) in err_handles.iter_mut().zip(&mut dead).enumerate() {
                    if !letters.is_empty() {
                        let err_cap = cap.retain_least(i + 1).expect("a message has a time");
                        let batch = Batch::new(std::mem::take(letters), None);
                        handle.session(&err_cap).give(Arc::new(batch));
                    }
                }
            });
        }
    });
    (ok, errs)
}

/// The raw bytes to show for a record that is not a valid input: its source line if it has one, else the
/// record itself as JSON in its schema.
pub fn raw_of(batch: &Batch, r: &Record, schema: &Schema) -> Vec<u8> {
    match batch.raw(r) {
        Some(raw) => raw.to_vec(),
        None => crate::dataflow::render::json_object(schema, &r.values).into_bytes(),
    }
}

/// `dead` as it is, counting each of its dead letters in `weir_dead_letters_total` (by the `source` and
/// `reason` it names) and the run summary: for the dead letters of operators (expression failures, inner-join
/// misses), which are made in many places but all pass here.
pub fn counted<'s>(dead: RecordStream<'s>, metrics: Arc<crate::metrics::Metrics>) -> RecordStream<'s> {
    use timely::dataflow::operators::Inspect;
    dead.inspect(move |batch| {
        for r in &batch.records {
            if let (Some(Value::Str(source)), Some(Value::Str(reason))) = (r.values.first(), r.values.get(3)) {
                metrics.dead_letter(source, reason);
            }
        }
    })
}

/// The malformed records of a source's batches (`SOURCE.dead_letters`).
pub fn malformed<'s>(records: RecordStream<'s>, source_name: String) -> RecordStream<'s> {
    records.unary(Pipeline, "DeadLetters", move |_, _| {
        move |input, output| {
            input.for_each_stamp(|cap, data| {
                let mut out = Vec::new();
                for batch in data.flat_map(|d| d.drain(..)) {
                    let Some(origin) = &batch.origin else { continue };
                    origin.for_each_malformed(&mut |pos, reason, raw| {
                        out.push(dead_letter(&source_name, pos, 0, reason, raw))
                    });
                }
                if !out.is_empty() {
                    output.session(&cap).give(Arc::new(Batch::new(out, None)));
                }
            });
        }
    })
}
