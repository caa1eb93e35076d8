//! What a model sees while it renders: `ref`, `source`, `config`, `var`, `this`, `target`,
//! `is_incremental`, macros by bare name, and the calls it made, captured for the graph.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use minijinja::value::{Kwargs, Object, ObjectRepr, from_args};
use minijinja::{Environment, Error, ErrorKind, State, Value};
use serde::Serialize;

use super::MACRO_PREFIX;
use super::relation::Relation;
use super::warehouse::{QueryResult, columns_value};
use crate::adapter::{Connection, SharedConnection};
use crate::project::Config;
use crate::project::profile::SECRET_ENV_PREFIXES;
use crate::project::profile::read_env_var;
use crate::sql::Dialect;

/// Discovery renders find `ref`/`source`/`config` calls before relation names are known;
/// compile renders produce the SQL that runs (dbt's `execute` is true only then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Discover,
    Compile,
}

/// Project-wide facts every render of one run shares.
#[derive(Debug, Default, Clone)]
pub struct Shared {
    pub project_name: String,
    pub dialect: Option<Dialect>,
    pub target: Value,
    pub target_schema: String,
    pub vars: serde_json::Map<String, serde_json::Value>,
    /// Model and seed relations by name.
    pub relations: HashMap<String, Relation>,
    /// Source relations by (source name, table name).
    pub sources: HashMap<(String, String), Relation>,
    /// Which prelude module defines each macro.
    pub macro_index: Arc<HashMap<String, usize>>,
    pub full_refresh: bool,
    pub invocation_id: String,
    pub run_started_at: String,
    /// The warehouse, for `run_query`, `statement` and `adapter.get_relation`; `None` when
    /// compiling without one.
    pub connection: Option<SharedConnection>,
}

impl Shared {
    fn dialect(&self) -> Dialect {
        self.dialect.unwrap_or(Dialect::DuckDb)
    }
}

/// The node being rendered.
#[derive(Debug, Clone)]
pub struct NodeContext {
    pub unique_id: String,
    pub name: String,
    pub config: Config,
    pub this: Relation,
    pub is_incremental: bool,
    /// `model` in templates: the node as the manifest describes it.
    pub model: Value,
}

#[derive(Debug, Clone)]
pub struct RenderRequest {
    pub shared: Arc<Shared>,
    pub node: Option<Arc<NodeContext>>,
    pub mode: Mode,
}

