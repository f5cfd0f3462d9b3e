//! The shared part of the chunk-read source kinds (files, generators): their partitions as the workers of a
//! process share them, and one [`chunk_source`] operator per partition on each worker.

use crate::component::{SourceBuildContext, SourcePrepareContext};
use crate::dataflow::source_op::{chunk_source, ChunkReader, SourceSetup, MAX_IN_FLIGHT};
use crate::record::RecordStream;
use crate::sequencer::ChunkSequencer;
use std::sync::Arc;
use timely::dataflow::operators::Concatenate;

/// The partitions of one chunk-read source (files, generators) as the workers of a process share them: one
/// sequencer per partition, started at the checkpoint's resume point.
pub struct ChunkPartitions {
    sequencers: Vec<Arc<ChunkSequencer>>,
}

impl ChunkPartitions {
    /// `logged`: whether each chunk's resume point goes into the checkpoint's resume log (a generated
    /// source is regenerated from its start on restore instead).
    pub fn new(cx: &SourcePrepareContext, partitions: usize, logged: bool) -> Self {
        let s = cx.source;
        let sequencers = (0..partitions as u32)
            .map(|p| {
                // Every worker reads (its share of) every partition.
                cx.ctx.progress.expect_final_reports(cx.index as u32, p, cx.workers);
                let start = cx.restored.map(|c| c.resume_point(&s.name, p)).unwrap_or_default();
                let log = logged
                    .then(|| cx.coordinator.resume_log(&s.name, p))
                    .flatten()
                    .map(|l| (l, s.max_out_of_orderness_ms));
                Arc::new(ChunkSequencer::new(&start, log).with_future_bound(s.future_bound()))
            })
            .collect();
        Self { sequencers }
    }

    /// One source operator per partition on this worker (each with its own watermark), `readers` in
    /// partition order, merged into one stream.
    pub fn build<'s>(&self, cx: &SourceBuildContext<'s, '_>, readers: Vec<Box<dyn ChunkReader>>) -> RecordStream<'s> {
        let s = cx.source;
        let mut parts: Vec<RecordStream<'s>> = readers
            .into_iter()
            .enumerate()
            .map(|(partition, reader)| {
                let setup = SourceSetup {
                    name: s.name.clone(),
                    source_index: cx.index as u32,
                    partition: partition as u32,
                    reader,
                    decoder: s.decoder(),
                    sequencer: self.sequencers[partition].clone(),
                    max_out_of_orderness_ms: s.max_out_of_orderness_ms,
                    future: s.future_bound(),
                    probe: cx.probe.clone(),
                    max_in_flight: MAX_IN_FLIGHT,
                    resumed: cx
                        .restored
                        .map(|c| (c.at, c.resume_point(&s.name, partition as u32).max_before)),
                };
                chunk_source(cx.scope, setup, cx.ctx.clone())
            })
            .collect();
        if parts.len() == 1 {
            parts.pop().expect("one partition")
        } else {
            cx.scope.concatenate(parts)
        }
    }
}
