//! The comparison behind `state:`, `result:` and `source_status:`: fingerprints of the
//! project now against the state's, each difference under dbt's sub-selector name.

use std::collections::{HashMap, HashSet};

use super::{Fingerprint, State};
use crate::graph::selector::Marks;

/// Each macro's text digest, by macro name.
pub type MacroDigests = HashMap<String, String>;

/// The project as it is now, for the comparison.
pub struct Current<'a> {
    pub fingerprints: &'a HashMap<String, Fingerprint>,
    pub macros: &'a MacroDigests,
    /// `sources.json` of the current target directory: each source's `max_loaded_at`.
    pub loaded_at: &'a HashMap<String, String>,
}

const SUB_SELECTORS: [&str; 6] = [
    "body",
    "configs",
    "relation",
    "persisted_descriptions",
    "macros",
    "contract",
];

/// The sets each `state:`, `result:` and `source_status:` value selects.
pub fn marks(state: &State, current: &Current) -> Marks {
    let mut marks = Marks::default();
    for method in ["state", "result", "source_status"] {
        marks.known.insert(method);
    }
    let mut add = |key: String, id: &str| {
        marks.sets.entry(key).or_default().insert(id.to_string());
    };
    for (id, now) in current.fingerprints {
        let Some(before) = state.fingerprints.get(id) else {
            add("state:new".into(), id);
            add("state:modified".into(), id);
            continue;
        };
        add("state:old".into(), id);
        let changed = before
            .as_ref()
            .map(|before| changes(before, now, state, current.macros))
            .unwrap_or_default();
        for sub in &changed {
            add(format!("state:modified.{sub}"), id);
        }
        match changed.is_empty() {
            true => add("state:unmodified".into(), id),
            false => add("state:modified".into(), id),
        }
    }
    for (id, status) in &state.results {
        add(format!("result:{status}"), id);
    }
    for (id, now) in current.loaded_at {
        // ISO-8601 times of one writer compare as text.
        if state.loaded_at.get(id).is_none_or(|before| now > before) {
            add("source_status:fresher".into(), id);
        }
    }
    for sub in SUB_SELECTORS {
        marks
            .sets
            .entry(format!("state:modified.{sub}"))
            .or_default();
    }
    for key in [
        "state:new",
        "state:old",
        "state:modified",
        "state:unmodified",
    ] {
        marks.sets.entry(key.into()).or_default();
    }
    marks
        .sets
        .entry("source_status:fresher".into())
        .or_default();
    marks
}

/// The sub-selectors under which `now` differs from `before`. `macros` is a cause, not a
/// change of its own: it is named only when what the node renders to changed too, so a
/// macro edit that changes no SQL modifies nothing.
fn changes(
    before: &Fingerprint,
    now: &Fingerprint,
    state: &State,
    macros: &MacroDigests,
) -> HashSet<&'static str> {
    let mut out = HashSet::new();
    // A manifest written by dbt has file checksums only.
    if before.sql.is_empty() {
        if before.file != now.file {
            out.insert("body");
        }
        return out;
    }
    if before.sql != now.sql {
        out.insert("body");
    }
    if before.config != now.config {
        out.insert("configs");
    }
    if before.relation != now.relation {
        out.insert("relation");
    }
    let persisted = (now.persist_relation && before.description != now.description)
        || (now.persist_columns && before.column_descriptions != now.column_descriptions);
    if persisted {
        out.insert("persisted_descriptions");
    }
    if before.contract != now.contract {
        out.insert("contract");
    }
    let rendered_differently = out.contains("body") || out.contains("configs");
    if rendered_differently
        && now
            .macros
            .iter()
            .any(|m| state.macros.get(m) != macros.get(m))
    {
        out.insert("macros");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(sql: &str, macros: &[&str]) -> Fingerprint {
        Fingerprint {
            sql: sql.into(),
            file: format!("file of {sql}"),
            config: "c".into(),
            relation: "r".into(),
            macros: macros.iter().map(|m| m.to_string()).collect(),
            ..Fingerprint::default()
        }
    }

    fn state_of(nodes: &[(&str, Option<Fingerprint>)], macros: &[(&str, &str)]) -> State {
        State {
            fingerprints: nodes
                .iter()
                .map(|(id, f)| (id.to_string(), f.clone()))
                .collect(),
            macros: macros
                .iter()
                .map(|(m, d)| (m.to_string(), d.to_string()))
                .collect(),
            ..State::default()
        }
    }

    fn marks_of(state: &State, now: &[(&str, Fingerprint)], macros: &[(&str, &str)]) -> Marks {
        let fingerprints = now
            .iter()
            .map(|(id, f)| (id.to_string(), f.clone()))
            .collect();
        let macros = macros
            .iter()
            .map(|(m, d)| (m.to_string(), d.to_string()))
            .collect();
        let current = Current {
            fingerprints: &fingerprints,
            macros: &macros,
            loaded_at: &HashMap::new(),
        };
        marks(state, &current)
    }

    fn set(marks: &Marks, key: &str) -> Vec<String> {
        let mut ids: Vec<String> = marks.sets[key].iter().cloned().collect();
        ids.sort();
        ids
    }

    #[test]
    fn a_changed_macro_is_named_only_where_the_sql_changed_too() {
        let before = state_of(
            &[
                ("a", Some(fingerprint("sql a", &["m"]))),
                ("b", Some(fingerprint("sql b", &["m"]))),
            ],
            &[("m", "m1")],
        );
        let now = [
            ("a", fingerprint("sql a v2", &["m"])),
            ("b", fingerprint("sql b", &["m"])),
            ("c", fingerprint("sql c", &[])),
        ];
        let marks = marks_of(&before, &now, &[("m", "m2")]);
        assert_eq!(set(&marks, "state:modified"), ["a", "c"]);
        assert_eq!(set(&marks, "state:modified.macros"), ["a"]);
        assert_eq!(set(&marks, "state:new"), ["c"]);
        assert_eq!(set(&marks, "state:unmodified"), ["b"]);
    }

    #[test]
    fn a_dbt_manifest_compares_file_checksums() {
        let dbt = Fingerprint {
            file: "file of sql a".into(),
            ..Fingerprint::default()
        };
        let before = state_of(&[("a", Some(dbt.clone())), ("b", Some(dbt))], &[]);
        // `a`'s file is the one dbt saw; `b`'s is not. Configs are not compared.
        let now = [
            ("a", fingerprint("sql a", &[])),
            ("b", fingerprint("sql b", &[])),
        ];
        let marks = marks_of(&before, &now, &[]);
        assert_eq!(set(&marks, "state:modified"), ["b"]);
        assert_eq!(set(&marks, "state:modified.body"), ["b"]);
    }
}
