//! Files: the `file` source (JSONL, read in parallel chunks, one partition per file) and the `file` table
//! (JSONL or CSV, re-read when it changes).

pub mod config;
pub mod source;
pub mod table;
