//! `source freshness`: the age of each selected source's newest row, judged by the library
//! and printed here, one line per source.

use std::path::Path;
use std::time::Instant;

use etlx::execute::freshness::{self, Check, FreshnessStatus};
use etlx::project::{ResourceType, Source};

use super::{Global, Outcome, Printer, Selection, compile_and_report, load, selection_options};

pub(super) fn source_freshness(
    global: &Global,
    selection: &Selection,
    output: Option<&Path>,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let adapter = etlx::adapter::open(&project, project.target.threads)?;
    let mut opts = selection_options(selection, true)?;
    opts.resource_types = selection.resource_types(&[ResourceType::Source])?;
    let Some(c) = compile_and_report(&project, &opts, printer, "checked")? else {
        return Ok(Outcome::Invalid);
    };
    let sources = freshness::checkable_sources(&project, &c);
    if sources.is_empty() {
        printer.info(
            "summary",
            "No selected source has both `loaded_at_field` and `freshness`; nothing to check",
        );
        return Ok(Outcome::Success);
    }
    let total = sources.len();
    let checks =
        freshness::check_sources(&project, &c, adapter.as_ref(), &sources, |i, s, check| {
            printer.info("freshness", &freshness_line(s, check, i, total));
        })?;
    let elapsed = started.elapsed().as_secs_f64();
    etlx::artifacts::write_sources(&project, &c, &checks, elapsed, output)?;
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

fn freshness_line(source: &Source, check: &Check, index: usize, total: usize) -> String {
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
