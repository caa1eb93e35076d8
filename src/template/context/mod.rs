//! What a model sees while it renders: `ref`, `source`, `config`, `var`, `this`, `target`,
//! `is_incremental`, macros by bare name, and the calls it made, captured for the graph.
//!
//! This file holds the render context itself and the table of names it answers, so one look
//! shows everything a template can reach; each family of calls lives in its own file because
//! each follows its own rule (what is captured, what touches the warehouse, what resolves late).

mod adapter;
mod config;
mod dependencies;
mod globals;
mod macros;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use minijinja::value::{Kwargs, Object, ObjectRepr, from_args};
use minijinja::{Error, ErrorKind, State, Value};
use serde::Serialize;

pub(crate) use globals::register_globals;

use super::relation::Relation;
use crate::adapter::SharedConnection;
use crate::project::Config;
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
    /// The `event_time` column of models and seeds (by name) and of sources that set one:
    /// a microbatch model reads them filtered to its batch.
    pub ref_event_times: HashMap<String, String>,
    pub source_event_times: HashMap<(String, String), String>,
    /// Which prelude module defines each macro.
    pub macro_index: Arc<HashMap<String, usize>>,
    /// Names that qualify a macro (`dbt`, the project, each installed package):
    /// `dbt_utils.generate_surrogate_key(...)`.
    pub namespaces: Arc<std::collections::HashSet<String>>,
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

/// A macro file as one render holds it.
#[derive(Clone)]
enum MacroModule {
    /// Imported by the prelude.
    Imported(Value),
    /// One of etlx's own files, not imported yet: the prelude's loader macro, which imports it
    /// and hands it over through `__etlx_loaded`.
    Pending(Value),
}

pub(crate) struct RenderContext {
    req: RenderRequest,
    captured: Mutex<Captured>,
    /// The macro files, in the order of `Shared::macro_index`.
    modules: Mutex<Vec<MacroModule>>,
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
            "__etlx_loaded" => self.builtin(Builtin::Loaded),
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
                "STORE_FAILURES": false,
                "WHICH": "compile",
            })),
            _ => {
                return self.lookup_macro(key).or_else(|| {
                    (key == "dbt" || shared.namespaces.contains(key)).then(|| {
                        Value::from_object(macros::Namespace {
                            ctx: Arc::downgrade(self),
                        })
                    })
                });
            }
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
    Loaded,
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
                // `__etlx_register(m0, m1, ..., lazy=[...])`: the positions listed in `lazy`
                // hold loaders rather than imported files.
                let (slots, kwargs): (&[Value], Kwargs) = from_args(args)?;
                let lazy: Vec<usize> = kwargs
                    .get::<Option<Vec<usize>>>("lazy")?
                    .unwrap_or_default();
                kwargs.assert_all_used()?;
                *lock(&self.ctx.modules) = slots
                    .iter()
                    .enumerate()
                    .map(|(i, slot)| match lazy.contains(&i) {
                        true => MacroModule::Pending(slot.clone()),
                        false => MacroModule::Imported(slot.clone()),
                    })
                    .collect();
                Ok(Value::from(""))
            }
            Builtin::Loaded => {
                let (index, module): (usize, Value) = from_args(args)?;
                if let Some(slot) = lock(&self.ctx.modules).get_mut(index) {
                    *slot = MacroModule::Imported(module);
                }
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
