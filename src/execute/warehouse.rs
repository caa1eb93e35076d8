//! The warehouse a run builds in, opened and locked before anything is written.
//!
//! The run lock comes first: a run that is refused because another run holds the warehouse has
//! written nothing, not even the manifest or the compiled SQL of the run that holds it. Unit
//! tests never use the target, so a warehouse that cannot be reached is not an error yet: the
//! run gets an in-memory DuckDB, and only a selection that needs the target is refused, after
//! it compiled (`etlx test -s test_type:unit` works on a laptop for a Redshift project).

use crate::adapter::duckdb::DuckDb;
use crate::adapter::{self, Adapter, AdapterError, Catalog, RunLock};
use crate::compile::{Compilation, CompileOptions};
use crate::project::Project;

/// An opened warehouse, locked for one run until this is dropped.
pub struct Warehouse {
    /// Declared first, so it is released before the adapter it was taken on is closed.
    _lock: RunLock,
    pub adapter: Box<dyn Adapter>,
    /// The relations that existed before the run.
    pub catalog: Catalog,
    /// Why the target could not be used (the adapter is then a local stand-in).
    unreachable: Option<AdapterError>,
}

/// Open the project's target for `command` on `threads` workers, take its run lock and give
/// `opts` its catalog and a connection. Refused when another run holds the warehouse; a
/// target that cannot be reached yields a local stand-in (see [`Warehouse::require`]).
pub fn open_for_run(
    project: &Project,
    command: &str,
    threads: usize,
    opts: &mut CompileOptions,
) -> Result<Warehouse, AdapterError> {
    let opened = adapter::open(project, threads).and_then(|adapter| {
        let holder = adapter::lock_holder(command);
        let lock = adapter.lock_run(&project.target.schema, &holder)?;
        let catalog = opts.connect(adapter.as_ref())?;
        attach_state(project, adapter.as_ref(), opts, command)?;
        Ok((adapter, lock, catalog))
    });
    match opened {
        Ok((adapter, lock, catalog)) => Ok(Warehouse {
            _lock: lock,
            adapter,
            catalog,
            unreachable: None,
        }),
        Err(e @ (AdapterError::Locked { .. } | AdapterError::Busy { .. })) => Err(e),
        Err(e) => Ok(Warehouse {
            _lock: RunLock::none(),
            adapter: Box::new(DuckDb::in_memory(&project.root)?),
            catalog: Catalog::default(),
            unreachable: Some(e),
        }),
    }
}

/// `--defer` or `clone` from a state in another DuckDB file: attach it read-only (once:
/// attachments are the database's, seen by every connection). Only then: a state selection
/// alone must not need production's file, which a running production build holds locked.
fn attach_state(
    project: &Project,
    adapter: &dyn Adapter,
    opts: &CompileOptions,
    command: &str,
) -> Result<(), AdapterError> {
    let reads_state = opts.defer != crate::compile::Defer::Off || command == "clone";
    let attach = opts
        .state
        .as_ref()
        .filter(|_| reads_state)
        .and_then(|state| state.attach_sql(project));
    if let Some(sql) = attach {
        adapter.connect()?.execute(&sql)?;
    }
    Ok(())
}

impl Warehouse {
    /// Whether what `c` selected can run here: anything but a unit test needs the target,
    /// and gets the reason it could not be reached.
    pub fn require(&mut self, project: &Project, c: &Compilation) -> Result<(), AdapterError> {
        let needs_target = c
            .selected
            .iter()
            .any(|id| !project.unit_tests.contains_key(id));
        match self.unreachable.take() {
            Some(e) if needs_target => Err(e),
            unreachable => {
                self.unreachable = unreachable;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile;
    use crate::project::testing;
    use crate::sql::Dialect;

    const MODEL: (&str, &str) = ("models/m.sql", "select 1 as n\n");
    const UNIT_TEST: (&str, &str) = (
        "models/unit_tests.yml",
        "version: 2\nunit_tests:\n  - name: one_row\n    model: m\n    given: []\n    expect:\n      rows:\n        - {n: 1}\n",
    );
    /// A server that is never reached: its settings are refused before connecting.
    const NO_HOST: (&str, &str) = (
        "profiles.yml",
        "demo:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n      user: etlx\n      dbname: etlx\n      schema: main\n",
    );

    fn selecting(project: &Project, select: &str) -> (CompileOptions, Compilation) {
        let opts = CompileOptions {
            select: vec![select.to_string()],
            ..CompileOptions::default()
        };
        let c = compile(project, &opts);
        assert!(!c.has_errors(), "{:?}", c.diagnostics);
        (opts, c)
    }

    #[test]
    fn a_reachable_target_is_opened_locked_and_lent_to_templates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = testing::project(dir.path(), &[MODEL]);
        let (mut opts, c) = selecting(&project, "m");
        let mut warehouse = open_for_run(&project, "run", 1, &mut opts).expect("open");
        assert!(opts.connection.is_some());
        warehouse.require(&project, &c).expect("reachable");
        let mut conn = warehouse.adapter.connect().expect("connect");
        let file = conn.query("select file from pragma_database_list where name = 'demo'");
        assert!(
            file.expect("query")
                .scalar()
                .is_some_and(|f| f.ends_with("demo.duckdb"))
        );
    }

    #[test]
    fn an_unreachable_target_runs_unit_tests_and_refuses_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = testing::project(dir.path(), &[MODEL, UNIT_TEST, NO_HOST]);
        let (mut opts, units) = selecting(&project, "test_type:unit");
        assert_eq!(units.selected, ["unit_test.demo.m.one_row"]);
        let mut warehouse = open_for_run(&project, "test", 1, &mut opts).expect("stand-in");
        assert_eq!(warehouse.adapter.dialect(), Dialect::DuckDb);
        warehouse
            .require(&project, &units)
            .expect("unit tests only");
        let (_, model) = selecting(&project, "m");
        let refused = warehouse.require(&project, &model).expect_err("a model");
        assert!(refused.to_string().contains("needs `host`"), "{refused}");
    }
}
