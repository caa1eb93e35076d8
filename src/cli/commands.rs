//! One function per command: call the library, print, choose the outcome.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use etlx::adapter::{Adapter, Catalog, SharedConnection};
use etlx::compile::{self, Compilation, CompileOptions, Task};
use etlx::execute::freshness::{self, FreshnessStatus};
use etlx::execute::{RunOptions, Status};
use etlx::project::{self, LoadOptions, Project, ResourceType};
use etlx::sql::StaticAnalysis;

use super::{
    CatalogCommand, Cli, Command, ExecArgs, Global, LsOutput, Outcome, Printer, Selection,
    SourceCommand, StaticAnalysisArg,
};

pub fn dispatch(cli: &Cli, printer: &Printer) -> anyhow::Result<Outcome> {
    let global = &cli.global;
    match &cli.command {
        Command::Init { name } => init(global, name, printer),
        Command::Compile { selection } => compile_command(global, selection, printer),
        Command::Ls { selection, output } => ls(global, selection, *output, printer),
        Command::Run { selection, exec } => {
            let kinds = &[ResourceType::Model];
            execute(
                global,
                Invocation::new("run", selection, exec, kinds),
                printer,
            )
        }
        Command::Seed { selection, exec } => {
            let kinds = &[ResourceType::Seed];
            execute(
                global,
                Invocation::new("seed", selection, exec, kinds),
                printer,
            )
        }
        Command::Test { selection, exec } => execute(
            global,
            Invocation::new("test", selection, exec, TESTS),
            printer,
        ),
        Command::Build { selection, exec } => execute(
            global,
            Invocation::new("build", selection, exec, BUILD),
            printer,
        ),
        Command::Retry { exec } => retry(global, exec, printer),
        Command::Show {
            selection,
            inline,
            limit,
        } => show(global, selection, inline.as_deref(), *limit, printer),
        Command::RunOperation { name, args } => {
            run_operation(global, name, args.as_deref(), printer)
        }
        Command::Source {
            command: SourceCommand::Freshness { selection, output },
        } => source_freshness(global, selection, output.as_deref(), printer),
        Command::Generate {
            out,
            batches,
            events,
            users,
            songs,
            seed,
            format,
        } => {
            let opts = etlx::demo::Options {
                out: out.clone(),
                batches: *batches,
                events: *events,
                users: *users,
                songs: *songs,
                seed: *seed,
                format: match format {
                    super::LandingFormat::Json => etlx::demo::Format::Json,
                    super::LandingFormat::Parquet => etlx::demo::Format::Parquet,
                },
            };
            generate(&opts, printer)
        }
        Command::Stage { from, to } => stage(global, from, to, printer),
        Command::Catalog {
            command: CatalogCommand::Register { selection },
        } => catalog_register(global, selection, printer),
        Command::Debug => debug(global, printer),
        Command::Clean => clean(global, printer),
    }
}

const BUILD: &[ResourceType] = &[
    ResourceType::Seed,
    ResourceType::Model,
    ResourceType::Test,
    ResourceType::UnitTest,
];
const TESTS: &[ResourceType] = &[ResourceType::Test, ResourceType::UnitTest];

fn load_options(global: &Global) -> anyhow::Result<LoadOptions> {
    let vars = match &global.vars {
        Some(text) => parse_mapping("--vars", text)?,
        None => Default::default(),
    };
    Ok(LoadOptions {
        project_dir: global.project_dir.clone(),
        profiles_dir: global.profiles_dir.clone(),
        target: global.target.clone(),
        vars,
        static_analysis: global.static_analysis.map(|s| match s {
            StaticAnalysisArg::Strict => StaticAnalysis::Strict,
            StaticAnalysisArg::Warn => StaticAnalysis::Warn,
            StaticAnalysisArg::Off => StaticAnalysis::Off,
        }),
    })
}

