//! From a loaded project to SQL that can run: discovery render, graph, selection, compile
//! render, ephemeral inlining, static analysis, `target/compiled`.
//!
//! Every node renders twice, in parallel: first to learn what it reads and how it is
//! configured (relation names depend on other models' `config()` calls, so they are unknown
//! until every model has been seen), then with real relation names. Problems from all nodes
//! are collected; nothing is compiled for real while the project has errors.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use indexmap::{IndexMap, IndexSet};
use rayon::prelude::*;
use serde::Serialize;

use crate::adapter::SharedConnection;
use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::graph::Graph;
use crate::graph::selector::{self, Candidate};
use crate::project::{Config, Node, Project, ResourceType, Source, hex_sha256};
use crate::sql::{self, Dialect, StaticAnalysis};
use crate::template::{Captured, Mode, NodeContext, Relation, RenderRequest, Shared, Templates};
use crate::unit_test::{self, UnitPlan};

#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    pub select: Vec<String>,
    pub exclude: Vec<String>,
    /// Only these resource types are selected (empty: all).
    pub resource_types: Vec<ResourceType>,
    pub full_refresh: bool,
    /// Relations (rendered names) that already exist in the warehouse; `is_incremental()` is
    /// true for an incremental model whose relation is among them.
    pub existing_relations: HashSet<String>,
    /// Render and parse the selected nodes (false for `ls`, which needs only the graph).
    pub render: bool,
    /// Write `target/compiled/...`.
    pub write: bool,
    /// The warehouse, for templates that query it.
    pub connection: Option<SharedConnection>,
    /// Render this instead of the selected nodes (`run-operation`, `show --inline`).
    pub task: Option<Task>,
}

/// Something rendered outside any node, with the project's macros, refs and sources.
#[derive(Debug, Clone)]
pub enum Task {
    /// Call a macro with keyword arguments; its queries run as it renders.
    Operation {
        name: String,
        args: serde_json::Map<String, serde_json::Value>,
    },
    /// SQL typed on the command line, which may use `ref` and `source`.
    Inline(String),
}

/// A node after compilation.
#[derive(Debug, Clone, Serialize)]
pub struct CompiledNode {
    pub unique_id: String,
    pub name: String,
    pub resource_type: ResourceType,
    pub config: Config,
    pub relation: Relation,
    pub depends_on: Vec<String>,
    pub macros: Vec<String>,
    pub refs: Vec<crate::template::RefCall>,
    pub sources: Vec<(String, String)>,
    /// The SQL as rendered for the target, ephemeral parents inlined; `None` if not selected.
    pub compiled_sql: Option<String>,
    pub compiled_path: Option<PathBuf>,
    /// Unit tests: the inputs and the model's SQL over them.
    #[serde(skip)]
    pub unit: Option<Arc<UnitPlan>>,
    pub checksum: String,
    /// `pre_hook` / `post_hook` statements, rendered like the model.
    pub pre_hooks: Vec<String>,
    pub post_hooks: Vec<String>,
}

pub struct Compilation {
    pub graph: Graph,
    pub nodes: IndexMap<String, CompiledNode>,
    /// Selected ids in dependency order.
    pub selected: Vec<String>,
    pub diagnostics: Diagnostics,
    pub invocation_id: String,
    pub generated_at: String,
    /// The project's `on-run-start` / `on-run-end` statements, rendered.
    pub on_run_start: Vec<String>,
    pub on_run_end: Vec<String>,
    /// What `CompileOptions::task` rendered to.
    pub task_output: Option<String>,
    /// Source relations as rendered (locations may use Jinja); filled when rendering.
    pub source_relations: HashMap<(String, String), Relation>,
    /// For each source with a `location`, by unique id: the DuckDB reader of its files. On a
    /// server target the executor loads them into the source's table with it.
    pub source_readers: HashMap<String, String>,
    /// The same sources' locations as rendered (`s3://…` ones are mirrored before a run).
    pub source_locations: HashMap<String, String>,
}

impl Compilation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.has_errors()
    }
}

