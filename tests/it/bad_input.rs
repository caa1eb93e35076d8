//! The bad-input corpus: every broken project under `tests/fixtures/bad/` must fail cleanly.
//!
//! Users' projects are where hostile input comes from (a pasted YAML bomb, a macro that
//! recurses, a model saved as Latin-1), and a crash or a hang there loses the message that
//! would have told them what to fix. So for every case folder, found by walking the corpus
//! rather than listed here, the real binary must: exit with the expected code (2, or 1 where a
//! node legitimately fails at run time), point at a `[file:line:col]`, not panic, and finish
//! within a time limit. Its whole output is snapshotted beside the case.
//!
//! A case folder holds a small project and:
//! - `cmd`: the etlx arguments, one line (`compile` if absent);
//! - `exit_code`: the expected exit code (2 if absent);
//! - `generate`: lines of `<path> <bytes>`: that file of the copy is padded at test time with
//!   leading SQL comment lines to that size, for inputs too large to commit;
//! - `known_defect`: one line saying why the case does not pass yet; it is skipped (with a
//!   message) until the defect is fixed and the file removed;
//! - `output.snap`: exit code, stdout and stderr, reviewed by a person.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{Fixture, Output, fixtures_dir};

/// Far above any case's honest run time (the 50 MB model takes seconds), far below CI's patience.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The corpus must not shrink unnoticed (a renamed folder, a bad glob).
const MIN_CASES: usize = 40;

struct Case {
    name: String,
    dir: PathBuf,
    args: Vec<String>,
    expected_code: i32,
}

impl Case {
    fn read(dir: &Path) -> Case {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cmd = optional(dir, "cmd").unwrap_or_else(|| "compile".into());
        let expected_code = optional(dir, "exit_code").map_or(2, |c| {
            c.parse()
                .unwrap_or_else(|_| panic!("{name}/exit_code is not a number: {c:?}"))
        });
        Case {
            args: cmd.split_whitespace().map(str::to_string).collect(),
            name,
            dir: dir.to_path_buf(),
            expected_code,
        }
    }

    fn command(&self) -> String {
        format!("etlx {}", self.args.join(" "))
    }
}

/// A small control file's trimmed text, if the case has it.
fn optional(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

fn cases() -> Vec<PathBuf> {
    let root = fixtures_dir().join("bad");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// Pad each file named in `generate` with comment lines at its start, so what it held (the
/// mistake) stays at its end, on a line number that is the same on every run.
fn generate(case: &Case, f: &Fixture) {
    let Some(spec) = optional(&case.dir, "generate") else {
        return;
    };
    for line in spec.lines().filter(|l| !l.trim().is_empty()) {
        let (path, size) = line
            .rsplit_once(' ')
            .and_then(|(p, s)| Some((p.trim(), s.trim().parse::<usize>().ok()?)))
            .unwrap_or_else(|| panic!("{}/generate: expected `<path> <bytes>`: {line}", case.name));
        let tail = f.read(path);
        let filler = "-- filler: tests/it/bad_input.rs makes this model large at test time\n";
        let mut text = String::with_capacity(size + tail.len());
        while text.len() + filler.len() + tail.len() <= size {
            text.push_str(filler);
        }
        text.push_str(&tail);
        std::fs::write(f.path().join(path), text).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

/// miette draws a location as `[path:line:col]`.
fn has_location(text: &str) -> bool {
    text.match_indices('[').any(|(i, _)| {
        let rest = &text[i + 1..];
        let Some(end) = rest.find(']') else {
            return false;
        };
        let inside = &rest[..end];
        let mut parts = inside.rsplitn(3, ':');
        let numeric = |s: Option<&str>| {
            s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        };
        !inside.contains('\n')
            && numeric(parts.next())
            && numeric(parts.next())
            && parts.next().is_some_and(|p| !p.is_empty())
    })
}

/// What is wrong with one run, if anything; the snapshot is checked separately.
fn problems(case: &Case, out: &Output) -> Vec<String> {
    let mut found = Vec::new();
    let all = format!("{}{}", out.stdout, out.stderr);
    if out.code == 101 || all.contains("panicked at") {
        found.push("panicked".to_string());
    }
    if out.code != case.expected_code {
        found.push(format!(
            "exit code {} (expected {})",
            out.code, case.expected_code
        ));
    }
    if !has_location(&all) {
        found.push("no [file:line:col] location in the output".to_string());
    }
    found
}

fn snapshot_text(case: &Case, out: &Output) -> String {
    format!(
        "$ {}\nexit code: {}\n----- stdout -----\n{}----- stderr -----\n{}",
        case.command(),
        out.code,
        out.stdout,
        out.stderr
    )
}

#[test]
fn every_bad_project_fails_cleanly_with_a_location() {
    let dirs = cases();
    assert!(
        dirs.len() >= MIN_CASES,
        "only {} cases under tests/fixtures/bad",
        dirs.len()
    );
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    for dir in &dirs {
        let case = Case::read(dir);
        if let Some(why) = optional(dir, "known_defect") {
            eprintln!(
                "SKIPPED bad/{} (`{}`): known defect: {why}",
                case.name,
                case.command()
            );
            skipped.push(case.name);
            continue;
        }
        let f = Fixture::new(&format!("bad/{}", case.name));
        generate(&case, &f);
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let Some(out) = f.etlx_within(&args, TIMEOUT) else {
            failures.push(format!(
                "bad/{} (`{}`): still running after {}s, killed",
                case.name,
                case.command(),
                TIMEOUT.as_secs()
            ));
            continue;
        };
        let mut found = problems(&case, &out);
        let snapshot = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut settings = f.settings();
            settings.set_description(case.command());
            settings.bind(|| insta::assert_snapshot!("output", snapshot_text(&case, &out)));
        }));
        if snapshot.is_err() {
            found.push("output differs from output.snap (see the diff above)".to_string());
        }
        if !found.is_empty() {
            failures.push(format!(
                "bad/{} (`{}`): {}",
                case.name,
                case.command(),
                found.join("; ")
            ));
        }
    }
    if !skipped.is_empty() {
        eprintln!(
            "{} of {} cases skipped as known defects: {}",
            skipped.len(),
            dirs.len(),
            skipped.join(", ")
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad-input cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}

#[test]
fn location_is_recognised_only_in_brackets_with_line_and_column() {
    assert!(has_location("   ╭─[models/a.sql:3:7]"));
    assert!(has_location("[etlx_project.yml:1:1]"));
    assert!(!has_location("[models/a.sql]"));
    assert!(!has_location("[:3:7]"));
    assert!(!has_location("[a:b:7]"));
    assert!(!has_location("no brackets at all"));
}
