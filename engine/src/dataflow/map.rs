//! Stateless transforms: `filter`, `derive` and `union`. Each record keeps its position and logical time, so
//! what follows a transform sees exactly the order and lateness it would have seen reading the input.
//!
//! Transforms run on the worker that holds the records (no exchange). A record an expression fails on goes
//! to the transform's dead letters with the reason `expression `…`: …` and its raw bytes.

use crate::dataflow::dead_letters::{failed_record, split_batches};
use crate::record::{Batch, Record, RecordStream};
use crate::schema::Schema;
use std::sync::Arc;

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
    let source = name.to_string();
    split_batches(input, name, move |batch, out, dead| match f(batch) {
        Mapped::Same => out.push(batch.clone()),
        Mapped::New(records, failed) => {
            dead.extend(
                failed
                    .iter()
                    .map(|(i, reason)| failed_record(&source, &schema, batch, *i, reason)),
            );
            if !records.is_empty() {
                out.push(Arc::new(Batch::new(records, batch.origin.clone())));
            }
        }
    })
}

/// The reason a dead letter gives for a failed expression.
pub fn failure(text: &str, e: impl std::fmt::Display) -> String {
    format!("expression `{text}`: {e}")
}
