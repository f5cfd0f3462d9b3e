//! `kind = "derive"`: computes fields (`fields = { name = "EXPR" }`), replacing or adding them, and drops
//! others (`drop = [...]`). The output's schema is the input's with those changes.

use crate::component::registry::OperatorInputs;
use crate::config::Section;
use crate::expr::compile;
use crate::schema::{Field, FieldType};
use std::sync::Arc;
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

/// `kind = "derive"`: the output fields, kept or computed.
pub fn parse(s: &Section, inputs: &OperatorInputs) -> Option<(Arc<dyn OperatorComponent>, Schema)> {
    let input = &inputs[0];
    let drop = s.str_list("drop").unwrap_or_default();
    let computed = s.table("fields");
    if computed.is_none() && drop.is_empty() {
        s.problem(
            "fields",
            "is required: a table of NAME = \"EXPRESSION\", e.g. fields = { speed_kmh = \"speed_ms * 3.6\" }",
        );
        return None;
    }
    let mut ok = true;
    let event_time = input.event_time_name();
    for d in &drop {
        if input.index_of(d).is_none() {
            s.problem(
                "drop",
                format!("field `{d}` is not in the input's schema; available: {}", input.names()),
            );
            ok = false;
        } else if *d == event_time && !event_time.is_empty() {
            s.problem(
                "drop",
                format!("`{d}` is the stream's event time and cannot be dropped"),
            );
            ok = false;
        }
    }
    // The input's fields (minus dropped ones, replaced ones in place), then the new ones in file order.
    let mut columns: Vec<(Field, DeriveColumn)> = input
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| !drop.contains(&f.name.as_str()))
        .map(|(i, f)| (f.clone(), DeriveColumn::Keep(i)))
        .collect();
    if let Some(t) = &computed {
        for (name, v) in t.entries() {
            let Some(text) = v.as_str() else {
                t.problem(name, "expected an expression string, e.g. \"ppv_mm_s * 2\"");
                ok = false;
                continue;
            };
            if name == event_time && !event_time.is_empty() {
                t.problem(
                    name,
                    format!("`{name}` is the stream's event time and cannot be replaced"),
                );
                ok = false;
                continue;
            }
            let typed = match compile(text, input) {
                Ok(t) => t,
                Err(e) => {
                    t.problem(name, e.to_string());
                    ok = false;
                    continue;
                }
            };
            let Some(ty) = typed.ty else {
                t.problem(
                    name,
                    format!("`{text}` is always NULL: give it a type, e.g. CAST(NULL AS DOUBLE)"),
                );
                ok = false;
                continue;
            };
            let field = Field {
                name: name.clone(),
                ty: FieldType::of(ty),
                nullable: typed.nullable,
            };
            match columns.iter().position(|(f, _)| f.name == *name) {
                Some(i) => columns[i] = (field, DeriveColumn::Compute(typed)),
                None => columns.push((field, DeriveColumn::Compute(typed))),
            }
        }
    }
    if !ok {
        return None;
    }
    let event_time = columns
        .iter()
        .position(|(f, _)| f.name == event_time)
        .unwrap_or(crate::schema::NO_EVENT_TIME);
    let (fields, columns): (Vec<Field>, Vec<DeriveColumn>) = columns.into_iter().unzip();
    let names = fields.iter().map(|f| f.name.clone()).collect();
    Some((Arc::new(DerivePlan { columns, names }), Schema { fields, event_time }))
}
