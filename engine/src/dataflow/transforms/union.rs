//! `kind = "union"`: merges streams of one schema. Records keep their positions, so the merged order is the
//! same deterministic order every operator uses.

use crate::record::RecordStream;
use timely::dataflow::operators::Concatenate;

/// The records of all `inputs`.
pub fn union<'s>(inputs: Vec<RecordStream<'s>>) -> RecordStream<'s> {
    match <[_; 1]>::try_from(inputs) {
        Ok([one]) => one,
        Err(inputs) => {
            let scope = inputs[0].scope();
            scope.concatenate(inputs)
        }
    }
}
