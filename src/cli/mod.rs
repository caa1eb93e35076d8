//! Command-line arguments and dispatch.
//!
//! This is the only layer that knows about terminals, exit codes and `anyhow`: each command
//! calls into the library, hands what comes back to the `Printer`, and maps the outcome to an
//! exit code (0 success, 1 a model or test failed, 2 a usage or project error).

mod commands;
mod printer;
mod reporter;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use printer::Printer;

#[derive(Debug, Parser)]
#[command(
    name = "etlx",
    version,
    about = "SQL-first transformations: dbt's workflow, DuckDB locally, Redshift in production"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Project directory (default: the nearest directory upwards with a project file).
    #[arg(long, global = true, env = "ETLX_PROJECT_DIR")]
    pub project_dir: Option<PathBuf>,
    /// Directory holding profiles.yml (default: DBT_PROFILES_DIR, the project directory,
    /// then ~/.dbt).
    #[arg(long, global = true, env = "ETLX_PROFILES_DIR")]
    pub profiles_dir: Option<PathBuf>,
    /// Target (output) of the profile to use.
    #[arg(short, long, global = true, env = "ETLX_TARGET")]
    pub target: Option<String>,
    /// Variables as YAML or JSON, e.g. --vars '{batch: 3}'.
    #[arg(long, global = true)]
    pub vars: Option<String>,
    /// What a SQL parse failure does: strict (error), warn (report and go on), off.
    #[arg(long, global = true, value_enum)]
    pub static_analysis: Option<StaticAnalysisArg>,
    /// Do not check the project's `require-dbt-version` against the dbt version etlx follows.
    #[arg(long, global = true)]
    pub no_version_check: bool,
    /// Output format for events and diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More logging (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StaticAnalysisArg {
    Strict,
    Warn,
    Off,
}

#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Selection")]
pub struct Selection {
    /// Nodes to include (dbt syntax: name, +name, name+, tag:x, path:dir, config.k:v, ...).
    #[arg(short, long = "select", num_args = 1.., alias = "models", short_alias = 'm')]
    pub select: Vec<String>,
    /// Nodes to leave out (same syntax).
    #[arg(long, num_args = 1..)]
    pub exclude: Vec<String>,
    /// Only nodes of these types (dbt's `--resource-type`).
    #[arg(long, num_args = 1.., value_enum)]
    pub resource_type: Vec<ResourceTypeArg>,
    /// Leave out nodes of these types; `--exclude-resource-type unit_test` is how dbt
    /// suggests a production build skips the unit tests CI already ran.
    #[arg(long, num_args = 1.., value_enum)]
    pub exclude_resource_type: Vec<ResourceTypeArg>,
    /// A previous run's target/ directory, for `state:`, `result:` and `source_status:`
    /// selectors and --defer.
    #[arg(long, value_name = "DIR", env = "ETLX_STATE")]
    pub state: Option<PathBuf>,
    /// Refs to unselected models read the --state run's relations when this target lacks
    /// them (a CI build of `state:modified+` against production).
    #[arg(long, requires = "state")]
    pub defer: bool,
    /// With --defer: read the state's relation even when this target has its own.
    #[arg(long, requires = "defer")]
    pub favor_state: bool,
}

impl From<ResourceTypeArg> for etlx::project::ResourceType {
    fn from(arg: ResourceTypeArg) -> Self {
        use etlx::project::ResourceType;
        match arg {
            ResourceTypeArg::Model => ResourceType::Model,
            ResourceTypeArg::Seed => ResourceType::Seed,
            ResourceTypeArg::Snapshot => ResourceType::Snapshot,
            ResourceTypeArg::Source => ResourceType::Source,
            ResourceTypeArg::Test => ResourceType::Test,
            ResourceTypeArg::UnitTest => ResourceType::UnitTest,
        }
    }
}

