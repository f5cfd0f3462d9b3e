//! A Delta table's committer: gathers on worker 0 the files every writer staged and makes each checkpoint's
//! files one Delta commit.
//!
//! For checkpoint E it waits until every writer has said which files it staged for E (a [`WriterNote`],
//! possibly empty), then hands in, as its part of E, those files and the log commit adding them — published
//! in that order once the checkpoint is durable everywhere (with several processes, by process 0, which
//! therefore needs the table's staging directory shared, as the checkpoint directory is). At the end of
//! input, once every writer has sent its last files, it publishes them with one more commit.

use super::delta::DeltaLog;
use super::operator::WriterNote;
use super::writer::StagedFile;
use crate::checkpoint::{sink_state_name, Contribution};
use crate::dataflow::sink_op::may_write;
use crate::dataflow::{participant, JobFailure, RunContext, Time};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

/// The committer's participant name in checkpoints (beside the writers' `sinks.NAME`).
pub fn committer_state_name(sink: &str) -> String {
    format!("{}.log", sink_state_name(sink))
}

/// What the committer has heard for one checkpoint (or, under `None`, for the end of input).
#[derive(Default)]
struct Heard {
    writers: BTreeSet<usize>,
    files: Vec<StagedFile>,
}

impl Heard {
    /// The staged data files, in a deterministic order, checked to be visible here.
    fn files(&mut self) -> io::Result<Vec<StagedFile>> {
        self.files.sort();
        for f in &self.files {
            if !f.tmp.exists() {
                return Err(io::Error::other(format!(
                    "the staged file `{}` written by another process is not visible here: with several processes \
                     a Delta table's directory (or, on object storage, the checkpoint directory) must be shared \
                     by all of them",
                    f.tmp.display()
                )));
            }
        }
        Ok(std::mem::take(&mut self.files))
    }
}

/// The (temp, final) pairs that publish `files`, then the log commit.
fn commits(files: &[StagedFile], log_commit: Option<(PathBuf, PathBuf)>) -> Vec<(PathBuf, PathBuf)> {
    let mut out: Vec<(PathBuf, PathBuf)> = files.iter().map(|f| (f.tmp.clone(), f.path.clone())).collect();
    out.extend(log_commit);
    out
}

/// Commits the files of a Delta table's writers; `log` is `Some` on worker 0 only.
pub fn delta_committer<'s>(notes: Stream<'s, Time, Vec<WriterNote>>, name: String, log: Option<DeltaLog>, ctx: RunContext) {
    let scope = notes.scope();
    let writers = scope.peers();
    let mut log = log;
    let mut heard: BTreeMap<Option<u64>, Heard> = BTreeMap::new();
    let mut failed = false;
    let mut done = false;
    let pact = Exchange::new(|_: &WriterNote| 0);
    notes.unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(pact, &format!("DeltaCommitter({name})"), |initial, info| {
        drop(initial);
        let mut part = participant(scope, &info, &committer_state_name(&name), &ctx.checkpoints);
        move |(input, frontier), _output| {
            input.for_each_stamp(|_, data| {
                for note in data.flat_map(|d| d.drain(..)) {
                    let h = heard.entry(note.epoch).or_default();
                    h.writers.insert(note.worker);
                    h.files.extend(note.files);
                }
            });
            let due = part.due(None);
            let Some(l) = log.as_mut() else {
                if let Some((epoch, _)) = due {
                    part.submit(epoch, Contribution::empty());
                }
                return;
            };
            let discard = |heard: &mut BTreeMap<Option<u64>, Heard>| {
                for f in heard.values().flat_map(|h| &h.files) {
                    let _ = std::fs::remove_file(&f.tmp);
                }
                heard.clear();
            };
            if !may_write(&mut failed, &ctx.stop, || discard(&mut heard)) {
                return;
            }
            let mut step = || -> io::Result<()> {
                if let Some((epoch, _)) = due {
                    if heard.get(&Some(epoch)).is_some_and(|h| h.writers.len() == writers) {
                        let files = heard.get_mut(&Some(epoch)).map(Heard::files).transpose()?.unwrap_or_default();
                        heard.remove(&Some(epoch));
                        let log_commit = l.stage(epoch, &files)?;
                        part.submit(
                            epoch,
                            Contribution {
                                commits: commits(&files, log_commit),
                                ..Contribution::empty()
                            },
                        );
                    }
                }
                let all_ended = heard.get(&None).is_some_and(|h| h.writers.len() == writers);
                if all_ended && !done && frontier.is_empty() {
                    let files = heard.get_mut(&None).map(Heard::files).transpose()?.unwrap_or_default();
                    let log_commit = l.stage(l.last_epoch() + 1, &files)?;
                    crate::checkpoint::coordinator::commit_files(&commits(&files, log_commit))?;
                    done = true;
                }
                Ok(())
            };
            if let Err(e) = step() {
                ctx.stop.fail(JobFailure::SinkWrite {
                    sink: name.clone(),
                    cause: e.to_string(),
                });
                discard(&mut heard);
                failed = true;
            }
        }
    });
}
