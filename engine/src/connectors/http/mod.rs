//! HTTP: `kind = "http"` under `[tables]`, a reference table polled from a web API ([`table`]).

pub mod config;
pub mod table;
