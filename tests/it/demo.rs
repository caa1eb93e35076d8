//! The demo warehouse at the repository root, built batch by batch: re-running a batch, or
//! processing batches out of order, gives the same warehouse as processing each once in
//! order, and the Parquet landing zone builds the same warehouse as the JSON one.

use std::collections::BTreeMap;
use std::path::Path;

use crate::harness::{duckdb_fingerprint, run_in};

/// A copy of the root project (without the Rust tests) in a temporary directory.
pub fn demo() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in walkdir::WalkDir::new(root).min_depth(1) {
        let entry = entry.expect("walk");
        let rel = entry.path().strip_prefix(root).expect("inside root");
        let top = rel
            .iter()
            .next()
            .and_then(|c| c.to_str())
            .unwrap_or_default();
        let wanted = ["models", "macros", "seeds", "snapshots", "tests", "landing"].contains(&top)
            || ["etlx_project.yml", "profiles.yml"].contains(&top);
        if !wanted || rel.starts_with("tests/it") || rel.starts_with("tests/fixtures") {
            continue;
        }
        let dest = dir.path().join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
    dir
}

fn build(dir: &Path, vars: &str) {
    let out = run_in(dir, &["build", "--vars", vars]);
    assert_eq!(out.code, 0, "build {vars}:\n{}\n{}", out.stdout, out.stderr);
}

/// Row count and an order-independent checksum of every warehouse table. Staging tables hold
/// only the batch last read, so they are left out.
/// Every table but staging (a batch's own) and the snapshot: `user_levels` records the states
/// the marts went through, which depend on the batches' order by nature (one build of all
/// batches sees one state, three builds see three).
fn fingerprint(dir: &Path) -> BTreeMap<String, (i64, String)> {
    duckdb_fingerprint(&dir.join("etlx_demo.duckdb"), |t| {
        !t.starts_with("stg") && t != "user_levels" && t != "file_ledger"
    })
}

/// No warehouse and no build output: the next build starts from nothing.
fn fresh(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir.join("target"));
    let _ = std::fs::remove_file(dir.join("etlx_demo.duckdb"));
}

#[test]
fn batches_in_any_order_and_reruns_give_the_same_warehouse() {
    let d = demo();
    let dir = d.path();
    build(dir, "{batch: '*'}");
    let all_at_once = fingerprint(dir);
    assert!(all_at_once.len() >= 12, "{all_at_once:?}");
    assert!(
        all_at_once["main.fct_songplays"].0 > 3000,
        "{all_at_once:?}"
    );

    fresh(dir);
    for batch in ["batch_001", "batch_002", "batch_003"] {
        build(dir, &format!("{{batch: {batch}}}"));
    }
    assert_eq!(fingerprint(dir), all_at_once, "in order");
    build(dir, "{batch: batch_002}");
    assert_eq!(fingerprint(dir), all_at_once, "batch 2 again");

    fresh(dir);
    for batch in ["batch_003", "batch_001", "batch_002"] {
        build(dir, &format!("{{batch: {batch}}}"));
    }
    assert_eq!(fingerprint(dir), all_at_once, "out of order");
}

#[test]
fn parquet_landing_builds_the_same_warehouse_as_json() {
    let d = demo();
    let dir = d.path();
    build(dir, "{batch: '*'}");
    let from_json = fingerprint(dir);
    // The committed sample is what `etlx generate` writes with its defaults.
    let out = run_in(dir, &["generate", "--out", "regenerated"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for file in [
        "events/batch_001/events.json",
        "events/batch_003/events.json",
        "songs/songs.json",
    ] {
        let committed = std::fs::read(dir.join("landing").join(file)).expect("committed");
        let again = std::fs::read(dir.join("regenerated").join(file)).expect("regenerated");
        assert!(committed == again, "{file} differs from `etlx generate`");
    }
    let out = run_in(dir, &["generate", "--format", "parquet"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    fresh(dir);
    build(dir, "{batch: '*', landing_format: parquet}");
    assert_eq!(fingerprint(dir), from_json);
}
