//! Run progress for people: a live bar on a terminal, one line per finished node otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use etlx::compile::Compilation;
use etlx::project::ResourceType;
use etlx::run::{Event, NodeResult, Reporter, Status};
use indicatif::{ProgressBar, ProgressStyle};

use super::Printer;

/// Rows as a table for the terminal.
pub fn render_table(table: &etlx::adapter::Table) -> String {
    let mut out = comfy_table::Table::new();
    out.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    out.force_no_tty();
    out.set_header(&table.columns);
    for row in &table.rows {
        out.add_row(row.iter().map(|v| v.as_deref().unwrap_or("NULL")));
    }
    out.to_string()
}

pub struct RunReporter<'a> {
    printer: &'a Printer,
    /// unique_id -> (name, materialization or "test", relation or compiled path)
    nodes: HashMap<String, (String, String, String)>,
    bar: Option<ProgressBar>,
    /// Names of the nodes being built right now, for the bar.
    running: Mutex<Vec<String>>,
}

impl<'a> RunReporter<'a> {
    pub fn new(printer: &'a Printer, c: &Compilation) -> RunReporter<'a> {
        let nodes = c
            .nodes
            .values()
            .map(|n| {
                let (kind, place) = match n.resource_type {
                    ResourceType::Test => (
                        "test".to_string(),
                        n.compiled_path
                            .as_deref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                    ),
                    _ => (n.config.materialized().to_string(), n.relation.to_sql()),
                };
                (n.unique_id.clone(), (n.name.clone(), kind, place))
            })
            .collect();
        let bar = (printer.is_text() && !printer.is_quiet() && std::io::stdout().is_terminal())
            .then(|| {
                let bar = ProgressBar::new(0);
                let style = ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {pos}/{len} {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                bar
            });
        RunReporter {
            printer,
            nodes,
            bar,
            running: Mutex::new(Vec::new()),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Failures again at the end, in full, where they are easy to find: for a test, how many
    /// rows failed, the first of them, and the SQL that finds them.
    pub fn summary(&self, results: &[NodeResult], _elapsed: f64) {
        for r in results
            .iter()
            .filter(|r| r.status.is_failure() || r.status == Status::Warn)
        {
            let (name, _, place) = self
                .nodes
                .get(&r.unique_id)
                .map_or((r.unique_id.as_str(), "", ""), |n| {
                    (n.0.as_str(), n.1.as_str(), n.2.as_str())
                });
            let word = match r.status {
                Status::Warn => "warning in",
                Status::Fail => "failed:",
                _ => "error in",
            };
            let mut text = format!("\n{word} {name}");
            match r.failures {
                Some(n) if r.status != Status::Error => {
                    text.push_str(&format!(
                        ": {n} failing row{}",
                        if n == 1 { "" } else { "s" }
                    ));
                    if let Some(sample) = &r.sample {
                        text.push_str(&format!("\n{}", render_table(sample)));
                    }
                    text.push_str(&format!("\n  compiled SQL: {place}"));
                }
                _ => text.push_str(&format!(": {}", r.message.as_deref().unwrap_or("failed"))),
            }
            if let (Some(_), Some(message)) = (r.failures, &r.message) {
                text.push_str(&format!("\n  {message}"));
            }
            self.printer.error_line(&text);
        }
    }

    fn set_running(&self, bar: &ProgressBar, unique_id: &str, started: bool) {
        let name = self
            .nodes
            .get(unique_id)
            .map_or(unique_id, |n| n.0.as_str())
            .to_string();
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if started {
            running.push(name);
        } else {
            running.retain(|n| *n != name);
        }
        bar.set_message(match running.is_empty() {
            true => String::new(),
            false => format!("running {}", running.join(", ")),
        });
    }

    fn line(&self, r: &NodeResult, index: usize, total: usize) -> String {
        let (name, kind, relation) = self
            .nodes
            .get(&r.unique_id)
            .map(|(n, k, rel)| (n.as_str(), k.as_str(), rel.as_str()))
            .unwrap_or((r.unique_id.as_str(), "", ""));
        let status = match r.status {
            Status::Success => "OK",
            Status::Error => "ERROR",
            Status::Skipped => "SKIP",
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Warn => "WARN",
        };
        let detail = match (r.status, r.rows_affected, r.failures) {
            (Status::Pass, _, _) => format!("in {:.2}s", r.seconds),
            (Status::Fail | Status::Warn, _, Some(n)) => {
                let s = if n == 1 { "" } else { "s" };
                format!("{n} failing row{s} in {:.2}s", r.seconds)
            }
            (Status::Success, Some(rows), _) => format!("{rows} rows in {:.2}s", r.seconds),
            (Status::Success, None, _) => format!("in {:.2}s", r.seconds),
            _ => r
                .message
                .clone()
                .unwrap_or_default()
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        };
        let width = total.to_string().len();
        if kind == "test" {
            return format!(
                "{index:>width$} of {total}  {status:<5} {kind:<11} {name}  [{detail}]"
            );
        }
        format!(
            "{index:>width$} of {total}  {status:<5} {kind:<11} {name} -> {relation}  [{detail}]"
        )
    }
}

impl Reporter for RunReporter<'_> {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Started {
                unique_id, total, ..
            } => {
                if let Some(bar) = &self.bar {
                    bar.set_length(total as u64);
                    self.set_running(bar, unique_id, true);
                }
            }
            Event::Finished {
                result,
                index,
                total,
            } => {
                if !self.printer.is_text() {
                    self.printer.json(serde_json::json!({
                        "event": "node_finished",
                        "unique_id": result.unique_id,
                        "status": result.status,
                        "rows_affected": result.rows_affected,
                        "execution_time": result.seconds,
                        "message": result.message,
                    }));
                    return;
                }
                let line = self.line(result, index, total);
                match &self.bar {
                    Some(bar) => {
                        self.set_running(bar, &result.unique_id, false);
                        bar.set_position(index as u64);
                        bar.println(line);
                    }
                    None => self.printer.info("node_finished", &line),
                }
            }
        }
    }
}
