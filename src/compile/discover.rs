//! The discovery render: every model and singular test rendered once with placeholder
//! relations, to learn what it reads (`ref`, `source`) and how it configures itself
//! (`config()`), which the real render depends on.

use super::node_request;
use crate::diag::Diagnostics;
use crate::project::{Config, Node, Project, ResourceType};
use crate::template::{Captured, Mode, Relation, Shared, Templates};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// What the discovery render learnt of each node, by unique id.
pub(super) struct Discovered {
    pub captured: HashMap<String, Captured>,
    /// The digest of what each node rendered to, neutral to the target (see `neutral_sql`):
    /// the `sql` of its state fingerprint.
    pub digests: HashMap<String, String>,
}

/// Discovery render of every model and singular test.
pub(super) fn discover(
    project: &Project,
    templates: &Templates,
    shared: &Arc<Shared>,
    nodes: &[&Node],
    rendered: &HashMap<String, Config>,
    diags: &mut Diagnostics,
) -> Discovered {
    let results: Vec<_> = nodes
        .par_iter()
        .filter(|n| !matches!(n.resource_type, ResourceType::Seed | ResourceType::UnitTest))
        .map(|node| {
            let config = rendered.get(&node.unique_id).unwrap_or(&node.config);
            let result = render_placeholders(project, templates, shared, node, config, false);
            (node.unique_id.clone(), result)
        })
        .collect();
    let mut out = Discovered {
        captured: HashMap::new(),
        digests: HashMap::new(),
    };
    for (id, result) in results {
        match result {
            Ok((text, captured)) => {
                out.digests
                    .insert(id.clone(), neutral_sql_digest(project, shared, &text));
                out.captured.insert(id, captured);
            }
            Err(d) => diags.push(*d),
        }
    }
    out
}

/// Render `node` in discovery mode: placeholder relations, no warehouse.
fn render_placeholders(
    project: &Project,
    templates: &Templates,
    shared: &Arc<Shared>,
    node: &Node,
    config: &Config,
    incremental: bool,
) -> Result<(String, Captured), Box<crate::diag::Diagnostic>> {
    let this = Relation::table(
        project.target.dialect,
        None,
        project.target.schema.clone(),
        node.name.clone(),
    );
    let req = node_request(shared, node, config, this, Mode::Discover, incremental);
    templates.render(&node.file, req)
}

/// The discovery render names relations in the target's schema and answers no warehouse
/// query, so its output is what the node means rather than where it runs: with the schema
/// and the run's ids replaced, a CI target and production give the same text for the same
/// code. That is the `sql` a state fingerprint compares.
fn neutral_sql_digest(project: &Project, shared: &Shared, text: &str) -> String {
    let schema = format!("{}.", project.target.dialect.quote(&project.target.schema));
    let neutral = text
        .replace(&schema, "<target.schema>.")
        .replace(&shared.invocation_id, "<invocation_id>")
        .replace(&shared.run_started_at, "<run_started_at>");
    crate::state::digest_text(&neutral)
}

/// An incremental model's `is_incremental()` branch matters as much as its first build:
/// render it too, and let the fingerprint cover both.
pub(super) fn add_incremental_branches(
    project: &Project,
    templates: &Templates,
    shared: &Arc<Shared>,
    nodes: &[&Node],
    configs: &HashMap<&str, Config>,
    digests: &mut HashMap<String, String>,
) {
    let branches: Vec<(String, String)> = nodes
        .par_iter()
        .filter_map(|node| {
            let config = configs.get(node.unique_id.as_str())?;
            if config.materialized() != "incremental" || !config.enabled() {
                return None;
            }
            let rendered = render_placeholders(project, templates, shared, node, config, true);
            let (text, _) = rendered.ok()?;
            Some((
                node.unique_id.clone(),
                neutral_sql_digest(project, shared, &text),
            ))
        })
        .collect();
    for (id, branch) in branches {
        if let Some(digest) = digests.get_mut(&id) {
            *digest = crate::state::digest_text(&format!("{digest}\n{branch}"));
        }
    }
}

/// Config after `config()` calls, and the nodes that turned out disabled.
pub(super) fn final_configs<'a>(
    nodes: &[&'a Node],
    rendered: &HashMap<String, Config>,
    discovered: &HashMap<String, Captured>,
) -> (HashMap<&'a str, Config>, HashSet<&'a str>) {
    let mut configs = HashMap::new();
    let mut disabled = HashSet::new();
    for node in nodes {
        let mut config = rendered
            .get(&node.unique_id)
            .unwrap_or(&node.config)
            .clone();
        if let Some(c) = discovered.get(&node.unique_id) {
            config.merge_all(&c.config);
        }
        let fixed = match node.resource_type {
            ResourceType::Seed => Some("seed"),
            ResourceType::Test => Some("test"),
            ResourceType::Snapshot => Some("snapshot"),
            _ => None,
        };
        if let Some(materialized) = fixed.filter(|_| config.get("materialized").is_none()) {
            config.merge("materialized", materialized.into());
        }
        if !config.enabled() {
            disabled.insert(node.unique_id.as_str());
        }
        configs.insert(node.unique_id.as_str(), config);
    }
    (configs, disabled)
}
