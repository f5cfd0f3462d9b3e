//! HTTP: `kind = "http"` under `[tables]`, a reference table polled from a web API ([`table`]), and under
//! `[sources]`, records POSTed to `/v1/ingest/NAME` and kept in an ingest log ([`ingest`]).

pub mod config;
pub mod ingest;
pub mod table;
