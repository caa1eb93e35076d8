//! From a loaded project to SQL that can run: discovery render, graph, selection, compile
//! render, ephemeral inlining, static analysis, `target/compiled`.
//!
//! Every node renders twice, in parallel: first to learn what it reads and how it is
//! configured (relation names depend on other models' `config()` calls, so they are unknown
//! until every model has been seen), then with real relation names. Problems from all nodes
//! are collected; nothing is compiled for real while the project has errors.

mod analyse;
mod config_checks;
mod configs;
mod discover;
mod ephemeral;
mod fingerprint;
mod naming;
mod output;
mod render;
mod resolve;
mod select;
mod show;
mod sources;
mod unit_plans;
mod warehouse;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use indexmap::{IndexMap, IndexSet};
use serde::Serialize;

use crate::adapter::SharedConnection;
use crate::diag::{Diagnostics, Location};
use crate::graph::Graph;
use crate::project::{Config, Node, Project, ResourceType, hex_sha256};
use crate::template::{Mode, NodeContext, Relation, RenderRequest, Shared, Templates};

pub use analyse::{source_location, static_analysis_of};
use configs::render_configs;
use discover::{add_incremental_branches, discover, final_configs};
pub use fingerprint::{fingerprints, macro_digests, node_fingerprint, source_fingerprint};
pub use naming::source_relation;
use naming::{relations, source_relations};
pub use render::compiled_path;
use render::{render_project_hooks, render_selected, render_task};
use resolve::{build_graph, report_cycles, resolve_dependencies};
pub use select::candidates;
use select::select_nodes;
pub use show::{ShowError, show_query};
use sources::RenderedSources;
pub use sources::{files_reader, reader_glob, s3_cache_dir};
use unit_plans::render_unit_tests;
pub use unit_plans::{InputTable, UnitPlan};

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
    /// A previous run to compare with (`--state`): `state:` selectors, `--defer`.
    pub state: Option<Arc<crate::state::State>>,
    pub defer: Defer,
}

/// Where refs to unselected nodes point (`--defer`, with `--state`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Defer {
    /// At the current target, always.
    #[default]
    Off,
    /// dbt's `--defer`: at the state's relation when the current target lacks the node's.
    Missing,
    /// `--defer --favor-state`: at the state's relation whenever the state has one.
    Favor,
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
    /// The model's own query (its SQL without the ephemeral parents inlined) as static
    /// analysis parsed it: column lineage reads it instead of parsing any text again, with
    /// each ephemeral parent as a relation of its own. Also set for the ephemeral models a
    /// selected node inlines, selected or not.
    #[serde(skip)]
    pub parsed: Option<Arc<sqlparser::ast::Query>>,
    /// The bytes of `compiled_sql` that are inlined ephemeral parents; the rest is the text
    /// `parsed` was parsed from.
    #[serde(skip)]
    pub inlined: Option<std::ops::Range<usize>>,
    /// Unit tests: the inputs and the model's SQL over them.
    #[serde(skip)]
    pub unit: Option<Arc<UnitPlan>>,
    pub checksum: String,
    /// The digest of what it renders to, neutral to the target (its state fingerprint's
    /// `sql`); the file's checksum for seeds and unit tests.
    pub neutral_sql: String,
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
    /// Their formats as rendered (`csv`, `json` or `parquet`).
    pub source_formats: HashMap<String, String>,
}

impl CompiledNode {
    /// A model inlined into its readers as a CTE, never built (`materialized: ephemeral`).
    pub fn is_ephemeral(&self) -> bool {
        self.config.materialized() == "ephemeral"
    }

    /// A model kept only for the run that builds it (`materialized: temp`).
    pub fn is_temp(&self) -> bool {
        self.resource_type == ResourceType::Model && self.config.materialized() == "temp"
    }

    /// The offset in `compiled_sql` of a line and column (1-based) of the SQL `parsed` was
    /// parsed from: the model's own, ephemeral parents not inlined.
    pub fn compiled_offset(&self, line: usize, column: usize) -> Option<usize> {
        let sql = self.compiled_sql.as_deref()?;
        let own = match &self.inlined {
            Some(inlined) => format!("{}{}", &sql[..inlined.start], &sql[inlined.end..]),
            None => sql.to_string(),
        };
        let offset = crate::diag::offset_of(&own, line, column);
        Some(ephemeral::offset_after_inlining(
            self.inlined.as_ref(),
            offset,
        ))
    }

