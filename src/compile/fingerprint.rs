//! Each node's state fingerprint: what `--state` comparisons judge it by, and what the
//! manifest records for the next comparison (see `crate::state`).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Compilation, CompiledNode};
use crate::project::{Column, Config, Node, Project, Source};
use crate::state::{Fingerprint, MacroDigests, digest_json, digest_text};
use crate::template::Relation;

/// Fingerprints of every enabled node and every source, by unique id.
pub fn fingerprints(project: &Project, c: &Compilation) -> HashMap<String, Fingerprint> {
    let nodes = c.nodes.values().filter_map(|compiled| {
        let node = project.nodes.get(&compiled.unique_id)?;
        Some((
            compiled.unique_id.clone(),
            node_fingerprint(project, node, compiled),
        ))
    });
    let sources = project
        .sources
        .values()
        .map(|s| (s.unique_id.clone(), source_fingerprint(s)));
    nodes.chain(sources).collect()
}

pub fn node_fingerprint(project: &Project, node: &Node, compiled: &CompiledNode) -> Fingerprint {
    let config = &compiled.config;
    let persist = config.get("persist_docs");
    let persisted = |key: &str| persist.and_then(|p| p.get(key)).and_then(Value::as_bool);
    Fingerprint {
        sql: compiled.neutral_sql.clone(),
        file: compiled.checksum.clone(),
        config: digest_json(&serde_json::to_value(config).unwrap_or_default()),
        relation: neutral_relation(project, &compiled.relation),
        description: digest_text(&node.description),
        column_descriptions: column_descriptions(&node.columns),
        contract: contract(config, &node.columns),
        persist_relation: persisted("relation") == Some(true),
        persist_columns: persisted("columns") == Some(true),
        macros: compiled.macros.clone(),
    }
}

/// A source has no SQL: what it reads (relation, files) and how it is configured.
pub fn source_fingerprint(source: &Source) -> Fingerprint {
    let definition = json!({
        "location": source.location,
        "format": source.format,
        "options": source.options,
        "loaded_at_field": source.loaded_at_field,
        "freshness": source.freshness,
        "config": source.config,
    });
    Fingerprint {
        sql: "source".into(),
        config: digest_json(&definition),
        relation: format!(
            "{}.{}.{}",
            source.database.as_deref().unwrap_or(""),
            source.schema,
            source.identifier
        ),
        description: digest_text(&source.description),
        column_descriptions: column_descriptions(&source.columns),
        ..Fingerprint::default()
    }
}

fn column_descriptions(columns: &indexmap::IndexMap<String, Column>) -> String {
    let described: Vec<(&str, &str)> = columns
        .values()
        .map(|c| (c.name.as_str(), c.description.as_str()))
        .collect();
    digest_json(&json!(described))
}

/// Column names and types, when the model's contract is enforced.
fn contract(config: &Config, columns: &indexmap::IndexMap<String, Column>) -> Option<String> {
    let enforced = config.get("contract")?.get("enforced")?.as_bool()?;
    enforced.then(|| {
        let typed: Vec<(&str, Option<&str>)> = columns
            .values()
            .map(|c| (c.name.as_str(), c.data_type.as_deref()))
            .collect();
        digest_json(&json!(typed))
    })
}

/// The relation with the target's schema and database as placeholders: a CI target that
/// builds into `ci_42` and production into `analytics` name the same relation.
fn neutral_relation(project: &Project, relation: &Relation) -> String {
    let target = &project.target;
    match relation {
        Relation::Table {
            database,
            schema,
            identifier,
            ..
        } => {
            let database = match database {
                Some(d) if Some(d) == target.database.as_ref() => "<target.database>",
                Some(d) => d.as_str(),
                None => "",
            };
            let schema = match schema.strip_prefix(&target.schema) {
                Some(rest) if rest.is_empty() || rest.starts_with('_') => {
                    format!("<target.schema>{rest}")
                }
                _ => schema.clone(),
            };
            format!("{database}.{schema}.{identifier}")
        }
        Relation::Cte { name } => format!("ephemeral {name}"),
        other => other.to_sql(),
    }
}

/// Each macro's text, digested, by name (macros of one name in several packages share one
/// entry, covering all of them).
pub fn macro_digests(project: &Project) -> MacroDigests {
    let mut texts: HashMap<String, String> = HashMap::new();
    for def in project.macros.values() {
        let text = project.macro_sql(def).unwrap_or_default();
        texts.entry(def.name.clone()).or_default().push_str(text);
    }
    texts
        .into_iter()
        .map(|(name, text)| (name, digest_text(&text)))
        .collect()
}