impl RenderRequest {
    /// A compile render outside any node: hooks, source locations, naming macros.
    pub fn without_node(shared: &Arc<Shared>) -> RenderRequest {
        RenderRequest {
            shared: shared.clone(),
            node: None,
            mode: Mode::Compile,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RefCall {
    pub name: String,
    pub package: Option<String>,
}

/// What a render did besides producing text.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    pub refs: Vec<RefCall>,
    pub sources: Vec<(String, String)>,
    pub config: Config,
    pub macros: Vec<String>,
    pub warnings: Vec<String>,
    pub logs: Vec<String>,
}

pub(crate) struct RenderContext {
    req: RenderRequest,
    captured: Mutex<Captured>,
    modules: Mutex<Vec<Value>>,
    /// Macros being called right now, outermost first.
    call_stack: Mutex<Vec<String>>,
    /// The call stack when the first error happened, for the diagnostic.
    error_stack: Mutex<Option<Vec<String>>>,
    /// `statement` results by name, for `load_result`.
    results: Mutex<HashMap<String, Value>>,
}

impl std::fmt::Debug for RenderContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RenderContext")
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A render that panicked cannot leave this data half-written in a way that matters.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RenderContext {
    pub(crate) fn new(req: RenderRequest) -> Arc<RenderContext> {
        Arc::new(RenderContext {
            req,
            captured: Mutex::new(Captured::default()),
            modules: Mutex::new(Vec::new()),
            call_stack: Mutex::new(Vec::new()),
            error_stack: Mutex::new(None),
            results: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn take_captured(&self) -> Captured {
        std::mem::take(&mut *lock(&self.captured))
    }

    /// The macros that were being called when rendering failed, outermost first.
    pub(crate) fn error_stack(&self) -> Vec<String> {
        lock(&self.error_stack).clone().unwrap_or_default()
    }

    fn shared(&self) -> &Shared {
        &self.req.shared
    }

    fn builtin(self: &Arc<Self>, kind: Builtin) -> Value {
        Value::from_object(BuiltinFn {
            ctx: self.clone(),
            kind,
        })
    }

    /// A macro by bare name. Returned as a proxy resolved at call time: macro files capture
    /// the names they use when they are imported, which is before the modules are registered.
    fn lookup_macro(self: &Arc<Self>, name: &str) -> Option<Value> {
        self.shared().macro_index.get(name)?;
        Some(Value::from_object(MacroFn {
            name: name.to_string(),
            ctx: Arc::downgrade(self),
        }))
    }

    fn resolve_macro(&self, name: &str) -> Option<Value> {
        let index = *self.shared().macro_index.get(name)?;
        let module = lock(&self.modules).get(index)?.clone();
        let inner = module
            .get_attr(&format!("{MACRO_PREFIX}{name}"))
            .ok()
            .filter(|v| !v.is_undefined())?;
        lock(&self.captured).macros.push(name.to_string());
        Some(inner)
    }
}

impl Object for RenderContext {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        let shared = self.shared();
        let node = self.req.node.as_deref();
        Some(match key {
            "ref" => self.builtin(Builtin::Ref),
            "source" => self.builtin(Builtin::Source),
            "config" => self.builtin(Builtin::Config),
            "var" => self.builtin(Builtin::Var),
            "is_incremental" => self.builtin(Builtin::IsIncremental),
            "adapter" => self.builtin(Builtin::Adapter),
            "run_query" => self.builtin(Builtin::RunQuery),
            "statement" => self.builtin(Builtin::Statement),
            "load_result" => self.builtin(Builtin::LoadResult),
            "__etlx_register" => self.builtin(Builtin::Register),
            "this" => Value::from_object(node?.this.clone()),
            "model" => node?.model.clone(),
            "target" => shared.target.clone(),
            "project_name" => Value::from(shared.project_name.clone()),
            "schema" => Value::from(shared.target_schema.clone()),
            "execute" => Value::from(self.req.mode == Mode::Compile),
            "invocation_id" => Value::from(shared.invocation_id.clone()),
            "run_started_at" => Value::from(shared.run_started_at.clone()),
            "flags" => crate::template::to_value(serde_json::json!({
                "FULL_REFRESH": shared.full_refresh,
                "WHICH": "compile",
            })),
            _ => return self.lookup_macro(key),
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Builtin {
    Ref,
    Source,
    Config,
    Var,
    IsIncremental,
    Adapter,
    Register,
    RunQuery,
    Statement,
    LoadResult,
}

/// A builtin bound to the render it belongs to.
struct BuiltinFn {
    ctx: Arc<RenderContext>,
    kind: Builtin,
}

impl std::fmt::Debug for BuiltinFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.kind)
    }
}

impl Object for BuiltinFn {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call(self: &Arc<Self>, state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        match self.kind {
            Builtin::Ref => self.call_ref(args),
            Builtin::Source => self.call_source(args),
            Builtin::Config => self.call_config(args),
            Builtin::Var => self.call_var(args),
            Builtin::IsIncremental => {
                let _: () = from_args(args)?;
                Ok(Value::from(
                    self.ctx.req.node.as_ref().is_some_and(|n| n.is_incremental),
                ))
            }
            Builtin::Register => {
                *lock(&self.ctx.modules) = args.to_vec();
                Ok(Value::from(""))
            }
            Builtin::RunQuery => {
                let (sql,): (String,) = from_args(args)?;
                self.query(&sql)
            }
            Builtin::Statement => self.call_statement(state, args),
            Builtin::LoadResult => {
                let (name,): (String,) = from_args(args)?;
                Ok(lock(&self.ctx.results)
                    .get(&name)
                    .cloned()
                    .unwrap_or(Value::from(())))
            }
            Builtin::Adapter => Err(Error::new(
                ErrorKind::InvalidOperation,
                "adapter is not callable",
            )),
        }
    }

    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match (self.kind, method) {
            (Builtin::Config, "get") => {
                let (key, default): (String, Option<Value>) = from_args(args)?;
                Ok(self
                    .config_value(&key)
                    .or(default)
                    .unwrap_or(Value::from(())))
            }
            (Builtin::Config, "require") => {
                let (key,): (String,) = from_args(args)?;
                self.config_value(&key).ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("config '{key}' is required but not set"),
                    )
                })
            }
            (Builtin::Var, "has_var") => {
                let (key,): (String,) = from_args(args)?;
                Ok(Value::from(self.ctx.shared().vars.contains_key(&key)))
            }
            (Builtin::Adapter, _) => self.call_adapter(state, method, args),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

impl BuiltinFn {
    fn call_ref(&self, args: &[Value]) -> Result<Value, Error> {
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

    fn call_source(&self, args: &[Value]) -> Result<Value, Error> {
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

    fn call_config(&self, args: &[Value]) -> Result<Value, Error> {
        let mut captured = lock(&self.ctx.captured);
        for arg in args {
            for key in arg.try_iter()? {
                let value = arg.get_item(&key)?;
                let key = key.as_str().unwrap_or_default().to_string();
                let json = serde_json::to_value(&value).map_err(|e| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("config({key}=...): {e}"),
                    )
                })?;
                captured.config.merge(&key, json);
            }
        }
        Ok(Value::from(""))
    }

    fn config_value(&self, key: &str) -> Option<Value> {
        let key = Config::normalize_key(key);
        let captured = lock(&self.ctx.captured);
        let value = captured
            .config
            .get(&key)
            .or_else(|| self.ctx.req.node.as_ref().and_then(|n| n.config.get(&key)))?;
        Some(crate::template::to_value(value))
    }

    fn call_var(&self, args: &[Value]) -> Result<Value, Error> {
        let (name, default): (String, Option<Value>) = from_args(args)?;
        let vars = &self.ctx.shared().vars;
        if let Some(value) = vars.get(&name) {
            return Ok(crate::template::to_value(value));
        }
        default.ok_or_else(|| {
            let mut message = format!("required var '{name}' is not set");
            if let Some(close) = crate::diag::closest(&name, vars.keys().map(String::as_str)) {
                message.push_str(&format!(" (did you mean '{close}'?)"));
            }
            message.push_str(
                "; set it under `vars:` in the project file, pass --vars, or give var() a default",
            );
            Error::new(ErrorKind::InvalidOperation, message)
        })
    }

    fn call_adapter(
        &self,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let dialect = self.ctx.shared().dialect();
        match method {
            "dispatch" => {
                let (name, _namespace): (String, Option<Value>) = from_args(args)?;
                for prefix in dialect.dispatch_prefixes() {
                    if let Some(found) = state
                        .lookup(&format!("{prefix}__{name}"))
                        .filter(|v| !v.is_undefined())
                    {
                        return Ok(found);
                    }
                }
                Err(Error::new(
                    ErrorKind::UnknownFunction,
                    format!(
                        "adapter.dispatch('{name}'): no macro {dialect}__{name} or default__{name}"
                    ),
                ))
            }
            "type" => Ok(Value::from(dialect.name())),
            "quote" => {
                let (ident,): (String,) = from_args(args)?;
                Ok(Value::from(dialect.quote(&ident)))
            }
            "get_relation" => {
                let [_, schema, identifier] =
                    named_args(method, args, ["database", "schema", "identifier"])?;
                let text = |v: Value| v.as_str().map(str::to_string).unwrap_or_default();
                self.existing_relation(&text(schema), &text(identifier))
            }
            "load_relation" => {
                let [relation] = named_args(method, args, ["relation"])?;
                let (schema, identifier) = relation_parts(&relation)?;
                self.existing_relation(&schema, &identifier)
            }
            "get_columns_in_relation" => {
                let [relation] = named_args(method, args, ["relation"])?;
                let (schema, identifier) = relation_parts(&relation)?;
                let columns = self
                    .with_connection(|conn| conn.columns(&schema, &identifier))?
                    .unwrap_or_default();
                Ok(columns_value(columns))
            }
            "execute" => {
                let (sql, _kwargs): (String, Kwargs) = from_args(args)?;
                self.with_connection(|conn| conn.execute(&sql))?;
                Ok(Value::from(()))
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("adapter.{method} is not supported"),
            )),
        }
    }
}

/// The warehouse side of rendering: queries run only in compile renders (dbt's `execute`),
/// so discovery renders, which run before anything is known, never touch the warehouse.
impl BuiltinFn {
    /// Run `f` on the warehouse connection; `None` in a discovery render.
    fn with_connection<T>(
        &self,
        f: impl FnOnce(&mut dyn Connection) -> Result<T, crate::adapter::AdapterError>,
    ) -> Result<Option<T>, Error> {
        if self.ctx.req.mode == Mode::Discover {
            return Ok(None);
        }
        let Some(conn) = &self.ctx.shared().connection else {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "this needs a connection to the warehouse, and none is open (could the target be reached?)",
            ));
        };
        conn.with(f)
            .map(Some)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("query failed: {e}")))
    }

    /// `run_query(sql)`: the rows as a table object; an empty one in a discovery render.
    fn query(&self, sql: &str) -> Result<Value, Error> {
        let result = self.with_connection(|conn| {
            let types = conn.describe(sql)?;
            Ok((conn.query(sql)?, types))
        })?;
        let (table, types) = result.unwrap_or_default();
        Ok(Value::from_object(QueryResult::new(table, &types)))
    }

    /// `{% call statement('name', fetch_result=True) %}sql{% endcall %}`: runs the body and
    /// keeps the result for `load_result('name')`.
    fn call_statement(&self, state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let (name, kwargs): (Option<String>, Kwargs) = from_args(args)?;
        let fetch: bool = kwargs.get::<Option<bool>>("fetch_result")?.unwrap_or(false);
        let _: Option<bool> = kwargs.get("auto_begin")?;
        let caller: Value = kwargs.get("caller")?;
        kwargs.assert_all_used()?;
        let sql = caller.call(state, &[])?.to_string();
        let name = name.unwrap_or_else(|| "main".to_string());
        let (result, rows) = if fetch {
            let table = self.query(&sql)?;
            let rows = table.len();
            (Some(table), rows)
        } else {
            let rows = self.with_connection(|conn| conn.execute(&sql))?.flatten();
            (None, rows.map(|n| n as usize))
        };
        if self.ctx.req.mode == Mode::Compile {
            let data = result
                .as_ref()
                .and_then(|t| {
                    t.downcast_object_ref::<QueryResult>()
                        .map(QueryResult::data)
                })
                .unwrap_or(Value::from(Vec::<Value>::new()));
            let response = BTreeMap::from([("rows_affected", Value::from(rows))]);
            let loaded = Value::from(BTreeMap::from([
                ("data", data),
                ("table", result.unwrap_or(Value::from(()))),
                ("response", Value::from(response)),
            ]));
            lock(&self.ctx.results).insert(name, loaded);
        }
        Ok(Value::from(""))
    }

    /// `adapter.get_relation`: the relation when it exists in the warehouse, else none.
    fn existing_relation(&self, schema: &str, identifier: &str) -> Result<Value, Error> {
        let kind = self
            .with_connection(|conn| conn.relation_kind(schema, identifier))?
            .flatten();
        Ok(match kind {
            Some(_) => Value::from_object(Relation::table(
                self.ctx.shared().dialect(),
                None,
                schema,
                identifier,
            )),
            None => Value::from(()),
        })
    }
}