impl Selection {
    /// The types a command runs (`kinds`; empty for all), narrowed to `--resource-type`. A
    /// filter over what the selectors chose, so `-s stg_events --resource-type test` keeps
    /// the tests that indirect selection brings along, as in dbt.
    pub fn resource_types(
        &self,
        kinds: &[etlx::project::ResourceType],
    ) -> anyhow::Result<Vec<etlx::project::ResourceType>> {
        let wanted: Vec<etlx::project::ResourceType> =
            self.resource_type.iter().map(|&t| t.into()).collect();
        if wanted.is_empty() {
            return Ok(kinds.to_vec());
        }
        if kinds.is_empty() {
            return Ok(wanted);
        }
        let both: Vec<_> = kinds
            .iter()
            .copied()
            .filter(|k| wanted.contains(k))
            .collect();
        if both.is_empty() {
            let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
            anyhow::bail!(
                "--resource-type leaves nothing to do: this command runs {}",
                names.join(", ")
            );
        }
        Ok(both)
    }

    /// `--exclude` plus a `resource_type:` term per `--exclude-resource-type`: leaving a type
    /// out is an exclusion like any other, applied after indirect selection.
    pub fn exclude_terms(&self) -> Vec<String> {
        let types = self.exclude_resource_type.iter().map(|&t| {
            let t: etlx::project::ResourceType = t.into();
            format!("resource_type:{}", t.name())
        });
        self.exclude.iter().cloned().chain(types).collect()
    }
}

/// `test` runs what is built: `--full-refresh` has no meaning there, so it is not offered.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Running")]
pub struct TestArgs {
    /// Tests run at once (default: the target's `threads`).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Stop at the first failure.
    #[arg(short = 'x', long)]
    pub fail_fast: bool,
}

impl From<&TestArgs> for ExecArgs {
    fn from(t: &TestArgs) -> ExecArgs {
        ExecArgs {
            threads: t.threads,
            fail_fast: t.fail_fast,
            full_refresh: false,
            event_time_start: None,
            event_time_end: None,
            skip_unchanged: false,
        }
    }
}

#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Running")]
pub struct ExecArgs {
    /// Models built at once (default: the target's `threads`).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Stop at the first failure.
    #[arg(short = 'x', long)]
    pub fail_fast: bool,
    /// Rebuild incremental models and seeds from scratch.
    #[arg(long)]
    pub full_refresh: bool,
    /// Microbatch models rebuild the batches from this event time on (inclusive, UTC;
    /// `2024-01-01` or `2024-01-01T06:00:00`); with --event-time-end.
    #[arg(long, value_parser = parse_event_time, requires = "event_time_end")]
    pub event_time_start: Option<chrono::NaiveDateTime>,
    /// ... up to this event time (exclusive); with --event-time-start.
    #[arg(long, value_parser = parse_event_time, requires = "event_time_start")]
    pub event_time_end: Option<chrono::NaiveDateTime>,
    /// Reuse every node whose code and inputs (files, parents, source tables) are as they
    /// were at its last good build; records what it builds, in the warehouse.
    #[arg(long, env = "ETLX_SKIP_UNCHANGED")]
    pub skip_unchanged: bool,
}

fn parse_event_time(text: &str) -> Result<chrono::NaiveDateTime, String> {
    etlx::materialize::microbatch::parse_time(text).ok_or_else(|| {
        format!("'{text}' is not a date or time; write 2024-01-01 or 2024-01-01T06:00:00")
    })
}

