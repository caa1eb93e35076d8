//! One function per command, grouped by family, each a few lines: call the library, hand
//! what comes back to the `Printer` or the `RunReporter`, choose the outcome.
//!
//! What is shared by the families lives here: turning the global flags into load options,
//! loading the project and printing what loading found, and compiling with the diagnostics
//! printed and the manifest written.

mod aws;
mod compile;
mod docs;
mod freshness;
mod lineage;
mod operation;
mod project;
mod run;

use etlx::compile::{Compilation, CompileOptions, Defer};
use etlx::lineage::Lineage;
use etlx::project::{LoadOptions, Project};
use etlx::sql::StaticAnalysis;
use run::Verb;

use super::{
    CatalogCommand, Cli, Command, DocsCommand, Global, Outcome, Printer, Selection, SourceCommand,
    StaticAnalysisArg,
};

pub fn dispatch(cli: &Cli, printer: &Printer) -> anyhow::Result<Outcome> {
    let global = &cli.global;
    match &cli.command {
        Command::Init { name } => project::init(global, name, printer),
        Command::Compile { selection } => compile::compile(global, selection, printer),
        Command::Lineage(args) => lineage::lineage(global, args, printer),
        Command::Docs {
            command: DocsCommand::Generate(args),
        } => docs::generate(global, args, printer),
        Command::Docs {
            command:
                DocsCommand::Serve {
                    port,
                    host,
                    watch,
                    generate,
                },
        } => docs::serve(global, generate, host, *port, *watch, printer),
        Command::Ls { selection, output } => compile::ls(global, selection, *output, printer),
        Command::Run { selection, exec } => run::verb(Verb::Run, global, selection, exec, printer),
        Command::Seed { selection, exec } => {
            run::verb(Verb::Seed, global, selection, exec, printer)
        }
        Command::Snapshot { selection, exec } => {
            run::verb(Verb::Snapshot, global, selection, exec, printer)
        }
        Command::Test { selection, exec } => {
            run::verb(Verb::Test, global, selection, &exec.into(), printer)
        }
        Command::Build {
            selection,
            exec,
            every: None,
        } => run::verb(Verb::Build, global, selection, exec, printer),
        Command::Build {
            selection,
            exec,
            every: Some(every),
        } => run::every(*every, global, selection, exec, printer),
        Command::Retry { exec } => run::retry(global, exec, printer),
        Command::Clone {
            selection,
            full_refresh,
        } => run::clone(global, selection, *full_refresh, printer),
        Command::Show {
            selection,
            inline,
            limit,
        } => compile::show(global, selection, inline.as_deref(), *limit, printer),
        Command::RunOperation { name, args } => {
            operation::run_operation(global, name, args.as_deref(), printer)
        }
        Command::Source {
            command: SourceCommand::Freshness { selection, output },
        } => freshness::source_freshness(global, selection, output.as_deref(), printer),
        Command::Generate(args) => project::generate(args, printer),
        Command::Stage { from, to } => aws::stage(global, from, to, printer),
        Command::Catalog {
            command: CatalogCommand::Register { selection },
        } => aws::catalog_register(global, selection, printer),
        Command::Debug => project::debug(global, printer),
        Command::Clean => project::clean(global, printer),
        Command::Deps { upgrade } => project::deps(global, *upgrade, printer),
    }
}

fn load_options(global: &Global) -> anyhow::Result<LoadOptions> {
    Ok(LoadOptions {
        project_dir: global.project_dir.clone(),
        profiles_dir: global.profiles_dir.clone(),
        target: global.target.clone(),
        vars: vars(global)?,
        static_analysis: global.static_analysis.map(|s| match s {
            StaticAnalysisArg::Strict => StaticAnalysis::Strict,
            StaticAnalysisArg::Warn => StaticAnalysis::Warn,
            StaticAnalysisArg::Off => StaticAnalysis::Off,
        }),
        skip_version_check: global.no_version_check,
    })
}

/// `--vars`, parsed (empty when not given).
fn vars(global: &Global) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    match &global.vars {
        Some(text) => parse_mapping("--vars", text),
        None => Ok(Default::default()),
    }
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
        _ => anyhow::bail!("{flag} must be a mapping, e.g. {flag} '{{batch: 3}}'"),
    }
}

/// Load the project and print what loading found. `None` when there were errors.
fn load(global: &Global, printer: &Printer) -> anyhow::Result<Option<Project>> {
    let (project, diags) = etlx::project::load(&load_options(global)?)?;
    if let Some(p) = &project {
        printer.set_secrets(p.secrets.clone());
    }
    printer.diagnostics(diags.iter());
    Ok(project.filter(|_| !diags.has_errors()))
}

fn selection_options(selection: &Selection, render: bool) -> anyhow::Result<CompileOptions> {
    let state = match &selection.state {
        Some(dir) => Some(std::sync::Arc::new(etlx::state::State::read(dir)?)),
        None => None,
    };
    let defer = match (selection.defer, selection.favor_state) {
        (false, _) => Defer::Off,
        (true, false) => Defer::Missing,
        (true, true) => Defer::Favor,
    };
    Ok(CompileOptions {
        select: selection.select.clone(),
        exclude: selection.exclude_terms(),
        render,
        write: render,
        state,
        defer,
        ..CompileOptions::default()
    })
}

/// Compile, print what compilation found, and write the manifest. `None` when the project
/// has errors (they have been printed; nothing was `done`).
fn compile_and_report(
    project: &Project,
    opts: &CompileOptions,
    printer: &Printer,
    done: &str,
) -> anyhow::Result<Option<Compilation>> {
    Ok(compile_with_lineage(project, opts, printer, done)?.map(|compiled| compiled.c))
}

/// What `compile_with_lineage` keeps: the compilation and its column lineage.
struct Compiled {
    c: Compilation,
    lineage: Lineage,
}

/// `compile_and_report`, keeping the column lineage it analysed.
fn compile_with_lineage(
    project: &Project,
    opts: &CompileOptions,
    printer: &Printer,
    done: &str,
) -> anyhow::Result<Option<Compiled>> {
    let mut c = etlx::compile::compile(project, opts);
    // Column lineage from the compiled SQL: its checks are the compile's, and with the
    // compiled files goes `target/lineage.json`.
    let mut lineage = Lineage::default();
    if !c.has_errors() {
        let clock = std::time::Instant::now();
        let problems;
        (lineage, problems) = etlx::lineage::build_and_check(project, &c);
        c.diagnostics.extend(problems);
        tracing::debug!("lineage analysed in {:.1} ms", ms(clock));
        if opts.write {
            etlx::lineage::write(project, &lineage)?;
            tracing::debug!("lineage written after {:.1} ms", ms(clock));
        }
    }
    printer.diagnostics(c.diagnostics.iter());
    if c.has_errors() {
        let errors = plural(c.diagnostics.error_count(), "error");
        printer.info("summary", &format!("{errors} found; nothing was {done}"));
        return Ok(None);
    }
    etlx::artifacts::write_manifest(project, &c)?;
    Ok(Some(Compiled { c, lineage }))
}

fn ms(since: std::time::Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
