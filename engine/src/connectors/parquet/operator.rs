//! The Parquet sink's operator: gathers records on worker 0, writes them in deterministic order as the frontier
//! passes, and hands its files' state to checkpoints.

use super::ParquetRowWriter;
use crate::checkpoint::Contribution;
use crate::dataflow::sink_op::{sink_operator, suspending, take_ready, Discard, JobEnd};
use crate::dataflow::{RunContext, Time};
use crate::record::Record;
use timely::dataflow::Stream;

impl Discard for ParquetRowWriter {
    fn discard(&mut self) {
        self.abort()
    }
}

/// Writes records to Parquet; `writer` is `Some` on worker 0 only.
pub fn parquet_sink<'s>(
    stream: Stream<'s, Time, Vec<Record>>,
    job_end: &JobEnd<'s>,
    name: String,
    writer: Option<ParquetRowWriter>,
    ctx: RunContext,
) {
    let run = ctx.clone();
    let label = name.clone();
    sink_operator(
        stream,
        job_end,
        label,
        writer,
        run,
        move |w, pending, f, ended, due, part| {
            let mut write = |w: &mut ParquetRowWriter, upto: Option<Time>| -> std::io::Result<()> {
                let ready = take_ready(pending, upto, Record::lt, Record::order);
                let n = ready.len() as u64;
                w.write(ready)?;
                w.close_ready(upto)?;
                ctx.metrics.records_written(&name, n);
                Ok(())
            };
            if let Some((epoch, at)) = due {
                write(w, Some(at))?;
                let (state, commits) = w.checkpoint(epoch)?;
                part.submit(
                    epoch,
                    Contribution {
                        commits,
                        ..Contribution::of(&state)
                    },
                );
            }
            if suspending(&ctx.stop, part, ended) {
                return Ok(()); // its rows stay in the final checkpoint
            }
            write(w, f)?;
            if ended {
                // Without checkpoints a stopped job publishes the rows it has, partitions complete or not.
                w.close_ready(None)?;
                w.publish_staged()?;
            }
            Ok(())
        },
    );
}
