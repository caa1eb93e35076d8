//! `etlx compile` and its neighbours on fixture projects: compiled SQL per dialect, the
//! manifest, secrets kept out of output, and mistakes whose check is more than a snapshot of
//! one command's output.
//!
//! The exact diagnostics users see for each kind of mistake (a cycle, a missing ref, bad YAML,
//! a failing macro, a duplicate name, strict SQL syntax) are fixture cases, each a folder with
//! its `cmd` and `output.snap`, run by `fixtures.rs`.

use crate::harness::Fixture;

/// Every compiled file of a fixture, in path order, as one text.
fn compiled_sql(f: &Fixture, project: &str) -> String {
    let root = f.path().join("target/compiled").join(project);
    let mut files: Vec<_> = walkdir::WalkDir::new(&root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap().display().to_string();
            format!("-- {rel}\n{}", std::fs::read_to_string(p).unwrap())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn valid_project_compiles_for_each_dialect() {
    let f = Fixture::new("valid");
    for dialect in ["duckdb", "postgres", "redshift"] {
        let out = f.etlx(&["compile", "--target", dialect]);
        assert_eq!(out.code, 0, "{dialect}: {}", out.stderr);
        assert!(
            out.stdout.contains("Compiled 3 models and 3 tests"),
            "{}",
            out.stdout
        );
        f.settings().bind(|| {
            insta::assert_snapshot!(format!("compiled_{dialect}"), compiled_sql(&f, "shop"))
        });
    }
}

#[test]
fn manifest_has_nodes_sources_and_lineage() {
    let f = Fixture::new("valid");
    assert_eq!(f.etlx(&["compile"]).code, 0);
    let manifest: serde_json::Value =
        serde_json::from_str(&f.read("target/manifest.json")).unwrap();
    let node = &manifest["nodes"]["model.shop.customer_orders"];
    assert_eq!(
        node["config"]["materialized"], "incremental",
        "YAML config beats the project file"
    );
    assert_eq!(
        node["config"]["unique_key"], "customer_id",
        "SQL config() is applied"
    );
    assert_eq!(
        node["tags"],
        serde_json::json!(["shop", "finance", "daily"]),
        "tags accumulate"
    );
    assert_eq!(
        node["depends_on"]["nodes"],
        serde_json::json!(["model.shop.stg_orders", "model.shop.stg_customers"])
    );
    assert_eq!(
        node["depends_on"]["macros"],
        serde_json::json!(["macro.shop.where_clause"])
    );
    assert_eq!(node["checksum"]["name"], "sha256");
    assert!(
        node["compiled_code"]
            .as_str()
            .unwrap()
            .contains("__etlx__cte__stg_customers as (")
    );
    let orders = &manifest["nodes"]["model.shop.stg_orders"];
    assert_eq!(
        orders["relation_name"], "\"main_staging\".\"orders\"",
        "schema and alias config"
    );
    assert_eq!(
        manifest["sources"]["source.shop.raw.orders"]["external"]["file_format"],
        "parquet"
    );
    assert_eq!(
        manifest["child_map"]["source.shop.raw.orders"],
        serde_json::json!(["model.shop.stg_orders"])
    );
    assert_eq!(manifest["metadata"]["adapter_type"], "duckdb");
}

#[test]
fn secrets_never_reach_output_or_artifacts() {
    let f = Fixture::new("valid");
    // The fixture's server is not there (or refuses it): debug says so and exits 1.
    let out = f.etlx(&["debug", "--target", "postgres"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.contains("connection: FAILED"), "{}", out.stdout);
    assert!(
        out.stdout.contains("\"password\":\"****\""),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("not-a-real-password"));
    let compiled = f.etlx(&["compile", "--target", "postgres"]);
    assert_eq!(compiled.code, 0);
    assert!(!compiled.stderr.contains("not-a-real-password"));
    assert!(
        !f.read("target/manifest.json")
            .contains("not-a-real-password")
    );
}

/// The project says `static_analysis: strict`, under which the same compile fails (the
/// `sql_syntax` fixture case); `--static-analysis warn` makes the error a warning.
#[test]
fn sql_syntax_error_is_a_warning_by_default() {
    let f = Fixture::new("sql_syntax");
    let out = f.etlx(&["compile", "--static-analysis", "warn"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("⚠ SQL syntax error in model 'broken' (duckdb)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("target/compiled/sql_syntax/models/broken.sql:6:6"),
        "{}",
        out.stderr
    );
}

#[test]
fn dbt_project_file_is_read() {
    let f = Fixture::new("dbt_project");
    let out = f.etlx(&["compile"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        f.read("target/compiled/jaffle/models/marts/customers.sql"),
        "\nselect * from \"main\".\"stg_customers\"\n"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&f.read("target/manifest.json")).unwrap();
    assert_eq!(
        manifest["nodes"]["model.jaffle.stg_customers"]["config"]["materialized"],
        "view"
    );
    assert_eq!(
        manifest["nodes"]["model.jaffle.customers"]["config"]["materialized"],
        "table"
    );
}

#[test]
fn json_log_format_emits_one_event_per_line() {
    let f = Fixture::new("missing_ref");
    let out = f.etlx(&["--log-format", "json", "compile"]);
    assert_eq!(out.code, 2);
    let events: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let refs: Vec<_> = events
        .iter()
        .filter(|e| e["code"] == "ref-not-found")
        .collect();
    assert_eq!(refs.len(), 1);
    assert_eq!(
        refs[0]["location"],
        serde_json::json!({"file": "models/orders.sql", "line": 2, "column": 13})
    );
}

#[test]
fn init_scaffolds_a_project_that_compiles() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::harness::run_in(dir.path(), &["init", "my_shop"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = crate::harness::run_in(&dir.path().join("my_shop"), &["compile"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("Compiled 2 models"), "{}", out.stdout);
    let again = crate::harness::run_in(dir.path(), &["init", "my_shop"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
}

#[test]
fn clean_removes_target() {
    let f = Fixture::new("dbt_project");
    assert_eq!(f.etlx(&["compile"]).code, 0);
    assert!(f.path().join("target").exists());
    assert_eq!(f.etlx(&["clean"]).code, 0);
    assert!(!f.path().join("target").exists());
}

#[test]
fn clean_keeps_cargos_build_in_a_shared_target() {
    let f = Fixture::new("dbt_project");
    assert_eq!(f.etlx(&["compile"]).code, 0);
    let target = f.path().join("target");
    std::fs::write(
        target.join("CACHEDIR.TAG"),
        "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by cargo.\n",
    )
    .unwrap();
    for dir in ["debug/.fingerprint", "rust-analyzer/metadata"] {
        std::fs::create_dir_all(target.join(dir)).unwrap();
    }
    std::fs::write(target.join("shop.duckdb"), "").unwrap();
    let out = f.etlx(&["clean"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("Cargo's build there is kept"),
        "{}",
        out.stdout
    );
    let mut left: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["CACHEDIR.TAG", "debug", "rust-analyzer"]);
}

#[test]
fn the_repository_root_is_a_valid_project() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = crate::harness::run_in(root, &["ls", "--output", "name"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for model in ["stg_events", "dim_users", "fct_songplays", "levels"] {
        assert!(
            out.stdout.lines().any(|l| l == model),
            "{model} missing from:\n{}",
            out.stdout
        );
    }
}

#[test]
fn a_bad_incremental_config_fails_the_compile_not_the_second_run() {
    let f = Fixture::new("valid");
    std::fs::write(
        f.path().join("models/events_log.sql"),
        "{{ config(materialized='incremental', incremental_predicates=['DBT_INTERNAL_DEST.id > 0']) }}\nselect 1 as id\n",
    )
    .unwrap();
    let out = f.etlx(&["compile"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("incremental-config")
            && out.stderr.contains("events_log.sql:1:39")
            && out.stderr.contains("set a unique_key"),
        "{}",
        out.stderr
    );
}

/// A template loop that would run for hours stops compile with an error at the model.
#[test]
fn an_endless_template_loop_is_stopped_and_named() {
    let f = Fixture::new("valid");
    std::fs::write(
        f.path().join("models/forever.sql"),
        "select 1 as x\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n",
    )
    .unwrap();
    let out = f.etlx(&["compile"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("out of fuel") && out.stderr.contains("models/forever.sql:2:"),
        "{}",
        out.stderr
    );
}

/// A secret's value that reaches a model by another road (here `--vars`, as an orchestrator
/// might pass it), holding `"` and `\`: it reaches the warehouse, and nothing else: not the
/// compiled SQL, not the SQL log, not the JSON log (where escaping used to disguise it), not
/// the artifacts. (`env_var` of a secret variable in a model is refused outright.)
#[test]
fn secrets_read_by_models_are_redacted_everywhere() {
    let f = Fixture::new("valid");
    let secret = "s3cr\"et\\x";
    let escaped = serde_json::to_string(secret).unwrap();
    let escaped = escaped.trim_matches('"');
    std::fs::write(
        f.path().join("models/marts/uses_secret.sql"),
        "select length('{{ var(\"api_key\") }}') as n\n",
    )
    .unwrap();
    std::fs::write(
        f.path().join("models/marts/leaks_secret.sql"),
        "select cast('{{ var(\"api_key\") }}' as integer) as n\n",
    )
    .unwrap();
    let log = f.path().join("sql.log");
    let env = [
        ("ETLX_ENV_SECRET_API_KEY".to_string(), secret.to_string()),
        ("ETLX_SQL_LOG".to_string(), log.display().to_string()),
    ];
    let vars = serde_json::json!({ "api_key": secret }).to_string();
    let out = f.etlx_with(&["--log-format", "json", "run", "--vars", &vars], &env);
    assert_eq!(
        out.code, 1,
        "leaks_secret fails: {}\n{}",
        out.stdout, out.stderr
    );
    let failed = out
        .stdout
        .lines()
        .find(|l| l.contains("leaks_secret") && l.contains("error"))
        .unwrap_or_else(|| panic!("no error event for leaks_secret:\n{}", out.stdout));
    assert!(
        failed.contains("****"),
        "the error is reported, redacted: {failed}"
    );
    let mut places: Vec<(String, String)> = vec![
        ("stdout".into(), out.stdout.clone()),
        ("stderr".into(), out.stderr.clone()),
        ("sql log".into(), std::fs::read_to_string(&log).unwrap()),
    ];
    for file in walkdir::WalkDir::new(f.path().join("target"))
        .into_iter()
        .flatten()
        .filter(|e| {
            e.path()
                .extension()
                .is_some_and(|x| x == "sql" || x == "json")
        })
    {
        let text = std::fs::read_to_string(file.path()).unwrap();
        places.push((file.path().display().to_string(), text));
    }
    assert!(places.len() > 5, "{places:?}");
    for (place, text) in places {
        assert!(!text.contains(secret), "the secret leaked into {place}");
        assert!(
            !text.contains(escaped),
            "the escaped secret leaked into {place}"
        );
    }
    let n = crate::harness::duckdb_rows(
        &f.path().join("target/shop.duckdb"),
        "select n from uses_secret",
    );
    assert_eq!(n, [["9"]], "the warehouse got the real value");
}

/// An empty model (or one with only comments) is named at its file, not left for the
/// warehouse to fail on SQL the user never wrote.
#[test]
fn an_empty_model_is_an_error_at_its_file() {
    let f = Fixture::new("valid");
    std::fs::write(f.path().join("models/empty.sql"), "-- to do\n\n").unwrap();
    let out = f.etlx(&["compile"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("model 'empty' has no SQL")
            && out.stderr.contains("models/empty.sql:1:1"),
        "{}",
        out.stderr
    );
}