/// Compile `project`. Always returns a `Compilation`; errors are in its diagnostics.
pub fn compile(project: &Project, opts: &CompileOptions) -> Compilation {
    let clock = std::time::Instant::now();
    let phase = |name: &str| {
        tracing::debug!(
            "compile: {name} done after {:.1} ms",
            clock.elapsed().as_secs_f64() * 1e3
        )
    };
    let mut diags = Diagnostics::default();
    let templates = Templates::new(project, &mut diags);
    let invocation_id = uuid::Uuid::new_v4().to_string();
    let generated_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let base = base_shared(project, &templates, opts, &invocation_id, &generated_at);

    let base_shared = Arc::new(base.clone());
    let all: Vec<&Node> = project.nodes.values().collect();
    let discovered = discover(project, &templates, &base_shared, &all, &mut diags);
    let (configs, disabled) = final_configs(&all, &discovered);
    phase("discovery render");

    let mut nodes: IndexMap<String, CompiledNode> = IndexMap::new();
    let relations = relations(project, &templates, &base_shared, &configs, &mut diags);
    for node in &all {
        if disabled.contains(node.unique_id.as_str()) {
            continue;
        }
        let captured = discovered.get(node.unique_id.as_str());
        let config = configs[node.unique_id.as_str()].clone();
        let relation = relations.get(&node.name).cloned().unwrap_or(Relation::Cte {
            name: node.name.clone(),
        });
        nodes.insert(
            node.unique_id.clone(),
            CompiledNode {
                unique_id: node.unique_id.clone(),
                name: node.name.clone(),
                resource_type: node.resource_type,
                config,
                relation,
                depends_on: Vec::new(),
                macros: captured.map(|c| dedup(&c.macros)).unwrap_or_default(),
                refs: captured.map(|c| c.refs.clone()).unwrap_or_default(),
                sources: captured.map(|c| c.sources.clone()).unwrap_or_default(),
                compiled_sql: None,
                compiled_path: None,
                unit: None,
                checksum: hex_sha256(node.file.text.as_bytes()),
                pre_hooks: Vec::new(),
                post_hooks: Vec::new(),
            },
        );
    }
    resolve_dependencies(project, &mut nodes, &disabled, &mut diags);
    let graph = build_graph(project, &nodes);
    report_cycles(project, &graph, &mut diags);
    phase("graph");

    let mut compilation = Compilation {
        graph,
        nodes,
        selected: Vec::new(),
        diagnostics: diags,
        invocation_id,
        generated_at,
        on_run_start: Vec::new(),
        on_run_end: Vec::new(),
        task_output: None,
        source_relations: HashMap::new(),
        source_readers: HashMap::new(),
        source_locations: HashMap::new(),
    };
    select_nodes(project, &mut compilation, opts);
    phase("selection");
    if opts.render && !compilation.diagnostics.has_errors() {
        let RenderedSources {
            relations: sources,
            readers,
            locations,
        } = source_relations(
            project,
            &templates,
            &base_shared,
            &mut compilation.diagnostics,
        );
        compilation.source_relations = sources.clone();
        compilation.source_readers = readers;
        compilation.source_locations = locations;
        let shared = Arc::new(Shared {
            relations,
            sources,
            ..base
        });
        match &opts.task {
            Some(task) => render_task(project, &templates, &shared, task, &mut compilation),
            None => {
                render_project_hooks(project, &templates, &shared, &mut compilation);
                render_selected(project, &templates, shared.clone(), &mut compilation, opts);
                render_unit_tests(project, &templates, &shared, &mut compilation, opts);
            }
        }
        phase("compile render and SQL analysis");
    }
    point_at_test_declarations(project, &mut compilation.diagnostics);
    compilation
}

fn base_shared(
    project: &Project,
    templates: &Templates,
    opts: &CompileOptions,
    invocation_id: &str,
    started: &str,
) -> Shared {
    let t = &project.target;
    let target = crate::template::to_value(serde_json::json!({
        "name": t.name,
        "type": t.dialect.name(),
        "schema": t.schema,
        "database": t.database,
        "threads": t.threads,
        "profile_name": t.profile,
    }));
    Shared {
        project_name: project.name.clone(),
        dialect: Some(t.dialect),
        target,
        target_schema: t.schema.clone(),
        vars: project.vars.clone(),
        relations: HashMap::new(),
        sources: HashMap::new(),
        macro_index: templates.macro_index.clone(),
        full_refresh: opts.full_refresh,
        invocation_id: invocation_id.to_string(),
        run_started_at: started.to_string(),
        connection: opts.connection.clone(),
    }
}

fn node_request(
    shared: &Arc<Shared>,
    node: &Node,
    config: &Config,
    this: Relation,
    mode: Mode,
    incremental: bool,
) -> RenderRequest {
    let model = crate::template::to_value(model_json(node, config));
    RenderRequest {
        shared: shared.clone(),
        node: Some(Arc::new(NodeContext {
            unique_id: node.unique_id.clone(),
            name: node.name.clone(),
            config: config.clone(),
            this,
            is_incremental: incremental,
            model,
        })),
        mode,
    }
}

/// A generic test's template is generated, not written by anyone: an error in it (a bad
/// `where`, a Jinja argument) also points at the YAML entry that declared the test.
fn point_at_test_declarations(project: &Project, diags: &mut Diagnostics) {
    let declared: HashMap<&std::path::Path, &Location> = project
        .nodes
        .values()
        .filter_map(|n| {
            Some((
                n.file.path.as_path(),
                n.tested.as_ref()?.declared_at.as_ref()?,
            ))
        })
        .collect();
    for d in diags.iter_mut() {
        let at = d
            .location
            .as_ref()
            .and_then(|l| declared.get(l.file.as_path()));
        if let Some(&at) = at {
            d.related
                .push(("the test is declared here".to_string(), at.clone()));
        }
    }
}

/// A bad `incremental_strategy`, `unique_key` or `incremental_predicates` only matters once
/// the table exists: the first run would build it and the second fail. Say so at compile.
fn check_incremental_configs(project: &Project, c: &mut Compilation) {
    for id in &c.selected {
        let (Some(compiled), Some(node)) = (c.nodes.get(id), project.nodes.get(id)) else {
            continue;
        };
        if compiled.config.materialized() != "incremental" {
            continue;
        }
        let Err(e) =
            crate::materialize::Strategy::from_config(&compiled.config, project.target.dialect)
        else {
            continue;
        };
        let (key, hint) = match e {
            crate::materialize::PlanError::PredicatesWithAppend => (
                "incremental_predicates",
                "set a unique_key (merge), or incremental_strategy='delete+insert' with one",
            ),
            _ => (
                "incremental_strategy",
                "append needs no key; merge and delete+insert need a unique_key",
            ),
        };
        let text = node.file.text.clone();
        let start = text.find(key).unwrap_or(0);
        let at = Location::new(node.file.path.clone(), text, start..start + key.len());
        c.diagnostics.push(
            Diagnostic::error("incremental-config", e.to_string())
                .at(at)
                .hint(hint),
        );
    }
}

