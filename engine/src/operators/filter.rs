//! `kind = "filter"`: keeps the records where `where` is TRUE (NULL and FALSE drop them).

use crate::component::registry::OperatorInputs;
use crate::config::Section;
use crate::expr::compile_predicate;
use std::sync::Arc;
use crate::component::{BuildContext, OperatorComponent, Outputs};
use crate::dataflow::map::{failure, map_batches, Mapped};
use crate::expr::Typed;
use crate::record::RecordStream;
use crate::schema::Schema;

/// `kind = "filter"`: keeps the records where the predicate is TRUE.
#[derive(Clone, Debug)]
pub struct FilterPlan {
    pub predicate: Typed,
}

/// The records of `input` that satisfy the plan's predicate, and the dead letters of those it failed on.
pub fn filter<'s>(
    input: RecordStream<'s>,
    name: &str,
    plan: FilterPlan,
    schema: Schema,
) -> (RecordStream<'s>, RecordStream<'s>) {
    let predicate = plan.predicate;
    map_batches(input, name, schema, move |batch| {
        let mut keep = Vec::new();
        let mut errors = Vec::new();
        for (i, r) in batch.records.iter().enumerate() {
            match predicate.holds(&r.values) {
                Ok(true) => keep.push(i),
                Ok(false) => {}
                Err(e) => errors.push((i, failure(&predicate.text, e))),
            }
        }
        if keep.len() == batch.records.len() {
            return Mapped::Same;
        }
        Mapped::New(keep.into_iter().map(|i| batch.records[i].clone()).collect(), errors)
    })
}

impl OperatorComponent for FilterPlan {
    fn kind(&self) -> &'static str {
        "filter"
    }
    fn has_dead_letters(&self) -> bool {
        true
    }
    fn is_stateful(&self) -> bool {
        false
    }
    fn passes_rows_through(&self) -> bool {
        true
    }
    fn describe(&self, _input: &Schema) -> String {
        format!("filter where `{}`", self.predicate.text)
    }
    fn build<'s>(&self, cx: BuildContext<'s, '_>) -> Outputs<'s> {
        let input = cx.inputs.into_iter().next().expect("one input");
        let (kept, failed) = filter(input, cx.name, self.clone(), cx.input_schema);
        Outputs::with_dead_letters(kept, failed)
    }
}

/// `kind = "filter"`: `where` (a predicate over the input's fields).
pub fn parse(s: &Section, inputs: &OperatorInputs) -> Option<(Arc<dyn OperatorComponent>, Schema)> {
    let text = s.req_str("where")?;
    match compile_predicate(text, &inputs[0]) {
        Ok(predicate) => Some((Arc::new(FilterPlan { predicate }), inputs[0].clone())),
        Err(e) => {
            s.problem("where", e.to_string());
            None
        }
    }
}
