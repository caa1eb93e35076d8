//! The static site's data: every node, source and macro with what a reader asks about it,
//! the lineage of each column, the DAG layout and the last run, as one script file.
//!
//! The page is opened from disk (`file://`), where a browser refuses `fetch`; a script that
//! assigns the data to a global loads anywhere. Nodes refer to each other by index, which
//! keeps a 5,000-model project's file a third of the size with ids.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::catalog::Catalog;
use super::{gantt, layout};
use crate::lineage::{Kind, Lineage};

/// What the site is made from.
pub struct Inputs<'a> {
    /// `manifest.json`, as `artifacts::manifest_json` builds it.
    pub manifest: &'a Value,
    pub catalog: &'a Catalog,
    pub lineage: &'a Lineage,
    /// The last `run_results.json`, if there is one.
    pub run_results: Option<&'a Value>,
    pub project_root: &'a Path,
}

/// The site's data as one JSON value.
pub fn data(inputs: &Inputs) -> Value {
    let manifest = inputs.manifest;
    let entries: Vec<(&String, &Value)> = manifest["nodes"]
        .as_object()
        .into_iter()
        .flatten()
        .chain(manifest["sources"].as_object().into_iter().flatten())
        .collect();
    let index: HashMap<&str, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.as_str(), i))
        .collect();
    let parents = |node: &Value| -> Vec<usize> {
        node["depends_on"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().and_then(|p| index.get(p).copied()))
            .collect()
    };
    let edges: Vec<(usize, usize)> = entries
        .iter()
        .enumerate()
        .flat_map(|(i, (_, node))| parents(node).into_iter().map(move |p| (p, i)))
        .collect();
    let places = layout::layered(entries.len(), &edges);
    let tests = tests_by_subject(&entries, &index);
    let nodes: Vec<Value> = entries
        .iter()
        .enumerate()
        .map(|(i, (id, node))| {
            let mut out = node_data(id, node, inputs, &index);
            out["parents"] = json!(parents(node));
            out["rank"] = json!(places[i].rank);
            out["order"] = json!(places[i].order);
            out["tests"] = json!(tests.get(&i).cloned().unwrap_or_default());
            out
        })
        .collect();
    let names: HashMap<String, String> = entries
        .iter()
        .map(|(id, n)| ((*id).clone(), n["name"].as_str().unwrap_or(id).to_string()))
        .collect();
    json!({
        "project": manifest["metadata"]["project_name"],
        "adapter": manifest["metadata"]["adapter_type"],
        "generated_at": chrono::Utc::now().to_rfc3339(),
        "version": env!("CARGO_PKG_VERSION"),
        "nodes": nodes,
        "macros": macros_data(manifest, inputs.project_root),
        "run": inputs.run_results.map(|r| run_data(r, manifest, &index, &names)),
    })
}

fn node_data(id: &str, node: &Value, inputs: &Inputs, index: &HashMap<&str, usize>) -> Value {
    let resource_type = node["resource_type"].as_str().unwrap_or("model");
    let name = match resource_type {
        "source" => format!(
            "{}.{}",
            node["source_name"].as_str().unwrap_or_default(),
            node["name"].as_str().unwrap_or_default()
        ),
        _ => node["name"].as_str().unwrap_or(id).to_string(),
    };
    let mut out = json!({
        "id": id,
        "name": name,
        "type": resource_type,
        "package": node["package_name"],
        "path": node["original_file_path"],
        "description": node["description"],
        "relation": node["relation_name"],
        "materialized": node["config"]["materialized"],
        "tags": node["tags"],
        "config": node["config"],
        "columns": columns_data(id, node, inputs, index),
    });
    let keep = |out: &mut Value, key: &str, value: &Value| {
        if !value.is_null() {
            out[key] = value.clone();
        }
    };
    keep(&mut out, "raw", &node["raw_code"]);
    keep(&mut out, "compiled", &node["compiled_code"]);
    keep(&mut out, "column_name", &node["column_name"]);
    if resource_type == "source" {
        keep(&mut out, "location", &node["external"]["location"]);
        keep(&mut out, "freshness", &node["freshness"]);
    }
    out
}

