//! Property tests: random YAML, Jinja and SQL fed to the library's entry points.
//!
//! The corpus under `tests/fixtures/bad/` holds the mistakes people make; these hold the ones
//! nobody thought of. Inputs are built from the tokens each language is made of (so they reach
//! deep into the parsers rather than failing on the first byte) plus arbitrary text. Whatever
//! comes in, loading, rendering and parsing must return (an error is fine), never panic, and
//! every diagnostic they produce must render with its location.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use etlx::diag::{Diagnostic, RenderStyle};
use etlx::project::{LoadOptions, Project, SourceFile};
use etlx::sql::Dialect;
use etlx::template::{RenderRequest, Shared, Templates};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Enough cases to find shallow crashes on every CI run, few enough to stay in seconds.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        // A failure prints its minimal input; files written beside the tests would not be
        // reviewed anyway.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A render that takes longer than this is taken to be a hang: the generated templates loop
/// at most 64³ times, which takes milliseconds.
const RENDER_LIMIT: Duration = Duration::from_secs(20);

/// Text made of `tokens` (mostly) and arbitrary characters (sometimes).
fn text_of(tokens: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        8 => prop::sample::select(tokens).prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..max).prop_map(|pieces| pieces.concat())
}

const YAML_TOKENS: &[&str] = &[
    "\n",
    "\n  ",
    "\n    ",
    "\n- ",
    "\n  - ",
    " ",
    "\t",
    ": ",
    ":",
    "- ",
    "name",
    "models",
    "version: 2",
    "columns",
    "config",
    "+materialized",
    "tags",
    "data_tests",
    "vars",
    "a",
    "'q'",
    "\"d\"",
    "\"unterminated",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "&x ",
    "*x",
    "&y ",
    "*y",
    "<<: ",
    "!!str ",
    "!!int ",
    "!custom ",
    "|",
    ">-",
    "# c",
    "---",
    "...",
    "~",
    "null",
    "yes",
    "1e999",
    "-0",
    "0x1F",
    "é",
    "\u{feff}",
    "\r\n",
    "? ",
    "%YAML 1.2",
    "@",
];

const JINJA_TOKENS: &[&str] = &[
    "{{ ",
    " }}",
    "{%- ",
    " -%}",
    "{% ",
    " %}",
    "{# ",
    " #}",
    "for x in range(64)",
    "for y in [1, 2]",
    "endfor",
    "if x",
    "if true",
    "elif false",
    "else",
    "endif",
    "set z = ",
    "macro m(a)",
    "endmacro",
    "m(1)",
    "call m(2)",
    "endcall",
    "caller()",
    "raw",
    "endraw",
    "ref('a')",
    "source('s', 't')",
    "config(materialized='table')",
    "var('v', 1)",
    "env_var('HOME')",
    "this",
    "target.name",
    "is_incremental()",
    "down(3)",
    "down(1000)",
    "ping(2)",
    "return(1)",
    "loop.index",
    "namespace(n=0)",
    "x",
    "y",
    "z",
    " | upper",
    " | join(',')",
    " | default('d')",
    " | nope",
    "~",
    "+",
    "*",
    "(",
    ")",
    "[",
    "]",
    ",",
    "'s'",
    "\"",
    "42",
    "-1",
    "none",
    " ",
    "\n",
    "select ",
    "exceptions.raise_compiler_error('e')",
    "do ",
    "break",
    "continue",
    "é",
];

const SQL_TOKENS: &[&str] = &[
    "select ",
    "from ",
    "where ",
    "group by ",
    "order by ",
    "having ",
    "limit ",
    "with ",
    " as ",
    "(",
    ")",
    ", ",
    "*",
    "1",
    "1.5e3",
    "'s'",
    "'unterminated",
    "\"q\"",
    "\"unclosed",
    "a",
    "b",
    "t",
    "größe",
    "名前",
    "\"ünï\"",
    "::int",
    " union all ",
    " join ",
    " on ",
    " = ",
    " and ",
    " or ",
    " not ",
    " is null",
    "case when ",
    " then ",
    " else ",
    " end",
    "over (partition by a order by b)",
    " qualify ",
    " exclude (a)",
    "$$",
    "$1",
    "?",
    ";",
    "\n",
    "-- c\n",
    "/* c */",
    "/* open",
    "[",
    "]",
    "{",
    "}",
    "insert into t values ",
    "create table t as ",
    "merge into t using s on ",
    "copy t from 's3://b' ",
    "e'\\x'",
];

