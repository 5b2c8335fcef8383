//! The chart README's values table against the chart's `values.yaml`: every value is
//! documented, every documented key exists, and a default written as a code span is the
//! default the chart has.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::markdown::{backticked, read, section, table, tables};

/// The dotted paths of `values`: every key, with its value.
fn paths(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    if let Value::Object(map) = value {
        for (key, child) in map {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            out.push((path.clone(), child.clone()));
            paths(&path, child, out);
        }
    }
}

#[test]
fn values_table_matches_values_yaml() {
    let values: Value = serde_norway::from_str(&read("charts/operationrun-controller/values.yaml"))
        .expect("values.yaml");
    let mut all = Vec::new();
    paths("", &values, &mut all);
    let known: BTreeSet<&str> = all.iter().map(|(p, _)| p.as_str()).collect();

    let readme = read("charts/operationrun-controller/README.md");
    let tables = tables(section(&readme, "Values"));
    let rows = &table(&tables, "key").rows;
    let mut problems = Vec::new();
    let mut documented = BTreeSet::new();
    for (line, cells) in rows {
        let keys = backticked(&cells[0]);
        if keys.is_empty() {
            problems.push(format!("README.md:{line}: no key in {:?}", cells[0]));
        }
        // A default written as a code span at the start of its cell is YAML.
        let default = cells[1]
            .starts_with('`')
            .then(|| backticked(&cells[1]).into_iter().next())
            .flatten();
        for key in keys {
            if !known.contains(key.as_str()) {
                problems.push(format!("README.md:{line}: `{key}` is not in values.yaml"));
                continue;
            }
            if !documented.insert(key.clone()) {
                problems.push(format!("README.md:{line}: `{key}` is listed twice"));
            }
            if let Some(default) = &default {
                let written: Value = serde_norway::from_str(default)
                    .unwrap_or_else(|e| panic!("README.md:{line}: `{default}`: {e}"));
                let actual = &all.iter().find(|(p, _)| *p == key).expect("known").1;
                if written != *actual {
                    problems.push(format!(
                        "README.md:{line}: `{key}` defaults to {actual} in values.yaml, not {written}"
                    ));
                }
            }
        }
    }
    // Every value is a documented key or lies under one (`resources.limits.cpu` under
    // `resources`); `global` belongs to a parent chart.
    for (path, _) in &all {
        let covered = documented.iter().any(|d| {
            path == d || path.starts_with(&format!("{d}.")) || d.starts_with(&format!("{path}."))
        });
        if !covered {
            problems.push(format!(
                "values.yaml: `{path}` is missing from the values table"
            ));
        }
    }
    assert!(
        documented.len() > 40,
        "only {} keys documented: is the scan broken?",
        documented.len()
    );
    assert!(
        problems.is_empty(),
        "charts/operationrun-controller/README.md#values:\n{}",
        problems.join("\n")
    );
}
