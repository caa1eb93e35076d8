//! What `retry` needs from the previous run, and what a run records so it can be retried.
//!
//! A run writes its arguments into `run_results.json` (`args`, as dbt records them), and
//! `retry` reads that file back from where runs write it, under the project's `target-path`:
//! the nodes that failed or were skipped, and the vars, target and `--full-refresh` to run
//! them with, so a retry of one batch's failure does not run another batch.

use serde::Serialize;
use serde_json::{Map, Value};

use super::ArtifactError;
use crate::project::Project;

/// A building command's arguments, as `run_results.json` records them for `retry`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunArgs {
    /// The command: `run`, `build`, `retry`...
    pub which: String,
    pub select: Vec<String>,
    pub exclude: Vec<String>,
    pub full_refresh: bool,
    pub threads: usize,
    pub vars: Map<String, Value>,
    pub target: String,
}

impl RunArgs {
    /// The `args` object, keys in dbt's order.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// The previous run, as `retry` replays it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PreviousRun {
    /// The last part of the unique id of each node that failed or was skipped: what `retry`
    /// selects.
    pub names: Vec<String>,
    /// The run's `--vars`, when it had any.
    pub vars: Option<Map<String, Value>>,
    pub target: Option<String>,
    pub full_refresh: bool,
    /// Microbatch models that partly succeeded: by unique id, the `[start, end]` of each
    /// failed batch (a retry runs only those, as dbt's does).
    pub failed_batches: std::collections::HashMap<String, Vec<(String, String)>>,
}

/// Statuses of nodes a retry runs again: failures, and what they kept from running.
/// The last `run_results.json` under the project's `target-path`, as JSON.
pub fn read_run_results(project: &Project) -> Result<Value, ArtifactError> {
    let path = project.target_dir().join("run_results.json");
    let text = std::fs::read_to_string(&path).map_err(|source| ArtifactError::NoPreviousRun {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| ArtifactError::NotJson { path, source })
}

const RETRIED: [&str; 4] = ["error", "fail", "skipped", "partial success"];

impl PreviousRun {
    /// Read `run_results.json` under the project's `target-path`.
    pub fn read(project: &Project) -> Result<PreviousRun, ArtifactError> {
        Ok(PreviousRun::from_json(&read_run_results(project)?))
    }

    fn from_json(previous: &Value) -> PreviousRun {
        let names = previous["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["status"].as_str().is_some_and(|s| RETRIED.contains(&s)))
            .filter_map(|r| Some(r["unique_id"].as_str()?.rsplit('.').next()?.to_string()))
            .collect();
        let args = &previous["args"];
        let failed_batches = previous["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["status"] == "partial success")
            .filter_map(|r| {
                let pairs = serde_json::from_value(r["batch_results"]["failed"].clone()).ok()?;
                Some((r["unique_id"].as_str()?.to_string(), pairs))
            })
            .collect();
        PreviousRun {
            failed_batches,
            names,
            vars: args["vars"].as_object().filter(|v| !v.is_empty()).cloned(),
            target: args["target"].as_str().map(str::to_string),
            full_refresh: args["full_refresh"].as_bool() == Some(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::testing;

    fn result(id: &str, status: &str) -> Value {
        serde_json::json!({"unique_id": id, "status": status})
    }

    /// A project whose `target-path` is not `target`: the previous run is read from there.
    #[test]
    fn the_previous_run_is_read_under_a_custom_target_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let project_file = "name: demo\nprofile: demo\ntarget-path: build/out\n";
        let project = testing::project(dir.path(), &[("etlx_project.yml", project_file)]);
        let args = RunArgs {
            which: "build".into(),
            select: vec!["tag:nightly".into()],
            full_refresh: true,
            threads: 4,
            vars: [("batch".to_string(), Value::from(3))]
                .into_iter()
                .collect(),
            target: "prod".into(),
            ..RunArgs::default()
        };
        let run = serde_json::json!({
            "results": [
                result("model.demo.stg_events", "success"),
                result("model.demo.fct_plays", "error"),
                result("test.demo.not_null_fct_plays_id", "fail"),
                result("unit_test.demo.dim_users.keeps_latest_level", "pass"),
                result("model.demo.daily_plays", "skipped"),
                result("test.demo.accepted_values_level", "warn"),
            ],
            "args": args.to_json(),
        });
        let path = dir.path().join("build/out/run_results.json");
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, run.to_string()).expect("write");
        assert!(!dir.path().join("target/run_results.json").exists());
        let previous = PreviousRun::read(&project).expect("read");
        assert_eq!(
            previous,
            PreviousRun {
                names: vec![
                    "fct_plays".into(),
                    "not_null_fct_plays_id".into(),
                    "daily_plays".into()
                ],
                vars: Some(args.vars.clone()),
                target: Some("prod".into()),
                full_refresh: true,
                failed_batches: Default::default(),
            }
        );
    }

    #[test]
    fn no_previous_run_is_said_with_the_path_looked_at() {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = testing::project(dir.path(), &[]);
        let missing = PreviousRun::read(&project).expect_err("no run yet");
        let expected = format!(
            "no previous run to retry: cannot read {}",
            project.target_dir().join("run_results.json").display()
        );
        assert_eq!(missing.to_string(), expected);
        std::fs::create_dir_all(project.target_dir()).expect("mkdir");
        std::fs::write(project.target_dir().join("run_results.json"), "{").expect("write");
        let broken = PreviousRun::read(&project).expect_err("not JSON");
        assert!(matches!(broken, ArtifactError::NotJson { .. }), "{broken}");
    }

    /// Recorded in dbt's order, with no vars as `{}` (which a retry does not replay).
    #[test]
    fn run_args_are_recorded_in_dbts_order() {
        let args = RunArgs {
            which: "run".into(),
            threads: 2,
            target: "dev".into(),
            ..RunArgs::default()
        };
        assert_eq!(
            args.to_json().to_string(),
            r#"{"which":"run","select":[],"exclude":[],"full_refresh":false,"threads":2,"vars":{},"target":"dev"}"#
        );
        let replayed = PreviousRun::from_json(&serde_json::json!({"args": args.to_json()}));
        assert_eq!(replayed.vars, None);
    }
}
