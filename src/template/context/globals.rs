//! dbt's global functions that do not depend on the node being rendered (`env_var`, `return`,
//! `log`, `fromjson`, `exceptions`, ...). They are registered once on the environment rather
//! than served by the render context, so each render does not rebuild them.

use std::sync::Arc;

use minijinja::value::{Kwargs, Object, ObjectRepr, from_args};
use minijinja::{Environment, Error, ErrorKind, State, Value};

use super::macros::RETURN_SLOT;
use crate::project::profile::{SECRET_ENV_PREFIXES, read_env_var};

/// Functions that do not depend on the node being rendered.
pub(crate) fn register_globals(env: &mut Environment<'static>) {
    add_control_functions(env);
    add_data_functions(env);
    // A generic test's `where:` config: the model, filtered, in place of the model.
    env.add_function("__etlx_where", |relation: Value, filter: String| {
        Value::from(format!(
            "(select * from {relation} where {filter}) as dbt_subquery"
        ))
    });
    env.add_global("exceptions", Value::from_object(Exceptions));
}

/// The functions that reach outside the template: the environment, the macro's caller, the log.
fn add_control_functions(env: &mut Environment<'static>) {
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
}

/// The functions that convert and combine values, as Python's standard library does for dbt.
fn add_data_functions(env: &mut Environment<'static>) {
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
            .map(crate::template::to_value)
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
