//! The reference for `bench/run_overhead.sh`: the SQL `etlx run` executes, run by the duckdb
//! crate directly, with nothing around it.
//!
//! Reads `target/manifest.json`, and for every model in dependency order executes
//! `create or replace <view|table> <relation> as <compiled_code>` on one connection. The
//! difference between `etlx run` and this is what the tool itself costs.
//!
//! usage: cargo run --example duckdb_reference -- MANIFEST DATABASE

use std::collections::{HashMap, HashSet};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, manifest, database] = args.as_slice() else {
        return Err("usage: duckdb_reference MANIFEST DATABASE".into());
    };
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(manifest)?)?;
    let nodes = manifest["nodes"]
        .as_object()
        .ok_or("manifest has no nodes")?;
    let statements = ordered_statements(nodes);
    let conn = duckdb::Connection::open(database)?;
    let clock = Instant::now();
    for sql in &statements {
        conn.execute_batch(sql)?;
    }
    println!(
        "{} statements in {:.3} s",
        statements.len(),
        clock.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One DDL statement per view or table model, parents before children.
fn ordered_statements(nodes: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    let mut done = HashSet::new();
    let mut out = Vec::new();
    let by_id: HashMap<&str, &serde_json::Value> =
        nodes.iter().map(|(k, v)| (k.as_str(), v)).collect();
    for id in nodes.keys() {
        visit(id, &by_id, &mut done, &mut out);
    }
    out
}

fn visit(
    id: &str,
    nodes: &HashMap<&str, &serde_json::Value>,
    done: &mut HashSet<String>,
    out: &mut Vec<String>,
) {
    if !done.insert(id.to_string()) {
        return;
    }
    let Some(node) = nodes.get(id) else { return };
    for parent in node["depends_on"]["nodes"].as_array().into_iter().flatten() {
        if let Some(p) = parent.as_str() {
            visit(p, nodes, done, out);
        }
    }
    let kind = match node["config"]["materialized"].as_str() {
        Some("view") => "view",
        Some("table" | "incremental") => "table",
        _ => return,
    };
    if let (Some(relation), Some(sql)) = (
        node["relation_name"].as_str(),
        node["compiled_code"].as_str(),
    ) {
        out.push(format!("create or replace {kind} {relation} as {sql}"));
    }
}
