//! Stateless transforms: `filter`, `derive` and `union`. Each record keeps its position and logical time, so
//! what follows a transform sees exactly the order and lateness it would have seen reading the input.
//!
//! Transforms run on the worker that holds the records (no exchange). A record an expression fails on goes
//! to the transform's dead letters with the reason `expression `…`: …` and its raw bytes.

pub mod derive;
pub mod filter;
pub mod union;

use crate::dataflow::dead_letters::{dead_letter, raw_of};

use crate::record::{Batch, Record, RecordStream, SharedBatch};
use crate::schema::Schema;
use std::sync::Arc;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;

/// What a transform makes of one batch.
pub enum Mapped {
    /// Every record passes unchanged: the batch is handed on as it is.
    Same,
    /// These records (and these failures: record index, reason).
    New(Vec<Record>, Vec<(usize, String)>),
}

/// Runs `f` over each batch of `input` (read in `schema`), returning the results and the dead letters of
/// the records it failed on (`source` names the operator in them).
pub fn map_batches<'s, F>(
    input: RecordStream<'s>,
    name: &str,
    schema: Schema,
    mut f: F,
) -> (RecordStream<'s>, RecordStream<'s>)
where
    F: FnMut(&Batch) -> Mapped + 'static,
{
    split_batches(input, name, schema, move |batch, out, errors| match f(batch) {
        Mapped::Same => out.push(batch.clone()),
        Mapped::New(records, failed) => {
            errors.extend(failed);
            if !records.is_empty() {
                out.push(Arc::new(Batch::new(records, batch.origin.clone())));
            }
        }
    })
}

/// Runs `f` over each batch of `input` (read in `schema`): it pushes what it makes of the batch's records
/// into its first vector and the records it failed on (record index, reason) into the second. Returns what
/// was made, and the dead letters of the failures (`source` names the operator in them).
pub fn split_batches<'s, T, F>(
    input: RecordStream<'s>,
    name: &str,
    schema: Schema,
    mut f: F,
) -> (
    timely::dataflow::Stream<'s, crate::dataflow::Time, Vec<T>>,
    RecordStream<'s>,
)
where
    T: Clone + 'static,
    F: FnMut(&SharedBatch, &mut Vec<T>, &mut Vec<(usize, String)>) + 'static,
{
    let source = name.to_string();
    let mut builder = OperatorBuilder::new(name.to_string(), input.scope());
    let mut input = builder.new_input(input, Pipeline);
    let (ok_out, ok) = builder.new_output::<Vec<T>>();
    let (err_out, err) = builder.new_output::<Vec<SharedBatch>>();
    let mut ok_out = OutputBuilder::from(ok_out);
    let mut err_out = OutputBuilder::from(err_out);
    builder.build(move |_| {
        let (mut made, mut errors) = (Vec::new(), Vec::new());
        move |_frontiers| {
            let mut ok_handle = ok_out.activate();
            let mut err_handle = err_out.activate();
            input.for_each_time(|cap, data| {
                let ok_cap = cap.retain(0);
                let err_cap = cap.retain(1);
                let mut failed = Vec::new();
                for batch in data.flat_map(|d| d.drain(..)) {
                    f(&batch, &mut made, &mut errors);
                    for (i, reason) in errors.drain(..) {
                        let r = &batch.records[i];
                        failed.push(dead_letter(&source, r.pos, r.seq, &reason, &raw_of(&batch, r, &schema)));
                    }
                }
                if !made.is_empty() {
                    ok_handle.session(&ok_cap).give_container(&mut made);
                    made.clear();
                }
                if !failed.is_empty() {
                    err_handle.session(&err_cap).give(Arc::new(Batch::new(failed, None)));
                }
            });
        }
    });
    (ok, err)
}

/// The reason a dead letter gives for a failed expression.
pub fn failure(text: &str, e: impl std::fmt::Display) -> String {
    format!("expression `{text}`: {e}")
}
