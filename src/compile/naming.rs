//! Relation names: where each model, seed and source lives in the warehouse, after `schema`
//! and `alias` configs and any project override of `generate_schema_name`/`generate_alias_name`.

use super::node_request;
use super::sources::{RenderedSources, file_reader, rendered_reader};
use crate::diag::{Diagnostic, Diagnostics};
use crate::project::{Config, Node, Project, ResourceType, Source};
use crate::sql::Dialect;
use crate::template::{Mode, Relation, Shared, Templates};
use std::collections::HashMap;
use std::sync::Arc;

/// Relation names of models and seeds, after `schema`/`alias` config and any project
/// `generate_schema_name` / `generate_alias_name` macro.
pub(super) fn relations(
    project: &Project,
    templates: &Templates,
    shared: &Arc<Shared>,
    configs: &HashMap<&str, Config>,
    diags: &mut Diagnostics,
) -> HashMap<String, Relation> {
    let dialect = project.target.dialect;
    // dbt calls these as `generate_schema_name(custom_schema_name, node)`: an override may
    // read the node (`node.resource_type`, `node.fqn`, ...), so it gets the node's `model`.
    let overridden: Vec<&str> = [
        "generate_schema_name",
        "generate_alias_name",
        "generate_database_name",
    ]
    .into_iter()
    .filter(|name| project.overrides_macro(name))
    .collect();
    let custom = |macro_name: &str,
                  arg: Option<&str>,
                  node: &Node,
                  config: &Config,
                  fallback: String|
     -> Result<String, Box<Diagnostic>> {
        if !overridden.contains(&macro_name) {
            return Ok(fallback);
        }
        let arg = arg.map_or("none".to_string(), |a| format!("{a:?}"));
        let placeholder = Relation::Cte {
            name: node.name.clone(),
        };
        let req = node_request(shared, node, config, placeholder, Mode::Compile, false);
        let text = templates.render_str(
            &format!("<{macro_name}>"),
            &format!("{{{{ {macro_name}({arg}, model) }}}}"),
            req,
        )?;
        Ok(text.trim().to_string())
    };
    let mut out = HashMap::new();
    for node in project
        .nodes
        .values()
        .filter(|n| n.resource_type.is_relation())
    {
        let Some(config) = configs.get(node.unique_id.as_str()) else {
            continue;
        };
        if config.materialized() == "ephemeral" {
            out.insert(
                node.name.clone(),
                Relation::Cte {
                    name: format!("__etlx__cte__{}", node.name),
                },
            );
            continue;
        }
        let custom_schema = config.get_str("schema");
        let default_schema = match custom_schema {
            Some(s) => format!("{}_{s}", project.target.schema),
            None => project.target.schema.clone(),
        };
        let alias = config
            .get_str("alias")
            .map(str::to_string)
            .unwrap_or_else(|| node.name.clone());
        let custom_database = config.get_str("database");
        // A snapshot's `target_schema` (dbt before 1.9, still common) is the schema as given.
        let target_schema = config
            .get_str("target_schema")
            .filter(|_| node.resource_type == ResourceType::Snapshot);
        if let Some(schema) = target_schema {
            let database = config.get_str("target_database").or(custom_database);
            out.insert(
                node.name.clone(),
                Relation::table(
                    dialect,
                    database.map(str::to_string),
                    schema.to_string(),
                    alias,
                ),
            );
            continue;
        }
        let names = (|| {
            let schema = custom(
                "generate_schema_name",
                custom_schema,
                node,
                config,
                default_schema,
            )?;
            let alias = custom(
                "generate_alias_name",
                config.get_str("alias"),
                node,
                config,
                alias,
            )?;
            let database = match overridden.contains(&"generate_database_name") {
                true => Some(custom(
                    "generate_database_name",
                    custom_database,
                    node,
                    config,
                    String::new(),
                )?)
                .filter(|d| !d.is_empty()),
                false => custom_database.map(str::to_string),
            };
            Ok::<_, Box<Diagnostic>>((database, schema, alias))
        })();
        match names {
            Ok((database, schema, alias)) => {
                let database = match (config.materialized(), dialect) {
                    ("temp", Dialect::DuckDb) => {
                        Some(crate::adapter::duckdb::RUN_CATALOG.to_string())
                    }
                    _ => database,
                };
                out.insert(
                    node.name.clone(),
                    Relation::table(dialect, database, schema, alias),
                );
            }
            Err(d) => diags.push(*d),
        }
    }
    out
}

/// Source relations: landing files read in place on DuckDB, tables elsewhere. A `location`
/// may use Jinja (`landing/events/{{ var('batch') }}/`); it is rendered here, and so is the
/// reader of every file source.
pub(super) fn source_relations(
    project: &Project,
    templates: &Templates,
    shared: &Arc<Shared>,
    diags: &mut Diagnostics,
) -> RenderedSources {
    let mut locations = HashMap::new();
    let mut relations = HashMap::new();
    let mut readers = HashMap::new();
    let mut formats = HashMap::new();
    for source in project.sources.values() {
        let mut relation = source_relation(project.target.dialect, source);
        if let Some(location) = &source.location {
            match rendered_reader(project, source, location, templates, shared) {
                Ok((reader, location, format)) => {
                    if let Relation::Files { reader: r, .. } = &mut relation {
                        r.clone_from(&reader);
                    }
                    readers.insert(source.unique_id.clone(), reader);
                    locations.insert(source.unique_id.clone(), location);
                    formats.insert(source.unique_id.clone(), format);
                }
                Err(d) => diags.push(*d),
            }
        }
        relations.insert((source.source_name.clone(), source.name.clone()), relation);
    }
    RenderedSources {
        relations,
        readers,
        locations,
        formats,
    }
}

pub fn source_relation(dialect: Dialect, source: &Source) -> Relation {
    match (&source.location, dialect) {
        // A source read through the file ledger is a view of the run's pending files,
        // made before the run (on a server it is a table loaded the same way).
        (Some(location), Dialect::DuckDb) if !source.reads_new_files() => Relation::Files {
            reader: file_reader(source, location),
            schema: source.schema.clone(),
            identifier: source.identifier.clone(),
        },
        _ => Relation::table(
            dialect,
            source.database.clone(),
            source.schema.clone(),
            source.identifier.clone(),
        ),
    }
}
