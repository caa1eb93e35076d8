//! `config()` and `var()`: how a template reads the settings the project declares. Apart from
//! `ref()`/`source()` because they name no other node, and apart from the warehouse calls
//! because they answer the same in discovery and compile renders.

use minijinja::value::from_args;
use minijinja::{Error, ErrorKind, Value};

use super::{BuiltinFn, lock};
use crate::project::Config;

impl BuiltinFn {
    pub(super) fn call_config(&self, args: &[Value]) -> Result<Value, Error> {
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

    pub(super) fn config_value(&self, key: &str) -> Option<Value> {
        let key = Config::normalize_key(key);
        let captured = lock(&self.ctx.captured);
        let value = captured
            .config
            .get(&key)
            .or_else(|| self.ctx.req.node.as_ref().and_then(|n| n.config.get(&key)))?;
        Some(crate::template::to_value(value))
    }

    pub(super) fn call_var(&self, args: &[Value]) -> Result<Value, Error> {
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
}
