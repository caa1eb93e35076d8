//! `profiles.yml`: where a project runs.
//!
//! Profiles hold connection settings and passwords, so this module also owns the redaction list:
//! every value that came from a secret setting or a secret environment variable is registered
//! here, and everything etlx prints or writes passes through `Secrets::redact`.

mod secrets;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use serde::Serialize;

pub use secrets::{SECRET_ENV_PREFIXES, Secrets};

use super::yaml::{Document, Yaml};
use crate::diag::{Diagnostic, Diagnostics};
use crate::sql::Dialect;
use secrets::is_secret_setting;

/// The resolved target a run uses.
#[derive(Clone, Serialize)]
pub struct Target {
    pub profile: String,
    pub name: String,
    #[serde(rename = "type")]
    pub dialect: Dialect,
    pub schema: String,
    pub database: Option<String>,
    pub threads: usize,
    /// Every other setting, already rendered (`env_var` resolved). Secret values are redacted
    /// when serialized.
    #[serde(serialize_with = "serialize_redacted")]
    pub settings: IndexMap<String, serde_json::Value>,
    /// Where the profile came from, or `None` for the built-in DuckDB default.
    pub source: Option<PathBuf>,
}

fn serialize_redacted<S: serde::Serializer>(
    settings: &IndexMap<String, serde_json::Value>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let redacted: IndexMap<&String, serde_json::Value> = settings
        .iter()
        .map(|(k, v)| {
            let v = if is_secret_setting(k) {
                "****".into()
            } else {
                v.clone()
            };
            (k, v)
        })
        .collect();
    redacted.serialize(s)
}

/// Written by hand: a derived Debug would print the password in `settings`.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let settings: IndexMap<&String, &serde_json::Value> = self
            .settings
            .iter()
            .map(|(k, v)| {
                static HIDDEN: serde_json::Value = serde_json::Value::Null;
                (k, if is_secret_setting(k) { &HIDDEN } else { v })
            })
            .collect();
        f.debug_struct("Target")
            .field("profile", &self.profile)
            .field("name", &self.name)
            .field("dialect", &self.dialect)
            .field("schema", &self.schema)
            .field("database", &self.database)
            .field("threads", &self.threads)
            .field("settings (secrets as null)", &settings)
            .field("source", &self.source)
            .finish()
    }
}

impl Target {
    /// The built-in target of a project with no profiles.yml: an embedded DuckDB file.
    pub fn default_duckdb(project_name: &str, target_path: &str) -> Target {
        let mut settings = IndexMap::new();
        settings.insert(
            "path".to_string(),
            format!("{target_path}/{project_name}.duckdb").into(),
        );
        Target {
            profile: project_name.to_string(),
            name: "dev".to_string(),
            dialect: Dialect::DuckDb,
            schema: "main".to_string(),
            database: None,
            threads: default_threads(),
            settings,
            source: None,
        }
    }

    pub fn setting_str(&self, key: &str) -> Option<&str> {
        self.settings.get(key).and_then(|v| v.as_str())
    }
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get())
}

/// Where to look for profiles.yml, in dbt's order: `--profiles-dir`, then `DBT_PROFILES_DIR`
/// (or `ETLX_PROFILES_DIR`), then the project folder, then `~/.dbt/` (and `~/.etlx/`).
pub fn search_dirs(explicit: Option<&Path>, project_root: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = explicit {
        dirs.push(dir.to_path_buf());
    }
    for var in ["DBT_PROFILES_DIR", "ETLX_PROFILES_DIR"] {
        if let Some(dir) = std::env::var_os(var).filter(|d| !d.is_empty()) {
            dirs.push(PathBuf::from(dir));
        }
    }
    dirs.push(project_root.to_path_buf());
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(&home).join(".dbt"));
        dirs.push(PathBuf::from(home).join(".etlx"));
    }
    dirs
}

pub struct ProfileRequest<'a> {
    pub profile_name: &'a str,
    pub target_name: Option<&'a str>,
    pub explicit_dir: Option<&'a Path>,
    pub project_root: &'a Path,
    pub project_name: &'a str,
    pub target_path: &'a str,
}

