//! `kind = "stdout"`: every input's records as JSON lines on standard output, for trying jobs out.

use crate::component::{SinkBuildContext, SinkComponent};
use crate::dataflow::sink_op::line_sink;
use crate::dataflow::sink_op::LineWriter;
use crate::dataflow::Line;
use crate::error::BuildError;
use crate::record::RecordStream;
use std::io::{self, Write};

/// Lines to standard output.
pub struct StdoutWriter;

impl LineWriter for StdoutWriter {
    fn write(&mut self, lines: &[Line]) -> io::Result<()> {
        let mut out = io::stdout().lock();
        for l in lines {
            out.write_all(l.text.as_bytes())?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn abort(&mut self) {}
}

/// The stdout sink component.
#[derive(Clone, Debug)]
pub struct StdoutSink;

impl SinkComponent for StdoutSink {
    fn kind(&self) -> &'static str {
        "stdout"
    }

    fn describe(&self, _name: &str) -> String {
        "stdout".into()
    }

    fn build<'s>(&self, cx: SinkBuildContext<'s, '_>) -> Result<Option<RecordStream<'s>>, BuildError> {
        let lines = cx.lines(|_| None);
        let writer: Option<Box<dyn LineWriter>> = cx.writes.then(|| Box::new(StdoutWriter) as Box<dyn LineWriter>);
        line_sink(lines, cx.job_end, cx.name.to_string(), writer, cx.ctx.clone());
        Ok(None)
    }
}

/// `kind = "stdout"`: no options.
pub fn sink(_: &crate::config::Section, _: &[Option<crate::schema::Schema>]) -> Option<std::sync::Arc<dyn crate::component::SinkComponent>> {
    Some(std::sync::Arc::new(StdoutSink))
}
