//! The compile render: selected nodes rendered with real relation names, hooks and
//! operations, and the result written under `target/compiled`.

use super::analyse::{Analysed, analyze};
use super::ephemeral::{Inlined, ephemeral_ancestors, inline_ephemerals};
use super::{Compilation, CompileOptions, Task, node_request};
use crate::diag::{Diagnostic, Diagnostics};
use crate::project::{Node, Project, ResourceType};
use crate::template::{Mode, RenderRequest, Shared, Templates};
use indexmap::IndexSet;
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

/// A node's SQL and hooks as rendered, before ephemerals are inlined, and the config values
/// that are SQL, as this render gave them (see `SQL_CONFIG`).
type Rendered = (
    String,
    Vec<String>,
    Vec<String>,
    Vec<(String, serde_json::Value)>,
);

/// Config values that are SQL, sent to the warehouse as written. The config a node runs with
/// comes from the discovery render, where a `ref` inside a `config()` call is only a guess
/// at the relation (the target schema, the model's name): these take the compile render's
/// values, with the real relations (a `temp` model's, a custom schema's).
const SQL_CONFIG: &[&str] = &["incremental_predicates"];

/// Compile render of the selected nodes and the ephemeral models they inline.
pub(super) fn render_selected(
    project: &Project,
    templates: &Templates,
    shared: Arc<Shared>,
    c: &mut Compilation,
    opts: &CompileOptions,
) {
    let (ancestors, to_render) = nodes_to_render(c);
    let results: Vec<_> = to_render
        .par_iter()
        .filter_map(|id| {
            let rendered = render_node(project, templates, &shared, c, opts, id)?;
            Some((id.clone(), rendered))
        })
        .collect();
    let mut raw: HashMap<String, String> = HashMap::new();
    for (id, result) in results {
        match result {
            Ok((sql, pre, post, sql_config)) => {
                raw.insert(id.clone(), sql);
                if let Some(compiled) = c.nodes.get_mut(&id) {
                    compiled.pre_hooks = pre;
                    compiled.post_hooks = post;
                    for (key, value) in sql_config {
                        compiled.config.0.insert(key, value);
                    }
                }
            }
            Err(d) => c.diagnostics.push(*d),
        }
    }
    super::config_checks::check_configs(project, c);
    let finished: Vec<(String, Inlined)> = c
        .selected
        .iter()
        .filter_map(|id| {
            let sql = raw.get(id)?;
            Some((
                id.clone(),
                inline_ephemerals(c, ancestors.get(id)?, sql, &raw),
            ))
        })
        .collect();
    // Ephemeral parents outside the selection are parsed too: their readers' lineage reads
    // their columns.
    let selected: HashSet<&String> = c.selected.iter().collect();
    let inlined_only: Vec<(String, Inlined)> = to_render
        .iter()
        .filter(|id| !selected.contains(id))
        .filter_map(|id| Some((id.clone(), inline_ephemerals(c, &[], raw.get(id)?, &raw))))
        .collect();
    let analysed: Vec<Analysed> = finished
        .par_iter()
        .chain(inlined_only.par_iter())
        .map(|(id, sql)| {
            raw.get(id)
                .and_then(|own| analyse_node(project, c, id, own, sql))
                .unwrap_or_default()
        })
        .collect();
    if opts.write {
        let files: Vec<(PathBuf, String)> = finished
            .par_iter()
            .filter_map(|(id, sql)| {
                let node = project.nodes.get(id)?;
                let text = project.secrets.redact(&sql.sql);
                Some((compiled_path(project, node), text))
            })
            .collect();
        c.diagnostics
            .extend(super::output::write_all(&project.root, &files));
    }
    let selected_count = finished.len();
    let all = finished.into_iter().chain(inlined_only);
    for (i, ((id, sql), analysed)) in all.zip(analysed).enumerate() {
        c.diagnostics.extend(analysed.problem);
        let (Some(compiled), Some(node)) = (c.nodes.get_mut(&id), project.nodes.get(&id)) else {
            continue;
        };
        compiled.parsed = analysed.query;
        // Only the selected nodes are compiled; the others were parsed for lineage.
        if i < selected_count {
            compiled.compiled_path = Some(compiled_path(project, node));
            compiled.inlined = sql.inserted();
            compiled.compiled_sql = Some(sql.sql);
        }
    }
}

/// The selected nodes and the ephemeral models they read, with each node's ephemeral
/// ancestors in dependency order.
fn nodes_to_render(c: &Compilation) -> (HashMap<String, Vec<String>>, Vec<String>) {
    let position: HashMap<String, usize> = c
        .graph
        .topo_order()
        .into_iter()
        .enumerate()
        .map(|(i, id)| (id, i))
        .collect();
    let ancestors: HashMap<String, Vec<String>> = c
        .selected
        .iter()
        .map(|id| (id.clone(), ephemeral_ancestors(c, id, &position)))
        .collect();
    let mut to_render: IndexSet<String> = c
        .selected
        .iter()
        .filter(|id| c.nodes.contains_key(*id))
        .cloned()
        .collect();
    for deps in ancestors.values() {
        to_render.extend(deps.iter().cloned());
    }
    (ancestors, to_render.into_iter().collect())
}

