//! Macros called by bare name, as dbt allows. minijinja binds a macro to the template that
//! imported it, so every bare name goes through a proxy that finds the macro in this render's
//! imported modules at call time (importing etlx's own files on first use), implements
//! `return()`, and records the macro call stack for the diagnostic when a macro fails.

use std::sync::Arc;

use minijinja::value::{Object, ObjectRepr};
use minijinja::{Error, ErrorKind, State, Value};

use super::super::MACRO_PREFIX;
use super::{MacroModule, RenderContext, lock};

impl RenderContext {
    /// A macro by bare name. Returned as a proxy resolved at call time: macro files capture
    /// the names they use when they are imported, which is before the modules are registered.
    pub(super) fn lookup_macro(self: &Arc<Self>, name: &str) -> Option<Value> {
        self.shared().macro_index.get(name)?;
        Some(Value::from_object(MacroFn {
            name: name.to_string(),
            ctx: Arc::downgrade(self),
        }))
    }

    /// The macro itself, importing its file first if it is one of etlx's own and this render
    /// has not called any of its macros yet.
    fn resolve_macro(&self, state: &mut State<'_, '_>, name: &str) -> Result<Option<Value>, Error> {
        let Some(&index) = self.shared().macro_index.get(name) else {
            return Ok(None);
        };
        let slot = lock(&self.modules).get(index).cloned();
        let module = match slot {
            Some(MacroModule::Imported(module)) => module,
            Some(MacroModule::Pending(loader)) => {
                // Not under the lock: the loader hands the file back through `__etlx_loaded`.
                loader.call(state, &[])?;
                match lock(&self.modules).get(index) {
                    Some(MacroModule::Imported(module)) => module.clone(),
                    _ => return Ok(None),
                }
            }
            None => return Ok(None),
        };
        let inner = module
            .get_attr(&format!("{MACRO_PREFIX}{name}"))
            .ok()
            .filter(|v| !v.is_undefined());
        if inner.is_some() {
            lock(&self.captured).macros.push(name.to_string());
        }
        Ok(inner)
    }
}

/// A package's macros by qualified name: `dbt.date_trunc(...)`. Every macro is global in
/// etlx, so the qualified name finds the same macro as the bare one.
#[derive(Debug)]
pub(super) struct Namespace {
    pub(super) ctx: std::sync::Weak<RenderContext>,
}

impl Object for Namespace {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.ctx.upgrade()?.lookup_macro(key.as_str()?)
    }
}

/// A macro as called from templates: returns what `return()` handed over, else its text.
/// Holds its render weakly: macro values live inside that render's state.
#[derive(Debug)]
struct MacroFn {
    name: String,
    ctx: std::sync::Weak<RenderContext>,
}

pub(super) const RETURN_SLOT: &str = "__etlx_return";

impl Object for MacroFn {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call(self: &Arc<Self>, state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let ctx = self.ctx.upgrade();
        let inner = match &ctx {
            Some(ctx) => ctx.resolve_macro(state, &self.name)?,
            None => None,
        }
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
