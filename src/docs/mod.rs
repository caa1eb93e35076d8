//! `etlx docs`: a static site of the project, its column lineage and its last run, plus
//! dbt's `catalog.json`.
//!
//! Reviewers would rather look than read, and dbt's docs site freezes on large projects and
//! shows nothing of how a run went. This one is four files that open from disk with no
//! server: the page, its script and style (built into the binary), and `data.js`, everything
//! the page shows about this project, laid out here in Rust so the browser only draws.

pub mod catalog;
pub mod gantt;
pub mod layout;
pub mod serve;
pub mod site;

use std::path::{Path, PathBuf};

pub use catalog::Catalog;
pub use site::Inputs;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/etlx-docs.js");
const STYLE: &str = include_str!("assets/etlx-docs.css");

#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot serve the docs on {address}: {message}; is the port in use? pick another with --port"
    )]
    Serve { address: String, message: String },
}

/// What `write_site` wrote.
#[derive(Debug, Clone)]
pub struct Site {
    pub index: PathBuf,
    pub nodes: usize,
    pub bytes: u64,
}

/// Write the site into `dir` (created if needed).
pub fn write_site(dir: &Path, inputs: &Inputs) -> Result<Site, DocsError> {
    let data = site::data(inputs);
    let nodes = data["nodes"].as_array().map_or(0, Vec::len);
    // `</script>` cannot occur in JSON text's strings unescaped, but `<` is escaped anyway so
    // a model's SQL can never end the script early if the data is ever inlined.
    let json = serde_json::to_string(&data)
        .unwrap_or_else(|_| "{}".to_string())
        .replace('<', "\\u003c");
    let script = format!("window.ETLX_DOCS = {json};\n");
    let files = [
        ("index.html", INDEX),
        ("etlx-docs.js", SCRIPT),
        ("etlx-docs.css", STYLE),
        ("data.js", script.as_str()),
    ];
    write_all(dir, &files)?;
    Ok(Site {
        index: dir.join("index.html"),
        nodes,
        bytes: files.iter().map(|(_, t)| t.len() as u64).sum(),
    })
}

fn write_all(dir: &Path, files: &[(&str, &str)]) -> Result<(), DocsError> {
    let fail = |path: PathBuf| move |source| DocsError::Write { path, source };
    std::fs::create_dir_all(dir).map_err(fail(dir.to_path_buf()))?;
    for (name, text) in files {
        let path = dir.join(name);
        // Written beside and renamed, so a page being served never reads half a file.
        let partial = dir.join(format!(".{name}.partial"));
        std::fs::write(&partial, text).map_err(fail(partial.clone()))?;
        std::fs::rename(&partial, &path).map_err(fail(path.clone()))?;
    }
    Ok(())
}
