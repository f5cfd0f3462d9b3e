//! Sources of raw JSONL chunks: files, the built-in generators, and Kafka topics.
//!
//! A source here only produces bytes, cut into chunks at line boundaries; decoding, sequencing and timely
//! progress live in [`crate::dataflow::source_op`].

pub mod file;
pub mod generator;
pub mod kafka;
pub mod pace;

use std::sync::Arc;

/// The bytes of one chunk: generated (owned), or a window into a memory-mapped file, so file input is never
/// copied out of the page cache.
pub enum RawBytes {
    Owned(Vec<u8>),
    Mapped {
        map: Arc<memmap2::Mmap>,
        start: usize,
        end: usize,
    },
}

impl std::ops::Deref for RawBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            RawBytes::Owned(v) => v,
            RawBytes::Mapped { map, start, end } => &map[*start..*end],
        }
    }
}

/// The kernel maps up to this much around a page fault ("fault-around"), so touching a boundary byte of a
/// neighbouring chunk can bring back pages of it that were already released.
const FAULT_AROUND: usize = 64 << 10;

impl Drop for RawBytes {
    /// Drops a mapped chunk's pages — plus a fault-around window either side — from this process's resident
    /// set once every operator is done with it; they stay in the page cache. Without this, peak RSS would
    /// grow to the size of the input file.
    fn drop(&mut self) {
        if let RawBytes::Mapped { map, start, end } = self {
            let from = start.saturating_sub(FAULT_AROUND);
            let to = (*end + FAULT_AROUND).min(map.len());
            if to > from {
                // SAFETY: the map is a read-only file mapping; MADV_DONTNEED only drops pages, which a later
                // access (a neighbouring chunk still being decoded) reloads from the file unchanged.
                let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, to - from) };
            }
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
pub trait ChunkReader {
    /// The next chunk `(index, bytes)`, or `None` when this worker has no more.
    fn next_chunk(&mut self) -> std::io::Result<Option<(u64, RawBytes)>>;
    /// The index of the next chunk this worker will produce (for progress lower bounds).
    fn next_index(&self) -> u64;
    /// Bytes produced so far by this reader.
    fn bytes_read(&self) -> u64;
}
