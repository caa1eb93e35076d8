//! Fixture cases: one etlx command on a project under `tests/fixtures/`, and what it must print.
//!
//! What users see when etlx meets their project is the product as much as the tables are: the
//! path of a cycle, the close name for a mistyped ref, the place of a YAML error. Hostile input
//! (a pasted YAML bomb, a macro that recurses, a model saved as Latin-1) must get such a
//! message too, since a crash or a hang loses the one that would have told them what to fix.
//! Each such expectation is a project, a command and its output, so each is a folder holding
//! those three, and adding one needs no Rust: this test walks `tests/fixtures/` and runs every
//! case it finds there. For each, the real binary must exit with the expected code, not panic,
//! finish within a time limit, and print exactly what the case's `output.snap` holds (exit
//! code, stdout and stderr together, reviewed by a person). A case that expects a failure must
//! also point at a `[file:line:col]`.
//!
//! A folder is a case if it holds `cmd` or `output.snap`; the folders inside a case are its
//! project, not more cases. `tests/fixtures/bad/` is the corpus of hostile input, and every
//! folder there must be a case. Folders with neither file (`valid`, `warehouse`, ...) are
//! projects for the hand-written tests, which may also use a case's folder for other commands.
//!
//! The control files of a case:
//! - `cmd`: the etlx arguments, one line (`compile` if absent);
//! - `exit_code`: the expected exit code (2 if absent). A case that expects a non-zero code is
//!   an error case, whose output must hold a `[file:line:col]`; one that expects 0 need not;
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

/// The cases must not shrink unnoticed (a renamed folder, a lost control file, a bad walk).
const MIN_CASES: usize = 80;

/// The corpus of hostile input, where every folder is a case.
const BAD_CORPUS: &str = "bad";

struct Case {
    /// The folder's path under `tests/fixtures/`, with `/`: `bad/yaml_tab_indent`, `cycle`.
    name: String,
    dir: PathBuf,
    args: Vec<String>,
    expected_code: i32,
}

impl Case {
    fn read(dir: &Path) -> Case {
        let name = dir
            .strip_prefix(fixtures_dir())
            .unwrap_or(dir)
            .iter()
            .map(|c| c.to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
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

    /// An error case must say where the mistake is; a success has no mistake to point at.
    fn expects_location(&self) -> bool {
        self.expected_code != 0
    }
}

/// A small control file's trimmed text, if the case has it.
fn optional(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Whether a folder is a case: it says what to run or what must come out.
fn is_case(dir: &Path) -> bool {
    dir.join("cmd").is_file() || dir.join("output.snap").is_file()
}

/// Every case folder under `tests/fixtures/`, at any depth, in path order. The walk does not
/// enter a case: what is inside is its project.
fn cases() -> Vec<PathBuf> {
    let root = fixtures_dir();
    let mut dirs = Vec::new();
    let mut walk = walkdir::WalkDir::new(&root)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = walk.next() {
        let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", root.display()));
        if entry.file_type().is_dir() && is_case(entry.path()) {
            dirs.push(entry.into_path());
            walk.skip_current_dir();
        }
    }
    dirs
}

/// Folders of the hostile-input corpus that are not cases, so would be skipped in silence.
fn corpus_folders_without_a_case() -> Vec<String> {
    let root = fixtures_dir().join(BAD_CORPUS);
    let mut strays: Vec<String> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()) && !is_case(&e.path()))
        .map(|e| format!("{BAD_CORPUS}/{}", e.file_name().to_string_lossy()))
        .collect();
    strays.sort();
    strays
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
        let filler = "-- filler: tests/it/fixtures.rs makes this model large at test time.\n";
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
    if case.expects_location() && !has_location(&all) {
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
fn every_fixture_case_exits_and_prints_as_its_snapshot_says() {
    let strays = corpus_folders_without_a_case();
    assert!(
        strays.is_empty(),
        "folders in tests/fixtures/{BAD_CORPUS}/ with neither `cmd` nor `output.snap` would not \
         be run; give each a `cmd`: {}",
        strays.join(", ")
    );
    let dirs = cases();
    assert!(
        dirs.len() >= MIN_CASES,
        "only {} cases under tests/fixtures",
        dirs.len()
    );
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    for dir in &dirs {
        let case = Case::read(dir);
        if let Some(why) = optional(dir, "known_defect") {
            eprintln!(
                "SKIPPED {} (`{}`): known defect: {why}",
                case.name,
                case.command()
            );
            skipped.push(case.name);
            continue;
        }
        let f = Fixture::new(&case.name);
        generate(&case, &f);
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let Some(out) = f.etlx_within(&args, TIMEOUT) else {
            failures.push(format!(
                "{} (`{}`): still running after {}s, killed",
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
                "{} (`{}`): {}",
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
        "{} of {} fixture cases failed:\n{}",
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

#[test]
fn only_a_case_that_expects_failure_must_point_at_a_location() {
    let case = |expected_code| Case {
        name: "example".into(),
        dir: PathBuf::new(),
        args: vec!["compile".into()],
        expected_code,
    };
    let output = |code: i32| Output {
        code,
        stdout: format!(
            "Compiled 1 model\n{}",
            if code == 0 { "" } else { "1 error\n" }
        ),
        stderr: String::new(),
    };
    assert!(problems(&case(0), &output(0)).is_empty());
    assert_eq!(
        problems(&case(2), &output(2)),
        ["no [file:line:col] location in the output"]
    );
}
