//! One module per command of the `weir` binary.

pub(crate) mod child;
pub(crate) mod cluster;
pub(crate) mod demo;
pub(crate) mod generate;
pub(crate) mod publish;
pub(crate) mod run;
pub(crate) mod sql;
pub(crate) mod supervise;
