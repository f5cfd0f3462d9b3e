//! Reading a kind's options: a path-aware reader over one table of options ([`Section`]) that collects every
//! problem instead of stopping at the first, and reports keys nobody read as unknown. The TOML front end
//! hands it a job file's tables; any other front end (SQL's `WITH (...)`) builds the same table of values,
//! so each kind parses its options once, in its own folder.

pub mod alerting;
mod fields;
mod schema;
mod section;

pub use fields::{did_you_mean, fields_of, name_list};
pub use schema::parse_schema;
pub use section::{url_scheme, Problems, Section};

/// One problem in a job definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}
