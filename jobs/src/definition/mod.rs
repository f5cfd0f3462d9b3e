//! Job definitions: TOML files shaped like Vector's configs (`[job]`, `[sources.NAME]`, `[operators.NAME]`,
//! `[sinks.NAME]`), with `${VAR}` / `${VAR:-default}` interpolation and `--set dotted.key=value` overrides.
//!
//! Loading works on the generic TOML tree so that validation can report *every* problem at once, each with
//! the file, the key path and what is allowed — the errors a data engineer fixes in one pass.

pub mod interpolate;
pub mod overrides;

use std::fmt;
use std::path::{Path, PathBuf};

pub use weir_engine::config::{url_scheme, Problem, Problems, Section};

/// All problems found in one job definition.
#[derive(Debug, Clone, thiserror::Error)]
pub struct DefinitionError {
    pub file: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{}: {n} problem{} in the job definition:",
            self.file,
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            if p.path.is_empty() {
                writeln!(f, "  {}: {}", self.file, p.message)?;
            } else {
                writeln!(f, "  {}: {}: {}", self.file, p.path, p.message)?;
            }
        }
        Ok(())
    }
}

/// A job definition's text, where it came from, and where relative paths in it are anchored.
#[derive(Debug, Clone)]
pub struct JobSource {
    pub name: String,
    pub text: String,
    /// Relative paths in the job resolve against the current directory, like other CLI tools.
    pub base_dir: PathBuf,
}

impl JobSource {
    /// The job file's name without its directory and extension.
    pub fn stem(&self) -> String {
        Path::new(&self.name)
            .file_stem()
            .map_or_else(|| self.name.clone(), |s| s.to_string_lossy().into_owned())
    }

    /// Whether the job is SQL (a `.sql` file) rather than TOML.
    pub fn is_sql(&self) -> bool {
        self.name.ends_with(".sql")
    }

    pub fn from_file(path: &Path) -> Result<Self, DefinitionError> {
        let text = std::fs::read_to_string(path).map_err(|e| DefinitionError {
            file: path.display().to_string(),
            problems: vec![Problem {
                path: String::new(),
                message: format!("cannot read the job file: {e}"),
            }],
        })?;
        Ok(Self {
            name: path.display().to_string(),
            text,
            base_dir: PathBuf::from("."),
        })
    }
}

/// Command-line changes to a job definition: `--unset KEY`s (applied first), then `--set KEY=VALUE`s.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub unset: Vec<String>,
    pub set: Vec<String>,
}

impl Overrides {
    /// Only `--set`s.
    pub fn sets(set: Vec<String>) -> Self {
        Overrides { unset: Vec::new(), set }
    }
}

/// Parses (TOML, or SQL into the same table: [`crate::sql`]), applies overrides and interpolates `${VAR}` (in the file's values and the overrides' alike),
/// yielding the final TOML tree.
pub fn load(
    source: &JobSource,
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<toml::Table, DefinitionError> {
    read(source, overrides, Some(env))
}

/// The job table as written (with `--set`/`--unset` applied), its `${VAR}` references not yet replaced —
/// what `weir explain --format sql` prints from.
pub fn load_as_written(source: &JobSource, overrides: &Overrides) -> Result<toml::Table, DefinitionError> {
    read(source, overrides, None)
}

/// How `${VAR}` is looked up.
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn read(source: &JobSource, overrides: &Overrides, env: Option<Env<'_>>) -> Result<toml::Table, DefinitionError> {
    let fail = |problems: Vec<Problem>| DefinitionError {
        file: source.name.clone(),
        problems,
    };
    let mut table: toml::Table = if source.is_sql() {
        crate::sql::job_table(&source.text, &source.stem()).map_err(fail)?
    } else {
        source.text.parse().map_err(|e: toml::de::Error| {
            let at = e.span().map(|s| line_col(&source.text, s.start)).unwrap_or_default();
            fail(vec![Problem {
                path: at,
                message: format!("not valid TOML: {}", e.message()),
            }])
        })?
    };
    let mut problems = Vec::new();
    for key in &overrides.unset {
        if let Err(p) = overrides::remove(&mut table, key) {
            problems.push(p);
        }
    }
    for s in &overrides.set {
        if let Err(p) = overrides::apply(&mut table, s) {
            problems.push(p);
        }
    }
    if let Some(env) = env {
        interpolate::interpolate_table(&mut table, "", env, &mut problems);
    }
    if problems.is_empty() {
        Ok(table)
    } else {
        Err(fail(problems))
    }
}

fn line_col(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("line {line}, column {col}")
}
