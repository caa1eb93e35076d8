//! etlx: a SQL-first transformation framework in the style of dbt.
//!
//! The library is the whole tool except the terminal: it loads a project, renders and compiles
//! its models, and reports problems as data. The `etlx` binary (`src/main.rs` and `src/cli/`)
//! parses arguments, calls in here, and decides what to print and which exit code to return.

pub mod adapter;
pub mod artifacts;
pub mod aws;
pub mod cancel;
pub mod clean;
pub mod compile;
pub mod demo;
pub mod deps;
pub mod diag;
pub mod docs;
pub mod execute;
pub mod graph;
pub mod lineage;
pub mod materialize;
pub mod project;
pub mod scaffold;
pub mod sql;
pub mod state;
pub mod template;
