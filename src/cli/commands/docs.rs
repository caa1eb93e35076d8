//! `docs generate` and `docs serve`: the static site and `catalog.json`.

use std::time::{Duration, Instant};

use anyhow::Context;
use etlx::artifacts::ArtifactError;
use etlx::docs::{Catalog, Inputs};
use etlx::project::Project;

use super::{Global, Outcome, Printer, compile_with_lineage, load, selection_options};
use crate::cli::{DocsGenerateArgs, Selection};

pub(super) fn generate(
    global: &Global,
    args: &DocsGenerateArgs,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    generate_site(&project, args, printer)
}

fn generate_site(
    project: &Project,
    args: &DocsGenerateArgs,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let mut opts = selection_options(&Selection::default(), true)?;
    let adapter = match args.empty_catalog {
        true => None,
        false => match opts.connect_if_reachable(project) {
            Ok(adapter) => Some(adapter),
            Err(e) => {
                printer.error_line(&format!(
                    "note: the catalog is empty: the warehouse is not reachable ({e})"
                ));
                None
            }
        },
    };
    let Some(super::Compiled { c, lineage }) =
        compile_with_lineage(project, &opts, printer, "documented")?
    else {
        return Ok(Outcome::Invalid);
    };
    let manifest = etlx::artifacts::manifest_json(project, &c);
    let catalog = match adapter.map(|a| a.connect()) {
        Some(Ok(mut conn)) => etlx::docs::catalog::read(conn.as_mut(), project, &c)?,
        Some(Err(e)) => {
            printer.error_line(&format!("note: the catalog is empty: {e}"));
            Catalog::default()
        }
        None => Catalog::default(),
    };
    let target = project.target_dir();
    let catalog_json = etlx::docs::catalog::to_json(&catalog, project, &c);
    let catalog_path = target.join("catalog.json");
    etlx::artifacts::write_json(&catalog_path, &catalog_json)
        .with_context(|| format!("cannot write {}", catalog_path.display()))?;
    let run_results = last_run(project);
    let site = etlx::docs::write_site(
        &target.join("docs"),
        &Inputs {
            manifest: &manifest,
            catalog: &catalog,
            lineage: &lineage,
            run_results: run_results.as_ref(),
            project_root: &project.root,
        },
    )?;
    let run = match &run_results {
        Some(_) => "with the last run",
        None => "no run_results.json yet: run `etlx build` to see a timeline",
    };
    printer.info(
        "summary",
        &format!(
            "Documented {} nodes ({:.1} MB; {} relations in the catalog; {run}) in {:.2}s: open {}",
            site.nodes,
            site.bytes as f64 / 1e6,
            catalog.nodes.len() + catalog.sources.len(),
            started.elapsed().as_secs_f64(),
            etlx::diag::display_path(&site.index),
        ),
    );
    Ok(Outcome::Success)
}

/// The last run, if one left readable results; a broken file only loses the timeline.
fn last_run(project: &Project) -> Option<serde_json::Value> {
    match etlx::artifacts::read_run_results(project) {
        Ok(value) => Some(value),
        Err(ArtifactError::NotJson { path, source }) => {
            tracing::warn!(
                "{} is not valid JSON ({source}); the site shows no run",
                path.display()
            );
            None
        }
        Err(_) => None,
    }
}

pub(super) fn serve(
    global: &Global,
    args: &DocsGenerateArgs,
    host: &str,
    port: u16,
    watch: bool,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let dir = project.target_dir().join("docs");
    if (watch || !dir.join("index.html").exists())
        && generate_site(&project, args, printer)? != Outcome::Success
    {
        return Ok(Outcome::Invalid);
    }
    let server = etlx::docs::serve::Server::bind(&dir, host, port)?;
    printer.info(
        "serve",
        &format!(
            "Serving {} on {} (Ctrl-C stops)",
            etlx::diag::display_path(&dir),
            server.url()
        ),
    );
    if !watch {
        server.run();
        return Ok(Outcome::Success);
    }
    std::thread::spawn(move || server.run());
    let mut seen = etlx::docs::serve::project_state(&project);
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = etlx::docs::serve::project_state(&project);
        if now == seen {
            continue;
        }
        seen = now;
        printer.info("serve", "A project file changed: regenerating");
        // A project that no longer loads keeps the last good site; the errors are printed.
        if let Some(project) = load(global, printer)? {
            generate_site(&project, args, printer)?;
        }
    }
}