/// Find and resolve the target. With no profiles.yml anywhere the project runs on the
/// built-in DuckDB target, which is what `etlx run` on a fresh project should do.
pub fn resolve(req: &ProfileRequest, diags: &mut Diagnostics) -> Option<(Target, Secrets)> {
    let dirs = search_dirs(req.explicit_dir, req.project_root);
    let found = dirs
        .iter()
        .map(|d| d.join("profiles.yml"))
        .find(|p| p.is_file());
    let Some(path) = found else {
        if let Some(dir) = req.explicit_dir {
            diags.push(
                Diagnostic::error(
                    "profile-not-found",
                    format!("no profiles.yml in --profiles-dir {}", dir.display()),
                )
                .hint("create it, or drop --profiles-dir to use the built-in DuckDB target"),
            );
            return None;
        }
        let mut target = Target::default_duckdb(req.project_name, req.target_path);
        if let Some(name) = req.target_name.filter(|n| *n != "dev") {
            diags.push(
                Diagnostic::error(
                    "target-not-found",
                    format!("target '{name}' requested but no profiles.yml was found"),
                )
                .note(format!("looked in: {}", shown_dirs(&dirs))),
            );
            return None;
        }
        target.threads = target.threads.max(1);
        diags.push(
            Diagnostic::warning(
                "profile-not-found",
                format!(
                    "no profiles.yml found; using the built-in DuckDB target ({})",
                    target.setting_str("path").unwrap_or("an in-memory database")
                ),
            )
            .note(format!("looked in: {}", shown_dirs(&dirs)))
            .hint("write a profiles.yml in the project folder (`etlx init` writes one) to choose the warehouse"),
        );
        return Some((target, Secrets::default()));
    };
    let shown = display_relative(&path, req.project_root);
    let text = match std::fs::read(&path) {
        Ok(bytes) => match super::utf8_text(&shown, bytes) {
            Ok(text) => text,
            Err(d) => {
                diags.push(*d);
                return None;
            }
        },
        Err(e) => {
            diags.push(Diagnostic::error(
                "io",
                format!("cannot read {}: {e}", path.display()),
            ));
            return None;
        }
    };
    let doc = match Document::parse(&shown, text) {
        Ok(doc) => doc,
        Err(d) => {
            diags.push(*d);
            return None;
        }
    };
    resolve_in(&doc, req, path, diags)
}

fn shown_dirs(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn display_relative(path: &Path, root: &Path) -> PathBuf {
    path.strip_prefix(root)
        .map_or_else(|_| path.to_path_buf(), Path::to_path_buf)
}

fn resolve_in(
    doc: &Document,
    req: &ProfileRequest,
    path: PathBuf,
    diags: &mut Diagnostics,
) -> Option<(Target, Secrets)> {
    let profile = find_profile(doc, req.profile_name, diags)?;
    let default_target = profile.get("target").and_then(Yaml::as_str);
    let Some(target_name) = req.target_name.or(default_target) else {
        diags.push(
            doc.error_at(
                profile.pos,
                "target-not-found",
                format!(
                    "profile '{}' declares no default `target:`",
                    req.profile_name
                ),
            )
            .hint("add `target: dev` to the profile, or pass --target"),
        );
        return None;
    };
    let outputs = profile.get("outputs");
    if let Some(o) = outputs.filter(|o| !o.is_map()) {
        diags.push(
            doc.error_at(
                o.pos,
                "profile-outputs",
                format!(
                    "`outputs:` of profile '{}' must be a mapping of targets, not {}",
                    req.profile_name,
                    o.kind()
                ),
            )
            .hint("write each target as `name:` followed by its settings, indented below it"),
        );
        return None;
    }
    let Some(output) = outputs.and_then(|o| o.get(target_name)) else {
        let names: Vec<&str> = outputs
            .map(|o| o.entries().iter().map(|(k, _)| k.name.as_str()).collect())
            .unwrap_or_default();
        let mut d = doc.error_at(
            outputs.map_or(profile.pos, |o| o.pos),
            "target-not-found",
            format!(
                "target '{target_name}' is not an output of profile '{}'",
                req.profile_name
            ),
        );
        if let Some(close) = crate::diag::closest(target_name, names.iter().copied()) {
            d = d.hint(format!("did you mean '{close}'?"));
        }
        diags.push(d.note(format!("outputs: {}", names.join(", "))));
        return None;
    };
    build_target(doc, output, req, target_name, path, diags)
}

/// The profile named by the project file, or a diagnostic that lists the ones defined.
fn find_profile<'d>(doc: &'d Document, name: &str, diags: &mut Diagnostics) -> Option<&'d Yaml> {
    if let Some(profile) = doc.root.get(name) {
        return Some(profile);
    }
    let names: Vec<&str> = doc
        .root
        .entries()
        .iter()
        .map(|(k, _)| k.name.as_str())
        .collect();
    let mut d = doc.error_at(
        doc.root.pos,
        "profile-not-found",
        format!("profile '{name}' is not defined in profiles.yml"),
    );
    if let Some(close) = crate::diag::closest(name, names.iter().copied()) {
        d = d.hint(format!(
            "did you mean '{close}'? (`profile:` in the project file)"
        ));
    }
    diags.push(d.note(format!("profiles defined: {}", names.join(", "))));
    None
}