/// `--vars` and `--args` are YAML (of which JSON is a subset), and must be a mapping.
fn parse_mapping(
    flag: &str,
    text: &str,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let value: serde_json::Value = serde_saphyr::from_str(text).map_err(|e| {
        anyhow::anyhow!("{flag} is not valid YAML or JSON: {}", e.without_snippet())
    })?;
    match value {
        serde_json::Value::Object(map) => Ok(map),
        serde_json::Value::Null => Ok(Default::default()),
        _ => bail!("{flag} must be a mapping, e.g. {flag} '{{batch: 3}}'"),
    }
}

/// Load the project and print what loading found. `None` when there were errors.
fn load(global: &Global, printer: &Printer) -> anyhow::Result<Option<Project>> {
    let (project, diags) = project::load(&load_options(global)?)?;
    if let Some(p) = &project {
        printer.set_secrets(p.secrets.clone());
    }
    printer.diagnostics(diags.iter());
    Ok(project.filter(|_| !diags.has_errors()))
}

fn selection_options(selection: &Selection, render: bool) -> CompileOptions {
    CompileOptions {
        select: selection.select.clone(),
        exclude: selection.exclude_terms(),
        render,
        write: render,
        ..CompileOptions::default()
    }
}

fn compile_command(
    global: &Global,
    selection: &Selection,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let mut opts = selection_options(selection, true);
    opts.resource_types = selection.resource_types(&[
        ResourceType::Model,
        ResourceType::Test,
        ResourceType::UnitTest,
    ])?;
    // Like dbt, compile consults the warehouse (is_incremental, run_query) when it can.
    // A target that cannot be reached still compiles (a Redshift project on a laptop): then
    // is_incremental() is false and run_query has no warehouse to ask, so say so.
    let connected = open_adapter(&project)
        .and_then(|adapter| connect_options(adapter.as_ref(), &mut opts).map(|_| adapter));
    if let Err(e) = &connected {
        opts.connection = None;
        opts.existing_relations = Default::default();
        match project.target.dialect {
            etlx::sql::Dialect::DuckDb => tracing::debug!("compiling without the warehouse: {e:#}"),
            _ => printer.error_line(&format!(
                "note: compiling without the warehouse (is_incremental() is false): {e:#}"
            )),
        }
    }
    let Some(c) = compile_and_report(&project, &opts, printer, "compiled")? else {
        return Ok(Outcome::Invalid);
    };
    tracing::debug!(
        "manifest written after {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let models = c
        .selected
        .iter()
        .filter(|id| id.starts_with("model."))
        .count();
    let tests = c.selected.len() - models;
    printer.info(
        "summary",
        &format!(
            "Compiled {} and {} in {:.2}s into {}/compiled",
            plural(models, "model"),
            plural(tests, "test"),
            started.elapsed().as_secs_f64(),
            project.paths.target
        ),
    );
    Ok(Outcome::Success)
}

fn open_adapter(project: &Project) -> anyhow::Result<Box<dyn Adapter>> {
    open_adapter_for(project, project.target.threads)
}

/// The target's adapter; a server target pools a connection per worker plus one for the
/// queries templates make (`run_query`) and one that holds the run lock.
fn open_adapter_for(project: &Project, threads: usize) -> anyhow::Result<Box<dyn Adapter>> {
    use etlx::sql::Dialect;
    Ok(match project.target.dialect {
        Dialect::DuckDb => Box::new(etlx::adapter::duckdb::DuckDb::open(
            &project.target,
            &project.root,
            project.secrets.clone(),
        )?),
        Dialect::Postgres | Dialect::Redshift => Box::new(etlx::adapter::postgres::Postgres::open(
            &project.target,
            threads + 2,
        )?),
    })
}

/// What a building command was asked: its verb, selection, flags and the kinds it runs.
struct Invocation<'a> {
    verb: &'a str,
    selection: &'a Selection,
    exec: &'a ExecArgs,
    kinds: &'a [ResourceType],
}

impl<'a> Invocation<'a> {
    fn new(
        verb: &'a str,
        selection: &'a Selection,
        exec: &'a ExecArgs,
        kinds: &'a [ResourceType],
    ) -> Invocation<'a> {
        Invocation {
            verb,
            selection,
            exec,
            kinds,
        }
    }
}