/// What `model` is in templates: the node's manifest entry, in brief.
fn model_json(node: &Node, config: &Config) -> serde_json::Value {
    serde_json::json!({
        "unique_id": node.unique_id,
        "name": node.name,
        "resource_type": node.resource_type,
        "original_file_path": crate::diag::display_path(&node.file.path),
        "path": crate::diag::display_path(&node.path),
        "fqn": node.fqn,
        "config": config,
        "tags": config.tags(),
        "description": node.description,
        "columns": node.columns,
        "meta": config.get("meta").cloned().unwrap_or(serde_json::json!({})),
    })
}

/// Discovery render of every model and singular test.
fn discover(
    project: &Project,
    templates: &Templates,
    shared: &Arc<Shared>,
    nodes: &[&Node],
    diags: &mut Diagnostics,
) -> HashMap<String, Captured> {
    let dialect = project.target.dialect;
    let results: Vec<_> = nodes
        .par_iter()
        .filter(|n| !matches!(n.resource_type, ResourceType::Seed | ResourceType::UnitTest))
        .map(|node| {
            let this = Relation::table(
                dialect,
                None,
                project.target.schema.clone(),
                node.name.clone(),
            );
            let req = node_request(shared, node, &node.config, this, Mode::Discover, false);
            (node.unique_id.clone(), templates.render(&node.file, req))
        })
        .collect();
    let mut out = HashMap::new();
    for (id, result) in results {
        match result {
            Ok((_, captured)) => {
                out.insert(id, captured);
            }
            Err(d) => diags.push(*d),
        }
    }
    out
}

/// Config after `config()` calls, and the nodes that turned out disabled.
fn final_configs<'a>(
    nodes: &[&'a Node],
    discovered: &HashMap<String, Captured>,
) -> (HashMap<&'a str, Config>, HashSet<&'a str>) {
    let mut configs = HashMap::new();
    let mut disabled = HashSet::new();
    for node in nodes {
        let mut config = node.config.clone();
        if let Some(c) = discovered.get(&node.unique_id) {
            config.merge_all(&c.config);
        }
        if node.resource_type == ResourceType::Seed && config.get("materialized").is_none() {
            config.merge("materialized", "seed".into());
        }
        if node.resource_type == ResourceType::Test && config.get("materialized").is_none() {
            config.merge("materialized", "test".into());
        }
        if !config.enabled() {
            disabled.insert(node.unique_id.as_str());
        }
        configs.insert(node.unique_id.as_str(), config);
    }
    (configs, disabled)
}

/// Relation names of models and seeds, after `schema`/`alias` config and any project
/// `generate_schema_name` / `generate_alias_name` macro.
fn relations(
    project: &Project,
    templates: &Templates,
    shared: &Arc<Shared>,
    configs: &HashMap<&str, Config>,
    diags: &mut Diagnostics,
) -> HashMap<String, Relation> {
    let dialect = project.target.dialect;
    let custom = |macro_name: &str,
                  arg: Option<&str>,
                  fallback: String|
     -> Result<String, Box<Diagnostic>> {
        if !project.macros.contains_key(macro_name) {
            return Ok(fallback);
        }
        let arg = arg.map_or("none".to_string(), |a| format!("{a:?}"));
        let req = RenderRequest::without_node(shared);
        let text = templates.render_str(
            &format!("<{macro_name}>"),
            &format!("{{{{ {macro_name}({arg}) }}}}"),
            req,
        )?;
        Ok(text.trim().to_string())
    };
    let mut out = HashMap::new();
    for node in project
        .nodes
        .values()
        .filter(|n| n.resource_type.is_relation())
    {
        let Some(config) = configs.get(node.unique_id.as_str()) else {
            continue;
        };
        if config.materialized() == "ephemeral" {
            out.insert(
                node.name.clone(),
                Relation::Cte {
                    name: format!("__etlx__cte__{}", node.name),
                },
            );
            continue;
        }
        let custom_schema = config.get_str("schema");
        let default_schema = match custom_schema {
            Some(s) => format!("{}_{s}", project.target.schema),
            None => project.target.schema.clone(),
        };
        let alias = config
            .get_str("alias")
            .map(str::to_string)
            .unwrap_or_else(|| node.name.clone());
        let names =
            custom("generate_schema_name", custom_schema, default_schema).and_then(|schema| {
                Ok((
                    schema,
                    custom("generate_alias_name", config.get_str("alias"), alias)?,
                ))
            });
        match names {
            Ok((schema, alias)) => {
                let database = config.get_str("database").map(str::to_string);
                out.insert(
                    node.name.clone(),
                    Relation::table(dialect, database, schema, alias),
                );
            }
            Err(d) => diags.push(*d),
        }
    }
    out
}

/// Source relations: landing files read in place on DuckDB, tables elsewhere. A `location`
/// may use Jinja (`landing/events/{{ var('batch') }}/`); it is rendered here, and so is the
/// reader of every file source.
fn source_relations(
    project: &Project,
    templates: &Templates,
    shared: &Arc<Shared>,
    diags: &mut Diagnostics,
) -> RenderedSources {
    let mut locations = HashMap::new();
    let mut relations = HashMap::new();
    let mut readers = HashMap::new();
    for source in project.sources.values() {
        let mut relation = source_relation(project.target.dialect, source);
        if let Some(location) = &source.location {
            match rendered_reader(project, source, location, templates, shared) {
                Ok((reader, location)) => {
                    if let Relation::Files { reader: r, .. } = &mut relation {
                        r.clone_from(&reader);
                    }
                    readers.insert(source.unique_id.clone(), reader);
                    locations.insert(source.unique_id.clone(), location);
                }
                Err(d) => diags.push(*d),
            }
        }
        relations.insert((source.source_name.clone(), source.name.clone()), relation);
    }
    RenderedSources {
        relations,
        readers,
        locations,
    }
}

