//! Sources of raw JSONL chunks: files and the built-in generators.
//!
//! A source here only produces bytes, cut into chunks at line boundaries; decoding, sequencing and timely
//! progress live in [`crate::dataflow::source_op`].

pub mod file;
pub mod generator;

/// Produces the chunks one worker is responsible for, in increasing chunk index.
pub trait ChunkReader {
    /// The next chunk `(index, bytes)`, or `None` when this worker has no more.
    fn next_chunk(&mut self) -> std::io::Result<Option<(u64, Vec<u8>)>>;
    /// The index of the next chunk this worker will produce (for progress lower bounds).
    fn next_index(&self) -> u64;
    /// Bytes produced so far by this reader.
    fn bytes_read(&self) -> u64;
}