/// `run`, `seed`, `test`, `build` and `retry`: compile what is selected, then build it over
/// the DAG.
fn execute(global: &Global, inv: Invocation, printer: &Printer) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let Invocation {
        verb,
        selection,
        exec,
        kinds,
    } = inv;
    let mut opts = selection_options(selection, true);
    opts.resource_types = selection.resource_types(kinds)?;
    opts.full_refresh = exec.full_refresh;
    // Unit tests never use the target, so `etlx test -s test_type:unit` works where the
    // warehouse cannot be reached (a Redshift project on a laptop or in CI).
    let threads = exec.threads.unwrap_or(project.target.threads).max(1);
    // The run lock comes first: a run that is refused has written nothing, not even the
    // manifest or the compiled SQL of the run that holds the warehouse.
    let opened = open_adapter_for(&project, threads).and_then(|a| {
        let holder = etlx::adapter::lock_holder(verb);
        let lock = a.lock_run(&project.target.schema, &holder)?;
        let catalog = connect_options(a.as_ref(), &mut opts)?;
        Ok((a, lock, catalog))
    });
    let (adapter, _lock, catalog, unreachable) = match opened {
        Ok((adapter, lock, catalog)) => (adapter, lock, catalog, None),
        Err(e) if is_held_by_another_run(&e) => return Err(e),
        Err(e) => {
            let local: Box<dyn Adapter> =
                Box::new(etlx::adapter::duckdb::DuckDb::in_memory(&project.root)?);
            let lock = etlx::adapter::RunLock::none();
            (local, lock, Catalog::default(), Some(e))
        }
    };
    let Some(c) = compile_and_report(&project, &opts, printer, "run")? else {
        return Ok(Outcome::Invalid);
    };
    if let Some(e) = unreachable
        && c.selected
            .iter()
            .any(|id| !project.unit_tests.contains_key(id))
    {
        return Err(e);
    }
    let run_opts = RunOptions {
        catalog,
        threads,
        fail_fast: exec.fail_fast,
        full_refresh: exec.full_refresh,
    };
    let reporter = super::reporter::RunReporter::new(printer, &project, &c);
    let results = etlx::execute::execute(&project, &c, adapter.as_ref(), &run_opts, &reporter);
    reporter.finish();
    let elapsed = started.elapsed().as_secs_f64();
    // What `retry` replays: the same vars, target and flags, as dbt records them.
    let vars = match &global.vars {
        Some(text) => serde_json::Value::Object(parse_mapping("--vars", text)?),
        None => serde_json::json!({}),
    };
    let args = serde_json::json!({
        "which": verb,
        "select": selection.select,
        "exclude": selection.exclude_terms(),
        "full_refresh": exec.full_refresh,
        "threads": run_opts.threads,
        "vars": vars,
        "target": project.target.name,
    });
    let path = project.target_dir().join("run_results.json");
    etlx::artifacts::write_json(
        &path,
        &etlx::artifacts::run_results(&project, &c, &results, elapsed, args),
    )
    .with_context(|| format!("cannot write {}", path.display()))?;
    let count = |f: fn(Status) -> bool| results.iter().filter(|r| f(r.status)).count();
    let ok = count(|s| matches!(s, Status::Success | Status::Pass));
    let warned = count(|s| s == Status::Warn);
    let errors = count(Status::is_failure);
    let skipped = count(|s| s == Status::Skipped);
    reporter.summary(&results, elapsed);
    if let Some(signal) = etlx::cancel::reason() {
        printer.info(
            "summary",
            &format!(
                "Interrupted by {signal} after {elapsed:.2}s: {ok} ok, {errors} failed or cancelled, {skipped} not started; results in {}",
                path.display()
            ),
        );
        return Ok(Outcome::Interrupted);
    }
    let warned = match warned {
        0 => String::new(),
        n => format!(", {n} warned"),
    };
    printer.info(
        "summary",
        &format!(
            "Done in {elapsed:.2}s: {ok} ok{warned}, {errors} failed, {skipped} skipped, {} total",
            results.len()
        ),
    );
    Ok(if errors > 0 {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}

fn is_held_by_another_run(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<etlx::adapter::AdapterError>(),
        Some(etlx::adapter::AdapterError::Locked { .. } | etlx::adapter::AdapterError::Busy { .. })
    )
}

