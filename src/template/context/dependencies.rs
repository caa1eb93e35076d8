//! `ref()` and `source()` live apart from the rest of the context because they are the only
//! calls whose every use is recorded: the graph is built from what they capture, so how a
//! discovery render answers them (a guessed relation) and how a compile render does (the real
//! one, or an error) must stay side by side.

use minijinja::value::{Kwargs, from_args};
use minijinja::{Error, ErrorKind, Value};

use super::super::relation::Relation;
use super::{BuiltinFn, Mode, RefCall, lock};

impl BuiltinFn {
    pub(super) fn call_ref(&self, args: &[Value]) -> Result<Value, Error> {
        // `version=` is accepted and ignored: etlx has no model versions.
        let (first, second, _kwargs): (String, Option<String>, Kwargs) = from_args(args)?;
        let (package, name) = match second {
            Some(name) => (Some(first), name),
            None => (None, first),
        };
        let shared = self.ctx.shared();
        lock(&self.ctx.captured).refs.push(RefCall {
            name: name.clone(),
            package,
        });
        if let Some(rel) = shared.relations.get(&name) {
            let column = shared.ref_event_times.get(&name);
            return Ok(Value::from_object(self.in_batch(rel, column)));
        }
        match self.ctx.req.mode {
            Mode::Discover => Ok(Value::from_object(Relation::table(
                shared.dialect(),
                None,
                shared.target_schema.clone(),
                name,
            ))),
            Mode::Compile => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("ref('{name}'): no such model or seed"),
            )),
        }
    }

    pub(super) fn call_source(&self, args: &[Value]) -> Result<Value, Error> {
        let (source, table): (String, String) = from_args(args)?;
        let shared = self.ctx.shared();
        lock(&self.ctx.captured)
            .sources
            .push((source.clone(), table.clone()));
        let key = (source.clone(), table.clone());
        if let Some(rel) = shared.sources.get(&key) {
            let column = shared.source_event_times.get(&key);
            return Ok(Value::from_object(self.in_batch(rel, column)));
        }
        match self.ctx.req.mode {
            Mode::Discover => Ok(Value::from_object(Relation::table(
                shared.dialect(),
                None,
                source,
                table,
            ))),
            Mode::Compile => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("source('{source}', '{table}'): no such source table"),
            )),
        }
    }

    /// In a microbatch model, an input with an `event_time` is read filtered to the batch
    /// (bounds left as placeholders, filled in per batch by the executor), as dbt does.
    fn in_batch(&self, rel: &Relation, event_time: Option<&String>) -> Relation {
        let microbatch = self.ctx.req.node.as_ref().is_some_and(|n| {
            n.config.get_str("incremental_strategy") == Some("microbatch")
                && n.config.materialized() == "incremental"
        });
        match (event_time, microbatch, self.ctx.req.mode) {
            (Some(column), true, Mode::Compile) => rel.in_batch(column),
            _ => rel.clone(),
        }
    }
}
