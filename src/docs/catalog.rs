//! `target/catalog.json`: the columns and types of every relation, read from the warehouse,
//! in dbt's schema.
//!
//! YAML says what a model should have; the catalog says what the warehouse has. dbt asks
//! relation by relation on some adapters, which is what makes its catalog slow; here it is
//! one query per schema over `information_schema`, plus a `describe` of each landing reader
//! on DuckDB (file sources are not relations there).

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use crate::adapter::{AdapterError, Connection};
use crate::compile::Compilation;
use crate::project::Project;
use crate::sql::Dialect;
use crate::template::Relation;

pub const CATALOG_SCHEMA: &str = "https://schemas.getdbt.com/dbt/catalog/v1.json";

/// A relation's columns, in the warehouse's order, with their types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub kind: String,
    pub columns: Vec<(String, String)>,
}

/// What the warehouse holds for the project's relations, by unique id; and what could not be
/// read, in words.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub nodes: HashMap<String, Entry>,
    pub sources: HashMap<String, Entry>,
    pub errors: Vec<String>,
}

impl Catalog {
    pub fn entry(&self, unique_id: &str) -> Option<&Entry> {
        self.nodes
            .get(unique_id)
            .or_else(|| self.sources.get(unique_id))
    }
}

/// Read the catalog of every compiled relation and source of `c`.
pub fn read(
    conn: &mut dyn Connection,
    project: &Project,
    c: &Compilation,
) -> Result<Catalog, AdapterError> {
    let dialect = project.target.dialect;
    let mut wanted: Vec<(String, bool, Relation)> = c
        .nodes
        .values()
        .filter(|n| n.resource_type.is_relation() && !n.is_ephemeral())
        .map(|n| (n.unique_id.clone(), false, n.relation.clone()))
        .collect();
    for source in project.sources.values() {
        let relation = c
            .source_relations
            .get(&(source.source_name.clone(), source.name.clone()))
            .cloned()
            .unwrap_or_else(|| crate::compile::source_relation(dialect, source));
        wanted.push((source.unique_id.clone(), true, relation));
    }
    let schemas: BTreeSet<String> = wanted
        .iter()
        .filter(|(_, _, r)| matches!(r, Relation::Table { .. }))
        .filter_map(|(_, _, r)| r.schema().map(str::to_string))
        .collect();
    let mut found: HashMap<(String, String), Entry> = HashMap::new();
    for schema in &schemas {
        let table = conn.query(&columns_query(dialect, schema))?;
        for row in table.rows {
            let text = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
            let entry = found
                .entry((text(0).to_lowercase(), text(1).to_lowercase()))
                .or_default();
            entry.kind = kind_name(&text(2)).to_string();
            entry.columns.push((text(3), text(4)));
        }
    }
    let mut catalog = Catalog::default();
    for (id, is_source, relation) in wanted {
        let entry = match &relation {
            Relation::Files { reader, .. } => {
                match conn.describe(&format!("select * from {reader}")) {
                    Ok(cols) => Some(Entry {
                        kind: "external".into(),
                        columns: cols.into_iter().map(|c| (c.name, c.data_type)).collect(),
                    }),
                    Err(e) => {
                        catalog.errors.push(format!("{id}: {e}"));
                        None
                    }
                }
            }
            Relation::Table {
                schema, identifier, ..
            } => found
                .get(&(schema.to_lowercase(), identifier.to_lowercase()))
                .cloned(),
            Relation::Cte { .. } => None,
        };
        if let Some(entry) = entry {
            let map = if is_source {
                &mut catalog.sources
            } else {
                &mut catalog.nodes
            };
            map.insert(id, entry);
        }
    }
    Ok(catalog)
}

/// One schema's columns with their relation's kind, in column order.
fn columns_query(dialect: Dialect, schema: &str) -> String {
    let schema = dialect.literal(schema);
    format!(
        "select c.table_schema, c.table_name, t.table_type, c.column_name, c.data_type \
         from information_schema.columns c \
         join information_schema.tables t \
           on t.table_schema = c.table_schema and t.table_name = c.table_name \
         where lower(c.table_schema) = lower({schema}) \
         order by c.table_name, c.ordinal_position"
    )
}

fn kind_name(table_type: &str) -> &'static str {
    match crate::adapter::relation_kind(table_type) {
        crate::adapter::RelationKind::View => "view",
        crate::adapter::RelationKind::Table => "table",
    }
}

/// The catalog in dbt's `catalog.json` schema (v1).
pub fn to_json(catalog: &Catalog, project: &Project, c: &Compilation) -> Value {
    let relation_json = |id: &str, entry: &Entry, relation: Option<&Relation>| {
        let columns: Map<String, Value> = entry
            .columns
            .iter()
            .enumerate()
            .map(|(i, (name, ty))| {
                (
                    name.clone(),
                    json!({"type": ty, "index": i + 1, "name": name, "comment": null}),
                )
            })
            .collect();
        json!({
            "metadata": {
                "type": entry.kind,
                "schema": relation.and_then(Relation::schema),
                "name": relation.map(Relation::identifier),
                "database": project.target.database,
                "comment": null,
                "owner": null,
            },
            "columns": columns,
            "stats": {"has_stats": {"id": "has_stats", "label": "Has Stats?", "value": false, "include": false, "description": "Indicates whether there are statistics for this table"}},
            "unique_id": id,
        })
    };
    let nodes: Map<String, Value> = sorted(&catalog.nodes)
        .map(|(id, e)| {
            (
                id.clone(),
                relation_json(id, e, c.nodes.get(id).map(|n| &n.relation)),
            )
        })
        .collect();
    let sources: Map<String, Value> = sorted(&catalog.sources)
        .map(|(id, e)| {
            let relation = project
                .sources
                .get(id)
                .map(|s| crate::compile::source_relation(project.target.dialect, s));
            (id.clone(), relation_json(id, e, relation.as_ref()))
        })
        .collect();
    let value = json!({
        "metadata": {
            "dbt_schema_version": CATALOG_SCHEMA,
            "etlx_version": env!("CARGO_PKG_VERSION"),
            "generated_at": chrono::Utc::now().to_rfc3339(),
            "invocation_id": c.invocation_id,
        },
        "nodes": nodes,
        "sources": sources,
        "errors": if catalog.errors.is_empty() { Value::Null } else { json!(catalog.errors) },
    });
    project.secrets.redact_json(value)
}

fn sorted(map: &HashMap<String, Entry>) -> impl Iterator<Item = (&String, &Entry)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries.into_iter()
}
