//! Config values written with Jinja, rendered before anything reads them.
//!
//! dbt renders the values of `dbt_project.yml` and of YAML `config:` blocks, so projects
//! switch models and seeds on and off with `+enabled: "{{ var('load_source_data', false) }}"`
//! or pick a schema from the target. Hooks and a test's `where` are the exception: they are
//! SQL of the node's own, rendered with it later in its context (`{{ this }}`, macros that
//! read `is_incremental()`).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::diag::Diagnostics;
use crate::project::{Config, Node};
use crate::template::{RenderRequest, Shared, Templates};

/// Keys whose values are templates of their own, rendered later in the node's context.
const RENDERED_LATER: &[&str] = &[
    "pre_hook",
    "post_hook",
    "pre-hook",
    "post-hook",
    "sql_header",
    "where",
];

/// Each node's config with its Jinja rendered; nodes without Jinja in their config are
/// absent (their config is used as it is).
pub(super) fn render_configs(
    nodes: &[&Node],
    templates: &Templates,
    shared: &Arc<Shared>,
    diags: &mut Diagnostics,
) -> HashMap<String, Config> {
    let mut out = HashMap::new();
    for node in nodes.iter().filter(|n| has_jinja(&n.config)) {
        let mut config = node.config.clone();
        for (key, value) in config.0.iter_mut() {
            if RENDERED_LATER.contains(&key.as_str()) {
                continue;
            }
            let name = format!("<config '{key}' of {}>", node.unique_id);
            if let Err(d) = render_value(value, &name, templates, shared) {
                diags.push(*d);
            }
        }
        out.insert(node.unique_id.clone(), config);
    }
    out
}

fn has_jinja(config: &Config) -> bool {
    fn any(value: &Value) -> bool {
        match value {
            Value::String(s) => is_template(s),
            Value::Array(items) => items.iter().any(any),
            Value::Object(map) => map.values().any(any),
            _ => false,
        }
    }
    config
        .0
        .iter()
        .any(|(key, value)| !RENDERED_LATER.contains(&key.as_str()) && any(value))
}

/// Render every string in `value` that holds Jinja, in place.
fn render_value(
    value: &mut Value,
    name: &str,
    templates: &Templates,
    shared: &Arc<Shared>,
) -> Result<(), Box<crate::diag::Diagnostic>> {
    match value {
        Value::String(s) if is_template(s) => {
            let rendered = templates.render_str(name, s, RenderRequest::without_node(shared))?;
            *s = rendered.trim().to_string();
        }
        Value::Array(items) => {
            for item in items {
                render_value(item, name, templates, shared)?;
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                render_value(item, name, templates, shared)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}
