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
            return Ok(Value::from_object(rel.clone()));
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
        if let Some(rel) = shared.sources.get(&(source.clone(), table.clone())) {
            return Ok(Value::from_object(rel.clone()));
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
}