/// One node's SQL and hooks, rendered with real relations; `None` for nodes with no SQL of
/// their own (seeds, unit tests).
fn render_node(
    project: &Project,
    templates: &Templates,
    shared: &Arc<Shared>,
    c: &Compilation,
    opts: &CompileOptions,
    id: &str,
) -> Option<Result<Rendered, Box<Diagnostic>>> {
    let compiled = c.nodes.get(id)?;
    let node = project.nodes.get(id)?;
    if matches!(
        node.resource_type,
        ResourceType::Seed | ResourceType::UnitTest
    ) {
        return None;
    }
    let this = compiled.relation.clone();
    let incremental = compiled.config.materialized() == "incremental"
        && !opts.full_refresh
        && compiled.config.get_bool("full_refresh") != Some(true)
        && opts.existing_relations.contains(&this.to_sql());
    let req = node_request(
        shared,
        node,
        &compiled.config,
        this,
        Mode::Compile,
        incremental,
    );
    let name = crate::diag::display_path(&node.file.path);
    let hooks = |key: &str| -> Result<Vec<String>, Box<Diagnostic>> {
        let source = format!("{name} ({key})");
        compiled
            .config
            .strings(key)
            .iter()
            .map(|hook| templates.render_str(&source, hook, req.clone()))
            .collect()
    };
    Some(
        templates
            .render(&node.file, req.clone())
            .and_then(|(sql, captured)| {
                let sql_config = SQL_CONFIG
                    .iter()
                    .filter_map(|k| Some((k.to_string(), captured.config.get(k)?.clone())))
                    .collect();
                Ok((sql, hooks("pre_hook")?, hooks("post_hook")?, sql_config))
            }),
    )
}

/// Parse the node's own SQL (each model's once; inlined parents were parsed as themselves).
fn analyse_node(
    project: &Project,
    c: &Compilation,
    id: &str,
    own_sql: &str,
    sql: &Inlined,
) -> Option<Analysed> {
    let node = project.nodes.get(id)?;
    let compiled = c.nodes.get(id)?;
    Some(analyze(
        project,
        node,
        compiled,
        own_sql,
        sql,
        &compiled_path(project, node),
    ))
}

pub(super) fn render_task(
    project: &Project,
    templates: &Templates,
    shared: &Arc<Shared>,
    task: &Task,
    c: &mut Compilation,
) {
    let (source, text) = match task {
        Task::Inline(sql) => ("--inline".to_string(), sql.clone()),
        Task::Operation { name, args } => {
            if !templates.macro_index.contains_key(name) {
                let mut d = Diagnostic::error(
                    "unknown-macro",
                    format!("run-operation: there is no macro named '{name}'"),
                );
                let names = project.macros.keys().map(String::as_str);
                d.hint = crate::diag::closest(name, names).map(|m| format!("did you mean '{m}'?"));
                c.diagnostics.push(d);
                return;
            }
            (format!("run-operation {name}"), operation_call(name, args))
        }
    };
    match templates.render_str(&source, &text, RenderRequest::without_node(shared)) {
        Ok(out) => c.task_output = Some(out),
        Err(d) => c.diagnostics.push(*d),
    }
}

/// A template calling macro `name` with `args` as keyword arguments. minijinja has no
/// `**kwargs` splat, so the arguments travel as one JSON literal and are unpacked by name.
pub(super) fn operation_call(
    name: &str,
    args: &serde_json::Map<String, serde_json::Value>,
) -> String {
    let json = serde_json::Value::Object(args.clone()).to_string();
    let literal = json.replace('\\', "\\\\").replace('\'', "\\'");
    let kwargs: Vec<String> = args
        .keys()
        .map(|k| format!("{k}=__etlx_args[{}]", serde_json::Value::from(k.as_str())))
        .collect();
    format!(
        "{{%- set __etlx_args = fromjson('{literal}') -%}}{{{{ {name}({}) }}}}",
        kwargs.join(", ")
    )
}

/// `on-run-start` / `on-run-end` from the project file, rendered without a node.
pub(super) fn render_project_hooks(
    project: &Project,
    templates: &Templates,
    shared: &Arc<Shared>,
    c: &mut Compilation,
) {
    let render = |name: &str, hooks: &[String], diags: &mut Diagnostics| -> Vec<String> {
        hooks
            .iter()
            .filter_map(|hook| {
                let req = RenderRequest::without_node(shared);
                let source = format!(
                    "{} ({name})",
                    crate::diag::display_path(&project.project_file)
                );
                templates
                    .render_str(&source, hook, req)
                    .map_err(|d| diags.push(*d))
                    .ok()
            })
            .collect()
    };
    c.on_run_start = render("on-run-start", &project.on_run_start, &mut c.diagnostics);
    c.on_run_end = render("on-run-end", &project.on_run_end, &mut c.diagnostics);
}

/// Where a node's compiled SQL goes: beside its file's path, as dbt does; a snapshot file (or
/// a YAML file) holds several, so each snapshot is a file in a folder named after it.
pub fn compiled_path(project: &Project, node: &Node) -> PathBuf {
    let path = PathBuf::from(&project.paths.target)
        .join("compiled")
        .join(&project.name)
        .join(&node.file.path);
    match node.resource_type {
        ResourceType::Snapshot => path.join(format!("{}.sql", node.name)),
        _ => path,
    }
}