/// Arguments given by position or by keyword, in the order of `names` (macros written for
/// dbt use both: `adapter.get_relation(database=none, schema=s, identifier=t)`).
fn named_args<const N: usize>(
    method: &str,
    args: &[Value],
    names: [&str; N],
) -> Result<[Value; N], Error> {
    let (positional, kwargs): (&[Value], Kwargs) = from_args(args)?;
    let mut out: [Value; N] = std::array::from_fn(|_| Value::from(()));
    for (i, name) in names.iter().enumerate() {
        out[i] = match positional.get(i) {
            Some(v) => v.clone(),
            None => kwargs
                .get::<Option<Value>>(name)?
                .unwrap_or(Value::from(())),
        };
    }
    if positional.len() > N {
        return Err(Error::new(
            ErrorKind::TooManyArguments,
            format!("adapter.{method} takes {}", names.join(", ")),
        ));
    }
    kwargs.assert_all_used()?;
    Ok(out)
}

/// Schema and name of a relation argument.
fn relation_parts(value: &Value) -> Result<(String, String), Error> {
    let field = |key: &str| {
        value
            .get_attr(key)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
    };
    match (field("schema"), field("identifier")) {
        (Some(schema), Some(identifier)) => Ok((schema, identifier)),
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("expected a relation (from ref, source or this), got {value}"),
        )),
    }
}

