//! `etlx docs generate` and its site, checked in a real browser: headless Chromium opens the
//! generated pages from disk and the test reads the DOM it built (the DAG, a column's lineage,
//! the run's timeline) and its error count. Screenshots of each view are kept under the
//! build's `target/tmp/docs-screenshots/` for review.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::demo::demo;
use crate::harness::run_in;

/// Debian's Chromium; missing outside CI means skip, under `CI=true` it is a failure.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("ETLX_TEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but {} is missing: .ci/run must install chromium",
            path.display()
        );
    }
    eprintln!(
        "skipped: no Chromium at {} (tests/run.sh installs it)",
        path.display()
    );
    None
}

/// What the browser made of a page: its DOM after the scripts ran, and what it logged.
struct Page {
    dom: String,
    log: String,
}

impl Page {
    fn count(&self, needle: &str) -> usize {
        self.dom.matches(needle).count()
    }

    /// The page loaded, ran its script to the end and reported no error.
    fn assert_clean(&self, what: &str) {
        assert!(
            self.dom.contains("data-ready=\"true\""),
            "{what}: the script did not finish\n{}",
            self.log
        );
        assert!(
            self.dom.contains("data-errors=\"0\""),
            "{what}: the page reported errors\n{}",
            self.dom
        );
        for line in self.log.lines().filter(|l| l.contains("CONSOLE")) {
            assert!(
                !line.contains("Uncaught") && !line.contains("Error"),
                "{what}: console error: {line}"
            );
        }
    }
}

