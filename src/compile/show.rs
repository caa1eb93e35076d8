//! What `etlx show` runs: the compiled SQL of one model (or the SQL given with `--inline`),
//! wrapped in a `limit`.
//!
//! `show` prints the rows of one thing. A selection of several models would show one of
//! them at random, so it is refused, and the models are named so the user can pick.

use super::{Compilation, CompiledNode};
use crate::project::ResourceType;

/// How many matching models a refusal names before it says "and N more".
const NAMED: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum ShowError {
    #[error("the selection matches no model; try `etlx ls` to see the names")]
    NoModel,
    #[error("{0} has no compiled SQL")]
    NotCompiled(String),
    #[error(
        "show looks at one model, and the selection matches {count}: {names}{more}; pick one with -s <model>"
    )]
    SeveralModels {
        count: usize,
        names: String,
        more: String,
    },
}

/// The query `show` runs: what was rendered for `--inline`, else the one selected model,
/// at most `limit` rows of it.
pub fn show_query(c: &Compilation, limit: usize) -> Result<String, ShowError> {
    let sql = match &c.task_output {
        Some(sql) => sql.clone(),
        None => one_selected_model(c)?,
    };
    Ok(format!(
        "select * from (\n{}\n) as etlx_show limit {limit}",
        sql.trim().trim_end_matches(';')
    ))
}

/// The compiled SQL of the one model selected.
fn one_selected_model(c: &Compilation) -> Result<String, ShowError> {
    let models: Vec<&CompiledNode> = c
        .selected
        .iter()
        .filter_map(|id| c.nodes.get(id))
        .filter(|n| n.resource_type == ResourceType::Model)
        .collect();
    match models.as_slice() {
        [] => Err(ShowError::NoModel),
        [one] => one
            .compiled_sql
            .clone()
            .ok_or_else(|| ShowError::NotCompiled(one.name.clone())),
        many => {
            let names: Vec<&str> = many.iter().map(|n| n.name.as_str()).collect();
            let more = match names.len().saturating_sub(NAMED) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            Err(ShowError::SeveralModels {
                count: many.len(),
                names: names[..names.len().min(NAMED)].join(", "),
                more,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{CompileOptions, compile};
    use crate::project::testing;

    fn compiled(select: &[&str], models: usize) -> Compilation {
        let dir = tempfile::tempdir().expect("tempdir");
        let files: Vec<(String, String)> = (0..models)
            .map(|i| (format!("models/m{i:02}.sql"), format!("select {i} as n;\n")))
            .collect();
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let project = testing::project(dir.path(), &files);
        let opts = CompileOptions {
            select: select.iter().map(|s| s.to_string()).collect(),
            resource_types: vec![ResourceType::Model],
            render: true,
            ..CompileOptions::default()
        };
        let c = compile(&project, &opts);
        assert!(!c.has_errors(), "{:?}", c.diagnostics);
        c
    }

    #[test]
    fn one_model_is_shown_limited_without_its_semicolon() {
        let c = compiled(&["m01"], 2);
        assert_eq!(
            show_query(&c, 5).expect("one model"),
            "select * from (\nselect 1 as n\n) as etlx_show limit 5"
        );
    }

    #[test]
    fn several_models_are_refused_and_the_first_ten_named() {
        let c = compiled(&[], 12);
        let refused = show_query(&c, 5).expect_err("twelve models");
        assert_eq!(
            refused.to_string(),
            "show looks at one model, and the selection matches 12: m00, m01, m02, m03, m04, m05, m06, m07, m08, m09 and 2 more; pick one with -s <model>"
        );
    }

    #[test]
    fn inline_sql_is_shown_instead_of_a_model() {
        let mut c = compiled(&[], 0);
        c.task_output = Some("select 'typed' as s;  ".to_string());
        assert_eq!(
            show_query(&c, 1).expect("inline"),
            "select * from (\nselect 'typed' as s\n) as etlx_show limit 1"
        );
        c.task_output = None;
        assert!(matches!(show_query(&c, 1), Err(ShowError::NoModel)));
    }
}