/// Every source's relation, and the reader and rendered location of those with files.
struct RenderedSources {
    relations: HashMap<(String, String), Relation>,
    readers: HashMap<String, String>,
    locations: HashMap<String, String>,
}

/// The DuckDB reader of a source's files and its rendered location. Files in S3 are read
/// from the local mirror the run keeps of them (`<target>/s3_cache/<bucket>/<key>`).
fn rendered_reader(
    project: &Project,
    source: &Source,
    location: &str,
    templates: &Templates,
    shared: &Arc<Shared>,
) -> Result<(String, String), Box<crate::diag::Diagnostic>> {
    let render = |what: &str, text: &str| {
        if !(text.contains("{{") || text.contains("{%")) {
            return Ok(text.to_string());
        }
        let name = format!(
            "{} ({what} of {}.{})",
            crate::diag::display_path(&source.file),
            source.source_name,
            source.name
        );
        templates.render_str(&name, text, RenderRequest::without_node(shared))
    };
    let format = source
        .format
        .as_deref()
        .map(|f| render("format", f).map(|f| f.trim().to_string()))
        .transpose()?;
    let location = render("location", location)?;
    let local = match location.strip_prefix("s3://") {
        Some(rest) => format!("{}/{rest}", s3_cache_dir(project)),
        None => location.clone(),
    };
    let reader = file_reader(
        &Source {
            format,
            ..source.clone()
        },
        &local,
    );
    Ok((reader, location))
}

/// Where S3 landing data is mirrored, relative to the project.
pub fn s3_cache_dir(project: &Project) -> String {
    format!("{}/s3_cache", project.paths.target)
}

pub fn source_relation(dialect: Dialect, source: &Source) -> Relation {
    match (&source.location, dialect) {
        (Some(location), Dialect::DuckDb) => Relation::Files {
            reader: file_reader(source, location),
            schema: source.schema.clone(),
            identifier: source.identifier.clone(),
        },
        _ => Relation::table(
            dialect,
            source.database.clone(),
            source.schema.clone(),
            source.identifier.clone(),
        ),
    }
}

/// `read_parquet('landing/events/**/*.parquet', union_by_name = true)` and friends.
pub fn file_reader(source: &Source, location: &str) -> String {
    let format = source
        .format
        .as_deref()
        .unwrap_or_else(|| guess_format(location));
    let reader = match format {
        "csv" => "read_csv",
        "json" => "read_json",
        _ => "read_parquet",
    };
    let path = if location.ends_with('/') {
        let ext = if format == "json" { "json*" } else { format };
        format!("{location}**/*.{ext}")
    } else {
        location.to_string()
    };
    let mut args = vec![Dialect::DuckDb.literal(&path)];
    // `options: {json: {...}, parquet: {...}}` holds arguments for one format only, so a
    // source whose format is a var can carry both.
    let formats = ["csv", "json", "parquet"];
    let own = source.options.get(format).and_then(|v| v.as_object());
    let shared = source
        .options
        .iter()
        .filter(|(k, _)| !formats.contains(&k.as_str()));
    for (key, value) in shared.chain(own.into_iter().flatten()) {
        args.push(format!("{key} = {}", duckdb_literal(value)));
    }
    format!("{reader}({})", args.join(", "))
}

fn guess_format(location: &str) -> &'static str {
    let l = location.to_ascii_lowercase();
    if l.contains(".csv") {
        "csv"
    } else if l.contains(".json") || l.contains(".ndjson") {
        "json"
    } else {
        "parquet"
    }
}

fn duckdb_literal(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => Dialect::DuckDb.literal(s),
        serde_json::Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(duckdb_literal)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        serde_json::Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", Dialect::DuckDb.literal(k), duckdb_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        serde_json::Value::Null => "NULL".to_string(),
        other => other.to_string(),
    }
}

/// Turn captured `ref`/`source` calls into graph edges; unknown names become diagnostics.
fn resolve_dependencies(
    project: &Project,
    nodes: &mut IndexMap<String, CompiledNode>,
    disabled: &HashSet<&str>,
    diags: &mut Diagnostics,
) {
    let by_name: HashMap<String, String> = nodes
        .values()
        .filter(|n| n.resource_type.is_relation())
        .map(|n| (n.name.clone(), n.unique_id.clone()))
        .collect();
    let disabled_names: HashSet<&str> = project
        .nodes
        .values()
        .filter(|n| disabled.contains(n.unique_id.as_str()))
        .map(|n| n.name.as_str())
        .collect();
    for compiled in nodes.values_mut() {
        let Some(node) = project.nodes.get(&compiled.unique_id) else {
            continue;
        };
        let mut deps = IndexSet::new();
        for r in &compiled.refs {
            match by_name.get(&r.name) {
                Some(id) => {
                    deps.insert(id.clone());
                }
                None => diags.push(missing_ref(
                    node,
                    &r.name,
                    &by_name,
                    disabled_names.contains(r.name.as_str()),
                )),
            }
        }
        for (s, t) in &compiled.sources {
            let id = format!("source.{}.{s}.{t}", project.name);
            if project.sources.contains_key(&id) {
                deps.insert(id);
            } else {
                diags.push(missing_source(project, node, s, t));
            }
        }
        // A unit test depends on its model, as in dbt's manifest, though it never reads it.
        if let Some(test) = project.unit_tests.get(&compiled.unique_id)
            && let Some(id) = by_name.get(&test.model)
        {
            deps.insert(id.clone());
        }
        compiled.depends_on = deps.into_iter().collect();
    }
}

