//! `run-operation`: render a call of a macro against the target; its queries run as it
//! renders, and what it logs is printed.

use etlx::compile::{CompileOptions, Task};

use super::{Global, Outcome, Printer, load, parse_mapping};

pub(super) fn run_operation(
    global: &Global,
    name: &str,
    args: Option<&str>,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let args = match args {
        Some(text) => parse_mapping("--args", text)?,
        None => Default::default(),
    };
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let adapter = etlx::adapter::open(&project, project.target.threads)?;
    let mut opts = CompileOptions {
        render: true,
        task: Some(Task::Operation {
            name: name.to_string(),
            args,
        }),
        ..CompileOptions::default()
    };
    opts.connect(adapter.as_ref())?;
    let c = etlx::compile::compile(&project, &opts);
    printer.diagnostics(c.diagnostics.iter());
    // No such macro is a usage error (2); a macro that fails as it runs is a failure (1).
    if c.diagnostics.iter().any(|d| d.code == "unknown-macro") {
        return Ok(Outcome::Invalid);
    }
    if c.has_errors() {
        return Ok(Outcome::Failed);
    }
    let output = c.task_output.unwrap_or_default();
    if !output.trim().is_empty() {
        printer.result(output.trim());
    }
    printer.info("summary", &format!("Ran operation {name}"));
    Ok(Outcome::Success)
}
