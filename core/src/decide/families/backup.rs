//! `backup.schedule.execute`: proven by the BackupSet that claims the run.

use operationrun_crds::{BackupSet, OperationRun, Parsed};

use super::adapter::{Adapter, Findings, UNSPECIFIED, categories, category_list, plural};
use super::claims::{SingleArtifact, examine_single_artifact};
use crate::decide::evidence::{ArtifactKind, Evidence};

/// Decides scheduled backups from BackupSets.
pub struct BackupScheduleExecute;

impl Adapter for BackupScheduleExecute {
    fn family(&self) -> &'static str {
        "backup.schedule.execute"
    }

    fn artifact_kind(&self) -> Option<ArtifactKind> {
        Some(ArtifactKind::BackupSet)
    }

    fn examine(&self, run: &OperationRun, evidence: &Evidence<'_>) -> Findings {
        let claims = SingleArtifact {
            kind: "BackupSet",
            owner: "backup schedule",
            run_owner: run.spec.backup_schedule_ref.as_ref(),
            missing_owner: "The run has no spec.backupScheduleRef, which a scheduled backup requires.",
            artifacts: &evidence.backup_sets,
            run_ref: |a| a.spec.operation_run_ref.as_ref(),
            owner_ref: |a| a.spec.backup_schedule_ref.as_ref(),
        };
        examine_single_artifact(run, claims, examine_set)
    }
}

/// Counts of a well-formed BackupSet.
struct Counts {
    total: i64,
    succeeded: i64,
    failed: i64,
    skipped: i64,
}

fn counts(set: &Parsed<BackupSet>) -> Result<Counts, String> {
    if let Some(problem) = &set.problem {
        return Err(format!("its fields cannot be read ({problem})"));
    }
    let summary = set.object.status.as_ref().and_then(|s| s.summary.as_ref());
    let get =
        |f: fn(&operationrun_crds::BackupSummary) -> Option<i64>| summary.and_then(f).unwrap_or(0);
    let c = Counts {
        total: get(|s| s.items_total),
        succeeded: get(|s| s.succeeded),
        failed: get(|s| s.failed),
        skipped: get(|s| s.skipped),
    };
    if c.total < 0 || c.succeeded < 0 || c.failed < 0 || c.skipped < 0 {
        return Err("it reports a negative count".into());
    }
    let sum = c.succeeded as i128 + c.failed as i128 + c.skipped as i128;
    if sum > c.total as i128 {
        return Err(format!(
            "succeeded + failed + skipped ({sum}) exceeds itemsTotal ({})",
            c.total
        ));
    }
    Ok(c)
}

fn examine_set(set: &Parsed<BackupSet>, findings: &mut Findings) {
    let name = set.object.metadata.name.as_deref().unwrap_or_default();
    let c = match counts(set) {
        Ok(c) => c,
        Err(why) => {
            findings.malformed = Some(format!(
                "BackupSet {name} claims the run, but {why}, so none of it is evidence."
            ));
            return;
        }
    };
    let status = set.object.status.as_ref();
    let finalized = status.and_then(|s| s.state.as_deref()) == Some("Finalized");
    let mut failures = categories(status.and_then(|s| s.failures.as_ref()));
    let listed = status.and_then(|s| s.failures.as_ref()).is_some_and(|f| {
        f.iter()
            .any(|f| f.category.as_deref().is_some_and(|c| !c.trim().is_empty()))
    });
    if c.failed > 0 && !listed {
        failures.push(UNSPECIFIED.to_string());
    }
    let failed_part = if c.failed > 0 {
        format!("; {} failed ({})", c.failed, category_list(&failures))
    } else {
        String::new()
    };
    if finalized && c.failed == 0 && c.succeeded + c.skipped == c.total {
        findings.complete = Some(if c.skipped > 0 {
            format!(
                "BackupSet {name} is finalized: {} of {} stored, {} skipped by design.",
                c.succeeded, c.total, c.skipped
            )
        } else {
            format!(
                "BackupSet {name} is finalized with all {} stored.",
                plural(c.total, "item")
            )
        });
    } else if c.succeeded > 0 {
        findings.usable = Some(format!(
            "{} of {} stored in {}BackupSet {name}{failed_part}.",
            c.succeeded,
            plural(c.total, "item"),
            if finalized { "" } else { "unfinished " },
        ));
    } else if !finalized {
        findings.pending = format!("BackupSet {name} is not finalized and stores no items yet.");
    } else {
        findings.pending = format!(
            "BackupSet {name} is finalized but stores none of its {}.",
            plural(c.total, "item")
        );
    }
    findings.failures = failures;
}