/// A macro as called from templates: returns what `return()` handed over, else its text.
/// Holds its render weakly: macro values live inside that render's state.
#[derive(Debug)]
struct MacroFn {
    name: String,
    ctx: std::sync::Weak<RenderContext>,
}

const RETURN_SLOT: &str = "__etlx_return";

impl Object for MacroFn {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call(self: &Arc<Self>, state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let ctx = self.ctx.upgrade();
        let inner = ctx
            .as_ref()
            .and_then(|ctx| ctx.resolve_macro(&self.name))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::UnknownFunction,
                    format!("macro {} is not available here", self.name),
                )
            })?;
        let ctx = ctx.as_deref();
        if let Some(ctx) = ctx {
            lock(&ctx.call_stack).push(self.name.clone());
        }
        let outer = state.set_temp(RETURN_SLOT, Value::UNDEFINED);
        let output = inner.call(state, args);
        let returned = state.set_temp(RETURN_SLOT, outer.unwrap_or(Value::UNDEFINED));
        if let Some(ctx) = ctx {
            let mut stack = lock(&ctx.call_stack);
            if output.is_err() {
                lock(&ctx.error_stack).get_or_insert_with(|| stack.clone());
            }
            stack.pop();
        }
        let output = output?;
        Ok(match returned {
            Some(v) if !v.is_undefined() => v,
            _ => output,
        })
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<macro {}>", self.name)
    }
}

