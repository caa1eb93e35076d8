//! `etlx init`: a new project that compiles and runs as soon as it is created.
//!
//! The scaffold is the first thing a new user sees, so it shows the conventions in miniature:
//! a landing-file source, a staging view, a table, a YAML properties file and a macro.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "'{0}' is not a valid project name: use letters, digits and underscores, starting with a letter"
    )]
    InvalidName(String),
    #[error("{0} already exists; choose another name or directory")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Create project `name` in `parent/name`; returns the files written, relative to it.
pub fn init(parent: &Path, name: &str) -> Result<Vec<PathBuf>, ScaffoldError> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(ScaffoldError::InvalidName(name.to_string()));
    }
    let root = parent.join(name);
    if root.exists() {
        return Err(ScaffoldError::Exists(root));
    }
    let files = files(name);
    for (rel, text) in &files {
        let path = root.join(rel);
        let io = |source| ScaffoldError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        std::fs::write(&path, text).map_err(io)?;
    }
    Ok(files.into_iter().map(|(p, _)| PathBuf::from(p)).collect())
}

fn files(name: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "etlx_project.yml",
            format!(
                "name: {name}\nprofile: {name}\n\nmodel-paths: [models]\nmacro-paths: [macros]\nseed-paths: [seeds]\ntest-paths: [tests]\ntarget-path: target\n\nmodels:\n  {name}:\n    staging:\n      +materialized: view\n    marts:\n      +materialized: table\n"
            ),
        ),
        (
            "profiles.yml",
            format!(
                "{name}:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: target/{name}.duckdb\n      schema: main\n      threads: 4\n"
            ),
        ),
        (
            "landing/orders.csv",
            "order_id,customer,amount_cents,ordered_at\n1,ada,1250,2026-01-03 10:00:00\n2,grace,990,2026-01-03 11:30:00\n3,ada,4300,2026-01-04 09:15:00\n".to_string(),
        ),
        (
            "models/staging/sources.yml",
            "version: 2\n\nsources:\n  - name: landing\n    tables:\n      - name: orders\n        location: landing/orders.csv\n        format: csv\n".to_string(),
        ),
        (
            "models/staging/stg_orders.sql",
            "select\n    order_id,\n    lower(customer) as customer,\n    {{ cents_to_dollars('amount_cents') }} as amount,\n    cast(ordered_at as timestamp) as ordered_at\nfrom {{ source('landing', 'orders') }}\n".to_string(),
        ),
        (
            "models/marts/customer_totals.sql",
            "select customer, count(*) as orders, sum(amount) as total\nfrom {{ ref('stg_orders') }}\ngroup by customer\n".to_string(),
        ),
        (
            "models/marts/schema.yml",
            "version: 2\n\nmodels:\n  - name: customer_totals\n    description: Orders and spend per customer.\n    columns:\n      - name: customer\n        data_tests: [unique, not_null]\n".to_string(),
        ),
        (
            "macros/cents_to_dollars.sql",
            "{% macro cents_to_dollars(column) -%}\n    ({{ column }} / 100.0)\n{%- endmacro %}\n".to_string(),
        ),
        ("seeds/.gitkeep", String::new()),
        ("tests/.gitkeep", String::new()),
        (".gitignore", "target/\n".to_string()),
    ]
}