/// `30s`, `10m`, `2h`: a whole number and a unit.
fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not an interval; write it as 30s, 10m or 1h"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => {
            return Err(format!(
                "unknown unit in '{text}'; use s, m or h (30s, 10m, 1h)"
            ));
        }
    };
    if seconds == 0 {
        return Err("the interval must be longer than zero".into());
    }
    Ok(std::time::Duration::from_secs(seconds))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the selected models in dependency order.
    Run {
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Load the CSV files in seeds/ into tables.
    Seed {
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Record the changes of each selected snapshot (slowly changing dimensions, type 2).
    Snapshot {
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Run the data tests of the selected nodes.
    Test {
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        exec: TestArgs,
    },
    /// Seeds, models, snapshots and their tests, in one run over the DAG: each node's tests
    /// run right after it, and a failing test skips what is downstream.
    Build {
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        exec: ExecArgs,
        /// Build again every interval (`30s`, `10m`, `1h`), in the foreground, until Ctrl-C:
        /// each run takes whatever landed since the last. Ctrl-C during a run stops it
        /// cleanly (nothing half-built); between runs it exits at once.
        #[arg(long, value_name = "INTERVAL", value_parser = parse_interval)]
        every: Option<std::time::Duration>,
    },
    /// Render and check every selected model; write target/compiled and target/manifest.json.
    Compile {
        #[command(flatten)]
        selection: Selection,
    },
    /// Where a model's columns come from (column-level lineage), as a tree; writes
    /// target/lineage.json.
    Lineage(LineageArgs),
    /// The project as a static site (models, columns, lineage, the last run's timeline) and
    /// target/catalog.json: `etlx docs generate`, `etlx docs serve`.
    Docs {
        #[command(subcommand)]
        command: DocsCommand,
    },
    /// List the selected resources.
    #[command(alias = "list")]
    Ls {
        #[command(flatten)]
        selection: Selection,
        /// How to print each resource.
        #[arg(long, short = 'o', value_enum, default_value_t = LsOutput::Selector)]
        output: LsOutput,
    },
    /// Make the selected models, seeds and snapshots of a previous run's target (--state)
    /// available in this one: views over them, or copies when they are in another DuckDB
    /// file. Relations this target has are kept unless --full-refresh.
    Clone {
        #[command(flatten)]
        selection: Selection,
        /// Replace relations this target already has.
        #[arg(long)]
        full_refresh: bool,
    },
    /// Re-run what failed or was skipped in the previous run (from target/run_results.json).
    Retry {
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Print the rows of a model (its compiled SQL, run against the target).
    Show {
        #[command(flatten)]
        selection: Selection,
        /// SQL to run instead of a model; may use ref() and source().
        #[arg(long, conflicts_with = "select")]
        inline: Option<String>,
        /// Rows to print.
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// Call a macro against the target; its run_query and statement calls run as it renders.
    RunOperation {
        /// The macro's name.
        #[arg(value_name = "MACRO")]
        name: String,
        /// Keyword arguments, as YAML or JSON: --args '{days: 7}'.
        #[arg(long)]
        args: Option<String>,
    },
    /// Commands about sources: `etlx source freshness`.
    Source {
        #[command(subcommand)]
        command: SourceCommand,
    },
    /// Demo: write synthetic landing data (music-streaming events and a song catalog), seeded.
    #[command(display_order = 90)]
    Generate(GenerateArgs),
    /// Upload a local folder (a landing zone, seeds) to S3 with multipart upload for large
    /// files, skipping objects that already hold the same bytes. Uses the target's AWS settings.
    Stage {
        /// The folder to upload.
        from: PathBuf,
        /// Where to: s3://bucket/prefix/
        to: String,
    },
    /// Commands about the Glue Data Catalog: `etlx catalog register`.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Create a new project.
    Init {
        /// Project name (also the folder created).
        name: String,
    },
    /// Show the resolved project, profile and target.
    Debug,
    /// Delete the clean-targets (target/ by default).
    Clean,
    /// Install the packages in packages.yml (local:, git: and package: from dbt's hub) into
    /// dbt_packages/, as package-lock.yml pins them; write the lock.
    Deps {
        /// Resolve again, ignoring package-lock.yml (newest releases the ranges allow).
        #[arg(long)]
        upgrade: bool,
    },
}

#[derive(Debug, Args)]
pub struct LineageArgs {
    /// A model (all its columns) or one column: `fct_songplays.user_id`.
    #[arg(value_name = "MODEL[.COLUMN]")]
    pub node: String,
    /// What the column reaches, instead of where it comes from.
    #[arg(long)]
    pub downstream: bool,
    /// Levels to follow (all by default).
    #[arg(long)]
    pub depth: Option<usize>,
    /// The tree as JSON.
    #[arg(long = "json")]
    pub output_json: bool,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Landing folder to write (events/batch_NNN/ and songs/).
    #[arg(long, default_value = "landing")]
    pub out: PathBuf,
    /// Number of batches.
    #[arg(long, default_value_t = 3)]
    pub batches: usize,
    /// Events per batch (about).
    #[arg(long, default_value_t = 1500)]
    pub events: usize,
    /// Distinct users (default: events / 16).
    #[arg(long)]
    pub users: Option<usize>,
    /// Songs in the catalog.
    #[arg(long, default_value_t = 300)]
    pub songs: usize,
    #[arg(long, default_value_t = 20181101)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = LandingFormat::Json)]
    pub format: LandingFormat,
    /// Replace a landing zone written with other options (its batches are removed first).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LandingFormat {
    Json,
    Parquet,
}

#[derive(Debug, Subcommand)]
pub enum DocsCommand {
    /// Compile, read the columns of every relation from the warehouse into
    /// target/catalog.json, and write the site into target/docs/ (open index.html from disk).
    Generate(DocsGenerateArgs),
    /// Serve target/docs/ on localhost (generating it first if it is missing).
    Serve {
        /// Port to listen on.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Address to listen on; the default keeps the site on this machine.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Regenerate the site when a project file changes (reload the page to see it).
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        generate: DocsGenerateArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DocsGenerateArgs {
    /// Do not query the warehouse: column types come from YAML only.
    #[arg(long)]
    pub empty_catalog: bool,
}

#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// How long ago each source's newest row was loaded, against its warn_after/error_after;
    /// writes target/sources.json.
    Freshness {
        #[command(flatten)]
        selection: Selection,
        /// Where to write the results (default: target/sources.json).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Register the file sources whose location is in S3 as external tables in Glue (database:
    /// the source's schema, or the target's glue_database), with columns from their YAML
    /// data_type or, when not declared, from the files themselves.
    Register {
        #[command(flatten)]
        selection: Selection,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ResourceTypeArg {
    Model,
    Seed,
    Snapshot,
    Source,
    Test,
    #[value(name = "unit_test")]
    UnitTest,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LsOutput {
    Selector,
    Name,
    Path,
    Json,
}

/// How a command ended, before it becomes an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// A model or test failed.
    Failed,
    /// The project, the profile or the invocation is wrong.
    Invalid,
    /// A signal stopped the run (it wrote its results first).
    Interrupted,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.global);
    listen_for_signals();
    let printer = Printer::new(&cli.global);
    let outcome = match commands::dispatch(&cli, &printer) {
        Ok(outcome) => outcome,
        Err(err) => {
            printer.fatal(&err);
            Outcome::Invalid
        }
    };
    ExitCode::from(match outcome {
        Outcome::Success => 0,
        Outcome::Failed => 1,
        Outcome::Invalid => 2,
        Outcome::Interrupted => 130,
    })
}

/// Ctrl-C and SIGTERM: the first stops a run cleanly (see `etlx::cancel`), a second one, or
/// one while nothing can stop cleanly, ends the process at once.
fn listen_for_signals() {
    use tokio::signal::unix::{SignalKind, signal};
    std::thread::spawn(|| {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            let (Ok(mut interrupt), Ok(mut terminate)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            loop {
                let name = tokio::select! {
                    _ = interrupt.recv() => "SIGINT",
                    _ = terminate.recv() => "SIGTERM",
                };
                if !etlx::cancel::request(name) {
                    std::process::exit(130);
                }
                eprintln!(
                    "{name}: stopping the run (statements in progress are cancelled and rolled back); send it again to exit at once"
                );
            }
        });
    });
}

fn init_tracing(global: &Global) {
    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (_, 0) => "info",
        (_, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ETLX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("warn,etlx={level}")));
    // Colour only for a person at a terminal: piped or captured logs stay plain text.
    let color = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(color)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}