fn missing_ref(
    node: &Node,
    name: &str,
    by_name: &HashMap<String, String>,
    is_disabled: bool,
) -> Diagnostic {
    let span = find_call(&node.file.text, "ref", &[name]);
    let message = if is_disabled {
        format!(
            "{} '{}' depends on '{name}', which is disabled",
            node.resource_type.name(),
            node.name
        )
    } else {
        format!(
            "{} '{}' refers to '{name}', which is not a model or seed",
            node.resource_type.name(),
            node.name
        )
    };
    let mut d = Diagnostic::error("ref-not-found", message)
        .at(node.file.location(span).with_label("unknown ref"));
    if let Some(close) = crate::diag::closest(name, by_name.keys().map(String::as_str)) {
        d = d.hint(format!("did you mean '{close}'?"));
    } else if is_disabled {
        d = d.hint(format!("enable '{name}' or remove this ref"));
    }
    d
}

fn missing_source(project: &Project, node: &Node, source: &str, table: &str) -> Diagnostic {
    let span = find_call(&node.file.text, "source", &[source, table]);
    let mut d = Diagnostic::error(
        "source-not-found",
        format!("source '{source}.{table}' is not declared"),
    )
    .at(node.file.location(span).with_label("unknown source"));
    let names: Vec<String> = project
        .sources
        .values()
        .map(|s| format!("{}.{}", s.source_name, s.name))
        .collect();
    if let Some(close) = crate::diag::closest(
        &format!("{source}.{table}"),
        names.iter().map(String::as_str),
    ) {
        d = d.hint(format!("did you mean '{close}'?"));
    } else {
        d = d.hint("declare it under `sources:` in a YAML file in models/");
    }
    d
}

/// The span of the quoted argument(s) of a call like `ref('orders')` in template text.
fn find_call(text: &str, func: &str, args: &[&str]) -> Range<usize> {
    let quoted = |a: &str| [format!("'{a}'"), format!("\"{a}\"")];
    let mut from = 0;
    while let Some(i) = text[from..].find(&format!("{func}(")) {
        let open = from + i + func.len() + 1;
        let close = text[open..].find(')').map_or(text.len(), |j| open + j);
        let call = &text[open..close];
        if args
            .iter()
            .all(|a| quoted(a).iter().any(|q| call.contains(q.as_str())))
        {
            let last = args.last().copied().unwrap_or_default();
            let q = quoted(last)
                .into_iter()
                .find(|q| call.contains(q.as_str()))
                .unwrap_or_default();
            let at = open + call.rfind(&q).unwrap_or(0);
            return at..at + q.len();
        }
        from = open;
    }
    0..0
}

fn build_graph(project: &Project, nodes: &IndexMap<String, CompiledNode>) -> Graph {
    let ids = project
        .sources
        .keys()
        .map(String::as_str)
        .chain(nodes.keys().map(String::as_str));
    let edges = nodes.values().flat_map(|n| {
        n.depends_on
            .iter()
            .map(move |d| (d.as_str(), n.unique_id.as_str()))
    });
    Graph::new(ids, edges)
}

fn report_cycles(project: &Project, graph: &Graph, diags: &mut Diagnostics) {
    for mut cycle in graph.cycles() {
        // Edges run from what is read to its reader; users think in "a refers to b".
        cycle.reverse();
        let names: Vec<String> = cycle
            .iter()
            .map(|id| id.rsplit('.').next().unwrap_or(id).to_string())
            .collect();
        let first = project.nodes.get(&cycle[0]);
        let mut d = Diagnostic::error(
            "dependency-cycle",
            format!("dependency cycle: {}", names.join(" -> ")),
        );
        if let (Some(node), Some(next)) = (first, names.get(1)) {
            d = d.at(node
                .file
                .location(find_call(&node.file.text, "ref", &[next]))
                .with_label(format!("refers to {next}")));
        }
        for pair in cycle.windows(2).skip(1) {
            if let Some(node) = project.nodes.get(&pair[0]) {
                let next = pair[1].rsplit('.').next().unwrap_or(&pair[1]);
                d = d.related(
                    format!("{} refers to {next}", node.name),
                    node.file
                        .location(find_call(&node.file.text, "ref", &[next])),
                );
            }
        }
        diags.push(d.hint("break the cycle: one of these models must stop selecting from another"));
    }
}

