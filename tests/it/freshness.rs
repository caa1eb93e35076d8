//! `etlx source freshness`: the age of each source's newest row against its thresholds.

use crate::harness::Fixture;

#[test]
fn freshness_judges_each_source_and_writes_sources_json() {
    let f = Fixture::new("freshness");
    let out = f.etlx(&["source", "freshness"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    f.settings().bind(|| {
        let mut s = insta::Settings::clone_current();
        // The archive's age grows every day.
        s.add_filter(r"newest row \d+d \d+h old", "newest row [AGE] old");
        s.bind(|| insta::assert_snapshot!("freshness", out.stdout));
    });
    let json: serde_json::Value =
        serde_json::from_str(&f.read("target/sources.json")).expect("sources.json");
    let result = |name: &str| -> serde_json::Value {
        json["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["unique_id"] == format!("source.freshness.landing.{name}"))
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert_eq!(result("archive")["status"], "error");
    assert_eq!(result("archive")["max_loaded_at"], "2020-01-02 00:00:00");
    assert_eq!(result("plays")["status"], "pass");
    // The filter leaves out the skip 5 minutes ago: the newest play is 30 minutes old.
    let age = result("plays")["max_loaded_at_time_ago_in_s"]
        .as_f64()
        .expect("age");
    assert!((1790.0..1830.0).contains(&age), "{age}");
    assert_eq!(result("events")["status"], "warn");
    assert_eq!(result("missing")["status"], "runtime_error");
    assert!(
        result("missing")["error"]
            .as_str()
            .is_some_and(|e| e.contains("No files found")),
        "{}",
        result("missing")
    );
    assert_eq!(json["results"].as_array().map(Vec::len), Some(4));
}

#[test]
fn freshness_of_selected_sources_only() {
    let f = Fixture::new("freshness");
    let out = f.etlx(&["source", "freshness", "-s", "source:landing.plays"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("PASS  freshness   landing.plays"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("1 pass, 0 warn, 0 error, 1 total"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_bad_period_is_reported_at_its_line() {
    let f = Fixture::new("freshness");
    f.edit(
        "models/sources.yml",
        "period: minute}",
        "period: fortnight}",
    );
    let out = f.etlx(&["source", "freshness"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("models/sources.yml:25"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("period: minute, hour or day"),
        "{}",
        out.stderr
    );
}

/// Sources at relative paths are found from the project folder on every connection, not
/// only the first, whatever directory etlx was started in.
#[test]
fn relative_sources_are_read_from_the_project_wherever_etlx_starts() {
    let f = Fixture::new("freshness");
    let elsewhere = tempfile::tempdir().expect("a temp dir");
    let project = f.path().display().to_string();
    let out = crate::harness::run_in(
        elsewhere.path(),
        &["--project-dir", &project, "source", "freshness"],
    );
    let inside = f.etlx(&["source", "freshness"]);
    assert_eq!(out.code, inside.code, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout.matches("No files found").count(),
        inside.stdout.matches("No files found").count(),
        "from elsewhere:\n{}\nfrom inside:\n{}",
        out.stdout,
        inside.stdout
    );
}
