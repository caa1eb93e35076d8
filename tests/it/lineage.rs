//! Column-level lineage of the demo warehouse: `etlx lineage` trees up and down, and the
//! `target/lineage.json` that `compile` writes, pinned.

use crate::demo::demo;
use crate::harness::{Fixture, run_in};

#[test]
fn a_mart_column_leads_back_to_the_landing_field_and_forward_to_the_dashboards() {
    let d = demo();
    let up = run_in(d.path(), &["lineage", "fct_songplays.user_id"]);
    assert_eq!(up.code, 0, "{}\n{}", up.stdout, up.stderr);
    insta::assert_snapshot!("fct_songplays_user_id", up.stdout);
    assert!(
        up.stdout.contains("source landing.events.userId"),
        "{}",
        up.stdout
    );

    let down = run_in(d.path(), &["lineage", "stg_events.user_id", "--downstream"]);
    assert_eq!(down.code, 0, "{}", down.stderr);
    for reached in [
        "daily_active_users.active_users",
        "conversion.upgrades",
        "user_levels.user_id",
    ] {
        assert!(
            down.stdout.contains(reached),
            "{reached} not reached:\n{}",
            down.stdout
        );
    }

    let missing = run_in(d.path(), &["lineage", "fct_songplays.usr_id"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("did you mean 'user_id'?"),
        "{}",
        missing.stderr
    );
}

#[test]
fn compile_writes_the_lineage_of_every_column() {
    let d = demo();
    let out = run_in(d.path(), &["compile"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(d.path().join("target/lineage.json")).expect("lineage.json");
    let mut doc: serde_json::Value = serde_json::from_str(&text).expect("json");
    doc["metadata"]["generated_by"] = "etlx".into();
    let unknown = doc["nodes"]
        .as_object()
        .expect("nodes")
        .values()
        .flat_map(|cols| cols.as_array().cloned().unwrap_or_default())
        .filter(|c| c.get("unknown").is_some())
        .count();
    assert_eq!(unknown, 0, "every column of the demo is followed");
    insta::assert_json_snapshot!("demo_lineage", doc);
}

/// A model reads an ephemeral parent as a relation of its own: lineage goes through the
/// ephemeral model, whose columns come from its own query, even when only the reader is
/// selected (the ephemeral is parsed for it, not compiled).
#[test]
fn lineage_goes_through_an_ephemeral_parent_as_a_node() {
    let f = Fixture::new("bad/sql_unknown_column_through_ephemeral");
    f.edit("models/report.sql", "custmer_id", "customer_id");
    let out = f.etlx(&["lineage", "report.customer_id"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let tree: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    assert!(
        tree.iter().any(|l| l.contains("orders.customer_id")),
        "the ephemeral model is a node of the tree:\n{}",
        out.stdout
    );
    std::fs::remove_dir_all(f.path().join("target/compiled")).expect("clear target/compiled");
    let compiled = f.etlx(&["compile", "-s", "report"]);
    assert_eq!(compiled.code, 0, "{}", compiled.stderr);
    let lineage: serde_json::Value =
        serde_json::from_str(&f.read("target/lineage.json")).expect("lineage.json");
    let upstream = &lineage["nodes"]["model.shop.report"][1]["upstream"];
    assert_eq!(
        upstream,
        &serde_json::json!([{"node": "model.shop.orders", "column": "customer_id", "kind": "direct"}]),
        "{lineage:#}"
    );
    let orders = &lineage["nodes"]["model.shop.orders"];
    assert_eq!(orders.as_array().map(Vec::len), Some(3), "{lineage:#}");
    assert!(
        !f.path()
            .join("target/compiled/shop/models/orders.sql")
            .exists(),
        "an unselected ephemeral is parsed, not compiled"
    );
}
