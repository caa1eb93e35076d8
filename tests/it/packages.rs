//! Packages: `etlx deps` installs local and git packages, and their macros and generic tests
//! are found by bare name and by `<package>.name`, with the project's own macros first.

use std::path::Path;
use std::process::Command;

use crate::harness::run_in;

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A git repository holding a package in `pkg/`, tagged `v1` (the tag `deps` must check out:
/// the commit after it breaks the package).
fn git_package(dir: &Path) -> String {
    write(
        dir,
        "pkg/dbt_project.yml",
        "name: 'pkg_git'\nversion: '1.0.0'\nconfig-version: 2\n",
    );
    write(
        dir,
        "pkg/macros/tests.sql",
        "{% test is_positive(model, column_name) %}\nselect * from {{ model }} where {{ column_name }} <= 0\n{% endtest %}\n{% macro shout(x) %}upper({{ x }}){% endmacro %}\n",
    );
    git(dir, &["init", "--quiet", "--initial-branch", "main"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "--quiet", "-m", "v1"]);
    git(dir, &["tag", "v1"]);
    write(
        dir,
        "pkg/macros/tests.sql",
        "{% macro shout(x) %}{{ oops( }}{% endmacro %}\n",
    );
    git(dir, &["commit", "--quiet", "-am", "broken"]);
    format!("file://{}", dir.display())
}

fn project(root: &Path, git_url: &str) {
    write(
        root,
        "shared/dbt_project.yml",
        "name: 'pkg_local'\nversion: '1.0.0'\nconfig-version: 2\n",
    );
    write(
        root,
        "shared/macros/money.sql",
        "{% macro cents(column) %}{{ return(adapter.dispatch('cents', 'pkg_local')(column)) }}{% endmacro %}\n{% macro default__cents(column) %}({{ column }} * 100)::integer{% endmacro %}\n{% macro greeting() %}'from the package'{% endmacro %}\n",
    );
    write(
        root,
        "app/dbt_project.yml",
        "name: 'app'\nversion: '1.0.0'\nconfig-version: 2\nprofile: 'app'\n",
    );
    write(
        root,
        "app/profiles.yml",
        "app:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: target/app.duckdb\n",
    );
    write(
        root,
        "app/packages.yml",
        &format!(
            "packages:\n  - local: ../shared\n  - git: \"{git_url}\"\n    revision: v1\n    subdirectory: pkg\n"
        ),
    );
    // The project's own `greeting` wins over the package's.
    write(
        root,
        "app/macros/greeting.sql",
        "{% macro greeting() %}'from the project'{% endmacro %}\n",
    );
    write(
        root,
        "app/models/prices.sql",
        "select {{ pkg_local.cents('2.5') }} as cents, {{ shout(\"'a'\") }} as loud, {{ greeting() }} as greeting\n",
    );
    write(
        root,
        "app/models/schema.yml",
        "models:\n  - name: prices\n    columns:\n      - name: cents\n        data_tests:\n          - pkg_git.is_positive\n",
    );
}

#[test]
fn deps_installs_local_and_git_packages_whose_macros_and_tests_work() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    let url = git_package(&repo);
    project(tmp.path(), &url);
    let app = tmp.path().join("app");

    let before = run_in(&app, &["compile"]);
    assert_eq!(before.code, 2, "{}\n{}", before.stdout, before.stderr);
    assert!(
        before.stderr.contains("run `etlx deps`"),
        "{}",
        before.stderr
    );

    let deps = run_in(&app, &["deps"]);
    assert_eq!(deps.code, 0, "{}\n{}", deps.stdout, deps.stderr);
    assert!(
        deps.stdout.contains("Installed pkg_local from ../shared"),
        "{}",
        deps.stdout
    );
    assert!(
        deps.stdout
            .contains(&format!("Installed pkg_git from {url}@v1")),
        "{}",
        deps.stdout
    );
    let linked = std::fs::symlink_metadata(app.join("dbt_packages/pkg_local")).expect("installed");
    assert!(linked.file_type().is_symlink(), "a local package is linked");
    assert!(app.join("dbt_packages/pkg_git/macros/tests.sql").is_file());
    assert!(!app.join("dbt_packages/pkg_git/.git").exists());

    let build = run_in(&app, &["build"]);
    assert_eq!(build.code, 0, "{}\n{}", build.stdout, build.stderr);
    assert!(build.stdout.contains("PASS  test"), "{}", build.stdout);
    let conn = duckdb::Connection::open(app.join("target/app.duckdb")).expect("open");
    let row: (i64, String, String) = conn
        .query_row("select cents, loud, greeting from main.prices", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .expect("a row");
    assert_eq!(row, (250, "A".to_string(), "from the project".to_string()));

    // A second `deps` replaces what is installed rather than failing on it.
    assert_eq!(run_in(&app, &["deps"]).code, 0);
}

#[test]
fn a_hub_package_is_refused_with_what_to_write_instead() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    write(
        tmp.path(),
        "dbt_project.yml",
        "name: 'app'\nversion: '1.0.0'\nconfig-version: 2\n",
    );
    write(
        tmp.path(),
        "packages.yml",
        "packages:\n  - package: dbt-labs/dbt_utils\n    version: [\">=1.0.0\", \"<2.0.0\"]\n",
    );
    let out = run_in(tmp.path(), &["deps"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("hub package 'dbt-labs/dbt_utils'"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("- git:"), "{}", out.stderr);
}