fn build_target(
    doc: &Document,
    output: &Yaml,
    req: &ProfileRequest,
    target_name: &str,
    path: PathBuf,
    diags: &mut Diagnostics,
) -> Option<(Target, Secrets)> {
    let (mut settings, secrets, mut failed) = render_settings(doc, output, diags);
    let dialect = take_dialect(doc, output, &mut settings, target_name, diags)?;
    failed |= report_bad_values(doc, output, &settings, target_name, diags);
    if failed {
        return None;
    }
    let schema = take_string(&mut settings, "schema")
        .or_else(|| take_string(&mut settings, "dataset"))
        .unwrap_or_else(|| dialect.default_schema().to_string());
    let database =
        take_string(&mut settings, "database").or_else(|| take_string(&mut settings, "dbname"));
    if let Some(db) = &database {
        settings.insert("dbname".to_string(), db.clone().into());
    }
    let threads = settings
        .shift_remove("threads")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .map_or_else(default_threads, |n| n.max(1) as usize);
    if dialect == Dialect::DuckDb && !settings.contains_key("path") {
        settings.insert(
            "path".to_string(),
            format!("{}/{}.duckdb", req.target_path, req.project_name).into(),
        );
    }
    let target = Target {
        profile: req.profile_name.to_string(),
        name: target_name.to_string(),
        dialect,
        schema,
        database,
        threads,
        settings,
        source: Some(path),
    };
    Some((target, Secrets::new(secrets)))
}

/// Every setting of the output with `env_var()` rendered, the secret values met on the way,
/// and whether any failed to render. All are rendered, so every failure is reported at once.
fn render_settings(
    doc: &Document,
    output: &Yaml,
    diags: &mut Diagnostics,
) -> (IndexMap<String, serde_json::Value>, Vec<String>, bool) {
    let mut secrets = Vec::new();
    let mut settings = IndexMap::new();
    let mut failed = false;
    for (key, node) in output.entries() {
        match render_setting(node, &mut secrets) {
            Ok(value) => {
                // `password: 123456` is a number to YAML, and a secret all the same.
                if is_secret_setting(&key.name) {
                    match &value {
                        serde_json::Value::String(s) => secrets.push(s.clone()),
                        serde_json::Value::Null => {}
                        other => secrets.push(other.to_string()),
                    }
                }
                settings.insert(key.name.clone(), value);
            }
            Err(message) => {
                failed = true;
                diags.push(doc.error_at(node.pos, "profile-env-var", message));
            }
        }
    }
    (settings, secrets, failed)
}

/// The `type:` setting as a dialect, taken out of `settings`. Without a known type nothing
/// else about the target can be checked, so its absence ends the resolution.
fn take_dialect(
    doc: &Document,
    output: &Yaml,
    settings: &mut IndexMap<String, serde_json::Value>,
    target_name: &str,
    diags: &mut Diagnostics,
) -> Option<Dialect> {
    let kind = settings.shift_remove("type");
    match kind
        .as_ref()
        .and_then(|v| v.as_str())
        .map(Dialect::from_type)
    {
        Some(Some(d)) => Some(d),
        other => {
            let pos = output.get("type").map_or(output.pos, |n| n.pos);
            let found = match other {
                Some(None) => format!("'{}'", kind.as_ref().and_then(|v| v.as_str()).unwrap_or("")),
                _ => "nothing".to_string(),
            };
            diags.push(
                doc.error_at(
                    pos,
                    "profile-type",
                    format!("target '{target_name}' has type {found}"),
                )
                .hint("set `type:` to one of duckdb, postgres, redshift"),
            );
            None
        }
    }
}

