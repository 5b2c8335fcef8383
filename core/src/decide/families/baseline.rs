//! `baseline.capture`: proven by the BaselineSnapshot that claims the run.

use operationrun_crds::{BaselineSnapshot, OperationRun, Parsed};

use super::adapter::{Adapter, Findings, categories, plural};
use super::claims::{SingleArtifact, examine_single_artifact};
use crate::decide::evidence::{ArtifactKind, Evidence};

/// Decides baseline captures from BaselineSnapshots.
pub struct BaselineCapture;

impl Adapter for BaselineCapture {
    fn family(&self) -> &'static str {
        "baseline.capture"
    }

    fn artifact_kind(&self) -> Option<ArtifactKind> {
        Some(ArtifactKind::BaselineSnapshot)
    }

    fn examine(&self, run: &OperationRun, evidence: &Evidence<'_>) -> Findings {
        let claims = SingleArtifact {
            kind: "BaselineSnapshot",
            owner: "baseline profile",
            run_owner: run.spec.baseline_profile_ref.as_ref(),
            missing_owner: "The run has no spec.baselineProfileRef, which a baseline capture requires.",
            artifacts: &evidence.baseline_snapshots,
            run_ref: |a| a.spec.operation_run_ref.as_ref(),
            owner_ref: |a| a.spec.baseline_profile_ref.as_ref(),
        };
        examine_single_artifact(run, claims, examine_snapshot)
    }
}

struct Counts {
    total: i64,
    captured: i64,
    gaps: i64,
    gap_reasons: Vec<String>,
}

fn counts(snapshot: &Parsed<BaselineSnapshot>) -> Result<Counts, String> {
    if let Some(problem) = &snapshot.problem {
        return Err(format!("its fields cannot be read ({problem})"));
    }
    let summary = snapshot
        .object
        .status
        .as_ref()
        .and_then(|s| s.summary.as_ref());
    let total = summary.and_then(|s| s.subjects_total).unwrap_or(0);
    let captured = summary.and_then(|s| s.captured).unwrap_or(0);
    let mut gaps: i128 = 0;
    let mut gap_reasons = Vec::new();
    for gap in summary.and_then(|s| s.gaps.as_ref()).into_iter().flatten() {
        let count = gap.count.unwrap_or(0);
        if count < 0 {
            return Err("it reports a negative gap count".into());
        }
        if count > 0 {
            gap_reasons.push(format!(
                "{count} {}",
                gap.reason.as_deref().unwrap_or("unspecified")
            ));
        }
        gaps += count as i128;
    }
    if total < 0 || captured < 0 {
        return Err("it reports a negative count".into());
    }
    if captured as i128 + gaps > total as i128 {
        return Err(format!(
            "captured + gaps ({}) exceeds subjectsTotal ({total})",
            captured as i128 + gaps
        ));
    }
    Ok(Counts {
        total,
        captured,
        gaps: gaps as i64,
        gap_reasons,
    })
}

fn examine_snapshot(snapshot: &Parsed<BaselineSnapshot>, findings: &mut Findings) {
    let name = snapshot.object.metadata.name.as_deref().unwrap_or_default();
    let c = match counts(snapshot) {
        Ok(c) => c,
        Err(why) => {
            findings.malformed = Some(format!(
                "BaselineSnapshot {name} claims the run, but {why}, so none of it is evidence."
            ));
            return;
        }
    };
    let status = snapshot.object.status.as_ref();
    let finalized = status.and_then(|s| s.state.as_deref()) == Some("Finalized");
    let fallback = status.and_then(|s| s.fallback_used).unwrap_or(false);
    findings.failures = categories(status.and_then(|s| s.failures.as_ref()));
    let mut shortfall = Vec::new();
    if c.gaps > 0 {
        shortfall.push(format!("gaps: {}", c.gap_reasons.join(", ")));
    }
    if fallback {
        shortfall.push("captured from cached inventory".to_string());
    }
    if finalized && c.captured == c.total && c.gaps == 0 && !fallback {
        findings.complete = Some(format!(
            "BaselineSnapshot {name} is finalized with all {} captured.",
            plural(c.total, "subject")
        ));
    } else if finalized && c.captured > 0 {
        let extra = if shortfall.is_empty() {
            String::new()
        } else {
            format!(" ({})", shortfall.join("; "))
        };
        findings.usable = Some(format!(
            "{} of {} captured in BaselineSnapshot {name}{extra}.",
            c.captured,
            plural(c.total, "subject")
        ));
    } else if !finalized {
        findings.pending = format!(
            "BaselineSnapshot {name} is not finalized; an unfinished snapshot is not a baseline."
        );
    } else {
        findings.pending = format!(
            "BaselineSnapshot {name} is finalized but captured none of its {}.",
            plural(c.total, "subject")
        );
    }
}