    /// An incremental model with `incremental_strategy='microbatch'`.
    pub fn is_microbatch(&self) -> bool {
        self.config.materialized() == "incremental"
            && self.config.get_str("incremental_strategy") == Some("microbatch")
    }
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
    let rendered = render_configs(&all, &templates, &base_shared, &mut diags);
    let mut discovered = discover(
        project,
        &templates,
        &base_shared,
        &all,
        &rendered,
        &mut diags,
    );
    let (configs, disabled) = final_configs(&all, &rendered, &discovered.captured);
    let digests = &mut discovered.digests;
    add_incremental_branches(project, &templates, &base_shared, &all, &configs, digests);
    phase("discovery render");

    let relations = relations(project, &templates, &base_shared, &configs, &mut diags);
    let mut nodes = compiled_nodes(project, &disabled, &discovered, &configs, &relations);
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
        source_formats: HashMap::new(),
    };
    select_nodes(project, &mut compilation, opts);
    phase("selection");
    if opts.render && !compilation.diagnostics.has_errors() {
        render(project, &templates, base, relations, &mut compilation, opts);
        phase("compile render and SQL analysis");
    }
    point_at_test_declarations(project, &mut compilation.diagnostics);
    compilation
}

/// A `CompiledNode` per enabled node, with what discovery captured and its final config
/// and relation; SQL comes later, from the compile render.
fn compiled_nodes(
    project: &Project,
    disabled: &HashSet<&str>,
    discovered: &discover::Discovered,
    configs: &HashMap<&str, Config>,
    relations: &HashMap<String, Relation>,
) -> IndexMap<String, CompiledNode> {
    let mut nodes = IndexMap::new();
    for node in project.nodes.values() {
        if disabled.contains(node.unique_id.as_str()) {
            continue;
        }
        let captured = discovered.captured.get(node.unique_id.as_str());
        let checksum = match node.resource_type {
            ResourceType::Seed => seed_checksum(&project.root.join(&node.file.path)),
            _ => hex_sha256(node.file.text.as_bytes()),
        };
        let neutral_sql = discovered.digests.get(&node.unique_id);
        let relation = relations.get(&node.name).cloned().unwrap_or(Relation::Cte {
            name: node.name.clone(),
        });
        nodes.insert(
            node.unique_id.clone(),
            CompiledNode {
                unique_id: node.unique_id.clone(),
                name: node.name.clone(),
                resource_type: node.resource_type,
                config: configs[node.unique_id.as_str()].clone(),
                relation,
                depends_on: Vec::new(),
                macros: captured.map(|c| dedup(&c.macros)).unwrap_or_default(),
                refs: captured.map(|c| c.refs.clone()).unwrap_or_default(),
                sources: captured.map(|c| c.sources.clone()).unwrap_or_default(),
                compiled_sql: None,
                parsed: None,
                inlined: None,
                compiled_path: None,
                unit: None,
                neutral_sql: neutral_sql.unwrap_or(&checksum).clone(),
                checksum,
                pre_hooks: Vec::new(),
                post_hooks: Vec::new(),
            },
        );
    }
    nodes
}

/// A seed is not read by etlx (the database loads it), so its checksum is taken here: of
/// the content up to 16 MiB, as dbt does up to 1 MiB; past that, of its size (a larger seed
/// is better loaded as a source).
fn seed_checksum(path: &std::path::Path) -> String {
    const WHOLE: u64 = 16 << 20;
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > WHOLE => hex_sha256(format!("size {}", meta.len()).as_bytes()),
        _ => hex_sha256(&std::fs::read(path).unwrap_or_default()),
    }
}

/// The compile render: sources' relations and readers first (models read them), then the
/// task, or the hooks, the selected nodes and the unit tests.
fn render(
    project: &Project,
    templates: &Templates,
    base: Shared,
    relations: HashMap<String, Relation>,
    c: &mut Compilation,
    opts: &CompileOptions,
) {
    let base_shared = Arc::new(base.clone());
    let RenderedSources {
        relations: sources,
        readers,
        locations,
        formats,
    } = source_relations(project, templates, &base_shared, &mut c.diagnostics);
    c.source_relations = sources.clone();
    c.source_readers = readers;
    c.source_locations = locations;
    c.source_formats = formats;
    let relations = defer_relations(project, c, opts, relations);
    let (ref_event_times, source_event_times) = event_times(project, c);
    let shared = Arc::new(Shared {
        relations,
        sources,
        ref_event_times,
        source_event_times,
        ..base
    });
    match &opts.task {
        Some(task) => render_task(project, templates, &shared, task, c),
        None => {
            render_project_hooks(project, templates, &shared, c);
            render_selected(project, templates, shared.clone(), c, opts);
            render_unit_tests(project, templates, &shared, c, opts);
        }
    }
}

