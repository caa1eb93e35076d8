//! What templates may ask the warehouse while they render.
//!
//! `is_incremental()` needs to know which relations exist and `run_query` needs a connection,
//! so a compilation that can reach the target is given both. `etlx compile` also works where
//! the target cannot be reached (a Redshift project on a laptop): then it compiles without
//! them, and `is_incremental()` is false.

use super::CompileOptions;
use crate::adapter::{self, Adapter, AdapterError, Catalog, SharedConnection};
use crate::project::Project;

impl CompileOptions {
    /// Give templates the warehouse behind `adapter`: the relations that exist, and a
    /// connection for their queries. Returns the catalog read, for the run that follows.
    pub fn connect(&mut self, adapter: &dyn Adapter) -> Result<Catalog, AdapterError> {
        let catalog = adapter.catalog()?;
        self.existing_relations = catalog.rendered(adapter.dialect());
        self.connection = Some(SharedConnection::new(adapter.connect()?));
        Ok(catalog)
    }

    /// Open the project's target and [`connect`](Self::connect) to it, as dbt's compile
    /// does. When it cannot be reached the options are left without a warehouse (nothing
    /// half-set) and the reason is returned; compiling can go on either way. The adapter must
    /// outlive the compilation that uses its connection.
    pub fn connect_if_reachable(
        &mut self,
        project: &Project,
    ) -> Result<Box<dyn Adapter>, AdapterError> {
        let connected = adapter::open(project, project.target.threads)
            .and_then(|adapter| self.connect(adapter.as_ref()).map(|_| adapter));
        if connected.is_err() {
            self.connection = None;
            self.existing_relations = Default::default();
        }
        connected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::testing;

    #[test]
    fn a_reachable_warehouse_lends_templates_its_relations_and_a_connection() {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = testing::project(dir.path(), &[]);
        let adapter = adapter::open(&project, 1).expect("open");
        adapter
            .connect()
            .expect("connect")
            .execute("create table existing as select 1 as id")
            .expect("create");
        let mut opts = CompileOptions::default();
        let _adapter = opts.connect_if_reachable(&project).expect("reachable");
        assert!(
            opts.existing_relations.contains("\"main\".\"existing\""),
            "{:?}",
            opts.existing_relations
        );
        let one = opts.connection.as_ref().expect("a connection").with(|c| {
            c.query("select count(*) from existing")
                .expect("query")
                .scalar()
        });
        assert_eq!(one.as_deref(), Some("1"));
    }

    #[test]
    fn an_unreachable_warehouse_leaves_the_options_without_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let profiles = "demo:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n      user: etlx\n      dbname: etlx\n      schema: main\n";
        let project = testing::project(dir.path(), &[("profiles.yml", profiles)]);
        let mut opts = CompileOptions {
            existing_relations: ["\"main\".\"stale\"".to_string()].into(),
            ..CompileOptions::default()
        };
        assert!(opts.connect_if_reachable(&project).is_err());
        assert!(opts.existing_relations.is_empty());
        assert!(opts.connection.is_none());
    }
}
