//! `inventory.sync`: proven by the coverage the run recorded in its own status.

use std::collections::{BTreeMap, BTreeSet};

use operationrun_crds::{CoverageEntry, OperationRun};

use super::adapter::{Adapter, Findings, NO_CATEGORY, plural};
use super::report::{Coverage, CoverageLine};
use crate::decide::evidence::Evidence;

/// Decides inventory syncs from `status.inventory.coverage`.
pub struct InventorySync;

impl Adapter for InventorySync {
    fn family(&self) -> &'static str {
        "inventory.sync"
    }

    fn examine(&self, run: &OperationRun, _evidence: &Evidence<'_>) -> Findings {
        let mut findings = Findings::default();
        let wanted = requested(run);
        if wanted.is_empty() {
            findings.invalid_run = Some(
                "The run has no spec.inventory.policyTypes, which an inventory sync requires."
                    .into(),
            );
            return findings;
        }
        let Sorted { entries, outside } = sort(&wanted, recorded(run));
        findings.has_in_scope = !entries.is_empty();
        if !outside.is_empty() {
            findings.out_of_scope = Some(format!(
                "The run's coverage lists only policy types it was not asked to sync ({}); they are not evidence.",
                outside.iter().copied().collect::<Vec<_>>().join(", ")
            ));
        }
        let doubled: Vec<&str> = entries
            .iter()
            .filter(|(_, e)| e.len() > 1)
            .map(|(t, _)| *t)
            .collect();
        if !doubled.is_empty() {
            findings.ambiguous = Some(format!(
                "The coverage lists more than one entry for {}; the controller will not pick one.",
                doubled.join(", ")
            ));
            return findings;
        }
        let mut succeeded = Vec::new();
        let mut failed = Vec::new();
        // no type has two entries here: each list holds exactly one
        for (policy_type, entry) in entries.iter().filter_map(|(t, l)| Some((t, l.first()?))) {
            let category = entry.failure_category.as_deref();
            match entry.state.as_deref().unwrap_or_default() {
                "Succeeded" => succeeded.push(*policy_type),
                "Failed" => {
                    failed.push(*policy_type);
                    findings.failures.push(
                        category
                            .map(str::trim)
                            .filter(|c| !c.is_empty())
                            .unwrap_or(NO_CATEGORY)
                            .to_string(),
                    );
                }
                _ => {}
            }
        }
        let total = wanted.len() as i64;
        if succeeded.len() == wanted.len() {
            findings.complete = Some(format!(
                "All {} synced ({}).",
                plural(total, "policy type"),
                succeeded.join(", ")
            ));
        } else if !succeeded.is_empty() {
            let missing: Vec<&str> = wanted
                .iter()
                .copied()
                .filter(|t| !succeeded.contains(t))
                .collect();
            findings.usable = Some(format!(
                "{} of {} synced ({}); not synced: {}.",
                succeeded.len(),
                plural(total, "policy type"),
                succeeded.join(", "),
                missing.join(", ")
            ));
        }
        findings.pending = if entries.is_empty() {
            "The run has recorded no coverage for its policy types yet.".into()
        } else {
            format!(
                "{} of {} finished; the rest have no recorded result.",
                succeeded.len() + failed.len(),
                plural(total, "policy type")
            )
        };
        findings
    }

    fn coverage<'r>(&self, run: &'r OperationRun) -> Option<Coverage<'r>> {
        let wanted = requested(run);
        let Sorted { entries, .. } = sort(&wanted, recorded(run));
        let lines = recorded(run)
            .map(|entry| {
                let covered = entries.get(policy_type(entry));
                CoverageLine {
                    entry,
                    in_scope: covered.is_some(),
                    duplicate: covered.is_some_and(|list| list.len() > 1),
                }
            })
            .collect();
        Some(Coverage {
            note: "an inventory sync's evidence is its own coverage",
            entries: lines,
            missing: wanted
                .iter()
                .copied()
                .filter(|t| !entries.contains_key(t))
                .collect(),
        })
    }
}

/// The policy types the run asks for: a set, trimmed, empty names dropped.
fn requested(run: &OperationRun) -> BTreeSet<&str> {
    run.spec
        .inventory
        .as_ref()
        .and_then(|i| i.policy_types.as_ref())
        .into_iter()
        .flatten()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The coverage entries the run recorded, in order.
fn recorded(run: &OperationRun) -> impl Iterator<Item = &CoverageEntry> {
    run.status
        .as_ref()
        .and_then(|s| s.inventory.as_ref())
        .and_then(|i| i.coverage.as_ref())
        .into_iter()
        .flatten()
}

/// The policy type an entry covers, trimmed.
fn policy_type(entry: &CoverageEntry) -> &str {
    entry
        .policy_type
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
}

/// Coverage entries sorted by scope.
struct Sorted<'r> {
    /// In-scope entries by requested policy type; more than one for a type is ambiguous.
    entries: BTreeMap<&'r str, Vec<&'r CoverageEntry>>,
    /// Policy types covered that were not requested: not evidence.
    outside: BTreeSet<&'r str>,
}

fn sort<'r>(
    wanted: &BTreeSet<&str>,
    coverage: impl Iterator<Item = &'r CoverageEntry>,
) -> Sorted<'r> {
    let mut sorted = Sorted {
        entries: BTreeMap::new(),
        outside: BTreeSet::new(),
    };
    for entry in coverage {
        let policy_type = policy_type(entry);
        if wanted.contains(policy_type) {
            sorted.entries.entry(policy_type).or_default().push(entry);
        } else {
            sorted.outside.insert(policy_type);
        }
    }
    sorted
}
