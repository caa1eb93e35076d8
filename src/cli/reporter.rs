//! Run progress for people: a live bar on a terminal, one line per finished node otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use etlx::compile::Compilation;
use etlx::execute::{Event, NodeResult, Reporter, Status};
use etlx::project::{Project, ResourceType};
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

/// What the reporter says about a node.
struct Shown {
    name: String,
    /// The materialization, `test` or `unit test`.
    kind: String,
    /// The relation built, or the compiled SQL of a test.
    place: String,
    /// Tests: `model stg_events, column user_id`.
    tested: Option<String>,
    /// Tests declared in YAML: the entry, where a fix goes (`[models/schema.yml:12:11]`).
    declared: Option<String>,
}

/// What a singular test reads: `reads model a, source l.events`.
fn reads(n: &etlx::compile::CompiledNode) -> Option<String> {
    if n.resource_type != ResourceType::Test || n.depends_on.is_empty() {
        return None;
    }
    let names: Vec<String> = n
        .depends_on
        .iter()
        .map(|id| {
            let mut parts = id.splitn(3, '.');
            let kind = parts.next().unwrap_or_default();
            let _project = parts.next();
            format!("{kind} {}", parts.next().unwrap_or_default())
        })
        .collect();
    Some(format!("reads {}", names.join(", ")))
}

pub struct RunReporter<'a> {
    printer: &'a Printer,
    nodes: HashMap<String, Shown>,
    bar: Option<ProgressBar>,
    /// Names of the nodes being built right now, for the bar.
    running: Mutex<Vec<String>>,
}

impl<'a> RunReporter<'a> {
    pub fn new(printer: &'a Printer, project: &Project, c: &Compilation) -> RunReporter<'a> {
        // Landing files loaded into a server warehouse show as `load` lines, S3 landing data
        // mirrored locally as `mirror` lines.
        let file_sources = project
            .sources
            .values()
            .filter(|s| c.source_readers.contains_key(&s.unique_id));
        let loads = file_sources.clone().map(|s| {
            let shown = Shown {
                name: format!("{}.{}", s.source_name, s.name),
                kind: "load".to_string(),
                place: etlx::compile::source_relation(project.target.dialect, s).to_sql(),
                tested: None,
                declared: None,
            };
            (s.unique_id.clone(), shown)
        });
        let mirrors = file_sources.filter_map(|s| {
            let location = c.source_locations.get(&s.unique_id)?;
            let rest = location.strip_prefix("s3://")?;
            let shown = Shown {
                name: location.clone(),
                kind: "mirror".to_string(),
                place: format!("{}/{rest}", etlx::compile::s3_cache_dir(project)),
                tested: None,
                declared: None,
            };
            Some((etlx::execute::prepare::mirror_id(s), shown))
        });
        let nodes = c
            .nodes
            .values()
            .map(|n| {
                let compiled = || {
                    n.compiled_path
                        .as_deref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                };
                let (kind, place) = match n.resource_type {
                    ResourceType::Test => ("test".to_string(), compiled()),
                    ResourceType::UnitTest => ("unit test".to_string(), compiled()),
                    _ => (n.config.materialized().to_string(), n.relation.to_sql()),
                };
                let of_test = project
                    .nodes
                    .get(&n.unique_id)
                    .and_then(|node| node.tested.as_ref());
                let declared = of_test.and_then(|t| t.declared_at.as_ref()).map(|at| {
                    let (line, col) = at.line_col();
                    format!("[{}:{line}:{col}]", etlx::diag::display_path(&at.file))
                });
                let shown = Shown {
                    name: n.name.clone(),
                    kind,
                    place,
                    tested: of_test.map(ToString::to_string).or_else(|| reads(n)),
                    declared,
                };
                (n.unique_id.clone(), shown)
            })
            .chain(loads)
            .chain(mirrors)
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
        // Machines have had every failure as its node's event already.
        if !self.printer.is_text() {
            return;
        }
        let not_built = |r: &NodeResult| {
            r.message
                .as_deref()
                .and_then(|m| m.strip_prefix(etlx::execute::NOT_BUILT))
                .map(str::to_string)
        };
        for r in results
            .iter()
            .filter(|r| r.status.is_failure() || r.status == Status::Warn)
            .filter(|r| not_built(r).is_none())
        {
            let shown = self.nodes.get(&r.unique_id);
            let name = shown.map_or(r.unique_id.as_str(), |s| s.name.as_str());
            let place = shown.map_or("", |s| s.place.as_str());
            let unit = shown.is_some_and(|s| s.kind == "unit test");
            let word = match r.status {
                Status::Warn => "warning in",
                Status::Fail => "failed:",
                _ => "error in",
            };
            let mut text = format!("\n{word} {name}");
            if let Some(tested) = shown.and_then(|s| s.tested.as_deref()) {
                text.push_str(&format!(" ({tested})"));
            }
            match r.failures {
                Some(n) if r.status != Status::Error => {
                    let rows = if n == 1 { "row" } else { "rows" };
                    text.push_str(&match unit {
                        true => format!(": {n} {rows} differ from the expected rows"),
                        false => format!(": {n} failing {rows}"),
                    });
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
            if let Some(declared) = shown.and_then(|s| s.declared.as_deref()) {
                text.push_str(&format!("\n  declared at {declared}"));
            }
            self.printer.error_line(&text);
        }
        let mut missing: Vec<String> = results.iter().filter_map(not_built).collect();
        if !missing.is_empty() {
            let tests = missing.len();
            missing.sort();
            missing.dedup();
            let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
            let more = match missing.len() > shown.len() {
                true => format!(", ... ({} relations in all)", missing.len()),
                false => String::new(),
            };
            self.printer.error_line(&format!(
                "\n{tests} test{} not run: the relations they test do not exist yet ({}{more})\n  build them first: `etlx build` builds and tests in one run",
                if tests == 1 { " was" } else { "s were" },
                shown.join(", ")
            ));
        }
    }

    fn set_running(&self, bar: &ProgressBar, unique_id: &str, started: bool) {
        let name = self
            .nodes
            .get(unique_id)
            .map_or(unique_id, |n| n.name.as_str())
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
            .map(|s| (s.name.as_str(), s.kind.as_str(), s.place.as_str()))
            .unwrap_or((r.unique_id.as_str(), "", ""));
        let status = match r.status {
            Status::Success => "OK",
            Status::Error => "ERROR",
            Status::Skipped => "SKIP",
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Warn => "WARN",
            Status::PartialSuccess => "PARTIAL",
            Status::Reused => "REUSED",
        };
        let detail = match (r.status, r.rows_affected, r.failures) {
            (Status::Pass, _, _) => format!("in {:.2}s", r.seconds),
            (Status::Fail | Status::Warn, _, Some(n)) => {
                let rows = if n == 1 { "row" } else { "rows" };
                let what = if kind == "unit test" {
                    "differing"
                } else {
                    "failing"
                };
                format!("{n} {what} {rows} in {:.2}s", r.seconds)
            }
            (Status::Success, Some(rows), _) => format!("{rows} rows in {:.2}s", r.seconds),
            (Status::Success, None, _) => match &r.message {
                Some(m) => format!("{m} in {:.2}s", r.seconds),
                None => format!("in {:.2}s", r.seconds),
            },
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
        if kind.ends_with("test") {
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
