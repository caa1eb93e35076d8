//! Sources read from files: the DuckDB reader over a landing location (local or the S3
//! mirror), with its format guessed from the path when not configured.

use crate::project::{Project, Source};
use crate::sql::Dialect;
use crate::template::{Relation, RenderRequest, Shared, Templates};
use std::collections::HashMap;
use std::sync::Arc;

/// Every source's relation, and the reader and rendered location of those with files.
pub(super) struct RenderedSources {
    pub(super) relations: HashMap<(String, String), Relation>,
    pub(super) readers: HashMap<String, String>,
    pub(super) locations: HashMap<String, String>,
    pub(super) formats: HashMap<String, String>,
}

/// The DuckDB reader of a source's files, its rendered location and its format. Files in S3 are read
/// from the local mirror the run keeps of them (`<target>/s3_cache/<bucket>/<key>`).
pub(super) fn rendered_reader(
    project: &Project,
    source: &Source,
    location: &str,
    templates: &Templates,
    shared: &Arc<Shared>,
) -> Result<(String, String, String), Box<crate::diag::Diagnostic>> {
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
    let rendered = Source {
        format,
        ..source.clone()
    };
    let reader = file_reader(&rendered, &local);
    let format = reader_format(&rendered, &local).to_string();
    Ok((reader, location, format))
}

/// Where S3 landing data is mirrored, relative to the project.
pub fn s3_cache_dir(project: &Project) -> String {
    format!("{}/s3_cache", project.paths.target)
}

/// `read_parquet('landing/events/**/*.parquet', union_by_name = true)` and friends.
pub fn file_reader(source: &Source, location: &str) -> String {
    let format = reader_format(source, location);
    let path = reader_glob(format, location);
    reader_call(source, format, &Dialect::DuckDb.literal(&path))
}

/// The same reader over exactly `files` (the run's pending files of a source that reads new
/// files only); `limit 0` over one file when none is pending, so the relation keeps its
/// columns.
pub fn files_reader(source: &Source, location: &str, files: &[&str], any: Option<&str>) -> String {
    let format = reader_format(source, location);
    let listed = |files: &[&str]| {
        let items: Vec<String> = files.iter().map(|f| Dialect::DuckDb.literal(f)).collect();
        format!("[{}]", items.join(", "))
    };
    match (files.is_empty(), any) {
        (false, _) => format!(
            "select * from {}",
            reader_call(source, format, &listed(files))
        ),
        (true, Some(one)) => format!(
            "select * from {} limit 0",
            reader_call(source, format, &listed(&[one]))
        ),
        (true, None) => format!(
            "select * from {}",
            reader_call(
                source,
                format,
                &Dialect::DuckDb.literal(&reader_glob(format, location))
            )
        ),
    }
}

/// The format a source's files are read as: configured, or guessed from the location.
pub fn reader_format<'a>(source: &'a Source, location: &str) -> &'a str {
    source
        .format
        .as_deref()
        .unwrap_or_else(|| guess_format(location))
}

/// The glob DuckDB reads for a location: a folder means every file of the format below it.
pub fn reader_glob(format: &str, location: &str) -> String {
    if location.ends_with('/') {
        let ext = if format == "json" { "json*" } else { format };
        format!("{location}**/*.{ext}")
    } else {
        location.to_string()
    }
}

fn reader_call(source: &Source, format: &str, paths: &str) -> String {
    let reader = match format {
        "csv" => "read_csv",
        "json" => "read_json",
        _ => "read_parquet",
    };
    let mut args = vec![paths.to_string()];
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

pub(super) fn guess_format(location: &str) -> &'static str {
    let l = location.to_ascii_lowercase();
    if l.contains(".csv") {
        "csv"
    } else if l.contains(".json") || l.contains(".ndjson") {
        "json"
    } else {
        "parquet"
    }
}

pub(super) fn duckdb_literal(value: &serde_json::Value) -> String {
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
