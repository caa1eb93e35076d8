//! Column-level lineage of the demo warehouse: `etlx lineage` trees up and down, and the
//! `target/lineage.json` that `compile` writes, pinned.

use crate::demo::demo;
use crate::harness::run_in;

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
