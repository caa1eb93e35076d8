//! Run progress for people: a live bar on a terminal, one line per finished node otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use etlx::compile::Compilation;
use etlx::run::{Event, NodeResult, Reporter, Status};
use indicatif::{ProgressBar, ProgressStyle};

use super::Printer;

pub struct RunReporter<'a> {
    printer: &'a Printer,
    /// unique_id -> (name, materialization, relation)
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
                (
                    n.unique_id.clone(),
                    (
                        n.name.clone(),
                        n.config.materialized().to_string(),
                        n.relation.to_sql(),
                    ),
                )
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

    /// Failures again at the end, in full, where they are easy to find.
    pub fn summary(&self, results: &[NodeResult], _elapsed: f64) {
        for r in results.iter().filter(|r| r.status == Status::Error) {
            let name = self
                .nodes
                .get(&r.unique_id)
                .map_or(r.unique_id.as_str(), |n| n.0.as_str());
            self.printer.error_line(&format!(
                "error in {name}: {}",
                r.message.as_deref().unwrap_or("failed")
            ));
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
        };
        let detail = match (r.status, r.rows_affected) {
            (Status::Success, Some(rows)) => format!("{rows} rows in {:.2}s", r.seconds),
            (Status::Success, None) => format!("in {:.2}s", r.seconds),
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
