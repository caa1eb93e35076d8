//! `run`, `seed`, `test`, `build` and `retry`: compile what is selected, then build it over
//! the DAG in the target, reporting progress as it goes.

use std::path::Path;
use std::time::Instant;

use etlx::artifacts::{PreviousRun, RunArgs};
use etlx::execute::{RunOptions, Tally};
use etlx::project::ResourceType;

use super::{Global, Outcome, Printer, Selection, compile_and_report, load, selection_options};
use crate::cli::ExecArgs;
use crate::cli::reporter::RunReporter;

/// The building commands, each with the kinds of node it runs.
#[derive(Debug, Clone, Copy)]
pub(super) enum Verb {
    Run,
    Seed,
    Snapshot,
    Test,
    Build,
}

impl Verb {
    fn name(self) -> &'static str {
        match self {
            Verb::Run => "run",
            Verb::Seed => "seed",
            Verb::Snapshot => "snapshot",
            Verb::Test => "test",
            Verb::Build => "build",
        }
    }

    fn kinds(self) -> &'static [ResourceType] {
        match self {
            Verb::Run => &[ResourceType::Model],
            Verb::Seed => &[ResourceType::Seed],
            Verb::Snapshot => &[ResourceType::Snapshot],
            Verb::Test => &[ResourceType::Test, ResourceType::UnitTest],
            Verb::Build => &[
                ResourceType::Seed,
                ResourceType::Model,
                ResourceType::Snapshot,
                ResourceType::Test,
                ResourceType::UnitTest,
            ],
        }
    }
}

/// `etlx run`, `seed`, `test` or `build`.
pub(super) fn verb(
    verb: Verb,
    global: &Global,
    selection: &Selection,
    exec: &ExecArgs,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let invocation = Invocation::new(verb.name(), selection, exec, verb.kinds());
    execute(global, invocation, printer)
}

/// `etlx build --every <interval>`: a build at each tick until Ctrl-C. A failed build does
/// not stop the loop (the next one retries what is pending); an interrupted one does. Ticks
/// are kept on a fixed rate, and a build longer than the interval is followed at once.
pub(super) fn every(
    interval: std::time::Duration,
    global: &Global,
    selection: &Selection,
    exec: &ExecArgs,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let mut next = Instant::now();
    loop {
        let outcome = verb(Verb::Build, global, selection, exec, printer)?;
        if matches!(outcome, Outcome::Interrupted | Outcome::Invalid) {
            return Ok(outcome);
        }
        next += interval;
        let now = Instant::now();
        if next < now {
            next = now;
        }
        let at = chrono::Local::now() + (next - now);
        printer.info(
            "summary",
            &format!(
                "Next build at {} (every {}s; Ctrl-C to stop)",
                at.format("%H:%M:%S"),
                interval.as_secs()
            ),
        );
        std::thread::sleep(next - now);
    }
}

/// What a building command was asked: its verb, selection, flags and the kinds it runs.
struct Invocation<'a> {
    verb: &'a str,
    selection: &'a Selection,
    exec: &'a ExecArgs,
    kinds: &'a [ResourceType],
    /// `retry`: the failed batches of the microbatch models that partly succeeded.
    retry_batches: std::collections::HashMap<String, Vec<(String, String)>>,
}

impl<'a> Invocation<'a> {
    fn new(
        verb: &'a str,
        selection: &'a Selection,
        exec: &'a ExecArgs,
        kinds: &'a [ResourceType],
    ) -> Invocation<'a> {
        Invocation {
            verb,
            selection,
            exec,
            kinds,
            retry_batches: Default::default(),
        }
    }
}

/// Compile what is selected, then build it over the DAG and write `run_results.json`.
fn execute(global: &Global, inv: Invocation, printer: &Printer) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let Invocation {
        verb,
        selection,
        exec,
        kinds,
        ref retry_batches,
    } = inv;
    let mut opts = selection_options(selection, true)?;
    opts.resource_types = selection.resource_types(kinds)?;
    opts.full_refresh = exec.full_refresh;
    let threads = exec.threads.unwrap_or(project.target.threads).max(1);
    let mut warehouse = etlx::execute::open_for_run(&project, verb, threads, &mut opts)?;
    let Some(c) = compile_and_report(&project, &opts, printer, "run")? else {
        return Ok(Outcome::Invalid);
    };
    warehouse.require(&project, &c)?;
    let event_time = exec.event_time_start.zip(exec.event_time_end);
    if let Some((start, end)) = event_time
        && start >= end
    {
        anyhow::bail!("--event-time-start ({start}) must be before --event-time-end ({end})");
    }
    let run_opts = RunOptions {
        catalog: std::mem::take(&mut warehouse.catalog),
        threads,
        fail_fast: exec.fail_fast,
        full_refresh: exec.full_refresh,
        event_time,
        retry_batches: retry_batches
            .iter()
            .map(|(id, pairs)| (id.clone(), etlx::execute::microbatch::parse_batches(pairs)))
            .collect(),
        skip_unchanged: exec.skip_unchanged,
    };
    let reporter = RunReporter::new(printer, &project, &c);
    let adapter = warehouse.adapter.as_ref();
    let results = etlx::execute::execute(&project, &c, adapter, &run_opts, &reporter);
    reporter.finish();
    let elapsed = started.elapsed().as_secs_f64();
    let args = RunArgs {
        which: verb.to_string(),
        select: selection.select.clone(),
        exclude: selection.exclude_terms(),
        full_refresh: exec.full_refresh,
        threads,
        vars: super::vars(global)?,
        target: project.target.name.clone(),
    };
    let path = etlx::artifacts::write_run_results(&project, &c, &results, elapsed, &args)?;
    reporter.summary(&results, elapsed);
    Ok(summarize(printer, &Tally::of(&results), elapsed, &path))
}

