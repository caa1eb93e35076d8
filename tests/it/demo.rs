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

/// `etlx build --every 1s`: each build takes the files that landed since the last one, and
/// Ctrl-C ends the loop (at once between builds, cleanly during one) with exit code 130.
#[test]
fn build_every_interval_picks_up_files_as_they_land_until_ctrl_c() {
    let d = demo();
    let dir = d.path();
    let later = dir.join("later");
    std::fs::rename(dir.join("landing/events/batch_002"), &later).expect("hold back a batch");
    let results = dir.join("target/run_results.json");
    let args = [
        "build",
        "--every",
        "1s",
        "--exclude-resource-type",
        "unit_test",
    ];
    let child = crate::harness::start_until(dir, &args, &[], || results.exists());
    std::fs::rename(&later, dir.join("landing/events/batch_002")).expect("land a batch");
    let picked_up = (0..600).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::fs::read_to_string(&results).is_ok_and(|t| t.contains("1 new file(s)"))
    });
    crate::harness::send_signal(&child, "INT");
    let out = child.wait_with_output().expect("etlx ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(picked_up, "no build read the landed batch:\n{stdout}");
    assert!(stdout.contains("Next build at"), "{stdout}");
    assert_eq!(out.status.code(), Some(130), "{stdout}");
}

/// A landed file that changes after it was consumed stops the run and is named, never read
/// again silently; `changed_files: reprocess` reads it again, and the upsert keeps one row
/// per play.
#[test]
fn a_consumed_file_that_changes_stops_the_run_unless_told_to_reprocess() {
    let d = demo();
    let dir = d.path();
    build(dir, "{}");
    let before = fingerprint(dir);
    let file = dir.join("landing/events/batch_001/events.json");
    let text = std::fs::read_to_string(&file).expect("batch");
    let first = text.lines().next().expect("a line").to_string();
    std::fs::write(&file, format!("{text}{first}\n")).expect("append a re-sent event");

    let out = run_in(dir, &["build"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("landing/events/batch_001/events.json")
            && all.contains("changed_files: reprocess"),
        "{all}"
    );
    assert_eq!(
        fingerprint(dir),
        before,
        "nothing was built from the changed file"
    );

    let sources = dir.join("models/staging/sources.yml");
    let yaml = std::fs::read_to_string(&sources).expect("sources.yml");
    let yaml = yaml.replace(
        "incremental_files: true",
        "incremental_files: true\n          changed_files: reprocess",
    );
    std::fs::write(&sources, yaml).expect("write sources.yml");
    build(dir, "{}");
    assert_eq!(
        fingerprint(dir),
        before,
        "the re-sent event is the same play"
    );
}

/// Freshness asks about every landed file, not the last run's new ones: it answers before any
/// build, and after a build that found nothing new.
#[test]
fn freshness_of_a_ledger_source_reads_every_landed_file() {
    let d = demo();
    let dir = d.path();
    let before = run_in(dir, &["source", "freshness"]);
    build(dir, "{}");
    build(dir, "{}");
    let after = run_in(dir, &["source", "freshness"]);
    for out in [before, after] {
        assert!(
            out.stdout.contains("landing.events") && out.stdout.contains("newest row"),
            "{}\n{}",
            out.stdout,
            out.stderr
        );
    }
}

/// A file landing late, with plays older than every day already built, corrects the per-day
/// analytics (microbatch by day): the days its plays fall on are recomputed, far outside
/// dbt's lookback window. The warehouse equals one build over every file.
#[test]
fn a_late_file_with_old_plays_corrects_the_per_day_analytics() {
    let d = demo();
    let dir = d.path();
    build(dir, "{}");
    let all_at_once = fingerprint(dir);

    fresh(dir);
    let late = dir.join("late");
    std::fs::rename(dir.join("landing/events/batch_001"), &late).expect("hold back");
    build(dir, "{}");
    assert_ne!(
        fingerprint(dir)["main.daily_active_users"],
        all_at_once["main.daily_active_users"],
        "the held-back batch must matter for the test to test anything"
    );
    std::fs::rename(&late, dir.join("landing/events/batch_001")).expect("land late");
    build(dir, "{}");
    assert_eq!(fingerprint(dir), all_at_once);
}
