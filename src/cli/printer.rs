//! Everything etlx prints goes through here: diagnostics, progress lines, results.
//!
//! Text for people (colour only on a terminal, never when NO_COLOR is set), or one JSON object
//! per line with `--log-format json` for machines. Secrets are redacted on the way out.

use std::io::{IsTerminal, Write};

use etlx::diag::{self, Diagnostic, RenderStyle};
use etlx::project::Secrets;

use super::{Global, LogFormat};

pub struct Printer {
    format: LogFormat,
    quiet: bool,
    style: RenderStyle,
    secrets: std::sync::RwLock<Secrets>,
}

impl Printer {
    pub fn new(global: &Global) -> Printer {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(100);
        Printer {
            format: global.log_format,
            quiet: global.quiet,
            style: RenderStyle { color, width },
            secrets: std::sync::RwLock::new(Secrets::default()),
        }
    }

    /// Secrets learnt from the profile; redacted from everything printed afterwards.
    pub fn set_secrets(&self, secrets: Secrets) {
        if let Ok(mut s) = self.secrets.write() {
            *s = secrets;
        }
    }

    fn redact(&self, text: &str) -> String {
        self.secrets
            .read()
            .map_or_else(|_| text.to_string(), |s| s.redact(text))
    }

    /// Strings are redacted inside the value, before JSON escaping could disguise a secret.
    fn redact_json(&self, value: serde_json::Value) -> serde_json::Value {
        match self.secrets.read() {
            Ok(s) => s.redact_json(value),
            Err(_) => value,
        }
    }

    pub fn diagnostic(&self, d: &Diagnostic) {
        if self.quiet && !d.is_error() {
            return;
        }
        match self.format {
            LogFormat::Text => {
                let text = diag::render(d, self.style);
                let _ = write!(std::io::stderr(), "{}", self.redact(&text));
            }
            LogFormat::Json => {
                let mut event = diag::to_json(d);
                event["event"] = "diagnostic".into();
                self.json(event);
            }
        }
    }

    pub fn diagnostics<'a>(&self, ds: impl IntoIterator<Item = &'a Diagnostic>) {
        for d in ds {
            self.diagnostic(d);
        }
    }

    /// A line of normal output (suppressed by --quiet).
    pub fn info(&self, event: &str, text: &str) {
        if self.quiet {
            return;
        }
        match self.format {
            LogFormat::Text => {
                let _ = writeln!(std::io::stdout(), "{}", self.redact(text));
            }
            LogFormat::Json => self.json(serde_json::json!({"event": event, "message": text})),
        }
    }

    /// Output that is the point of the command (`ls`), printed even with --quiet; with
    /// `--log-format json`, one `result` event per line of it.
    pub fn result(&self, text: &str) {
        match self.format {
            LogFormat::Text => {
                let _ = writeln!(std::io::stdout(), "{}", self.redact(text));
            }
            LogFormat::Json => {
                for line in text.lines() {
                    self.json(serde_json::json!({"event": "result", "message": line}));
                }
            }
        }
    }

    pub fn json(&self, value: serde_json::Value) {
        let _ = writeln!(std::io::stdout(), "{}", self.redact_json(value));
    }

    pub fn is_text(&self) -> bool {
        self.format == LogFormat::Text
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// A line about a failure: on stderr, shown even with --quiet.
    pub fn error_line(&self, text: &str) {
        match self.format {
            LogFormat::Text => {
                let _ = writeln!(std::io::stderr(), "{}", self.redact(text));
            }
            LogFormat::Json => self.json(serde_json::json!({"event": "error", "message": text})),
        }
    }

    pub fn fatal(&self, err: &anyhow::Error) {
        match self.format {
            LogFormat::Text => {
                let _ = writeln!(
                    std::io::stderr(),
                    "error: {}",
                    self.redact(&format!("{err:#}"))
                );
            }
            LogFormat::Json => {
                self.json(serde_json::json!({"event": "error", "message": format!("{err:#}")}))
            }
        }
    }
}
