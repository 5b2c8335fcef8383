//! The metrics table of docs/operating.md#metrics, and every metric name the documents,
//! the alerts and the dashboard use, against what `/metrics` exposes.

use std::collections::{BTreeMap, BTreeSet};

use operationrun_controller::metrics::{EventLabel, KindLabel, Metrics};

use crate::markdown::{backticked, markdown_files, read, section, table, tables};

/// One metric as a scrape shows it.
#[derive(Debug, PartialEq, Eq)]
struct Exposed {
    /// `counter`, `gauge` or `histogram`.
    kind: String,
    /// Label names (`le` of a histogram's buckets left out).
    labels: BTreeSet<String>,
}

/// `Metrics::default()` with one series in every labelled family: prometheus-client leaves
/// a family without series out of the exposition altogether, its `# TYPE` line included.
fn metrics_with_every_family() -> Metrics {
    let m = Metrics::default();
    m.reconciled("backup.schedule.execute", "Succeeded");
    m.set_undecided("ns", "run", "backup.schedule.execute", true);
    m.events
        .get_or_create(&EventLabel {
            r#type: "Normal".into(),
        })
        .inc();
    m.api_error("403");
    m.watch_errors
        .get_or_create(&KindLabel {
            kind: "OperationRun".into(),
        })
        .inc();
    m.cache_synced("OperationRun", true);
    m.watch_event("OperationRun");
    m.set_confirmation_mode("BackupSet", "fieldSelector");
    m.unnamed("BackupSet");
    m
}

/// Every metric of the exposition, by the name its samples carry (`_total` for a
/// counter, the base name of a histogram's `_bucket`, `_sum` and `_count`).
fn exposed() -> BTreeMap<String, Exposed> {
    let text = metrics_with_every_family().encode();
    let mut families: BTreeMap<String, Exposed> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
            families.insert(
                name.to_string(),
                Exposed {
                    kind: kind.to_string(),
                    labels: BTreeSet::new(),
                },
            );
        }
    }
    // The registered names: a family the exposition leaves out has no series yet, and
    // metrics_with_every_family must create one.
    let source = read("controller/src/metrics.rs");
    let registered: BTreeSet<String> = source
        .split("\"operationrun_")
        .skip(1)
        .filter_map(|s| s.split_once('"'))
        .filter(|(name, _)| !name.contains(' '))
        .map(|(name, _)| format!("operationrun_{name}"))
        .collect();
    let shown: BTreeSet<String> = families.keys().cloned().collect();
    assert_eq!(
        registered, shown,
        "controller/src/metrics.rs registers metrics the exposition does not show: give each \
         labelled family a series in metrics_with_every_family"
    );
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let sample = &line[..name_end];
        let family = families
            .keys()
            .filter(|f| {
                sample.strip_prefix(f.as_str()).is_some_and(|s| {
                    ["", "_total", "_bucket", "_sum", "_count", "_created"].contains(&s)
                })
            })
            .max_by_key(|f| f.len())
            .cloned()
            .unwrap_or_else(|| panic!("sample {sample} of no family"));
        let labels = label_names(&line[name_end..]);
        let entry = families.get_mut(&family).expect("family");
        entry
            .labels
            .extend(labels.into_iter().filter(|l| l != "le"));
    }
    families
        .into_iter()
        .map(|(name, e)| {
            let exposed = if e.kind == "counter" {
                format!("{name}_total")
            } else {
                name
            };
            (exposed, e)
        })
        .collect()
}

/// The label names of `{a="x",b="y"} 1`.
fn label_names(rest: &str) -> Vec<String> {
    let Some(body) = rest.strip_prefix('{') else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let mut chars = body.chars();
    let mut name = String::new();
    while let Some(c) = chars.next() {
        match c {
            '=' => {
                names.push(std::mem::take(&mut name));
                // the quoted value
                chars.next();
                while let Some(v) = chars.next() {
                    match v {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            ',' => {}
            '}' => break,
            c => name.push(c),
        }
    }
    names
}

#[test]
fn metrics_table_lists_exactly_what_the_controller_exposes() {
    let doc = read("docs/operating.md");
    let tables = tables(section(&doc, "Metrics"));
    let table = table(&tables, "metric");
    let mut documented = BTreeMap::new();
    for (line, row) in &table.rows {
        let name = backticked(&row[0]).into_iter().next().unwrap_or_default();
        // `type` (`Normal`, `Warning`): the label, then its values in parentheses
        let labels_cell = row[2].split('(').next().unwrap_or_default();
        let labels = backticked(labels_cell).into_iter().collect();
        let entry = Exposed {
            kind: row[1].clone(),
            labels,
        };
        assert!(
            documented.insert(name.clone(), entry).is_none(),
            "docs/operating.md: the metrics table lists {name} twice (row at section line {line})"
        );
    }
    let exposed = exposed();
    let mut problems = Vec::new();
    for (name, e) in &exposed {
        match documented.get(name) {
            None => problems.push(format!("missing: `{name}` | {} | {:?}", e.kind, e.labels)),
            Some(d) if d != e => problems.push(format!(
                "`{name}`: the table says {} with labels {:?}, /metrics has {} with {:?}",
                d.kind, d.labels, e.kind, e.labels
            )),
            Some(_) => {}
        }
    }
    for name in documented.keys().filter(|n| !exposed.contains_key(*n)) {
        problems.push(format!("`{name}` is not exposed"));
    }
    assert!(
        problems.is_empty(),
        "docs/operating.md#metrics differs from Metrics::default().encode():\n{}",
        problems.join("\n")
    );
}

/// Crates whose names look like metrics in Rust paths.
const CRATES: &[&str] = &[
    "operationrun_controller",
    "operationrun_core",
    "operationrun_crds",
];

#[test]
fn every_metric_the_documents_name_is_exposed() {
    let exposed = exposed();
    let mut series: BTreeSet<String> = exposed.keys().cloned().collect();
    for (name, e) in &exposed {
        if e.kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                series.insert(format!("{name}{suffix}"));
            }
        }
    }
    let mut files = markdown_files();
    files.extend([
        "docs/prometheus-rules.yaml".to_string(),
        "docs/grafana-dashboard.json".to_string(),
    ]);
    let mut problems = Vec::new();
    let mut seen = 0;
    for file in &files {
        let text = read(file);
        for (i, line) in text.lines().enumerate() {
            for name in metric_names(line) {
                seen += 1;
                if !series.contains(&name) {
                    problems.push(format!("{file}:{}: {name}", i + 1));
                }
            }
        }
    }
    assert!(
        seen > 20,
        "only {seen} metric names found: is the scan broken?"
    );
    assert!(
        problems.is_empty(),
        "names that are no series of /metrics (exposed: {series:?}):\n{}",
        problems.join("\n")
    );
}

/// The `operationrun_*` names in `line`, crate names left out.
fn metric_names(line: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = line.as_bytes();
    let mut from = 0;
    while let Some(at) = line[from..].find("operationrun_") {
        let start = from + at;
        let end = start
            + line[start..]
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(line.len() - start);
        let preceded = start > 0 && {
            let b = bytes[start - 1];
            b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
        };
        let name = &line[start..end];
        if !preceded && !CRATES.contains(&name) {
            names.push(name.to_string());
        }
        from = end;
    }
    names
}
