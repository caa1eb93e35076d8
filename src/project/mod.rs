//! A dbt project as data: its files, nodes, sources, macros and configuration, read from disk.
//!
//! This is the bottom of the library (only `diag` and `sql` are below it): everything else
//! compiles, runs or reports on a `Project`. Loading never stops at the first problem: every
//! file is read (in parallel), every YAML document checked, and all problems are returned as
//! diagnostics beside whatever could be loaded, so one `etlx compile` lists every mistake with
//! its location.

pub mod config;
pub mod data_test_specs;
mod dbt_version;
mod folder_config;
mod load;
pub mod macros;
pub mod packages;
pub mod profile;
mod project_file;
pub mod properties;
mod resources;
mod snapshot_blocks;
#[cfg(test)]
pub(crate) mod testing;
pub mod unit_test_specs;
pub mod yaml;

pub use config::Config;
pub use dbt_version::DBT_VERSION;
pub use load::{BUILTIN_TESTS_PATH, LoadError, find_root, is_builtin_macro_file, load, utf8_text};
pub use profile::{Secrets, Target};
pub use project_file::PROJECT_FILES;
pub use resources::*;
pub use unit_test_specs::UnitTest;
