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

/// Discovery render of every model and singular test.
pub(super) fn discover(
    project: &Project,
    templates: &Templates,
    shared: &Arc<Shared>,
    nodes: &[&Node],
    rendered: &HashMap<String, Config>,
    diags: &mut Diagnostics,
) -> HashMap<String, Captured> {
    let dialect = project.target.dialect;
    let results: Vec<_> = nodes
        .par_iter()
        .filter(|n| !matches!(n.resource_type, ResourceType::Seed | ResourceType::UnitTest))
        .map(|node| {
            let this = Relation::table(
                dialect,
                None,
                project.target.schema.clone(),
                node.name.clone(),
            );
            let config = rendered.get(&node.unique_id).unwrap_or(&node.config);
            let req = node_request(shared, node, config, this, Mode::Discover, false);
            (node.unique_id.clone(), templates.render(&node.file, req))
        })
        .collect();
    let mut out = HashMap::new();
    for (id, result) in results {
        match result {
            Ok((_, captured)) => {
                out.insert(id, captured);
            }
            Err(d) => diags.push(*d),
        }
    }
    out
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
