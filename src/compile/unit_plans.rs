//! Unit tests planned at compile time: the model rendered over the test's input tables, in the
//! DuckDB dialect, with the test's vars; `execute::unit_tests` runs the plan.

use super::{Compilation, CompileOptions, node_request};
use crate::diag::Diagnostic;
use crate::project::unit_test_specs::{Input, Rows};
use crate::project::{Node, Project, ResourceType, UnitTest};
use crate::sql::Dialect;
use crate::template::{Captured, Mode, Relation, Shared, Templates};
use indexmap::IndexMap;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Each selected unit test renders its model over the test's inputs, in the DuckDB dialect,
/// with the test's vars and `is_incremental`, and without the warehouse.
pub(super) fn render_unit_tests(
    project: &Project,
    templates: &Templates,
    shared: &Arc<Shared>,
    c: &mut Compilation,
    opts: &CompileOptions,
) {
    let selected: Vec<&crate::project::UnitTest> = c
        .selected
        .iter()
        .filter_map(|id| project.unit_tests.get(id))
        .collect();
    let results: Vec<_> = selected
        .par_iter()
        .map(|test| {
            (
                test.unique_id.clone(),
                plan_unit_test(project, templates, shared, c, test),
            )
        })
        .collect();
    let mut files = Vec::new();
    for (id, result) in results {
        match result {
            Ok(plan) => {
                let path = PathBuf::from(&project.paths.target)
                    .join("compiled")
                    .join(&project.name)
                    .join("unit_tests")
                    .join(plan_model_name(project, &id))
                    .join(format!("{}.sql", id.rsplit('.').next().unwrap_or(&id)));
                if opts.write {
                    files.push((path.clone(), project.secrets.redact(&plan.sql)));
                }
                if let Some(node) = c.nodes.get_mut(&id) {
                    node.compiled_sql = Some(plan.sql.clone());
                    node.compiled_path = Some(path);
                    node.unit = Some(Arc::new(plan));
                }
            }
            Err(d) => c.diagnostics.push(*d),
        }
    }
    c.diagnostics
        .extend(super::output::write_all(&project.root, &files));
}

pub(super) fn plan_model_name(project: &Project, id: &str) -> String {
    project
        .unit_tests
        .get(id)
        .map_or_else(String::new, |t| t.model.clone())
}

pub(super) fn plan_unit_test(
    project: &Project,
    templates: &Templates,
    shared: &Arc<Shared>,
    c: &Compilation,
    test: &crate::project::UnitTest,
) -> Result<UnitPlan, Box<Diagnostic>> {
    let model = project
        .nodes
        .values()
        .find(|n| n.resource_type == ResourceType::Model && n.name == test.model)
        .ok_or_else(|| {
            Box::new(Diagnostic::error(
                "unit-test",
                format!("no model '{}'", test.model),
            ))
        })?;
    let compiled = c.nodes.get(&model.unique_id).ok_or_else(|| {
        Box::new(Diagnostic::error(
            "unit-test",
            format!("model '{}' is disabled", test.model),
        ))
    })?;
    let mut inputs = input_tables(project, test);
    for input in &mut inputs {
        input.relation = match &input.input {
            Input::Ref(name) => shared.relations.get(name).cloned(),
            Input::Source(s, t) => shared.sources.get(&(s.clone(), t.clone())).cloned(),
            Input::This => Some(compiled.relation.clone()),
        };
    }
    let subs = substitutions(&inputs);
    let (refs, sources, this) = (subs.refs, subs.sources, subs.this);
    let mut vars = shared.vars.clone();
    vars.extend(test.vars.clone());
    // Inputs not given still render, so that the check below can name them.
    let mut relations = shared.relations.clone();
    relations.extend(refs);
    let mut all_sources = shared.sources.clone();
    all_sources.extend(sources);
    // A unit test gives its inputs' rows: a microbatch model reads them whole, as dbt's
    // unit tests do, not filtered to a batch.
    let local = Arc::new(Shared {
        dialect: Some(Dialect::DuckDb),
        relations,
        sources: all_sources,
        vars,
        connection: None,
        ref_event_times: HashMap::new(),
        source_event_times: HashMap::new(),
        ..(**shared).clone()
    });
    let this = this.unwrap_or(Relation::Cte {
        name: "__etlx_given_this".to_string(),
    });
    let req = node_request(
        &local,
        model,
        &compiled.config,
        this,
        Mode::Compile,
        test.is_incremental,
    );
    let (sql, captured) = templates.render(&model.file, req)?;
    check_inputs(test, model, &captured, &inputs)?;
    Ok(UnitPlan {
        model_id: model.unique_id.clone(),
        inputs,
        sql,
        expect: test.expect.clone(),
    })
}

