//! `kind = "union"`: merges streams of one schema. Records keep their positions, so the merged order is the
//! same deterministic order every operator uses.

use crate::component::registry::OperatorInputs;
use crate::config::Section;
use std::sync::Arc;
use crate::component::{BuildContext, OperatorComponent, Outputs};
use crate::record::RecordStream;
use crate::schema::Schema;
use timely::dataflow::operators::Concatenate;

/// `kind = "union"`: merges streams of one schema.
#[derive(Clone, Debug)]
pub struct UnionPlan;

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

impl OperatorComponent for UnionPlan {
    fn kind(&self) -> &'static str {
        "union"
    }
    fn is_stateful(&self) -> bool {
        false
    }
    fn passes_rows_through(&self) -> bool {
        true
    }
    fn describe(&self, _input: &Schema) -> String {
        "union".to_string()
    }
    fn build<'s>(&self, cx: BuildContext<'s, '_>) -> Outputs<'s> {
        Outputs::main(union(cx.inputs))
    }
}

/// `kind = "union"`: no options; every input has one schema.
pub fn parse(s: &Section, inputs: &OperatorInputs) -> Option<(Arc<dyn OperatorComponent>, Schema)> {
    let first = &inputs[0];
    let mut out = first.clone();
    for (i, other) in inputs.iter().enumerate().skip(1) {
        if !first.union_compatible(other) {
            s.problem(
                "inputs",
                format!(
                    "a union merges streams of one schema, but input {} has ({other}) and input 1 has ({first}); \
                     to write streams of different schemas to one place, list them in a sink's `inputs` instead \
                     (every sink kind but Parquet reads several)",
                    i + 1
                ),
            );
            return None;
        }
        for (f, o) in out.fields.iter_mut().zip(&other.fields) {
            f.nullable |= o.nullable;
        }
    }
    Some((Arc::new(UnionPlan), out))
}