/// Report each setting whose value cannot be right (see `setting_problem`); true if any.
fn report_bad_values(
    doc: &Document,
    output: &Yaml,
    settings: &IndexMap<String, serde_json::Value>,
    target_name: &str,
    diags: &mut Diagnostics,
) -> bool {
    let mut failed = false;
    for (key, node) in output.entries() {
        let Some(problem) = settings
            .get(&key.name)
            .and_then(|v| setting_problem(&key.name, v))
        else {
            continue;
        };
        failed = true;
        diags.push(doc.error_at(
            node.pos,
            "profile-value",
            format!("`{}` of target '{target_name}' {problem}", key.name),
        ));
    }
    failed
}

/// What is wrong with a setting's value, if its kind cannot be right. Caught here, at its
/// line, because later it would be ignored (`threads: "abc"` ran on the default) or surface
/// only as a refused connection far from the typo.
fn setting_problem(key: &str, value: &serde_json::Value) -> Option<String> {
    let whole = value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()));
    let shown = || match value {
        serde_json::Value::Array(_) => "a list".to_string(),
        serde_json::Value::Object(_) => "a mapping".to_string(),
        other => other.to_string(),
    };
    match key {
        "threads" if whole.is_none_or(|n| n < 1) => Some(format!(
            "must be a whole number of at least 1, not {}",
            shown()
        )),
        "port" if !whole.is_some_and(|n| (1..=65535).contains(&n)) => {
            Some(format!("must be a port number (1-65535), not {}", shown()))
        }
        // Never shown: a password's value must not reach the output, only its kind.
        "host" | "user" | "password" | "dbname" | "database" | "schema" | "dataset" | "path"
        | "role" | "sslmode"
            if value.is_array() || value.is_object() =>
        {
            Some(format!("must be a single value, not {}", shown()))
        }
        _ => None,
    }
}

fn take_string(settings: &mut IndexMap<String, serde_json::Value>, key: &str) -> Option<String> {
    settings.shift_remove(key).and_then(|v| match v {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    })
}

/// Render `{{ env_var('X', 'default') }}` in a profile value. Values read from secret
/// variables are added to `secrets`.
fn render_setting(node: &Yaml, secrets: &mut Vec<String>) -> Result<serde_json::Value, String> {
    let Some(text) = node
        .as_str()
        .filter(|s| s.contains("{{") || s.contains("{%"))
    else {
        return Ok(node.to_json());
    };
    let read = Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let rendered = {
        let sink = read.clone();
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_function("env_var", move |name: String, default: Option<String>| {
            let value = read_env_var(&name, default)?;
            if let Ok(mut read) = sink.lock() {
                read.push((name, value.clone()));
            }
            Ok::<_, minijinja::Error>(value)
        });
        env.render_str(text, minijinja::context! {}).map_err(|e| {
            format!(
                "cannot render profile value: {}",
                e.detail().unwrap_or(&e.to_string())
            )
        })?
    };
    let read = read.lock().map(|r| r.clone()).unwrap_or_default();
    for (name, value) in read {
        if SECRET_ENV_PREFIXES.iter().any(|p| name.starts_with(p)) {
            secrets.push(value);
        }
    }
    // `port: "{{ env_var('PGPORT', '5432') }}"` should be a number, as dbt's `as_number` gives.
    Ok(match rendered.parse::<i64>() {
        Ok(n) if !rendered.starts_with('0') || rendered == "0" => n.into(),
        _ => rendered.into(),
    })
}

/// `env_var(name, default)`: the variable, else the default, else a clear error.
pub fn read_env_var(name: &str, default: Option<String>) -> Result<String, minijinja::Error> {
    match std::env::var(name) {
        Ok(value) => Ok(value),
        Err(_) => default.ok_or_else(|| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!(
                    "environment variable '{name}' is not set and env_var() was given no default"
                ),
            )
        }),
    }
}