/// A unit test ready to run: the tables to create and the model's SQL over them.
#[derive(Debug, Clone)]
pub struct UnitPlan {
    /// The model under test.
    pub model_id: String,
    pub inputs: Vec<InputTable>,
    pub sql: String,
    pub expect: Rows,
}

#[derive(Debug, Clone)]
pub struct InputTable {
    pub table: String,
    pub input: Input,
    pub rows: Rows,
    /// Column types declared in YAML for the input, used over types guessed from values.
    pub declared: IndexMap<String, String>,
    /// The relation the input stands for in the warehouse: when it exists there, its columns
    /// and types shape the input table, as in dbt (columns not given are typed NULLs).
    pub relation: Option<Relation>,
}

/// Where each input of `test` lives while its model renders, and the relations to render with.
pub fn input_tables(project: &Project, test: &UnitTest) -> Vec<InputTable> {
    test.given
        .iter()
        .map(|g| InputTable {
            table: table_name(&g.input),
            input: g.input.clone(),
            rows: g.rows.clone(),
            declared: declared_columns(project, &g.input, &test.model),
            relation: None,
        })
        .collect()
}

/// Where `ref`, `source` and `this` point while a unit test's model renders.
pub struct Substitutions {
    pub refs: HashMap<String, Relation>,
    pub sources: HashMap<(String, String), Relation>,
    pub this: Option<Relation>,
}

/// Relations that send every given input to its table; `this` too when given.
pub fn substitutions(inputs: &[InputTable]) -> Substitutions {
    let mut out = Substitutions {
        refs: HashMap::new(),
        sources: HashMap::new(),
        this: None,
    };
    for input in inputs {
        let relation = Relation::Cte {
            name: input.table.clone(),
        };
        match &input.input {
            Input::Ref(name) => {
                out.refs.insert(name.clone(), relation);
            }
            Input::Source(s, t) => {
                out.sources.insert((s.clone(), t.clone()), relation);
            }
            Input::This => out.this = Some(relation),
        }
    }
    out
}

/// After the render: every `ref` and `source` the model read must have been given.
pub fn check_inputs(
    test: &UnitTest,
    model: &Node,
    captured: &Captured,
    inputs: &[InputTable],
) -> Result<(), Box<Diagnostic>> {
    let given: Vec<&Input> = inputs.iter().map(|i| &i.input).collect();
    let read = captured
        .refs
        .iter()
        .map(|r| Input::Ref(r.name.clone()))
        .chain(
            captured
                .sources
                .iter()
                .map(|(s, t)| Input::Source(s.clone(), t.clone())),
        );
    for input in read {
        if !given.contains(&&input) {
            return Err(Box::new(
                Diagnostic::error(
                    "unit-test",
                    format!(
                        "unit test '{}': model '{}' reads {input}, which the test does not give",
                        test.name, model.name
                    ),
                )
                .at(test.location.clone())
                .hint(format!(
                    "add `- input: {input}` under `given:` (with `rows: []` for an empty input)"
                )),
            ));
        }
    }
    Ok(())
}

pub(super) fn table_name(input: &Input) -> String {
    let raw = match input {
        Input::Ref(name) => name.clone(),
        Input::Source(s, t) => format!("{s}__{t}"),
        Input::This => "this".to_string(),
    };
    let safe: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("__etlx_given_{safe}")
}

/// The `this` of a unit test is the model's own table, so its columns are the model's.
pub(super) fn declared_columns(
    project: &Project,
    input: &Input,
    model: &str,
) -> IndexMap<String, String> {
    let by_name = |name: &str| {
        project
            .nodes
            .values()
            .find(|n| n.name == name && n.resource_type.is_relation())
            .map(|n| &n.columns)
    };
    let columns = match input {
        Input::Ref(name) => by_name(name),
        Input::This => by_name(model),
        Input::Source(s, t) => project
            .sources
            .values()
            .find(|src| &src.source_name == s && &src.name == t)
            .map(|src| &src.columns),
    };
    columns
        .into_iter()
        .flat_map(|c| c.values())
        .filter_map(|c| Some((c.name.clone(), c.data_type.clone()?)))
        .collect()
}