/// Compile, print what compilation found, and write the manifest. `None` when the project
/// has errors (they have been printed; nothing was `done`).
fn compile_and_report(
    project: &Project,
    opts: &CompileOptions,
    printer: &Printer,
    done: &str,
) -> anyhow::Result<Option<Compilation>> {
    let c = compile::compile(project, opts);
    printer.diagnostics(c.diagnostics.iter());
    if c.has_errors() {
        let errors = plural(c.diagnostics.error_count(), "error");
        printer.info("summary", &format!("{errors} found; nothing was {done}"));
        return Ok(None);
    }
    write_manifest(project, &c)?;
    Ok(Some(c))
}

/// The previous run's failed and skipped nodes, selected by unique id's last part, run
/// with the previous run's vars, target and `--full-refresh` (flags given now win). The
/// results are read where runs write them: under the project's `target-path`.
fn retry(global: &Global, exec: &ExecArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    // Loaded once quietly to find the target path; the retry loads again with the vars.
    let (project, _) = project::load(&load_options(global)?)?;
    let Some(project) = project else {
        return execute(
            global,
            Invocation::new("retry", &Selection::default(), exec, BUILD),
            printer,
        );
    };
    let path = project.target_dir().join("run_results.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("no previous run to retry: cannot read {}", path.display()))?;
    let previous: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let names: Vec<String> = previous["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| matches!(r["status"].as_str(), Some("error" | "fail" | "skipped")))
        .filter_map(|r| {
            r["unique_id"]
                .as_str()?
                .rsplit('.')
                .next()
                .map(str::to_string)
        })
        .collect();
    if names.is_empty() {
        printer.info(
            "summary",
            "Nothing to retry: the previous run had no failures",
        );
        return Ok(Outcome::Success);
    }
    let selection = Selection {
        select: vec![names.join(" ")],
        ..Selection::default()
    };
    let args = &previous["args"];
    let mut replayed = global.clone();
    if replayed.vars.is_none() {
        replayed.vars = args["vars"]
            .as_object()
            .filter(|v| !v.is_empty())
            .map(|v| serde_json::Value::Object(v.clone()).to_string());
    }
    if replayed.target.is_none() {
        replayed.target = args["target"].as_str().map(str::to_string);
    }
    let mut exec = exec.clone();
    exec.full_refresh |= args["full_refresh"].as_bool() == Some(true);
    execute(
        &replayed,
        Invocation::new("retry", &selection, &exec, BUILD),
        printer,
    )
}

/// What templates need from the warehouse: which relations exist, and a connection.
fn connect_options(adapter: &dyn Adapter, opts: &mut CompileOptions) -> anyhow::Result<Catalog> {
    let catalog = adapter.catalog()?;
    opts.existing_relations = catalog.rendered(adapter.dialect());
    opts.connection = Some(SharedConnection::new(adapter.connect()?));
    Ok(catalog)
}

fn show(
    global: &Global,
    selection: &Selection,
    inline: Option<&str>,
    limit: usize,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let adapter = open_adapter(&project)?;
    let mut opts = selection_options(selection, true);
    opts.resource_types = selection.resource_types(&[ResourceType::Model])?;
    opts.task = inline.map(|sql| Task::Inline(sql.to_string()));
    connect_options(adapter.as_ref(), &mut opts)?;
    let Some(c) = compile_and_report(&project, &opts, printer, "shown")? else {
        return Ok(Outcome::Invalid);
    };
    let sql = match &c.task_output {
        Some(sql) => sql.clone(),
        None => one_selected_model(&c)?,
    };
    let limited = format!(
        "select * from (\n{}\n) as etlx_show limit {limit}",
        sql.trim().trim_end_matches(';')
    );
    let table = match adapter.connect()?.query(&limited) {
        Ok(table) => table,
        Err(e) => {
            printer.error_line(&format!("error: {e}"));
            return Ok(Outcome::Failed);
        }
    };
    printer.result(&super::reporter::render_table(&table));
    Ok(Outcome::Success)
}

/// `run-operation`: render a call of the macro; its queries run against the target as it
/// renders, and what it logs is printed.
fn run_operation(
    global: &Global,
    name: &str,
    args: Option<&str>,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let args = match args {
        Some(text) => parse_mapping("--args", text)?,
        None => Default::default(),
    };
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let adapter = open_adapter(&project)?;
    let mut opts = CompileOptions {
        render: true,
        task: Some(Task::Operation {
            name: name.to_string(),
            args,
        }),
        ..CompileOptions::default()
    };
    connect_options(adapter.as_ref(), &mut opts)?;
    let c = compile::compile(&project, &opts);
    printer.diagnostics(c.diagnostics.iter());
    // No such macro is a usage error (2); a macro that fails as it runs is a failure (1).
    if c.diagnostics.iter().any(|d| d.code == "unknown-macro") {
        return Ok(Outcome::Invalid);
    }
    if c.has_errors() {
        return Ok(Outcome::Failed);
    }
    let output = c.task_output.unwrap_or_default();
    if !output.trim().is_empty() {
        printer.result(output.trim());
    }
    printer.info("summary", &format!("Ran operation {name}"));
    Ok(Outcome::Success)
}

/// The compiled SQL of the one model `show` was asked for. Several would be shown as one
/// at random, so they are refused, named.
fn one_selected_model(c: &Compilation) -> anyhow::Result<String> {
    let models: Vec<&etlx::compile::CompiledNode> = c
        .selected
        .iter()
        .filter_map(|id| c.nodes.get(id))
        .filter(|n| n.resource_type == ResourceType::Model)
        .collect();
    match models.as_slice() {
        [] => bail!("the selection matches no model; try `etlx ls` to see the names"),
        [one] => one
            .compiled_sql
            .clone()
            .with_context(|| format!("{} has no compiled SQL", one.name)),
        many => {
            let mut names: Vec<&str> = many.iter().map(|n| n.name.as_str()).collect();
            let more = names.len().saturating_sub(10);
            names.truncate(10);
            let more = match more {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            bail!(
                "show looks at one model, and the selection matches {}: {}{more}; pick one with -s <model>",
                many.len(),
                names.join(", ")
            )
        }
    }
}

fn write_manifest(project: &Project, c: &Compilation) -> anyhow::Result<()> {
    let path = project.target_dir().join("manifest.json");
    let clock = Instant::now();
    let manifest = etlx::artifacts::manifest(project, c);
    tracing::debug!(
        "manifest built in {:.1} ms",
        clock.elapsed().as_secs_f64() * 1e3
    );
    etlx::artifacts::write_json(&path, &manifest)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn ls(
    global: &Global,
    selection: &Selection,
    output: LsOutput,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let mut opts = selection_options(selection, false);
    opts.resource_types = selection.resource_types(&[])?;
    let c = compile::compile(&project, &opts);
    printer.diagnostics(c.diagnostics.iter());
    if c.has_errors() {
        return Ok(Outcome::Invalid);
    }
    let candidates = compile::candidates(&project, &c.nodes);
    for id in &c.selected {
        let Some(node) = candidates.iter().find(|n| n.unique_id == id) else {
            continue;
        };
        let line = match output {
            LsOutput::Name => node.name.to_string(),
            LsOutput::Path => node.path.clone(),
            LsOutput::Selector => match (node.source, node.resource_type) {
                (Some(_), _) => format!("source:{}", node.fqn.join(".")),
                (None, ResourceType::UnitTest) => format!("unit_test:{}", node.fqn.join(".")),
                (None, _) => node.fqn.join("."),
            },
            LsOutput::Json => serde_json::json!({
                "name": node.name,
                "resource_type": node.resource_type,
                "unique_id": node.unique_id,
                "original_file_path": node.path,
                "config": node.config,
                "tags": node.config.tags(),
                "depends_on": {"nodes": c.graph.parents(id)},
            })
            .to_string(),
        };
        printer.result(&line);
    }
    Ok(Outcome::Success)
}

/// `source freshness`: the age of each selected source's newest row, judged and printed.
fn source_freshness(
    global: &Global,
    selection: &Selection,
    output: Option<&std::path::Path>,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let adapter = open_adapter(&project)?;
    let mut opts = selection_options(selection, true);
    opts.resource_types = selection.resource_types(&[ResourceType::Source])?;
    let Some(c) = compile_and_report(&project, &opts, printer, "checked")? else {
        return Ok(Outcome::Invalid);
    };
    let sources: Vec<&etlx::project::Source> = c
        .selected
        .iter()
        .filter_map(|id| project.sources.get(id))
        .filter(|s| freshness::checkable(s))
        .collect();
    if sources.is_empty() {
        printer.info(
            "summary",
            "No selected source has both `loaded_at_field` and `freshness`; nothing to check",
        );
        return Ok(Outcome::Success);
    }
    let mut conn = adapter.connect()?;
    let mut checks = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let key = (source.source_name.clone(), source.name.clone());
        let relation = c
            .source_relations
            .get(&key)
            .cloned()
            .unwrap_or_else(|| etlx::compile::source_relation(project.target.dialect, source));
        if let Some(check) = freshness::check(adapter.dialect(), source, &relation, conn.as_mut()) {
            printer.info(
                "freshness",
                &freshness_line(source, &check, i + 1, sources.len()),
            );
            checks.push(check);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let path = output.map_or_else(|| project.target_dir().join("sources.json"), PathBuf::from);
    etlx::artifacts::write_json(
        &path,
        &etlx::artifacts::sources(&project, &c, &checks, elapsed),
    )
    .with_context(|| format!("cannot write {}", path.display()))?;
    let count = |f: fn(FreshnessStatus) -> bool| checks.iter().filter(|c| f(c.status)).count();
    let failed = count(FreshnessStatus::is_failure);
    printer.info(
        "summary",
        &format!(
            "Done in {elapsed:.2}s: {} pass, {} warn, {failed} error, {} total",
            count(|s| s == FreshnessStatus::Pass),
            count(|s| s == FreshnessStatus::Warn),
            checks.len()
        ),
    );
    Ok(if failed > 0 {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}

fn freshness_line(
    source: &etlx::project::Source,
    check: &freshness::Check,
    index: usize,
    total: usize,
) -> String {
    let status = match check.status {
        FreshnessStatus::Pass => "PASS",
        FreshnessStatus::Warn => "WARN",
        FreshnessStatus::Error => "ERROR",
        FreshnessStatus::RuntimeError => "ERROR",
    };
    let mut limits = Vec::new();
    if let Some(p) = check.criteria.warn_after {
        limits.push(format!("warn after {p}"));
    }
    if let Some(p) = check.criteria.error_after {
        limits.push(format!("error after {p}"));
    }
    let detail = match (check.age_seconds, &check.message) {
        (Some(age), _) => format!(
            "newest row {} old; {}",
            freshness::describe_age(age),
            limits.join(", ")
        ),
        (None, Some(message)) => message.lines().next().unwrap_or_default().to_string(),
        (None, None) => String::new(),
    };
    let width = total.to_string().len();
    format!(
        "{index:>width$} of {total}  {status:<5} freshness   {}.{}  [{detail}]",
        source.source_name, source.name
    )
}

fn generate(opts: &etlx::demo::Options, printer: &Printer) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let written = etlx::demo::generate(opts)?;
    let (mut events, mut bytes) = (0, 0);
    for w in &written {
        printer.info(
            "generated",
            &format!(
                "{:>9} rows  {:>8.1} MB  {}",
                w.events,
                w.bytes as f64 / 1e6,
                w.path.display()
            ),
        );
        events += w.events;
        bytes += w.bytes;
    }
    printer.info(
        "summary",
        &format!(
            "Wrote {events} rows, {:.1} MB, in {:.2}s",
            bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(Outcome::Success)
}

fn init(global: &Global, name: &str, printer: &Printer) -> anyhow::Result<Outcome> {
    let parent = match &global.project_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()?,
    };
    let files = etlx::scaffold::init(&parent, name)?;
    printer.info(
        "init",
        &format!(
            "Created project '{name}' with {} files in {}",
            files.len(),
            parent.join(name).display()
        ),
    );
    printer.info("init", &format!("Next: cd {name} && etlx build"));
    Ok(Outcome::Success)
}

fn debug(global: &Global, printer: &Printer) -> anyhow::Result<Outcome> {
    let (project, diags) = project::load(&load_options(global)?)?;
    printer.diagnostics(diags.iter());
    let Some(project) = project else {
        return Ok(Outcome::Invalid);
    };
    printer.set_secrets(project.secrets.clone());
    let t = &project.target;
    let profile_file = t
        .source
        .as_deref()
        .map_or("(none: built-in DuckDB target)".to_string(), |p| {
            p.display().to_string()
        });
    let settings = serde_json::to_value(t).unwrap_or_default();
    printer.result(&format!("etlx {}", env!("CARGO_PKG_VERSION")));
    printer.result(&format!(
        "project:  {} ({})",
        project.name,
        project.root.join(&project.project_file).display()
    ));
    printer.result(&format!("profile:  {} from {profile_file}", t.profile));
    printer.result(&format!(
        "target:   {} ({}), schema {}, {} threads",
        t.name, t.dialect, t.schema, t.threads
    ));
    printer.result(&format!("settings: {}", settings["settings"]));
    printer.result(&format!(
        "found:    {} models, {} seeds, {} sources, {} macros",
        project
            .nodes
            .values()
            .filter(|n| n.resource_type == ResourceType::Model)
            .count(),
        project
            .nodes
            .values()
            .filter(|n| n.resource_type == ResourceType::Seed)
            .count(),
        project.sources.len(),
        project.macros.len()
    ));
    if diags.has_errors() {
        return Ok(Outcome::Invalid);
    }
    // The connection check: what a new profile most often gets wrong.
    match open_adapter_for(&project, 1).and_then(|a| Ok(a.describe()?)) {
        Ok(server) => {
            printer.result(&format!("connection: OK, {server}"));
            Ok(Outcome::Success)
        }
        Err(e) => {
            printer.result(&format!("connection: FAILED, {e:#}"));
            Ok(Outcome::Failed)
        }
    }
}

fn clean(global: &Global, printer: &Printer) -> anyhow::Result<Outcome> {
    let (project, diags) = project::load(&load_options(global)?)?;
    printer.diagnostics(diags.iter());
    let Some(project) = project else {
        return Ok(Outcome::Invalid);
    };
    for target in &project.paths.clean_targets {
        let path = project.root.join(target);
        // Never delete outside the project, whatever clean-targets says.
        let inside = path
            .canonicalize()
            .map(|p| p.starts_with(&project.root) && p != project.root)
            .unwrap_or(false);
        if !path.exists() {
            continue;
        }
        if !inside {
            bail!(
                "refusing to delete '{target}': clean-targets must be folders inside the project"
            );
        }
        if is_cargo_target(&path) {
            delete_etlx_outputs(&path)
                .with_context(|| format!("cannot clean {}", path.display()))?;
            printer.info(
                "clean",
                &format!("Deleted etlx's files in {target}/ (Cargo's build there is kept)"),
            );
            continue;
        }
        std::fs::remove_dir_all(&path)
            .with_context(|| format!("cannot delete {}", path.display()))?;
        printer.info("clean", &format!("Deleted {target}/"));
    }
    Ok(Outcome::Success)
}

/// A project at the root of a Rust repository (this one's demo) shares `target/` with Cargo:
/// deleting it would throw away a build that takes DuckDB 20 minutes to compile.
fn is_cargo_target(dir: &std::path::Path) -> bool {
    std::fs::read_to_string(dir.join("CACHEDIR.TAG"))
        .is_ok_and(|tag| tag.contains("created by cargo"))
}

/// What etlx writes into its target folder, and nothing else: beside Cargo, whose folder
/// also holds other tools' caches (rust-analyzer, criterion), what etlx did not write stays.
fn delete_etlx_outputs(dir: &std::path::Path) -> std::io::Result<()> {
    const OURS: [&str; 5] = [
        "compiled",
        "s3_cache",
        "manifest.json",
        "run_results.json",
        "sources.json",
    ];
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let warehouse = [".duckdb", ".duckdb.wal", ".duckdb.tmp"]
            .iter()
            .any(|ext| name.ends_with(ext));
        if !(OURS.contains(&name) || warehouse) {
            continue;
        }
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `etlx stage DIR s3://bucket/prefix/`: upload what is new or changed.
fn stage(
    global: &Global,
    from: &std::path::Path,
    to: &str,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let url = etlx::aws::S3Url::parse(to)?;
    if !from.is_dir() {
        bail!("{} is not a folder", from.display());
    }
    let started = Instant::now();
    let aws = etlx::aws::Aws::connect(etlx::aws::AwsSettings::from_target(&project.target))?;
    let done = aws.upload_dir(from, &url)?;
    for key in &done.copied {
        printer.info("uploaded", &format!("uploaded  {}", url.join(key)));
    }
    printer.info(
        "summary",
        &format!(
            "Staged {} into {url} in {:.2}s: {} uploaded ({} bytes), {} already there",
            from.display(),
            started.elapsed().as_secs_f64(),
            done.copied.len(),
            done.bytes,
            done.unchanged.len()
        ),
    );
    Ok(Outcome::Success)
}

/// `etlx catalog register`: the selected sources whose files are in S3, as Glue tables.
fn catalog_register(
    global: &Global,
    selection: &Selection,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    use etlx::aws::glue::FileFormat;
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let mut opts = selection_options(selection, true);
    opts.resource_types = selection.resource_types(&[ResourceType::Source])?;
    let Some(c) = compile_and_report(&project, &opts, printer, "checked")? else {
        return Ok(Outcome::Invalid);
    };
    let aws = etlx::aws::Aws::connect(etlx::aws::AwsSettings::from_target(&project.target))?;
    let cache = project.root.join(etlx::compile::s3_cache_dir(&project));
    let mut registered = 0;
    for source in c.selected.iter().filter_map(|id| project.sources.get(id)) {
        let (Some(location), Some(reader)) = (
            c.source_locations.get(&source.unique_id),
            c.source_readers.get(&source.unique_id),
        ) else {
            continue;
        };
        if !location.starts_with("s3://") {
            continue;
        }
        let format = FileFormat::of_reader(reader);
        // Columns not all declared: read them from the files, mirrored locally first.
        let describe = || -> Result<_, etlx::execute::RunError> {
            let url = etlx::aws::S3Url::parse(etlx::aws::literal_prefix(location))?;
            aws.mirror(&url, &cache)?;
            let duck = etlx::adapter::duckdb::DuckDb::in_memory(&project.root)?;
            let mut conn = duck.connect()?;
            Ok(conn.describe(&format!("select * from {reader}"))?)
        };
        let table =
            etlx::execute::publish::register_source(&aws, source, location, format, describe)
                .map_err(|e| {
                    anyhow::anyhow!("source {}.{}: {e}", source.source_name, source.name)
                })?;
        printer.info(
            "registered",
            &format!(
                "registered {}.{} as {}.{} ({} columns) at {}",
                source.source_name,
                source.name,
                table.database,
                table.name,
                table.columns.len(),
                table.location
            ),
        );
        registered += 1;
    }
    printer.info(
        "summary",
        &format!("Registered {registered} S3 source(s) in the Glue Data Catalog"),
    );
    Ok(Outcome::Success)
}