/// Selection over models, seeds, tests and sources.
fn select_nodes(project: &Project, compilation: &mut Compilation, opts: &CompileOptions) {
    let candidates: Vec<Candidate> = candidates(project, &compilation.nodes);
    match selector::select(&compilation.graph, &candidates, &opts.select, &opts.exclude) {
        Ok((ids, unmatched)) => {
            for term in unmatched {
                compilation.diagnostics.push(Diagnostic::warning(
                    "selector-no-match",
                    format!("the selection criterion '{term}' does not match any node"),
                ));
            }
            let mut ids: HashSet<String> = ids.into_iter().collect();
            let excluded: HashSet<String> = match opts.exclude.is_empty() {
                true => HashSet::new(),
                false => selector::select(&compilation.graph, &candidates, &opts.exclude, &[])
                    .map(|(ids, _)| ids.into_iter().collect())
                    .unwrap_or_default(),
            };
            // `ls` (no resource types) lists exactly what the selectors match.
            if opts.resource_types.contains(&ResourceType::Test) {
                add_tests_of_selected(&compilation.nodes, &mut ids, &excluded);
            }
            let wanted: HashSet<String> = ids
                .into_iter()
                .filter(|id| {
                    let rt = resource_type_of(id);
                    opts.resource_types.is_empty()
                        || rt.is_some_and(|r| opts.resource_types.contains(&r))
                })
                .collect();
            // Nodes on a cycle are left out; the cycle is an error that stops every command.
            let order = compilation.graph.topo_order();
            compilation.selected = order.into_iter().filter(|id| wanted.contains(id)).collect();
        }
        Err(e) => compilation
            .diagnostics
            .push(Diagnostic::error("selector", e.to_string())),
    }
}

/// dbt's eager indirect selection: selecting a node selects the tests that read it, so
/// `etlx test -s stg_events` runs stg_events' tests. Explicitly excluded tests stay out.
fn add_tests_of_selected(
    nodes: &IndexMap<String, CompiledNode>,
    ids: &mut HashSet<String>,
    excluded: &HashSet<String>,
) {
    let tests: Vec<String> = nodes
        .values()
        .filter(|n| matches!(n.resource_type, ResourceType::Test | ResourceType::UnitTest))
        .filter(|n| !ids.contains(&n.unique_id))
        .filter(|n| n.depends_on.iter().any(|p| ids.contains(p)))
        .filter(|n| !excluded.contains(&n.unique_id))
        .map(|n| n.unique_id.clone())
        .collect();
    ids.extend(tests);
}

/// `unit`, `generic` (declared in YAML) or `singular` (a SQL file), for `test_type:`.
fn test_type(resource_type: ResourceType, file: &std::path::Path) -> Option<&'static str> {
    let in_yaml = file
        .parent()
        .and_then(|p| p.extension())
        .is_some_and(|e| e == "yml" || e == "yaml");
    match resource_type {
        ResourceType::UnitTest => Some("unit"),
        ResourceType::Test if in_yaml => Some("generic"),
        ResourceType::Test => Some("singular"),
        _ => None,
    }
}

pub fn resource_type_of(unique_id: &str) -> Option<ResourceType> {
    ResourceType::parse(unique_id.split('.').next().unwrap_or(""))
}

pub fn candidates<'a>(
    project: &'a Project,
    nodes: &'a IndexMap<String, CompiledNode>,
) -> Vec<Candidate<'a>> {
    let mut out: Vec<Candidate> = nodes
        .values()
        .filter_map(|c| {
            let node = project.nodes.get(&c.unique_id)?;
            Some(Candidate {
                unique_id: &c.unique_id,
                name: &c.name,
                resource_type: c.resource_type,
                fqn: &node.fqn,
                path: crate::diag::display_path(&node.file.path),
                config: &c.config,
                source: None,
                test_type: test_type(c.resource_type, &node.file.path),
                package: &project.name,
            })
        })
        .collect();
    out.extend(project.sources.values().map(|s| Candidate {
        unique_id: &s.unique_id,
        name: &s.name,
        resource_type: ResourceType::Source,
        fqn: &s.fqn,
        path: crate::diag::display_path(&s.file),
        config: &s.config,
        source: Some((&s.source_name, &s.name)),
        test_type: None,
        package: &project.name,
    }));
    out
}

fn static_analysis_of(project: &Project, config: &Config) -> StaticAnalysis {
    config
        .0
        .get("static_analysis")
        .and_then(StaticAnalysis::from_json)
        .unwrap_or(project.static_analysis)
}

/// Compile render of the selected nodes and the ephemeral models they inline.
fn render_selected(
    project: &Project,
    templates: &Templates,
    shared: Arc<Shared>,
    c: &mut Compilation,
    opts: &CompileOptions,
) {
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
    let to_render: Vec<String> = to_render.into_iter().collect();
    let results: Vec<_> = to_render
        .par_iter()
        .filter_map(|id| {
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
                &shared,
                node,
                &compiled.config,
                this,
                Mode::Compile,
                incremental,
            );
            let name = crate::diag::display_path(&node.file.path);
            let rendered = templates
                .render(&node.file, req.clone())
                .and_then(|(sql, _)| {
                    let hooks = |key: &str| -> Result<Vec<String>, Box<Diagnostic>> {
                        let source = format!("{name} ({key})");
                        compiled
                            .config
                            .strings(key)
                            .iter()
                            .map(|hook| templates.render_str(&source, hook, req.clone()))
                            .collect()
                    };
                    Ok((sql, hooks("pre_hook")?, hooks("post_hook")?))
                });
            Some((id.clone(), rendered))
        })
        .collect();
    let mut raw: HashMap<String, String> = HashMap::new();
    for (id, result) in results {
        match result {
            Ok((sql, pre, post)) => {
                raw.insert(id.clone(), sql);
                if let Some(compiled) = c.nodes.get_mut(&id) {
                    compiled.pre_hooks = pre;
                    compiled.post_hooks = post;
                }
            }
            Err(d) => c.diagnostics.push(*d),
        }
    }
    check_incremental_configs(project, c);
    let selected: Vec<String> = c.selected.clone();
    let finished: Vec<(String, Inlined)> = selected
        .iter()
        .filter_map(|id| {
            let sql = raw.get(id)?;
            Some((
                id.clone(),
                inline_ephemerals(c, ancestors.get(id)?, sql, &raw),
            ))
        })
        .collect();
    let diags: Vec<Option<Diagnostic>> = finished
        .par_iter()
        .map(|(id, sql)| {
            let node = project.nodes.get(id)?;
            let compiled = c.nodes.get(id)?;
            let path = compiled_path(project, node);
            if opts.write
                && let Err(e) =
                    write_file(&project.root.join(&path), &project.secrets.redact(&sql.sql))
            {
                return Some(Diagnostic::error(
                    "io",
                    format!("cannot write {}: {e}", path.display()),
                ));
            }
            // Each model's own SQL is parsed once; inlined parents were parsed as themselves.
            analyze(project, node, compiled, raw.get(id)?, sql, &path)
        })
        .collect();
    c.diagnostics.extend(diags.into_iter().flatten());
    for (id, sql) in finished {
        if let (Some(compiled), Some(node)) = (c.nodes.get_mut(&id), project.nodes.get(&id)) {
            compiled.compiled_path = Some(compiled_path(project, node));
            compiled.compiled_sql = Some(sql.sql);
        }
    }
}

