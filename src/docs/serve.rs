//! `etlx docs serve`: the generated site over HTTP on localhost.
//!
//! The site works from disk; a server is for sharing a link on a team's box and for
//! `--watch`, where a reload shows the regenerated pages. It serves files under the site's
//! folder only, read on each request so a regeneration is seen at once.

use std::path::{Component, Path, PathBuf};

use super::DocsError;

pub struct Server {
    http: tiny_http::Server,
    dir: PathBuf,
}

impl Server {
    /// Listen on `host:port` (port 0: any free one).
    pub fn bind(dir: &Path, host: &str, port: u16) -> Result<Server, DocsError> {
        let http = tiny_http::Server::http((host, port)).map_err(|e| DocsError::Serve {
            address: format!("{host}:{port}"),
            message: e.to_string(),
        })?;
        Ok(Server {
            http,
            dir: dir.to_path_buf(),
        })
    }

    /// `http://host:port/`, with the port actually bound.
    pub fn url(&self) -> String {
        match self.http.server_addr().to_ip() {
            Some(addr) => format!("http://{addr}/"),
            None => "http://localhost/".to_string(),
        }
    }

    /// Answer requests until the process ends.
    pub fn run(&self) {
        for request in self.http.incoming_requests() {
            let response = self.respond(request.url());
            if let Err(e) = request.respond(response) {
                tracing::debug!("docs serve: a response was not sent: {e}");
            }
        }
    }

    fn respond(&self, url: &str) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
        let Some(path) = file_for(&self.dir, url) else {
            return tiny_http::Response::from_string("not found").with_status_code(404);
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                let header =
                    tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type(&path))
                        .expect("a static header is valid");
                tiny_http::Response::from_data(bytes)
                    .with_header(header)
                    .with_header(
                        tiny_http::Header::from_bytes(&b"Cache-Control"[..], &b"no-cache"[..])
                            .expect("a static header is valid"),
                    )
            }
            Err(_) => tiny_http::Response::from_string("not found").with_status_code(404),
        }
    }
}

/// What `--watch` compares: the path, size and modification time of each file in the
/// project's model, macro, seed, snapshot and test folders, and of its YAML files at the top
/// (the database file and `target/` change on every run and are not looked at).
pub fn project_state(project: &crate::project::Project) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let paths = &project.paths;
    let folders = [
        &paths.models,
        &paths.macros,
        &paths.seeds,
        &paths.snapshots,
        &paths.tests,
    ];
    let tops = std::fs::read_dir(&project.root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"));
    let under = folders
        .into_iter()
        .flatten()
        .flat_map(|folder| walkdir::WalkDir::new(project.root.join(folder)).sort_by_file_name())
        .flatten()
        .map(|e| e.into_path());
    for path in tops.chain(under) {
        if let Ok(meta) = std::fs::metadata(&path) {
            path.hash(&mut hasher);
            meta.len().hash(&mut hasher);
            meta.modified().ok().hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// The file a URL names under `dir`; `None` for anything that would leave it.
fn file_for(dir: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or("/");
    let path = path.trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let relative = Path::new(path);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return None;
    }
    Some(dir.join(relative))
}

fn content_type(path: &Path) -> &'static [u8] {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => b"text/html; charset=utf-8",
        Some("js") => b"text/javascript; charset=utf-8",
        Some("css") => b"text/css; charset=utf-8",
        Some("json") => b"application/json",
        Some("svg") => b"image/svg+xml",
        Some("png") => b"image/png",
        _ => b"application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_stay_inside_the_site() {
        let dir = Path::new("/site");
        assert_eq!(file_for(dir, "/"), Some(dir.join("index.html")));
        assert_eq!(file_for(dir, "/data.js?v=2"), Some(dir.join("data.js")));
        assert_eq!(file_for(dir, "/../etc/passwd"), None);
        assert_eq!(file_for(dir, "/a/../../b"), None);
    }

    #[test]
    fn a_served_page_is_the_file_on_disk() {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("index.html"), "<p>hi</p>").expect("written");
        let server = Server::bind(dir.path(), "127.0.0.1", 0).expect("bound");
        let url = server.url();
        std::thread::spawn(move || server.run());
        let body = ureq::get(&url)
            .call()
            .expect("served")
            .body_mut()
            .read_to_string()
            .expect("a body");
        assert_eq!(body, "<p>hi</p>");
        let missing = ureq::get(&format!("{url}nope.html")).call();
        assert!(
            matches!(missing, Err(ureq::Error::StatusCode(404))),
            "{missing:?}"
        );
    }
}
