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
        "shared/macros/money.sql",
        "{% macro cents(column) %}{{ return(adapter.dispatch('cents', 'pkg_local')(column)) }}{% endmacro %}\n{% macro default__cents(column) %}({{ column }} * 100)::integer{% endmacro %}\n{% macro greeting() %}'from the package'{% endmacro %}\n",
    );
    // The package's own models and seeds are nodes of the package: its project file makes
    // them tables, the app's makes one a view, and the app's models ref them.
    write(
        root,
        "shared/dbt_project.yml",
        "name: 'pkg_local'\nversion: '1.0.0'\nconfig-version: 2\nmodels:\n  pkg_local:\n    +materialized: table\n",
    );
    write(
        root,
        "shared/seeds/currencies.csv",
        "code,rate\nEUR,1.1\nUSD,1\n",
    );
    write(
        root,
        "shared/models/rates.sql",
        "select code, rate from {{ ref('currencies') }}\n",
    );
    write(
        root,
        "shared/models/usd.sql",
        "select rate from {{ ref('rates') }} where code = 'USD'\n",
    );
    write(
        root,
        "shared/models/schema.yml",
        "models:\n  - name: rates\n    columns:\n      - name: code\n        data_tests: [unique, not_null]\n",
    );
    write(
        root,
        "app/dbt_project.yml",
        "name: 'app'\nversion: '1.0.0'\nconfig-version: 2\nprofile: 'app'\nmodels:\n  pkg_local:\n    usd:\n      +materialized: view\n",
    );
    write(
        root,
        "app/models/in_euros.sql",
        "select rate from {{ ref('rates') }} where code = 'EUR'\n",
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
    assert!(
        !deps.stderr.contains("follows a branch"),
        "a tag is pinned: {}",
        deps.stderr
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
    let kinds = crate::harness::duckdb_rows(
        &app.join("target/app.duckdb"),
        "select table_name, table_type from information_schema.tables where table_name in ('currencies', 'rates', 'usd', 'in_euros') order by 1",
    );
    assert_eq!(
        kinds,
        [
            ["currencies", "BASE TABLE"],
            ["in_euros", "VIEW"],
            ["rates", "BASE TABLE"],
            ["usd", "VIEW"],
        ]
    );
    assert!(
        build.stdout.contains("unique_rates_code"),
        "{}",
        build.stdout
    );
    let ls = run_in(
        &app,
        &["ls", "-s", "package:pkg_local", "--resource-type", "model"],
    );
    assert_eq!(
        ls.stdout.trim(),
        "pkg_local.rates\npkg_local.usd",
        "{}",
        ls.stderr
    );

    // A second `deps` replaces what is installed rather than failing on it.
    assert_eq!(run_in(&app, &["deps"]).code, 0);
    // A branch is followed, not pinned: said, with what to do.
    let packages = std::fs::read_to_string(app.join("packages.yml")).expect("packages.yml");
    std::fs::write(
        app.join("packages.yml"),
        packages.replace("revision: v1", "revision: main"),
    )
    .expect("write");
    let branch = run_in(&app, &["deps"]);
    assert!(
        branch.stderr.contains("warning: pkg_git follows a branch"),
        "{}",
        branch.stderr
    );
}

/// A stand-in for dbt's package hub on 127.0.0.1: the JSON index and the release tarballs
/// it names, served from a table the test can change while it runs.
struct LocalHub {
    url: String,
    files: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>>,
}

impl LocalHub {
    fn start() -> LocalHub {
        use std::io::{BufRead, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("addr"));
        let files: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>> =
            Default::default();
        let served = files.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = std::io::BufReader::new(&stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).map_or(true, |n| n == 0) || header == "\r\n" {
                        break;
                    }
                }
                let body = served.lock().expect("files").get(&path).cloned();
                let mut stream = &stream;
                let _ = match body {
                    Some(body) => stream
                        .write_all(
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
                                .as_bytes(),
                        )
                        .and_then(|_| stream.write_all(&body)),
                    None => stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                };
            }
        });
        LocalHub { url, files }
    }

    /// Publish `org/name` at `version`: a tarball whose one folder holds the package, with a
    /// macro `<name>_version()` that says which release it is, and the index entry.
    fn publish(&self, package: &str, version: &str, deps: serde_json::Value) {
        let name = package.split('/').nth(1).expect("org/name");
        let mut tarball = Vec::new();
        {
            let gz = flate2::write::GzEncoder::new(&mut tarball, flate2::Compression::fast());
            let mut tar = tar::Builder::new(gz);
            let folder = format!("{}-{version}", name.replace('_', "-"));
            let mut add = |rel: &str, text: String| {
                let mut header = tar::Header::new_gnu();
                header.set_size(text.len() as u64);
                header.set_mode(0o644);
                header.set_cksum();
                tar.append_data(&mut header, format!("{folder}/{rel}"), text.as_bytes())
                    .expect("append");
            };
            add(
                "dbt_project.yml",
                format!(
                    "name: '{name}'\nversion: '{version}'\nconfig-version: 2\nvars:\n  \"{name}:label\": \"{name} default\"\n"
                ),
            );
            add(
                "macros/version.sql",
                format!(
                    "{{% macro {name}_version() %}}'{version}'{{% endmacro %}}\n{{% macro {name}_label() %}}'{{{{ var(\"{name}:label\") }}}}'{{% endmacro %}}\n"
                ),
            );
            if let Some(list) = deps.as_array().filter(|l| !l.is_empty()) {
                let entries: Vec<String> = list
                    .iter()
                    .map(|d| {
                        format!(
                            "  - package: {}\n    version: {}\n",
                            d["package"], d["version"]
                        )
                    })
                    .collect();
                add("packages.yml", format!("packages:\n{}", entries.concat()));
            }
            tar.into_inner().expect("tar").finish().expect("gzip");
        }
        let mut files = self.files.lock().expect("files");
        let tar_path = format!("/tarballs/{name}-{version}.tar.gz");
        files.insert(tar_path.clone(), tarball);
        let index_path = format!("/api/v1/{package}.json");
        let mut index: serde_json::Value = files
            .get(&index_path)
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_else(|| serde_json::json!({"name": name, "namespace": package.split('/').next(), "versions": {}}));
        index["versions"][version] = serde_json::json!({
            "name": name,
            "packages": deps,
            "downloads": {"tarball": format!("{}{}", self.url.trim_end_matches('/'), tar_path)},
        });
        files.insert(index_path, serde_json::to_vec(&index).expect("json"));
    }
}

