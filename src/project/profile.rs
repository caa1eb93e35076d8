//! `profiles.yml`: where a project runs.
//!
//! Profiles hold connection settings and passwords, so this module also owns the redaction list:
//! every value that came from a secret setting or a secret environment variable is registered
//! here, and everything etlx prints or writes passes through `Secrets::redact`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use serde::Serialize;

use super::yaml::{Document, Node};
use crate::diag::{Diagnostic, Diagnostics};
use crate::sql::Dialect;

/// Settings whose values are never shown.
const SECRET_SETTINGS: &[&str] = &[
    "password",
    "pass",
    "secret",
    "token",
    "aws_secret_access_key",
    "aws_session_token",
    "private_key",
    "private_key_passphrase",
];

/// Environment variables with these prefixes are secrets wherever they are read.
pub const SECRET_ENV_PREFIXES: &[&str] = &["ETLX_ENV_SECRET_", "DBT_ENV_SECRET_"];

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

fn is_secret_setting(key: &str) -> bool {
    SECRET_SETTINGS.contains(&key.to_ascii_lowercase().as_str())
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

/// Values that must never appear in output. Every path out (the printer, the artifacts, the
/// compiled SQL, the SQL log) redacts raw text, before any escaping: a JSON-escaped `a"b`
/// no longer contains `a"b`.
#[derive(Clone, Default)]
pub struct Secrets(Arc<Vec<String>>);

/// Secrets this short are redacted only as whole words: `ab` as a password must not leak,
/// but neither should every `ab` inside other words turn into `****`.
const SHORT_SECRET: usize = 4;

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} values)", self.0.len())
    }
}

impl Secrets {
    /// The given values, and those of every secret environment variable: a model or macro
    /// may read those with `env_var()`, and dbt scrubs them everywhere too.
    pub fn new(mut values: Vec<String>) -> Self {
        values.extend(std::env::vars_os().filter_map(|(name, value)| {
            let name = name.to_str()?;
            SECRET_ENV_PREFIXES
                .iter()
                .any(|p| name.starts_with(p))
                .then(|| value.into_string().ok())?
        }));
        values.retain(|v| !v.is_empty());
        // Longest first, so a secret that contains another is redacted whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Secrets(Arc::new(values))
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in self.0.iter() {
            if !out.contains(secret.as_str()) {
                continue;
            }
            out = if secret.chars().count() >= SHORT_SECRET {
                out.replace(secret.as_str(), "****")
            } else {
                replace_word(&out, secret)
            };
        }
        out
    }

    /// Every string in a JSON value redacted, keys included, before it is serialized.
    pub fn redact_json(&self, value: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        if self.is_empty() {
            return value;
        }
        match value {
            Value::String(s) => Value::String(self.redact(&s)),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| self.redact_json(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (self.redact(&k), self.redact_json(v)))
                    .collect(),
            ),
            other => other,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Where to look for profiles.yml, in order.
pub fn search_dirs(explicit: Option<&Path>, project_root: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = explicit {
        dirs.push(dir.to_path_buf());
    }
    dirs.push(project_root.to_path_buf());
    if let Some(home) = std::env::var_os("HOME") {
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
                .note(format!(
                    "looked in: {}",
                    dirs.iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
            return None;
        }
        target.threads = target.threads.max(1);
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
    let Some(profile) = doc.root.get(req.profile_name) else {
        let names: Vec<&str> = doc
            .root
            .entries()
            .iter()
            .map(|(k, _)| k.name.as_str())
            .collect();
        let mut d = doc.error_at(
            doc.root.pos,
            "profile-not-found",
            format!(
                "profile '{}' is not defined in profiles.yml",
                req.profile_name
            ),
        );
        if let Some(close) = crate::diag::closest(req.profile_name, names.iter().copied()) {
            d = d.hint(format!(
                "did you mean '{close}'? (`profile:` in the project file)"
            ));
        }
        diags.push(d.note(format!("profiles defined: {}", names.join(", "))));
        return None;
    };
    let default_target = profile.get("target").and_then(Node::as_str);
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

fn build_target(
    doc: &Document,
    output: &Node,
    req: &ProfileRequest,
    target_name: &str,
    path: PathBuf,
    diags: &mut Diagnostics,
) -> Option<(Target, Secrets)> {
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
    let kind = settings.shift_remove("type");
    let dialect = match kind
        .as_ref()
        .and_then(|v| v.as_str())
        .map(Dialect::from_type)
    {
        Some(Some(d)) => d,
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
            return None;
        }
    };
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
fn render_setting(node: &Node, secrets: &mut Vec<String>) -> Result<serde_json::Value, String> {
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

/// `text` with whole-word occurrences of `word` replaced: not inside a longer word.
fn replace_word(text: &str, word: &str) -> String {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(word) {
        let before = rest[..i].chars().last().or_else(|| out.chars().last());
        let after = rest[i + word.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_some_and(is_word) || after.is_some_and(is_word) {
            out.push_str(word);
        } else {
            out.push_str("****");
        }
        rest = &rest[i + word.len()..];
    }
    out.push_str(rest);
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_digit_and_quoted_secrets_are_redacted() {
        let s = Secrets::new(vec!["ab".into(), "123456".into(), "p\"w\\x".into()]);
        assert_eq!(
            s.redact("user=ab pw=ab; tab cab ab"),
            "user=**** pw=****; tab cab ****"
        );
        assert_eq!(s.redact("pin 123456!"), "pin ****!");
        let json = serde_json::json!({"message": "failed with p\"w\\x", "ab": ["ab"]});
        let out = s.redact_json(json).to_string();
        assert!(!out.contains("p\\\"w") && !out.contains("\"ab\""), "{out}");
        assert_eq!(format!("{s:?}"), "Secrets(3 values)");
    }

    #[test]
    fn redacts_every_occurrence() {
        // A one-letter secret is redacted too, as a whole word (it used to leak).
        let s = Secrets::new(vec!["hunter2".into(), "x".into()]);
        assert_eq!(
            s.redact("pw=hunter2; again hunter2; x; xyz"),
            "pw=****; again ****; ****; xyz"
        );
    }
}
