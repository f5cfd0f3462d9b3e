//! Job definitions, their validation and planning, and the pieces of the `weir` command line.

pub mod definition;
pub mod explain;
pub mod planner;
pub mod progress;
pub mod sql;

use definition::{DefinitionError, JobSource, Overrides};
use weir_engine::plan::Plan;

/// Loads and plans a job definition with `--unset`/`--set` overrides and `--workers`.
pub fn load_plan(source: &JobSource, overrides: &Overrides, workers: Option<usize>) -> Result<Plan, DefinitionError> {
    let env = |name: &str| std::env::var(name).ok();
    let table = definition::load(source, overrides, &env)?;
    let mut plan = planner::plan(source, &table).map_err(|mut e| {
        if source.is_sql() {
            sql::locate(&source.text, &source.stem(), &mut e.problems);
        }
        e
    })?;
    if let Some(w) = workers {
        plan.workers = w.max(1);
    }
    Ok(plan)
}