/// Each selected unit test renders its model over the test's inputs, in the DuckDB dialect,
/// with the test's vars and `is_incremental`, and without the warehouse.
fn render_unit_tests(
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
    for (id, result) in results {
        match result {
            Ok(plan) => {
                let path = PathBuf::from(&project.paths.target)
                    .join("compiled")
                    .join(&project.name)
                    .join("unit_tests")
                    .join(plan_model_name(project, &id))
                    .join(format!("{}.sql", id.rsplit('.').next().unwrap_or(&id)));
                if opts.write
                    && let Err(e) = write_file(
                        &project.root.join(&path),
                        &project.secrets.redact(&plan.sql),
                    )
                {
                    c.diagnostics.push(Diagnostic::error(
                        "io",
                        format!("cannot write {}: {e}", path.display()),
                    ));
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
}

fn plan_model_name(project: &Project, id: &str) -> String {
    project
        .unit_tests
        .get(id)
        .map_or_else(String::new, |t| t.model.clone())
}

fn plan_unit_test(
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
    let inputs = unit_test::input_tables(project, test);
    let subs = unit_test::substitutions(&inputs);
    let (refs, sources, this) = (subs.refs, subs.sources, subs.this);
    let mut vars = shared.vars.clone();
    vars.extend(test.vars.clone());
    // Inputs not given still render, so that the check below can name them.
    let mut relations = shared.relations.clone();
    relations.extend(refs);
    let mut all_sources = shared.sources.clone();
    all_sources.extend(sources);
    let local = Arc::new(Shared {
        dialect: Some(Dialect::DuckDb),
        relations,
        sources: all_sources,
        vars,
        connection: None,
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
    unit_test::check_inputs(test, model, &captured, &inputs)?;
    Ok(UnitPlan {
        model_id: model.unique_id.clone(),
        inputs,
        sql,
        expect: test.expect.clone(),
    })
}

fn render_task(
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
fn operation_call(name: &str, args: &serde_json::Map<String, serde_json::Value>) -> String {
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
fn render_project_hooks(
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

fn compiled_path(project: &Project, node: &Node) -> PathBuf {
    PathBuf::from(&project.paths.target)
        .join("compiled")
        .join(&project.name)
        .join(&node.file.path)
}

fn write_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Unchanged files are left alone so editors and watchers see no churn.
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    std::fs::write(path, text)
}

/// Parse compiled SQL in the target dialect; what a failure means depends on `static_analysis`.
fn analyze(
    project: &Project,
    node: &Node,
    compiled: &CompiledNode,
    own_sql: &str,
    written: &Inlined,
    path: &std::path::Path,
) -> Option<Diagnostic> {
    if node.resource_type == ResourceType::Model && !has_statement(own_sql) {
        // The warehouse would say `syntax error at ")"`, about SQL the user never wrote.
        return Some(
            Diagnostic::error(
                "empty-model",
                format!(
                    "model '{}' has no SQL: after rendering, the file holds only whitespace and comments",
                    node.name
                ),
            )
            .at(node.file.location(0..0))
            .hint("a model is one select statement; write it, delete the file, or disable the model with {{ config(enabled=false) }}"),
        );
    }
    let mode = static_analysis_of(project, &compiled.config);
    if mode == StaticAnalysis::Off || own_sql.trim().is_empty() {
        return None;
    }
    let err = sql::check(project.target.dialect, own_sql).err()?;
    // Point into the file as written (with inlined CTEs), where the user will look.
    let offset = written.map(crate::diag::offset_of(own_sql, err.line, err.column));
    let source: Arc<str> = Arc::from(written.sql.as_str());
    let location = Location::new(path, source, offset..offset)
        .moved_to(offset)
        .with_label("here");
    let message = format!(
        "SQL syntax error in {} '{}' ({}): {}",
        node.resource_type.name(),
        node.name,
        project.target.dialect,
        err.message
    );
    let d = match mode {
        StaticAnalysis::Strict => Diagnostic::error("sql-syntax", message).hint(
            "fix the SQL; if the warehouse accepts it and the parser does not, set `static_analysis: warn` on this model",
        ),
        _ => Diagnostic::warning("sql-syntax", message)
            .note("the model will still run (static_analysis: warn); the warehouse has the final word"),
    };
    Some(d.at(location).note(format!(
        "compiled from {}",
        crate::diag::display_path(&node.file.path)
    )))
}

/// Whether `sql` holds anything but whitespace and comments.
fn has_statement(sql: &str) -> bool {
    let mut rest = sql.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.find('\n').map_or("", |i| &after[i..]).trim_start();
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after
                .find("*/")
                .map_or("", |i| &after[i + 2..])
                .trim_start();
        } else {
            return !rest.trim().trim_end_matches(';').trim().is_empty();
        }
    }
}

/// Ephemeral models this node reads, directly or through other ephemerals, parents first
/// (`position` is each node's place in the graph's dependency order).
fn ephemeral_ancestors(
    c: &Compilation,
    id: &str,
    position: &HashMap<String, usize>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut stack: Vec<String> = c
        .nodes
        .get(id)
        .map(|n| n.depends_on.clone())
        .unwrap_or_default();
    let mut seen = HashSet::new();
    while let Some(dep) = stack.pop() {
        let Some(node) = c.nodes.get(&dep) else {
            continue;
        };
        if node.config.materialized() != "ephemeral" || !seen.insert(dep.clone()) {
            continue;
        }
        stack.extend(node.depends_on.iter().cloned());
        out.push(dep);
    }
    out.sort_by_key(|id| position.get(id).copied().unwrap_or(usize::MAX));
    out
}

/// Prepend the ephemeral models a node reads as CTEs (merged into its own WITH if it has one).
fn inline_ephemerals(
    c: &Compilation,
    ancestors: &[String],
    sql: &str,
    raw: &HashMap<String, String>,
) -> Inlined {
    let ctes: Vec<String> = ancestors
        .iter()
        .filter_map(|dep| {
            let node = c.nodes.get(dep)?;
            let body = raw.get(dep)?.trim().trim_end_matches(';').trim_end();
            Some(format!("{} as (\n{body}\n)", node.relation.to_sql()))
        })
        .collect();
    if ctes.is_empty() {
        return Inlined {
            sql: sql.to_string(),
            at: 0,
            len: 0,
        };
    }
    let ctes = ctes.join(", ");
    let (at, inserted) = match with_clause_end(sql) {
        Some(at) => (at, format!("{ctes}, ")),
        None => (0, format!("with {ctes}\n")),
    };
    Inlined {
        sql: format!("{}{inserted}{}", &sql[..at], &sql[at..]),
        at,
        len: inserted.len(),
    }
}

/// A node's SQL with its ephemeral parents inlined: `len` bytes inserted at byte `at` of the
/// node's own SQL, so positions in the one map to the other.
struct Inlined {
    sql: String,
    at: usize,
    len: usize,
}

impl Inlined {
    fn map(&self, own_offset: usize) -> usize {
        if own_offset >= self.at && self.len > 0 {
            own_offset + self.len
        } else {
            own_offset
        }
    }
}

/// If `sql` starts with `WITH [RECURSIVE]`, the offset just after it.
fn with_clause_end(sql: &str) -> Option<usize> {
    let mut rest = sql;
    loop {
        let trimmed = rest.trim_start();
        if let Some(after) = trimmed.strip_prefix("--") {
            rest = after.find('\n').map_or("", |i| &after[i..]);
        } else if let Some(after) = trimmed.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |i| &after[i + 2..]);
        } else {
            rest = trimmed;
            break;
        }
    }
    let start = sql.len() - rest.len();
    // `get`, not slicing: the first word may be `clients_été`, and byte 9 of it is inside `é`.
    let word = |text: &str, w: &str| {
        text.get(..w.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(w))
            && text[w.len()..].starts_with(char::is_whitespace)
    };
    if !word(rest, "with") {
        return None;
    }
    let mut at = start + 4;
    let after = sql[at..].trim_start();
    at = sql.len() - after.len();
    if word(after, "recursive") {
        let next = sql[at + 9..].trim_start();
        at = sql.len() - next.len();
    }
    Some(at)
}

fn dedup(items: &[String]) -> Vec<String> {
    let set: IndexSet<&String> = items.iter().collect();
    set.into_iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_quoted_argument_of_a_call() {
        let text = "select * from {{ ref('a') }} join {{ ref( \"orders\" ) }}";
        let span = find_call(text, "ref", &["orders"]);
        assert_eq!(&text[span], "\"orders\"");
        assert_eq!(find_call(text, "source", &["x"]), 0..0);
    }

    #[test]
    fn comments_and_whitespace_are_no_statement() {
        assert!(!has_statement(
            "  \n-- only a comment\n/* and a block */\n;\n"
        ));
        assert!(!has_statement(""));
        assert!(has_statement("-- a comment\nselect 1"));
        assert!(has_statement("/* x */ select 1"));
    }

    #[test]
    fn merges_into_an_existing_with() {
        assert_eq!(
            with_clause_end("-- c\nWITH x as (select 1) select * from x"),
            Some(10)
        );
        assert_eq!(
            with_clause_end("with recursive t as (select 1) select 1"),
            Some(15)
        );
        assert_eq!(with_clause_end("select 1 with"), None);
        assert_eq!(with_clause_end("withdrawals"), None);
        assert_eq!(
            with_clause_end("with clients_été as (select 1) select 1"),
            Some(5)
        );
        assert_eq!(with_clause_end("with été as (select 1) select 1"), Some(5));
    }
}