/// Every diagnostic must draw, with a location that lies inside its file.
fn render_all<'a>(diags: impl IntoIterator<Item = &'a Diagnostic>) {
    let style = RenderStyle {
        color: false,
        width: 100,
    };
    for d in diags {
        let drawn = etlx::diag::render(d, style);
        assert!(drawn.contains(d.code), "{drawn}");
        if let Some(loc) = &d.location {
            assert!(loc.span.end <= loc.source.len(), "{:?}", loc.span);
            let position = d.position().unwrap_or_default();
            assert!(drawn.contains(&position), "{position} not in\n{drawn}");
        }
    }
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

fn load(dir: &Path) -> (Option<Project>, etlx::diag::Diagnostics) {
    etlx::project::load(&LoadOptions {
        project_dir: Some(dir.to_path_buf()),
        profiles_dir: Some(dir.to_path_buf()),
        ..LoadOptions::default()
    })
    .expect("the project file exists and is readable")
}

/// A project whose macros the random templates can call, loaded once for all cases.
fn templates() -> &'static Templates {
    static TEMPLATES: OnceLock<Templates> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        write(dir.path(), "etlx_project.yml", "name: props\n");
        write(dir.path(), "models/a.sql", "select 1 as id\n");
        write(
            dir.path(),
            "profiles.yml",
            "props:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n",
        );
        write(
            dir.path(),
            "macros/helpers.sql",
            "{% macro down(n) %}{% if n > 0 %}{{ down(n - 1) }}{% endif %}{% endmacro %}\n\
             {% macro ping(n) %}{{ pong(n) }}{% endmacro %}\n\
             {% macro pong(n) %}{{ ping(n) }}{% endmacro %}\n",
        );
        let (project, mut diags) = load(dir.path());
        let project = project.expect("the template project loads");
        let templates = Templates::new(&project, &mut diags);
        assert!(!diags.has_errors(), "{diags:?}");
        templates
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn yaml_documents_parse_or_fail_with_a_location(text in text_of(YAML_TOKENS, 60)) {
        match etlx::project::yaml::Document::parse(Path::new("x.yml"), Arc::from(text.as_str())) {
            Ok(doc) => {
                let _ = doc.root.to_json();
                for (key, value) in doc.root.entries() {
                    let _ = doc.location(key.pos);
                    let _ = doc.location(value.pos);
                }
            }
            Err(d) => {
                prop_assert!(d.location.is_some(), "{}", d.message);
                render_all([d.as_ref()]);
            }
        }
    }

    #[test]
    fn projects_with_random_yaml_load_without_panicking(
        project in text_of(YAML_TOKENS, 40),
        properties in text_of(YAML_TOKENS, 60),
        profiles in text_of(YAML_TOKENS, 40),
        named in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let project = if named { format!("name: p\n{project}") } else { project };
        write(dir.path(), "etlx_project.yml", &project);
        write(dir.path(), "models/a.sql", "select 1 as id\n");
        write(dir.path(), "models/schema.yml", &properties);
        write(dir.path(), "profiles.yml", &profiles);
        let (_, diags) = load(dir.path());
        render_all(diags.iter());
    }

    #[test]
    fn jinja_templates_render_or_fail_and_always_finish(text in text_of(JINJA_TOKENS, 40)) {
        let templates = templates();
        let file = SourceFile { path: "models/random.sql".into(), text: Arc::from(text.as_str()) };
        let (tx, rx) = std::sync::mpsc::channel();
        // On a thread so that a hang fails this case instead of hanging the suite.
        std::thread::spawn(move || {
            let shared = Arc::new(Shared::default());
            let result = templates.render(&file, RenderRequest::without_node(&shared));
            let _ = tx.send(result.err());
        });
        match rx.recv_timeout(RENDER_LIMIT) {
            Ok(Some(d)) => render_all([d.as_ref()]),
            Ok(None) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                return Err(TestCaseError::fail(format!(
                    "render still running after {RENDER_LIMIT:?}: {text:?}"
                )));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(TestCaseError::fail(format!("render panicked: {text:?}")));
            }
        }
    }

    #[test]
    fn sql_fragments_parse_or_fail_inside_the_text(text in text_of(SQL_TOKENS, 40)) {
        for dialect in [Dialect::DuckDb, Dialect::Postgres, Dialect::Redshift] {
            if let Err(e) = etlx::sql::check(dialect, &text) {
                let lines = text.split('\n').count().max(1);
                prop_assert!(e.line >= 1 && e.line <= lines, "{dialect}: line {} of {lines}", e.line);
                let at = etlx::diag::Location::at_line_col("x.sql", Arc::from(text.as_str()), e.line, e.column);
                render_all([&Diagnostic::error("sql-syntax", e.message).at(at)]);
            }
        }
    }

    /// The whole compile of a model (render, ephemeral inlining, strict SQL analysis) on random
    /// SQL that selects from an ephemeral model with a non-ASCII name.
    #[test]
    fn models_with_random_sql_compile_or_fail_with_diagnostics(text in text_of(SQL_TOKENS, 30)) {
        let dir = tempfile::tempdir().expect("temp dir");
        write(dir.path(), "etlx_project.yml", "name: p\nstatic_analysis: strict\n");
        write(dir.path(), "models/größe.sql", "{{ config(materialized='ephemeral') }}\nselect 1 as id\n");
        // The random text comes first: what inlining looks at is the start of the SQL.
        write(dir.path(), "models/a.sql", &format!("{text}\n-- {{{{ ref('größe') }}}}\n"));
        write(dir.path(), "models/b.sql", &text);
        let (project, diags) = load(dir.path());
        render_all(diags.iter());
        let project = project.expect("the project file is valid");
        let compiled = etlx::compile::compile(
            &project,
            &etlx::compile::CompileOptions { render: true, ..Default::default() },
        );
        render_all(compiled.diagnostics.iter());
    }
}
