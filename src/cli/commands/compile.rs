//! `compile`, `ls` and `show`: commands that compile the selection and print what it is,
//! building nothing.

use std::time::Instant;

use etlx::compile::{Compilation, Task};
use etlx::project::ResourceType;
use etlx::sql::Dialect;

use super::{
    Global, Outcome, Printer, Selection, compile_and_report, load, plural, selection_options,
};
use crate::cli::LsOutput;
use crate::cli::reporter::render_table;

pub(super) fn compile(
    global: &Global,
    selection: &Selection,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let mut opts = selection_options(selection, true)?;
    opts.resource_types = selection.resource_types(&[
        ResourceType::Model,
        ResourceType::Snapshot,
        ResourceType::Test,
        ResourceType::UnitTest,
    ])?;
    // Held while compiling: templates query the warehouse through it.
    let connected = opts.connect_if_reachable(&project);
    if let Err(e) = &connected {
        match project.target.dialect {
            Dialect::DuckDb => tracing::debug!("compiling without the warehouse: {e}"),
            _ => printer.error_line(&format!(
                "note: compiling without the warehouse (is_incremental() is false): {e}"
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
    let count = |prefix: &str| {
        c.selected
            .iter()
            .filter(|id| id.starts_with(prefix))
            .count()
    };
    let (models, snapshots) = (count("model."), count("snapshot."));
    let tests = c.selected.len() - models - snapshots;
    let snapshots = match snapshots {
        0 => String::new(),
        n => format!(", {}", plural(n, "snapshot")),
    };
    printer.info(
        "summary",
        &format!(
            "Compiled {}{snapshots} and {} in {:.2}s into {}/compiled",
            plural(models, "model"),
            plural(tests, "test"),
            started.elapsed().as_secs_f64(),
            project.paths.target
        ),
    );
    Ok(Outcome::Success)
}

pub(super) fn ls(
    global: &Global,
    selection: &Selection,
    output: LsOutput,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let mut opts = selection_options(selection, false)?;
    opts.resource_types = selection.resource_types(&[])?;
    let c = etlx::compile::compile(&project, &opts);
    printer.diagnostics(c.diagnostics.iter());
    if c.has_errors() {
        return Ok(Outcome::Invalid);
    }
    let candidates = etlx::compile::candidates(&project, &c.nodes);
    for id in &c.selected {
        if let Some(node) = candidates.iter().find(|n| n.unique_id == id) {
            printer.result(&ls_line(node, &c, output));
        }
    }
    Ok(Outcome::Success)
}

fn ls_line(node: &etlx::graph::selector::Candidate, c: &Compilation, output: LsOutput) -> String {
    match output {
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
            "depends_on": {"nodes": c.graph.parents(node.unique_id)},
        })
        .to_string(),
    }
}

/// `show`: the rows of one model, or of `--inline` SQL, from the target.
pub(super) fn show(
    global: &Global,
    selection: &Selection,
    inline: Option<&str>,
    limit: usize,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let adapter = etlx::adapter::open(&project, project.target.threads)?;
    let mut opts = selection_options(selection, true)?;
    opts.resource_types = selection.resource_types(&[ResourceType::Model])?;
    opts.task = inline.map(|sql| Task::Inline(sql.to_string()));
    opts.connect(adapter.as_ref())?;
    let Some(c) = compile_and_report(&project, &opts, printer, "shown")? else {
        return Ok(Outcome::Invalid);
    };
    let query = etlx::compile::show_query(&c, limit)?;
    match adapter.connect()?.query(&query) {
        Ok(table) => {
            printer.result(&render_table(&table));
            Ok(Outcome::Success)
        }
        Err(e) => {
            printer.error_line(&format!("error: {e}"));
            Ok(Outcome::Failed)
        }
    }
}
