//! Sources of raw JSONL chunks: files, the built-in generators, and Kafka topics.
//!
//! A source here only produces bytes, cut into chunks at line boundaries; decoding, sequencing and timely
//! progress live in [`crate::dataflow::source_op`].

pub mod file;
pub mod generator;
pub mod kafka;
pub mod kafka_queue;
pub mod pace;

/// The bytes of one chunk: generated, or read from a file starting at byte `start`.
pub enum RawBytes {
    Owned(Vec<u8>),
    /// Bytes read at file offset `start`: the chunk is `bytes[skip..]` (the part of a line that began in the
    /// previous chunk is skipped rather than shifted out). A last line longer than the source's
    /// `max_record_bytes` is kept only in part: `dropped` of its bytes were skipped, not read into memory.
    Read {
        bytes: Vec<u8>,
        skip: usize,
        start: u64,
        dropped: u64,
    },
}

impl RawBytes {
    /// How many bytes of the chunk's last line were skipped (see [`RawBytes::Read`]).
    pub fn dropped(&self) -> u64 {
        match self {
            RawBytes::Read { dropped, .. } => *dropped,
            RawBytes::Owned(_) => 0,
        }
    }
}

impl std::ops::Deref for RawBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            RawBytes::Owned(v) => v,
            RawBytes::Read { bytes, skip, .. } => &bytes[*skip..],
        }
    }
}

impl Default for RawBytes {
    fn default() -> Self {
        RawBytes::Owned(Vec::new())
    }
}

impl std::fmt::Debug for RawBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawBytes({} bytes)", self.len())
    }
}

impl From<Vec<u8>> for RawBytes {
    fn from(v: Vec<u8>) -> Self {
        RawBytes::Owned(v)
    }
}

/// Produces the chunks one worker is responsible for, in increasing chunk index.
/// A partition another process reads (cluster mode): no chunks here.
pub struct NoChunks;

impl ChunkReader for NoChunks {
    fn next_chunk(&mut self) -> std::io::Result<Option<(u64, RawBytes)>> {
        Ok(None)
    }
    fn next_index(&self) -> u64 {
        0
    }
    fn bytes_read(&self) -> u64 {
        0
    }
}

pub trait ChunkReader {
    /// The next chunk `(index, bytes)`, or `None` when this worker has no more.
    fn next_chunk(&mut self) -> std::io::Result<Option<(u64, RawBytes)>>;
    /// The index of the next chunk this worker will produce (for progress lower bounds).
    fn next_index(&self) -> u64;
    /// Bytes produced so far by this reader.
    fn bytes_read(&self) -> u64;
    /// For a paced reader: not before when the next chunk may be read. The source operator waits by asking
    /// to be scheduled again then, never by sleeping, so its worker goes on exchanging data and progress.
    fn ready_at(&self) -> Option<std::time::Instant> {
        None
    }
}
