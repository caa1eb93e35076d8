//! Why a step of a run failed, as a value the executor can inspect before it becomes the
//! message of a node's result.
//!
//! Each variant's text is what users read in the run output and in `run_results.json`, so
//! wrapped errors are shown as they are (`transparent`) and nothing here adds a prefix that
//! the wrapped error already has.

use std::path::PathBuf;

use crate::adapter::AdapterError;
use crate::aws::AwsError;
use crate::materialize::PlanError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Warehouse(#[from] AdapterError),
    /// The warehouse refused one statement of a build: kept, to find the line in the model.
    #[error("{source}")]
    Statement {
        source: AdapterError,
        statement: String,
    },
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Landing files DuckDB could not read (a bad glob, a corrupt file).
    #[error("cannot read the files: {0}")]
    Files(AdapterError),
    /// A local file or folder the run writes (an external model's files).
    #[error("cannot {doing} {}: {source}", path.display())]
    Io {
        doing: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A node that needs compiled SQL has none (compile skipped it): a bug, said plainly.
    #[error("{what} {name} was not compiled")]
    NotCompiled { what: &'static str, name: String },
    /// A model whose materialization builds no relation reached the builder.
    #[error("{0} has no relation to build")]
    NoRelation(String),
    /// A config value only checked when the node runs (a test's severity or threshold).
    #[error("{0}")]
    Config(String),
    /// An external table's location cannot be used (a bucket root, an unknown scheme).
    #[error("{0}")]
    Location(String),
    /// Something compile should have provided is missing (a source's reader or location):
    /// a bug in etlx, named plainly rather than panicking.
    #[error("{0}")]
    Missing(&'static str),
    /// A unit test's rows or model that do not work on DuckDB; the text says which and why.
    #[error("{0}")]
    UnitTest(String),
    /// A landing file changed after a model consumed it, and the source does not say to
    /// read changed files again.
    #[error("{0}")]
    ChangedFiles(String),
    /// A post-hook failed after the relation was built.
    #[error("{0}")]
    Hook(String),
}
