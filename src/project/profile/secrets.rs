//! Redaction of secrets, kept beside the profile because that is where secrets enter: a
//! setting named like a password, or a secret environment variable read by `env_var()`. The
//! rules for what counts as a secret and how a found one is hidden live in one place, so the
//! printer, the artifacts and the SQL log cannot disagree about them.

use std::sync::Arc;

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

pub(super) fn is_secret_setting(key: &str) -> bool {
    SECRET_SETTINGS.contains(&key.to_ascii_lowercase().as_str())
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
