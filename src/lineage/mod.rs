//! Column-level lineage: for each column of each model, the columns of models, seeds and
//! sources it comes from.
//!
//! etlx parses every model's compiled SQL anyway; following its scopes gives what otherwise
//! takes a proprietary tool: where a column comes from, and what a change to a column reaches.
//! Models are analysed in dependency order, so a `select *` over a model expands to the
//! columns its own lineage found. `target/lineage.json` holds the result.

mod analysis;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use indexmap::IndexMap;
use rayon::prelude::*;
use serde::Serialize;
use sqlparser::ast::Query;

pub use analysis::Kind;
use analysis::{Origin, Relations, Unresolved};

use crate::compile::Compilation;
use crate::project::{Project, ResourceType};

/// An input column of an output column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upstream {
    /// A model's, seed's, snapshot's or source's unique id.
    pub node: String,
    pub column: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    pub upstream: Vec<Upstream>,
    /// Why the inputs of this column are not known (a table function, a `*` over a relation
    /// whose columns are unknown), if they are not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

/// The lineage of every analysed node, in dependency order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Lineage {
    pub nodes: IndexMap<String, Vec<Column>>,
}

impl Lineage {
    /// The columns `column` of `node` reads, one level up.
    pub fn upstream(&self, node: &str, column: &str) -> Vec<Upstream> {
        self.column(node, column)
            .map(|c| c.upstream.clone())
            .unwrap_or_default()
    }

    /// The columns that read `column` of `node`, one level down.
    pub fn downstream(&self, node: &str, column: &str) -> Vec<Upstream> {
        let mut out = Vec::new();
        for (reader, columns) in &self.nodes {
            for c in columns {
                for u in &c.upstream {
                    if u.node == node && u.column.eq_ignore_ascii_case(column) {
                        out.push(Upstream {
                            node: reader.clone(),
                            column: c.name.clone(),
                            kind: u.kind,
                        });
                    }
                }
            }
        }
        out
    }

    pub fn column(&self, node: &str, column: &str) -> Option<&Column> {
        self.nodes
            .get(node)?
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(column))
    }
}

/// Relations as the compiled SQL writes them, and the columns known of each.
struct Known {
    by_text: HashMap<String, String>,
    /// Each relation's columns, and whether the list is complete.
    columns: HashMap<String, (Vec<String>, bool)>,
}

/// Text compared without quotes, spaces or case; a table function by its name and first
/// argument (the files it reads), since its options may be written differently.
fn keys_of(text: &str) -> Vec<String> {
    let norm: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '"')
        .collect::<String>()
        .to_lowercase();
    match norm.find('(') {
        Some(open) => {
            let end = norm[open..]
                .find([',', ')'])
                .map_or(norm.len(), |i| open + i);
            vec![norm.clone(), norm[..end].to_string()]
        }
        None => vec![norm],
    }
}

impl Relations for Known {
    fn resolve(&self, written: &str) -> Option<String> {
        keys_of(written)
            .iter()
            .find_map(|k| self.by_text.get(k))
            .cloned()
    }

    fn columns(&self, relation: &str) -> Option<(Vec<String>, bool)> {
        self.columns.get(relation).cloned()
    }
}

/// The lineage of every model and snapshot `c` compiled.
pub fn build(project: &Project, c: &Compilation) -> Lineage {
    analyse(project, c).0
}

/// The lineage, and the columns that models read and their inputs do not have (`o.amont`
/// where `orders` has `amount`), at their place in the model's file, with the close name;
/// errors or warnings as the model's `static_analysis` says. Only where every input's
/// columns are known, so a report is a real mistake. One analysis gives both.
pub fn build_and_check(
    project: &Project,
    c: &Compilation,
) -> (Lineage, Vec<crate::diag::Diagnostic>) {
    use crate::sql::StaticAnalysis;
    let (lineage, missing) = analyse(project, c);
    let mut out = Vec::new();
    for (id, unresolved) in missing {
        let (Some(compiled), Some(node)) = (c.nodes.get(&id), project.nodes.get(&id)) else {
            continue;
        };
        let mode = crate::compile::static_analysis_of(project, &compiled.config);
        let (Some(sql), Some(path)) = (&compiled.compiled_sql, &compiled.compiled_path) else {
            continue;
        };
        for u in unresolved {
            // Positions are in the SQL that was analysed: the model's own, unless lineage
            // parsed the compiled SQL itself.
            let offset = if compiled.parsed.is_some() {
                compiled.compiled_offset(u.line as usize, u.column as usize)
            } else {
                Some(crate::diag::offset_of(
                    sql,
                    u.line as usize,
                    u.column as usize,
                ))
            };
            let Some(offset) = offset else { continue };
            let (at, compiled_at) = crate::compile::source_location(node, path, sql, offset);
            let message = format!(
                "{} '{}' reads column '{}', which none of its inputs has",
                node.resource_type.name(),
                node.name,
                u.name
            );
            let d = match mode {
                StaticAnalysis::Off => continue,
                StaticAnalysis::Strict => crate::diag::Diagnostic::error("unknown-column", message),
                StaticAnalysis::Warn => crate::diag::Diagnostic::warning("unknown-column", message),
            };
            let hint = match crate::diag::closest(&u.name, u.candidates.iter().map(String::as_str))
            {
                Some(close) => format!("did you mean '{close}'?"),
                None => format!("the inputs have: {}", u.candidates.join(", ")),
            };
            out.push(d.at(at).hint(hint).note(compiled_at));
        }
    }
    (lineage, out)
}