fn open(browser: &Path, index: &Path, fragment: &str, screenshot: &str) -> Page {
    let url = format!("file://{}#!{fragment}", index.display());
    let profile = tempfile::tempdir().expect("a browser profile dir");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let flags = |cmd: &mut Command| {
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--allow-file-access-from-files",
            "--virtual-time-budget=10000",
            "--window-size=1400,1000",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()));
    };
    let mut dump = Command::new(browser);
    flags(&mut dump);
    let out = dump
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut shot = Command::new(browser);
    flags(&mut shot);
    let png = shots.join(format!("{screenshot}.png"));
    let taken = shot
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(
        taken.status.success() && png.exists(),
        "no screenshot of {url}"
    );
    Page {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        log: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn the_demo_site_shows_the_dag_a_column_lineage_and_the_last_run() {
    let d = demo();
    let build = run_in(d.path(), &["build"]);
    assert_eq!(build.code, 0, "{}\n{}", build.stdout, build.stderr);
    let out = run_in(d.path(), &["docs", "generate"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("with the last run"), "{}", out.stdout);

    // catalog.json: dbt's shape, with the warehouse's column types.
    let catalog: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.path().join("target/catalog.json")).expect("catalog.json"),
    )
    .expect("catalog is JSON");
    let songplays = &catalog["nodes"]["model.etlx_demo.fct_songplays"];
    assert_eq!(songplays["metadata"]["type"], "table", "{songplays}");
    assert_eq!(
        songplays["columns"]["user_id"]["index"]
            .as_u64()
            .map(|i| i > 0),
        Some(true)
    );
    assert!(
        songplays["columns"]["user_id"]["type"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert!(
        catalog["sources"]
            .as_object()
            .is_some_and(|s| !s.is_empty()),
        "landing files are described"
    );

    let Some(browser) = chromium() else { return };
    let index = d.path().join("target/docs/index.html");

    let overview = open(&browser, &index, "", "demo-overview");
    overview.assert_clean("overview");
    assert!(overview.dom.contains("Final models"), "{}", overview.dom);

    let model = open(
        &browser,
        &index,
        "node/model.etlx_demo.fct_songplays",
        "demo-model",
    );
    model.assert_clean("model page");
    assert!(
        model.count("class=\"dag-node") >= 3,
        "the DAG around fct_songplays:\n{}",
        model.dom
    );
    assert!(
        model.dom.contains("dag-node model selected"),
        "the model itself is marked"
    );
    assert!(
        model.dom.contains("data-id=\"model.etlx_demo.stg_events\""),
        "its parent is drawn"
    );
    assert!(
        model.dom.contains("<tr data-column=\"user_id\">"),
        "its columns are listed"
    );
    assert!(
        model.dom.contains("class=\"lineage-edge\" data-node=\"model.etlx_demo.stg_events\" data-column=\"user_id\""),
        "user_id's lineage leads to stg_events.user_id:\n{}",
        model.dom
    );

    let run = open(&browser, &index, "run", "demo-run");
    run.assert_clean("run page");
    assert!(run.dom.contains("id=\"gantt\""), "the timeline is drawn");
    assert!(
        run.count("<g class=\"bar ") > 100,
        "a bar per node and test"
    );
    assert!(run.count(" critical\"") >= 2, "the critical path is marked");
    assert!(
        run.dom.contains("id=\"test-results\""),
        "test results are listed"
    );
}

/// A project of `n` one-row tables, each reading one or two earlier ones (tables: views over
/// views joined twice would nest exponentially).
fn generated_project(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir.join("models")).expect("models dir");
    std::fs::write(
        dir.join("etlx_project.yml"),
        "name: big\nprofile: big\nmodels:\n  big:\n    +materialized: table\n",
    )
    .expect("project file");
    std::fs::write(
        dir.join("profiles.yml"),
        "big:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: big.duckdb\n      threads: 4\n",
    )
    .expect("profiles");
    for i in 0..n {
        let sql = match i {
            0..10 => format!("select {i} as id, 'm{i}' as label"),
            _ => format!(
                "select a.id, a.label || b.label as label from {{{{ ref('m{:04}') }}}} a \
                 join {{{{ ref('m{:04}') }}}} b using (id)",
                i - 1 - i % 7,
                i / 2
            ),
        };
        std::fs::write(dir.join(format!("models/m{i:04}.sql")), sql).expect("model");
    }
}

#[test]
fn a_thousand_model_site_draws_a_neighbourhood_not_the_whole_graph() {
    let dir = tempfile::tempdir().expect("temp dir");
    generated_project(dir.path(), 1000);
    let run = run_in(dir.path(), &["run"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let out = run_in(dir.path(), &["docs", "generate"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("Documented 1000 nodes"),
        "{}",
        out.stdout
    );

    let Some(browser) = chromium() else { return };
    let index = dir.path().join("target/docs/index.html");
    let page = open(&browser, &index, "node/model.big.m0500", "big-model");
    page.assert_clean("1,000-model page");
    let drawn = page.count("class=\"dag-node");
    assert!((3..=250).contains(&drawn), "{drawn} nodes drawn");
    let run = open(&browser, &index, "run", "big-run");
    run.assert_clean("1,000-model run page");
    assert_eq!(run.count("<g class=\"bar "), 1000, "a bar per model");
}

#[test]
fn docs_serve_watch_regenerates_when_a_model_is_added() {
    let dir = tempfile::tempdir().expect("temp dir");
    generated_project(dir.path(), 20);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    let data = || {
        ureq::get(&format!("{url}data.js"))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
    };
    let port_arg = port.to_string();
    let args = [
        "docs",
        "serve",
        "--watch",
        "--empty-catalog",
        "--port",
        &port_arg,
    ];
    let mut server = crate::harness::start_until(dir.path(), &args, &[], || data().is_some());
    let page = ureq::get(&url)
        .call()
        .map(|mut r| r.body_mut().read_to_string());
    assert!(
        matches!(page, Ok(Ok(ref html)) if html.contains("etlx-docs.js")),
        "{page:?}"
    );
    assert!(!data().unwrap_or_default().contains("model.big.m0020"));

    std::fs::write(dir.path().join("models/m0020.sql"), "select 20 as id").expect("new model");
    let seen = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        data().is_some_and(|d| d.contains("model.big.m0020"))
    });
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        seen,
        "the new model did not reach the served site within 10 s"
    );
}
