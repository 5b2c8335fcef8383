//! Offline evaluation (docs/concepts.md#evaluate): one reconcile of every run in a set of manifests, with
//! the same decision core the controller uses.

use std::collections::HashMap;
use std::fmt::Write as _;

use jiff::Timestamp;
use operationrun_crds::{BackupSet, BaselineSnapshot, Parsed, RunCondition};
use serde::Serialize;

use crate::decide::{ConditionType, Config, Decision, Evidence, Rule, decide};
use crate::manifests::Manifests;

/// One run's result, as `evaluate -o json` prints it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    /// The run's namespace.
    pub namespace: String,
    /// The run's name.
    pub name: String,
    /// The run's family.
    #[serde(rename = "type")]
    pub type_: String,
    /// The controller-owned conditions after one reconcile, Stale first.
    pub conditions: Vec<RunCondition>,
    /// The row of the decision table that decided; absent when no decision was taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<Rule>,
}

/// Artifacts indexed by the (namespace, run name) they claim.
#[derive(Default)]
pub struct ClaimIndex<'a> {
    backup_sets: HashMap<(&'a str, &'a str), Vec<&'a Parsed<BackupSet>>>,
    baseline_snapshots: HashMap<(&'a str, &'a str), Vec<&'a Parsed<BaselineSnapshot>>>,
}

impl<'a> ClaimIndex<'a> {
    /// Indexes every artifact of `manifests` by the run it names.
    pub fn new(manifests: &'a Manifests) -> Self {
        let mut index = ClaimIndex::default();
        for b in &manifests.backup_sets {
            if let Some(r) = &b.object.spec.operation_run_ref {
                let ns = b.object.metadata.namespace.as_deref().unwrap_or_default();
                index
                    .backup_sets
                    .entry((ns, r.name.as_str()))
                    .or_default()
                    .push(b);
            }
        }
        for s in &manifests.baseline_snapshots {
            if let Some(r) = &s.object.spec.operation_run_ref {
                let ns = s.object.metadata.namespace.as_deref().unwrap_or_default();
                index
                    .baseline_snapshots
                    .entry((ns, r.name.as_str()))
                    .or_default()
                    .push(s);
            }
        }
        index
    }

    /// The evidence that may claim the run `namespace/name`.
    pub fn evidence(&self, namespace: &str, name: &str) -> Evidence<'a> {
        Evidence {
            backup_sets: self
                .backup_sets
                .get(&(namespace, name))
                .cloned()
                .unwrap_or_default(),
            baseline_snapshots: self
                .baseline_snapshots
                .get(&(namespace, name))
                .cloned()
                .unwrap_or_default(),
        }
    }
}

/// Decides every run at `now`, sorted by namespace then name.
pub fn evaluate(manifests: &Manifests, now: Timestamp, config: &Config) -> Vec<(Entry, Decision)> {
    let index = ClaimIndex::new(manifests);
    let mut out: Vec<(Entry, Decision)> = manifests
        .runs
        .iter()
        .map(|run| {
            let meta = &run.object.metadata;
            let namespace = meta.namespace.clone().unwrap_or_default();
            let name = meta.name.clone().unwrap_or_default();
            let decision = decide(run, &index.evidence(&namespace, &name), now, config);
            let entry = Entry {
                namespace,
                name,
                type_: run.object.spec.type_.clone(),
                conditions: decision.conditions.clone(),
                rule: decision.verdict.as_ref().map(|v| v.rule),
            };
            (entry, decision)
        })
        .collect();
    out.sort_by(|a, b| (&a.0.namespace, &a.0.name).cmp(&(&b.0.namespace, &b.0.name)));
    out
}

/// Renders entries as pretty JSON.
pub fn to_json(entries: &[Entry]) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(entries)?;
    text.push('\n');
    Ok(text)
}

/// Renders entries as an aligned table for people.
pub fn to_table(entries: &[Entry]) -> String {
    let mut rows = vec![[
        "NAMESPACE".to_string(),
        "NAME".into(),
        "TYPE".into(),
        "STALE".into(),
        "RECONCILED".into(),
        "RULE".into(),
        "MESSAGE".into(),
    ]];
    for e in entries {
        let find = |t: ConditionType| e.conditions.iter().find(|c| c.type_ == t.as_str());
        let stale = find(ConditionType::Stale);
        let reconciled = find(ConditionType::Reconciled);
        let describe = |c: Option<&RunCondition>| match c {
            Some(c) => format!("{} {}", c.status, c.reason.as_deref().unwrap_or_default()),
            None => "-".into(),
        };
        let message = reconciled
            .or(stale)
            .and_then(|c| c.message.clone())
            .unwrap_or_else(|| "not stale; nothing to decide".into());
        rows.push([
            e.namespace.clone(),
            e.name.clone(),
            e.type_.clone(),
            describe(stale),
            describe(reconciled),
            e.rule.map_or("-".into(), |r| r.to_string()),
            message,
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}   ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
