//! `baseline.capture`: proven by the BaselineSnapshot that claims the run.

use operationrun_crds::{BaselineSnapshot, OperationRun, Parsed};

use super::adapter::{Adapter, Findings, categories, plural};
use super::claims::{
    SingleArtifact, WrittenCounts, examine_single_artifact, report_single_artifact, shown,
};
use super::report::ClaimReport;
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
        examine_single_artifact(run, claims(run, evidence), examine_snapshot)
    }

    fn claim_reports(&self, run: &OperationRun, evidence: &Evidence<'_>) -> Vec<ClaimReport> {
        report_single_artifact(run, self.family(), &claims(run, evidence))
    }
}

/// How BaselineSnapshots claim a run: by its uid and its baseline profile.
fn claims<'e>(
    run: &'e OperationRun,
    evidence: &'e Evidence<'_>,
) -> SingleArtifact<'e, BaselineSnapshot> {
    SingleArtifact {
        kind: ArtifactKind::BaselineSnapshot.as_str(),
        owner: "baseline profile",
        run_owner: run.spec.baseline_profile_ref.as_ref(),
        missing_owner: "The run has no spec.baselineProfileRef, which a baseline capture requires.",
        artifacts: &evidence.baseline_snapshots,
        run_ref: |a| a.spec.operation_run_ref.as_ref(),
        owner_ref: |a| a.spec.baseline_profile_ref.as_ref(),
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

struct Counts {
    total: i64,
    captured: i64,
    gaps: i64,
    gap_reasons: Vec<String>,
}

/// A BaselineSnapshot's state and counts as the worker wrote them.
struct Written<'a> {
    state: Option<&'a str>,
    total: Option<i64>,
    captured: Option<i64>,
    /// Each gap's reason and count.
    gaps: Vec<(Option<&'a str>, Option<i64>)>,
    fallback: Option<bool>,
}

impl<'a> Written<'a> {
    fn of(snapshot: &'a BaselineSnapshot) -> Self {
        let status = snapshot.status.as_ref();
        let summary = status.and_then(|s| s.summary.as_ref());
        Written {
            state: status.and_then(|s| s.state.as_deref()),
            total: summary.and_then(|s| s.subjects_total),
            captured: summary.and_then(|s| s.captured),
            gaps: summary
                .and_then(|s| s.gaps.as_ref())
                .into_iter()
                .flatten()
                .map(|g| (g.reason.as_deref(), g.count))
                .collect(),
            fallback: status.and_then(|s| s.fallback_used),
        }
    }

    /// The counts the decision reads (an absent count is 0), or why they contradict
    /// themselves.
    fn counts(&self) -> Result<Counts, String> {
        let total = self.total.unwrap_or(0);
        let captured = self.captured.unwrap_or(0);
        let mut gaps: i128 = 0;
        let mut gap_reasons = Vec::new();
        for (reason, count) in &self.gaps {
            let count = count.unwrap_or(0);
            if count < 0 {
                return Err("it reports a negative gap count".into());
            }
            if count > 0 {
                gap_reasons.push(format!("{count} {}", reason.unwrap_or("unspecified")));
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

    /// "Finalized: 30 captured of 40 total; gaps: MissingPermission 10".
    fn summary(&self) -> String {
        let gaps = if self.gaps.is_empty() {
            "no gaps".to_string()
        } else {
            let list: Vec<String> = self
                .gaps
                .iter()
                .map(|(reason, count)| {
                    format!("{} {}", reason.unwrap_or("unspecified"), shown(*count))
                })
                .collect();
            format!("gaps: {}", list.join(", "))
        };
        let mut text = format!(
            "{}: {} captured of {} total; {gaps}",
            self.state.unwrap_or("no state"),
            shown(self.captured),
            shown(self.total)
        );
        if self.fallback == Some(true) {
            text.push_str("; captured from cached inventory (fallback)");
        }
        text
    }
}

fn counts(snapshot: &Parsed<BaselineSnapshot>) -> Result<Counts, String> {
    if let Some(problem) = &snapshot.problem {
        return Err(format!("its fields cannot be read ({problem})"));
    }
    Written::of(&snapshot.object).counts()
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
