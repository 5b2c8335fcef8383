//! `backup.schedule.execute`: proven by the BackupSet that claims the run.

use operationrun_crds::{BackupSet, OperationRun, Parsed};

use super::adapter::{Adapter, Findings, NO_CATEGORY, categories, category_list, plural};
use super::claims::{
    SingleArtifact, WrittenCounts, examine_single_artifact, report_single_artifact, shown,
};
use super::report::ClaimReport;
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
        examine_single_artifact(run, claims(run, evidence), examine_set)
    }

    fn claim_reports(&self, run: &OperationRun, evidence: &Evidence<'_>) -> Vec<ClaimReport> {
        report_single_artifact(run, self.family(), &claims(run, evidence))
    }
}

/// How BackupSets claim a run: by its uid and its backup schedule.
fn claims<'e>(run: &'e OperationRun, evidence: &'e Evidence<'_>) -> SingleArtifact<'e, BackupSet> {
    SingleArtifact {
        kind: ArtifactKind::BackupSet.as_str(),
        owner: "backup schedule",
        run_owner: run.spec.backup_schedule_ref.as_ref(),
        missing_owner: "The run has no spec.backupScheduleRef, which a scheduled backup requires.",
        artifacts: &evidence.backup_sets,
        run_ref: |a| a.spec.operation_run_ref.as_ref(),
        owner_ref: |a| a.spec.backup_schedule_ref.as_ref(),
        written: |a| {
            let w = Written::of(a);
            WrittenCounts {
                summary: w.summary(),
                contradiction: w.counts().err(),
            }
        },
        failures: |a| a.status.as_ref().and_then(|s| s.failures.as_ref()),
    }
}

/// Counts of a well-formed BackupSet.
struct Counts {
    total: i64,
    succeeded: i64,
    failed: i64,
    skipped: i64,
}

/// A BackupSet's state and counts as the worker wrote them.
struct Written<'a> {
    state: Option<&'a str>,
    total: Option<i64>,
    succeeded: Option<i64>,
    failed: Option<i64>,
    skipped: Option<i64>,
}

impl<'a> Written<'a> {
    fn of(set: &'a BackupSet) -> Self {
        let status = set.status.as_ref();
        let summary = status.and_then(|s| s.summary.as_ref());
        Written {
            state: status.and_then(|s| s.state.as_deref()),
            total: summary.and_then(|s| s.items_total),
            succeeded: summary.and_then(|s| s.succeeded),
            failed: summary.and_then(|s| s.failed),
            skipped: summary.and_then(|s| s.skipped),
        }
    }

    /// The counts the decision reads (an absent count is 0), or why they contradict
    /// themselves.
    fn counts(&self) -> Result<Counts, String> {
        let c = Counts {
            total: self.total.unwrap_or(0),
            succeeded: self.succeeded.unwrap_or(0),
            failed: self.failed.unwrap_or(0),
            skipped: self.skipped.unwrap_or(0),
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

    /// "Finalized: 100 succeeded, 20 failed, 0 skipped of 120 total".
    fn summary(&self) -> String {
        format!(
            "{}: {} succeeded, {} failed, {} skipped of {} total",
            self.state.unwrap_or("no state"),
            shown(self.succeeded),
            shown(self.failed),
            shown(self.skipped),
            shown(self.total)
        )
    }
}

fn counts(set: &Parsed<BackupSet>) -> Result<Counts, String> {
    if let Some(problem) = &set.problem {
        return Err(format!("its fields cannot be read ({problem})"));
    }
    Written::of(&set.object).counts()
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
        failures.push(NO_CATEGORY.to_string());
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