/// `--defer`: refs to nodes outside the selection read the state's relations (for dbt's
/// default, only those the current target lacks).
fn defer_relations(
    project: &Project,
    c: &mut Compilation,
    opts: &CompileOptions,
    mut relations: HashMap<String, Relation>,
) -> HashMap<String, Relation> {
    let Some(state) = opts.state.as_ref().filter(|_| opts.defer != Defer::Off) else {
        return relations;
    };
    let database = match state.deferred_database(project) {
        Ok(database) => database,
        Err(reason) => {
            c.diagnostics
                .push(crate::diag::Diagnostic::error("defer", reason));
            return relations;
        }
    };
    let selected: HashSet<&str> = c.selected.iter().map(String::as_str).collect();
    for (id, node) in &c.nodes {
        let Some(theirs) = state.relations.get(id) else {
            continue;
        };
        if selected.contains(id.as_str()) || node.is_ephemeral() {
            continue;
        }
        let ours = relations.get(&node.name).map(Relation::to_sql);
        let built_here = ours.is_some_and(|r| opts.existing_relations.contains(&r));
        if opts.defer == Defer::Missing && built_here {
            continue;
        }
        let deferred = Relation::table(
            project.target.dialect,
            database.clone(),
            theirs.schema.clone(),
            theirs.identifier.clone(),
        );
        relations.insert(node.name.clone(), deferred);
    }
    relations
}

/// The `event_time` of each model, seed and source that sets one (dbt reads it from the
/// config), by the name `ref` and `source` are called with.
type EventTimes = (HashMap<String, String>, HashMap<(String, String), String>);

fn event_times(project: &Project, c: &Compilation) -> EventTimes {
    let refs = c
        .nodes
        .values()
        .filter_map(|n| Some((n.name.clone(), n.config.get_str("event_time")?.to_string())))
        .collect();
    let sources = project
        .sources
        .values()
        .filter_map(|s| {
            let column = s.config.get_str("event_time")?.to_string();
            Some(((s.source_name.clone(), s.name.clone()), column))
        })
        .collect();
    (refs, sources)
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
        ref_event_times: HashMap::new(),
        source_event_times: HashMap::new(),
        macro_index: templates.macro_index.clone(),
        namespaces: Arc::new(macro_namespaces(project)),
        full_refresh: opts.full_refresh,
        invocation_id: invocation_id.to_string(),
        run_started_at: started.to_string(),
        connection: opts.connection.clone(),
    }
}

/// `dbt`, the project's name and each package's: the `<namespace>.` a macro call may carry.
fn macro_namespaces(project: &Project) -> HashSet<String> {
    let packages = project
        .macros
        .values()
        .filter_map(|m| m.unique_id.split('.').nth(1).map(str::to_string));
    ["dbt".to_string(), project.name.clone()]
        .into_iter()
        .chain(packages)
        .collect()
}

fn node_request(
    shared: &Arc<Shared>,
    node: &Node,
    config: &Config,
    this: Relation,
    mode: Mode,
    incremental: bool,
) -> RenderRequest {
    let mut json = model_json(node, config);
    // dbt's `model.batch` in a microbatch model: the executor fills in each batch's values.
    // Discovery renders before the model's own `config()` is known, so every model gets the
    // placeholders there: a microbatch template using them discovers like any other.
    let microbatch = config.materialized() == "incremental"
        && config.get_str("incremental_strategy") == Some("microbatch");
    if microbatch || mode == Mode::Discover {
        json["batch"] = serde_json::json!({
            "id": crate::template::BATCH_ID,
            "event_time_start": crate::template::BATCH_START,
            "event_time_end": crate::template::BATCH_END,
        });
    }
    let model = crate::template::to_value(json);
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

/// What `model` is in templates: the node's manifest entry, in brief.
fn model_json(node: &Node, config: &Config) -> serde_json::Value {
    serde_json::json!({
        "unique_id": node.unique_id,
        "name": node.name,
        "package_name": node.fqn.first(),
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

fn dedup(items: &[String]) -> Vec<String> {
    let set: IndexSet<&String> = items.iter().collect();
    set.into_iter().cloned().collect()
}