/// Functions that do not depend on the node being rendered.
pub(crate) fn register_globals(env: &mut Environment<'static>) {
    env.add_function("env_var", |name: String, default: Option<String>| {
        if SECRET_ENV_PREFIXES.iter().any(|p| name.starts_with(p)) {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("secret environment variable '{name}' may only be used in profiles.yml"),
            ));
        }
        read_env_var(&name, default)
    });
    env.add_function("return", |state: &mut State, value: Value| {
        // The first return() of a macro call wins, as in dbt where it ends the macro.
        if state.get_temp(RETURN_SLOT).is_none_or(|v| v.is_undefined()) {
            state.set_temp(RETURN_SLOT, value);
        }
        Value::from("")
    });
    env.add_function("log", |msg: Value, kwargs: Kwargs| {
        let info: bool = kwargs.get::<Option<bool>>("info")?.unwrap_or(false);
        if info {
            tracing::info!(target: "etlx::template", "{msg}");
        } else {
            tracing::debug!(target: "etlx::template", "{msg}");
        }
        Ok::<_, Error>(Value::from(""))
    });
    env.add_function("print", |msg: Value| {
        tracing::info!(target: "etlx::template", "{msg}");
        Value::from("")
    });
    env.add_function(
        "fromjson",
        |text: String, default: Option<Value>| match serde_json::from_str::<serde_json::Value>(
            &text,
        ) {
            Ok(v) => Ok(crate::template::to_value(v)),
            Err(e) => default
                .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, format!("fromjson: {e}"))),
        },
    );
    env.add_function("tojson", |value: Value| {
        serde_json::to_string(&value)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("tojson: {e}")))
    });
    env.add_function("fromyaml", |text: String| {
        serde_saphyr::from_str::<serde_json::Value>(&text)
            .map(super::to_value)
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("fromyaml: {}", e.without_snippet()),
                )
            })
    });
    env.add_function("set", |items: Value| {
        let mut out: Vec<Value> = Vec::new();
        for item in items.try_iter()? {
            if !out.contains(&item) {
                out.push(item);
            }
        }
        Ok::<_, Error>(Value::from(out))
    });
    env.add_function("zip", |a: Value, b: Value| {
        let pairs: Vec<Value> = a
            .try_iter()?
            .zip(b.try_iter()?)
            .map(|(x, y)| Value::from(vec![x, y]))
            .collect();
        Ok::<_, Error>(Value::from(pairs))
    });
    env.add_function("local_md5", |text: String| {
        use sha2::Digest;
        // dbt's local_md5 is an md5 hex digest; a sha256 prefix serves the same purpose (stable ids).
        let digest = sha2::Sha256::digest(text.as_bytes());
        digest
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    });
    // A generic test's `where:` config: the model, filtered, in place of the model.
    env.add_function("__etlx_where", |relation: Value, filter: String| {
        Value::from(format!(
            "(select * from {relation} where {filter}) as dbt_subquery"
        ))
    });
    env.add_global("exceptions", Value::from_object(Exceptions));
}

#[derive(Debug)]
struct Exceptions;

impl Object for Exceptions {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let (message, _node): (String, Option<Value>) = from_args(args)?;
        match method {
            "raise_compiler_error" | "raise_not_implemented" => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("compiler error: {message}"),
            )),
            "warn" => {
                tracing::warn!(target: "etlx::template", "{message}");
                Ok(Value::from(""))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}