#[test]
fn hub_packages_resolve_ranges_install_their_dependencies_and_are_locked() {
    let hub = LocalHub::start();
    hub.publish("acme/helpers", "1.0.0", serde_json::json!([]));
    hub.publish(
        "acme/helpers",
        "1.1.0",
        serde_json::json!([{"package": "acme/base", "version": ">=0.2.0"}]),
    );
    hub.publish("acme/helpers", "2.0.0", serde_json::json!([]));
    hub.publish("acme/base", "0.1.0", serde_json::json!([]));
    hub.publish("acme/base", "0.2.0", serde_json::json!([]));
    hub.publish("acme/base", "0.3.0", serde_json::json!([]));
    hub.publish("acme/base", "0.4.0-b1", serde_json::json!([]));
    let tmp = tempfile::tempdir().expect("a temp dir");
    let app = tmp.path();
    // A var scoped to a package overrides that package's default; the other keeps its own.
    write(
        app,
        "dbt_project.yml",
        "name: 'app'\nversion: '1.0.0'\nconfig-version: 2\nprofile: 'app'\nvars:\n  base:\n    \"base:label\": set by app\n",
    );
    write(
        app,
        "profiles.yml",
        "app:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: target/app.duckdb\n",
    );
    // The project narrows the dependency of a dependency: base is held below 0.3.0.
    write(
        app,
        "packages.yml",
        "packages:\n  - package: acme/helpers\n    version: [\">=1.0.0\", \"<2.0.0\"]\n  - package: acme/base\n    version: \"<0.3.0\"\n",
    );
    write(
        app,
        "models/versions.sql",
        "select {{ helpers.helpers_version() }} as helpers, {{ base_version() }} as base, {{ helpers_label() }} as h, {{ base_label() }} as b\n",
    );
    let env = [("DBT_PACKAGE_HUB_URL".to_string(), hub.url.clone())];
    let deps = crate::harness::run_with(app, &["deps"], &env);
    assert_eq!(deps.code, 0, "{}\n{}", deps.stdout, deps.stderr);
    assert!(
        deps.stdout
            .contains("Installed helpers from acme/helpers@1.1.0"),
        "{}",
        deps.stdout
    );
    assert!(
        deps.stdout.contains("Installed base from acme/base@0.2.0"),
        "{}",
        deps.stdout
    );
    let lock = std::fs::read_to_string(app.join("package-lock.yml")).expect("a lock file");
    assert!(
        lock.contains("package: \"acme/helpers\"\n    version: \"1.1.0\""),
        "{lock}"
    );
    assert!(
        lock.contains("package: \"acme/base\"\n    version: \"0.2.0\""),
        "{lock}"
    );
    assert!(lock.contains("sha1_hash: "), "{lock}");
    let run = run_in(app, &["run"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let versions = crate::harness::duckdb_rows(
        &app.join("target/app.duckdb"),
        "select helpers, base, h, b from versions",
    );
    assert_eq!(
        versions,
        [["1.1.0", "0.2.0", "helpers default", "set by app"]]
    );

    // A newer release in range: the lock keeps what was installed until --upgrade.
    hub.publish("acme/helpers", "1.2.0", serde_json::json!([]));
    let again = crate::harness::run_with(app, &["deps"], &env);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(
        again.stdout.contains("versions pinned in package-lock.yml"),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("acme/helpers@1.1.0"),
        "{}",
        again.stdout
    );
    let upgraded = crate::harness::run_with(app, &["deps", "--upgrade"], &env);
    assert_eq!(upgraded.code, 0, "{}\n{}", upgraded.stdout, upgraded.stderr);
    assert!(
        upgraded.stdout.contains("acme/helpers@1.2.0"),
        "{}",
        upgraded.stdout
    );

    // Ranges nothing satisfies: exit 2, naming the package and the releases there are.
    write(
        app,
        "packages.yml",
        "packages:\n  - package: acme/helpers\n    version: \">=3.0.0\"\n",
    );
    let none = crate::harness::run_with(app, &["deps"], &env);
    assert_eq!(none.code, 2, "{}\n{}", none.stdout, none.stderr);
    assert!(
        none.stderr.contains(
            "hub package 'acme/helpers': no release matches >=3.0.0; the newest are 2.0.0, 1.2.0"
        ),
        "{}",
        none.stderr
    );
}

/// Two local packages may name one folder by different paths: the project's `../pkgs/a` and
/// package b's own `../a` are the same package, installed once (jaffle-shop-expand's
/// audit_helper needs dbt_utils, which the project also installs).
#[test]
fn a_local_package_named_by_two_paths_is_installed_once() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let root = tmp.path();
    for (name, packages) in [("a", None), ("b", Some("packages:\n  - local: ../a\n"))] {
        let dir = root.join("pkgs").join(name);
        write(
            &dir,
            "dbt_project.yml",
            &format!("name: '{name}'\nversion: '1.0.0'\n"),
        );
        write(
            &dir,
            &format!("macros/{name}.sql"),
            &format!("{{% macro from_{name}() %}}'{name}'{{% endmacro %}}\n"),
        );
        if let Some(packages) = packages {
            write(&dir, "packages.yml", packages);
        }
    }
    let app = root.join("app");
    write(
        &app,
        "dbt_project.yml",
        "name: 'app'\nversion: '1.0.0'\nprofile: 'app'\n",
    );
    write(
        &app,
        "profiles.yml",
        "app:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: target/app.duckdb\n",
    );
    write(
        &app,
        "packages.yml",
        "packages:\n  - local: ../pkgs/a\n  - local: ../pkgs/b\n",
    );
    write(
        &app,
        "models/m.sql",
        "select {{ a.from_a() }} as a, {{ b.from_b() }} as b\n",
    );

    let deps = run_in(&app, &["deps"]);
    assert_eq!(deps.code, 0, "{}\n{}", deps.stdout, deps.stderr);
    assert_eq!(
        deps.stdout.matches("Installed a from").count(),
        1,
        "{}",
        deps.stdout
    );
    let run = run_in(&app, &["run"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}