/// Lineage, and each model's unknown columns.
fn analyse(project: &Project, c: &Compilation) -> (Lineage, Vec<(String, Vec<Unresolved>)>) {
    let dialect = project.target.dialect;
    let mut known = Known {
        by_text: HashMap::new(),
        columns: HashMap::new(),
    };
    for node in c.nodes.values().filter(|n| n.resource_type.is_relation()) {
        for key in keys_of(&node.relation.to_sql()) {
            known.by_text.insert(key, node.unique_id.clone());
        }
        if let Some(columns) = declared_columns(project, &node.unique_id) {
            known.columns.insert(node.unique_id.clone(), columns);
        }
    }
    for source in project.sources.values() {
        let mut texts = vec![crate::compile::source_relation(dialect, source).to_sql()];
        texts.extend(c.source_readers.get(&source.unique_id).cloned());
        for key in texts.iter().flat_map(|t| keys_of(t)) {
            known.by_text.insert(key, source.unique_id.clone());
        }
        // Columns described in YAML may be some of them only.
        if !source.columns.is_empty() {
            known.columns.insert(
                source.unique_id.clone(),
                (source.columns.keys().cloned().collect(), false),
            );
        }
    }
    let clock = std::time::Instant::now();
    // Each model's own query, as compiling parsed it, ephemeral parents not inlined: those
    // are relations here, analysed before their readers. Only a model static analysis did
    // not parse (`static_analysis: off`) is parsed here, whole. Resolving columns follows
    // the DAG, parents first.
    let selected: HashSet<&String> = c.selected.iter().collect();
    let order: Vec<&crate::compile::CompiledNode> = c
        .graph
        .topo_order()
        .iter()
        .filter_map(|id| c.nodes.get(id))
        .filter(|n| {
            matches!(
                n.resource_type,
                ResourceType::Model | ResourceType::Snapshot
            )
        })
        .filter(|n| n.parsed.is_some() || selected.contains(&n.unique_id))
        .collect();
    let parsed: Vec<(&String, &crate::compile::CompiledNode, Arc<Query>)> = order
        .par_iter()
        .filter_map(|node| {
            let query = match &node.parsed {
                Some(query) => query.clone(),
                None => crate::sql::parse_query(dialect, node.compiled_sql.as_deref()?)?.into(),
            };
            Some((&node.unique_id, *node, query))
        })
        .collect();
    tracing::debug!(
        "lineage: {} queries ({} parsed here) in {:.1} ms",
        parsed.len(),
        order.iter().filter(|n| n.parsed.is_none()).count(),
        clock.elapsed().as_secs_f64() * 1e3
    );
    let mut lineage = Lineage::default();
    let mut unresolved = Vec::new();
    for (id, node, query) in parsed {
        let (outputs, missing) = analysis::analyse(&query, &known);
        if !missing.is_empty() {
            unresolved.push((id.clone(), missing));
        }
        let columns: Vec<Column> = outputs
            .into_iter()
            .map(|o| Column {
                name: o.name,
                upstream: o
                    .from
                    .into_iter()
                    .map(|(Origin { relation, column }, kind)| Upstream {
                        node: relation,
                        column,
                        kind,
                    })
                    .collect(),
                unknown: o.unknown,
            })
            .collect();
        let mut columns = columns;
        // A snapshot's table has its query's columns and the ones it adds.
        if node.resource_type == ResourceType::Snapshot
            && let Ok(snapshot) = crate::materialize::snapshot::Snapshot::from_config(&node.config)
        {
            columns.extend(snapshot.meta_column_names().into_iter().map(|name| Column {
                name,
                upstream: Vec::new(),
                unknown: None,
            }));
        }
        if columns.iter().all(|c| c.name != "*") {
            let names = columns.iter().map(|c| c.name.clone()).collect();
            known.columns.insert(id.clone(), (names, true));
        }
        lineage.nodes.insert(id.clone(), columns);
    }
    (lineage, unresolved)
}

/// The columns a node is declared to have: a seed's CSV header (all of them), or the columns
/// its YAML describes (maybe some of them only).
fn declared_columns(project: &Project, id: &str) -> Option<(Vec<String>, bool)> {
    let node = project.nodes.get(id)?;
    if node.resource_type == ResourceType::Seed {
        let mut reader = csv::Reader::from_path(project.root.join(&node.file.path)).ok()?;
        let header = reader.headers().ok()?.iter().map(str::to_string).collect();
        return Some((header, true));
    }
    (!node.columns.is_empty()).then(|| (node.columns.keys().cloned().collect(), false))
}

/// Write `target/lineage.json`.
pub fn write(project: &Project, lineage: &Lineage) -> std::io::Result<()> {
    let dir = project.target_dir();
    std::fs::create_dir_all(&dir)?;
    let doc = serde_json::json!({
        "metadata": {
            "project_name": project.name,
            "generated_by": format!("etlx {}", env!("CARGO_PKG_VERSION")),
            "schema": "nodes: unique id -> columns in order: {name, upstream: [{node, column, kind: direct|derived}], unknown?: why its inputs are not known}",
        },
        "nodes": lineage.nodes,
    });
    let text = serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("lineage.json"), text)
}