/// `etlx clone`: the selected relations of the `--state` run's target, here.
pub(super) fn clone(
    global: &Global,
    selection: &Selection,
    full_refresh: bool,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let mut opts = selection_options(selection, true)?;
    let Some(state) = opts.state.clone() else {
        anyhow::bail!(
            "clone needs --state <dir>: the target/ directory of the run whose relations to clone"
        );
    };
    opts.resource_types = selection.resource_types(&[
        ResourceType::Model,
        ResourceType::Seed,
        ResourceType::Snapshot,
    ])?;
    let mut warehouse = etlx::execute::open_for_run(&project, "clone", 1, &mut opts)?;
    let Some(c) = compile_and_report(&project, &opts, printer, "cloned")? else {
        return Ok(Outcome::Invalid);
    };
    warehouse.require(&project, &c)?;
    let reporter = RunReporter::new(printer, &project, &c);
    let run = etlx::execute::clone::CloneRun {
        project: &project,
        c: &c,
        state: &state,
        catalog: &warehouse.catalog,
        full_refresh,
    };
    let results = etlx::execute::clone::clone(&run, warehouse.adapter.as_ref(), &reporter);
    reporter.finish();
    let elapsed = started.elapsed().as_secs_f64();
    let args = RunArgs {
        which: "clone".to_string(),
        select: selection.select.clone(),
        exclude: selection.exclude_terms(),
        full_refresh,
        threads: 1,
        vars: super::vars(global)?,
        target: project.target.name.clone(),
    };
    let path = etlx::artifacts::write_run_results(&project, &c, &results, elapsed, &args)?;
    reporter.summary(&results, elapsed);
    Ok(summarize(printer, &Tally::of(&results), elapsed, &path))
}

/// The last line of a run, and how it ended.
fn summarize(printer: &Printer, tally: &Tally, elapsed: f64, results: &Path) -> Outcome {
    let Tally {
        ok,
        warned,
        reused,
        failed,
        skipped,
        total,
    } = *tally;
    if let Some(signal) = etlx::cancel::reason() {
        printer.info(
            "summary",
            &format!(
                "Interrupted by {signal} after {elapsed:.2}s: {ok} ok, {failed} failed or cancelled, {skipped} not started; results in {}",
                results.display()
            ),
        );
        return Outcome::Interrupted;
    }
    let warned_text = match warned {
        0 => String::new(),
        n => format!(", {n} warned"),
    };
    let reused_text = match reused {
        0 => String::new(),
        n => format!(", {n} reused"),
    };
    let text = format!(
        "Done in {elapsed:.2}s: {ok} ok{warned_text}{reused_text}, {failed} failed, {skipped} skipped, {total} total"
    );
    match printer.is_text() {
        true => printer.info("summary", &text),
        false => printer.json(serde_json::json!({
            "event": "summary",
            "message": text,
            "elapsed": elapsed,
            "ok": ok,
            "warned": warned,
            "reused": reused,
            "failed": failed,
            "skipped": skipped,
            "total": total,
        })),
    }
    if failed > 0 {
        Outcome::Failed
    } else {
        Outcome::Success
    }
}

/// The previous run's failed and skipped nodes, selected by unique id's last part, run
/// with the previous run's vars, target and `--full-refresh` (flags given now win).
pub(super) fn retry(
    global: &Global,
    exec: &ExecArgs,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    // Loaded once quietly to find the target path; the retry loads again with the vars.
    let (project, _) = etlx::project::load(&super::load_options(global)?)?;
    let Some(project) = project else {
        let nothing = Selection::default();
        return execute(
            global,
            Invocation::new("retry", &nothing, exec, Verb::Build.kinds()),
            printer,
        );
    };
    let previous = PreviousRun::read(&project)?;
    if previous.names.is_empty() {
        let nothing = "Nothing to retry: the previous run had no failures";
        printer.info("summary", nothing);
        return Ok(Outcome::Success);
    }
    let selection = Selection {
        select: vec![previous.names.join(" ")],
        ..Selection::default()
    };
    let mut replayed = global.clone();
    if replayed.vars.is_none() {
        replayed.vars = previous
            .vars
            .map(|v| serde_json::Value::Object(v).to_string());
    }
    if replayed.target.is_none() {
        replayed.target = previous.target;
    }
    let mut exec = exec.clone();
    exec.full_refresh |= previous.full_refresh;
    let mut invocation = Invocation::new("retry", &selection, &exec, Verb::Build.kinds());
    invocation.retry_batches = previous.failed_batches;
    execute(&replayed, invocation, printer)
}
