//! `inventory.sync`: proven by the coverage the run recorded in its own status.

use std::collections::{BTreeMap, BTreeSet};

use operationrun_crds::OperationRun;

use super::adapter::{Adapter, Findings, UNSPECIFIED, plural};
use crate::decide::evidence::Evidence;

/// Decides inventory syncs from `status.inventory.coverage`.
pub struct InventorySync;

impl Adapter for InventorySync {
    fn family(&self) -> &'static str {
        "inventory.sync"
    }

    fn examine(&self, run: &OperationRun, _evidence: &Evidence<'_>) -> Findings {
        let mut findings = Findings::default();
        let wanted: BTreeSet<&str> = run
            .spec
            .inventory
            .as_ref()
            .and_then(|i| i.policy_types.as_ref())
            .into_iter()
            .flatten()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .collect();
        if wanted.is_empty() {
            findings.invalid_run = Some(
                "The run has no spec.inventory.policyTypes, which an inventory sync requires."
                    .into(),
            );
            return findings;
        }
        let coverage = run
            .status
            .as_ref()
            .and_then(|s| s.inventory.as_ref())
            .and_then(|i| i.coverage.as_ref());
        let mut entries: BTreeMap<&str, Vec<(&str, Option<&str>)>> = BTreeMap::new();
        let mut outside = BTreeSet::new();
        for entry in coverage.into_iter().flatten() {
            let policy_type = entry
                .policy_type
                .as_deref()
                .map(str::trim)
                .unwrap_or_default();
            if wanted.contains(policy_type) {
                entries.entry(policy_type).or_default().push((
                    entry.state.as_deref().unwrap_or_default(),
                    entry.failure_category.as_deref(),
                ));
            } else {
                outside.insert(policy_type);
            }
        }
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
        for (policy_type, list) in &entries {
            let (state, category) = list[0];
            match state {
                "Succeeded" => succeeded.push(*policy_type),
                "Failed" => {
                    failed.push(*policy_type);
                    findings.failures.push(
                        category
                            .map(str::trim)
                            .filter(|c| !c.is_empty())
                            .unwrap_or(UNSPECIFIED)
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
}