/// Columns in the warehouse's order (catalog), then those only YAML or the lineage knows;
/// each with its type, description and upstream columns.
fn columns_data(id: &str, node: &Value, inputs: &Inputs, index: &HashMap<&str, usize>) -> Value {
    let yaml = node["columns"].as_object();
    let lineage = inputs.lineage.nodes.get(id);
    let mut names: Vec<String> = Vec::new();
    let mut push = |name: &str| {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name.to_string());
        }
    };
    let catalog = inputs.catalog.entry(id);
    for (name, _) in catalog.map(|e| e.columns.as_slice()).unwrap_or_default() {
        push(name);
    }
    for name in yaml.into_iter().flat_map(|m| m.keys()) {
        push(name);
    }
    for c in lineage.into_iter().flatten() {
        push(&c.name);
    }
    let columns: Vec<Value> = names
        .iter()
        .map(|name| {
            let described = yaml.and_then(|m| {
                m.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            });
            let data_type = catalog
                .and_then(|e| e.columns.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)))
                .map(|(_, t)| json!(t))
                .or_else(|| described.map(|d| d["data_type"].clone()))
                .unwrap_or(Value::Null);
            let mut out = json!({
                "name": name,
                "type": data_type,
                "description": described.map_or(json!(""), |d| d["description"].clone()),
            });
            if let Some(c) = inputs.lineage.column(id, name) {
                let upstream: Vec<Value> = c
                    .upstream
                    .iter()
                    .filter_map(|u| {
                        let kind = match u.kind {
                            Kind::Direct => "direct",
                            Kind::Derived => "derived",
                        };
                        Some(json!([index.get(u.node.as_str())?, u.column, kind]))
                    })
                    .collect();
                out["upstream"] = json!(upstream);
                if let Some(why) = &c.unknown {
                    out["unknown"] = json!(why);
                }
            }
            out
        })
        .collect();
    json!(columns)
}

/// For each tested node (by index), the indexes of its tests: a generic test is attached to
/// the node its YAML entry is under, a singular test to everything it reads.
fn tests_by_subject(
    entries: &[(&String, &Value)],
    index: &HashMap<&str, usize>,
) -> HashMap<usize, Vec<usize>> {
    let mut tests: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, (_, node)) in entries.iter().enumerate() {
        if node["resource_type"] != "test" {
            continue;
        }
        let subjects: Vec<&str> = match node["attached_node"].as_str() {
            Some(attached) => vec![attached],
            None => node["depends_on"]["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect(),
        };
        for s in subjects {
            if let Some(&at) = index.get(s) {
                tests.entry(at).or_default().push(i);
            }
        }
    }
    tests
}

/// Each macro with its text, cut from its file at its line up to its end tag.
fn macros_data(manifest: &Value, root: &Path) -> Value {
    let mut files: HashMap<String, Option<String>> = HashMap::new();
    let macros: Vec<Value> = manifest["macros"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(id, m)| {
            let path = m["original_file_path"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let text = files
                .entry(path.clone())
                .or_insert_with(|| std::fs::read_to_string(root.join(&path)).ok());
            let line = m["line"].as_u64().unwrap_or(1) as usize;
            json!({
                "id": id,
                "name": m["name"],
                "path": path,
                "line": line,
                "sql": text.as_deref().map(|t| macro_text(t, line)),
            })
        })
        .collect();
    json!(macros)
}

fn macro_text(file: &str, line: usize) -> String {
    let mut out = Vec::new();
    for l in file.lines().skip(line.saturating_sub(1)) {
        out.push(l);
        if l.contains("endmacro") || l.contains("endtest") || l.contains("endmaterialization") {
            break;
        }
    }
    out.join("\n")
}

fn run_data(
    run_results: &Value,
    manifest: &Value,
    index: &HashMap<&str, usize>,
    names: &HashMap<String, String>,
) -> Value {
    let parents: HashMap<String, Vec<String>> = manifest["parent_map"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(id, ps)| {
            let ps = ps.as_array().into_iter().flatten();
            (
                id.clone(),
                ps.filter_map(|p| p.as_str().map(str::to_string)).collect(),
            )
        })
        .collect();
    let timeline = gantt::timeline(run_results, &parents);
    let starts: HashMap<&str, f64> = timeline
        .spans
        .iter()
        .map(|s| (s.unique_id.as_str(), s.start))
        .collect();
    let results: Vec<Value> = run_results["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let id = r["unique_id"].as_str().unwrap_or_default();
            json!({
                "node": index.get(id),
                "id": id,
                "status": r["status"],
                "thread": r["thread_id"],
                "seconds": r["execution_time"],
                "start": starts.get(id),
                "message": r["message"],
                "failures": r["failures"],
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert(
        "generated_at".into(),
        run_results["metadata"]["generated_at"].clone(),
    );
    out.insert("elapsed".into(), run_results["elapsed_time"].clone());
    out.insert("args".into(), run_results["args"].clone());
    out.insert("results".into(), json!(results));
    out.insert("critical".into(), json!(timeline.critical));
    out.insert("gantt".into(), json!(gantt::svg(&timeline, names)));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_macro_is_cut_at_its_end_tag() {
        let file = "{% macro a() %}\n1\n{% endmacro %}\n\n{% macro b() %}\n2\n{% endmacro %}\n";
        assert_eq!(macro_text(file, 5), "{% macro b() %}\n2\n{% endmacro %}");
    }
}
