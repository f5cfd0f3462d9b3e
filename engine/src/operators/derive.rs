//! `kind = "derive"`: computes fields (`fields = { name = "EXPR" }`), replacing or adding them, and drops
//! others (`drop = [...]`). The output's schema is the input's with those changes.

use crate::component::{BuildContext, OperatorComponent, Outputs};
use crate::dataflow::map::{failure, map_batches, Mapped};
use crate::expr::Typed;
use crate::record::{Record, RecordStream, Row};
use crate::schema::Schema;

/// `kind = "derive"`: the output's fields, each an input field or a computed one.
#[derive(Clone, Debug)]
pub struct DerivePlan {
    pub columns: Vec<DeriveColumn>,
    /// The output field names, one per column.
    pub names: Vec<String>,
}

#[derive(Clone, Debug)]
pub enum DeriveColumn {
    /// The input field with this index.
    Keep(usize),
    /// A computed field.
    Compute(Typed),
}

/// `input` with the plan's columns, and the dead letters of the records an expression failed on.
pub fn derive<'s>(
    input: RecordStream<'s>,
    name: &str,
    plan: DerivePlan,
    schema: Schema,
) -> (RecordStream<'s>, RecordStream<'s>) {
    let columns = plan.columns;
    map_batches(input, name, schema, move |batch| {
        let mut out = Vec::with_capacity(batch.records.len());
        let mut errors = Vec::new();
        'records: for (i, r) in batch.records.iter().enumerate() {
            let mut values = Row::with_capacity(columns.len());
            for c in &columns {
                match c {
                    DeriveColumn::Keep(f) => values.push(r.values[*f].clone()),
                    DeriveColumn::Compute(e) => match e.eval(&r.values) {
                        Ok(v) => values.push(v.into_owned()),
                        Err(err) => {
                            errors.push((i, failure(&e.text, err)));
                            continue 'records;
                        }
                    },
                }
            }
            out.push(Record {
                values,
                ..r.clone_header()
            });
        }
        Mapped::New(out, errors)
    })
}

impl OperatorComponent for DerivePlan {
    fn kind(&self) -> &'static str {
        "derive"
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
        let cols: Vec<String> = self
            .columns
            .iter()
            .zip(&self.names)
            .map(|(c, name)| match c {
                DeriveColumn::Keep(_) => name.clone(),
                DeriveColumn::Compute(e) => format!("{name} = `{}`", e.text),
            })
            .collect();
        format!("derive [{}]", cols.join(", "))
    }
    fn build<'s>(&self, cx: BuildContext<'s, '_>) -> Outputs<'s> {
        let input = cx.inputs.into_iter().next().expect("one input");
        let (out, failed) = derive(input, cx.name, self.clone(), cx.input_schema);
        Outputs::with_dead_letters(out, failed)
    }
}
