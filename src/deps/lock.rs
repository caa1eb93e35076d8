//! `package-lock.yml`: the exact packages `etlx deps` installed, so the next install (a
//! colleague's, CI's) gets the same code.
//!
//! The file is dbt's: the same entries and the same `sha1_hash` of the declared packages
//! (dbt's recipe: each entry as Python's `json.dumps(..., sort_keys=True)` of dbt's package
//! record, sorted, joined by newlines, SHA-1). A lock whose hash matches what `packages.yml`
//! declares is installed as it is; one that does not (packages.yml changed) is resolved
//! again, as dbt does, and so is any with `etlx deps --upgrade`.

use std::path::Path;
use std::sync::Arc;

use sha1::Digest;

use super::{DepsError, Installed, io};
use crate::project::packages::PackageSpec;
use crate::project::yaml::{Document, Yaml};

pub const LOCK_FILE: &str = "package-lock.yml";

/// What a lock file says: the packages to install, and the hash of what was declared.
#[derive(Debug, Clone, PartialEq)]
pub struct Lock {
    pub packages: Vec<PackageSpec>,
    pub sha1_hash: String,
}

/// dbt's hash of the packages `root` declares; `None` without a packages file.
pub fn declared_hash(root: &Path) -> Option<String> {
    let (_, doc) = crate::project::packages::declaration(root)?;
    let entries: Vec<String> = doc
        .root
        .get("packages")?
        .items()
        .iter()
        .map(|entry| python_json(&dbt_record(&entry.to_json())))
        .collect();
    Some(sha1_of(entries))
}

fn sha1_of(mut entries: Vec<String>) -> String {
    entries.sort();
    hex::encode(sha1::Sha1::digest(entries.join("\n").as_bytes()))
}

/// The record dbt keeps of one `packages.yml` entry (its fields with their defaults, and the
/// entry as written under `unrendered`).
fn dbt_record(raw: &serde_json::Value) -> serde_json::Value {
    use serde_json::{Value, json};
    let field = |key: &str| raw.get(key).cloned().unwrap_or(Value::Null);
    let mut record = if raw.get("local").is_some() {
        json!({"local": field("local")})
    } else if raw.get("git").is_some() {
        json!({
            "git": field("git"),
            "revision": field("revision"),
            "subdirectory": field("subdirectory"),
            "warn-unpinned": field("warn-unpinned"),
        })
    } else {
        json!({
            "package": field("package"),
            "version": field("version"),
            "install_prerelease": raw.get("install_prerelease").cloned().unwrap_or(Value::Bool(false)),
        })
    };
    if let (Some(map), Some(name)) = (record.as_object_mut(), raw.get("name")) {
        map.insert("name".into(), name.clone());
    }
    if let Some(map) = record.as_object_mut() {
        map.insert("unrendered".into(), raw.clone());
    }
    record
}

/// `json.dumps(value, sort_keys=True)` as Python writes it: `{"a": 1, "b": [1, 2]}`, non-ASCII
/// escaped.
fn python_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => python_string(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_json).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}: {}", python_string(k), python_json(&map[*k])))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

fn python_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || !c.is_ascii() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The lock file of `root`, if there is one that reads.
pub fn read(root: &Path) -> Option<Lock> {
    let text = std::fs::read_to_string(root.join(LOCK_FILE)).ok()?;
    let doc = Document::parse(Path::new(LOCK_FILE), Arc::from(text)).ok()?;
    let text_of = |entry: &Yaml, key: &str| entry.get(key).and_then(Yaml::as_scalar_string);
    let packages = doc
        .root
        .get("packages")?
        .items()
        .iter()
        .filter_map(|entry| {
            if let Some(path) = text_of(entry, "local") {
                return Some(PackageSpec::Local { path });
            }
            if let Some(url) = text_of(entry, "git") {
                return Some(PackageSpec::Git {
                    url,
                    revision: text_of(entry, "revision"),
                    subdirectory: text_of(entry, "subdirectory"),
                });
            }
            Some(PackageSpec::Hub {
                package: text_of(entry, "package")?,
                version: text_of(entry, "version")?,
                prerelease: true,
            })
        })
        .collect();
    Some(Lock {
        packages,
        sha1_hash: doc
            .root
            .get("sha1_hash")
            .and_then(Yaml::as_scalar_string)
            .unwrap_or_default(),
    })
}

/// Write the lock of what was installed, pinned: git at the commit it was at, hub packages
/// at their version.
pub fn write(root: &Path, installed: &[Installed], sha1_hash: &str) -> Result<(), DepsError> {
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    let mut text = String::from("packages:\n");
    for package in installed {
        match &package.pinned {
            PackageSpec::Local { path } => text.push_str(&format!("  - local: {}\n", quote(path))),
            PackageSpec::Git {
                url,
                revision,
                subdirectory,
            } => {
                text.push_str(&format!("  - git: {}\n", quote(url)));
                if let Some(revision) = revision {
                    text.push_str(&format!("    revision: {}\n", quote(revision)));
                }
                if let Some(sub) = subdirectory {
                    text.push_str(&format!("    subdirectory: {}\n", quote(sub)));
                }
            }
            PackageSpec::Hub {
                package, version, ..
            } => {
                text.push_str(&format!("  - package: {}\n", quote(package)));
                text.push_str(&format!("    version: {}\n", quote(version)));
            }
        }
        text.push_str(&format!("    name: {}\n", quote(&package.name)));
    }
    text.push_str(&format!("sha1_hash: {sha1_hash}\n"));
    let path = root.join(LOCK_FILE);
    std::fs::write(&path, text).map_err(io("write", &path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hashes dbt-core 1.12 computes for these entries (`_create_sha1_hash` in dbt's
    /// deps task), so a lock file written by dbt is honoured and one written here is
    /// honoured by dbt.
    #[test]
    fn the_hash_of_declared_packages_is_dbt_s() {
        let entries = [
            serde_json::json!({"local": "/tmp/w/pkgs/dbt_utils"}),
            serde_json::json!({"local": "/tmp/w/pkgs/dbt_date"}),
        ];
        let lines = entries
            .iter()
            .map(|e| python_json(&dbt_record(e)))
            .collect();
        assert_eq!(sha1_of(lines), "cb5e455f2fccd19c250e8adb0c3522602bb67c09");
        let git = serde_json::json!({"git": "https://x/ü.git"});
        assert_eq!(
            python_json(&dbt_record(&git)),
            r#"{"git": "https://x/\u00fc.git", "revision": null, "subdirectory": null, "unrendered": {"git": "https://x/\u00fc.git"}, "warn-unpinned": null}"#
        );
        let hub = serde_json::json!({"package": "a/b", "version": [">=1.0.0", "<2.0.0"]});
        assert_eq!(
            python_json(&dbt_record(&hub)),
            r#"{"install_prerelease": false, "package": "a/b", "unrendered": {"package": "a/b", "version": [">=1.0.0", "<2.0.0"]}, "version": [">=1.0.0", "<2.0.0"]}"#
        );
    }
}
