//! `stage` and `catalog register`: commands that put landing data in S3 and describe it in
//! the Glue Data Catalog, with the target's AWS settings.

use std::path::Path;
use std::time::Instant;

use etlx::aws::{Aws, AwsSettings, S3Url};
use etlx::execute::publish;
use etlx::project::ResourceType;

use super::{Global, Outcome, Printer, Selection, compile_and_report, load, selection_options};

/// `etlx stage DIR s3://bucket/prefix/`: upload what is new or changed.
pub(super) fn stage(
    global: &Global,
    from: &Path,
    to: &str,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let url = S3Url::parse(to)?;
    let started = Instant::now();
    let done = etlx::aws::s3::stage(&project.target, from, &url)?;
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
pub(super) fn catalog_register(
    global: &Global,
    selection: &Selection,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let mut opts = selection_options(selection, true)?;
    opts.resource_types = selection.resource_types(&[ResourceType::Source])?;
    let Some(c) = compile_and_report(&project, &opts, printer, "checked")? else {
        return Ok(Outcome::Invalid);
    };
    let aws = Aws::connect(AwsSettings::from_target(&project.target))?;
    let sources = publish::s3_sources(&project, &c);
    let registered = publish::register_sources(&project, &aws, &sources, |source, table| {
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
    })?;
    printer.info(
        "summary",
        &format!("Registered {registered} S3 source(s) in the Glue Data Catalog"),
    );
    Ok(Outcome::Success)
}
