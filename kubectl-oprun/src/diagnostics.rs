//! The evidence `explain --diagnostics` adds: the artifacts naming the run and where they
//! stand, the run's own coverage, every condition, the recorded failures, the timestamps
//! and the row of the decision table that decides on the current evidence. Every judgment
//! shown here comes from the decision core (`claim_reports`, `coverage`, `judge`); this
//! module only words it.

use std::fmt::Write as _;

use operationrun_core::decide::{
    ClaimReport, ClaimStanding, Coverage, Evidence, Reason, Staleness, abandon_due, claim_reports,
    coverage, format_time, is_owned, judge,
};
use operationrun_core::evaluate::ClaimIndex;
use operationrun_core::manifests::Manifests;
use operationrun_crds::{ArtifactRef, Failure, RunCondition};

use crate::render::{Context, or_dash};
use crate::view::RunView;

/// The diagnostics block of `explain`, starting with a blank line.
pub fn diagnostics(view: &RunView<'_>, ctx: &Context<'_>) -> String {
    let empty = Manifests::default();
    let index = ClaimIndex::new(ctx.manifests.unwrap_or(&empty));
    let evidence = index.evidence(view.namespace(), view.name());
    let run = &view.run.object;
    let claims = claim_reports(run, &evidence);
    let coverage = coverage(run);
    let mut out = String::new();
    if let Some(problem) = &view.run.problem {
        let _ = writeln!(out);
        let _ = writeln!(out, "Unreadable fields of the run:");
        let _ = writeln!(out, "  {problem}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Related artifacts:");
    if claims.is_empty() {
        let why = coverage
            .as_ref()
            .map_or("none claims this run".to_string(), |c| {
                format!("none: {}", c.note)
            });
        let _ = writeln!(out, "  {why}");
    }
    for c in &claims {
        let _ = writeln!(
            out,
            "  {} {} (uid {}): {}",
            c.kind,
            c.name,
            or_dash(&c.uid),
            standing(view, c)
        );
        let _ = writeln!(out, "    {}", counts(c));
    }
    for r in related_missing(view, &claims) {
        let _ = writeln!(
            out,
            "  {} {} (uid {}): named by the decision, no longer found",
            r.kind,
            r.name,
            or_dash(&r.uid)
        );
    }
    if let Some(coverage) = &coverage {
        let _ = writeln!(out);
        out.push_str(&coverage_text(coverage));
    }

    let _ = writeln!(out);
    let _ = writeln!(out, "Conditions:");
    let conditions = run
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    if conditions.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for c in conditions {
        out.push_str(&condition(c));
    }

    let _ = writeln!(out);
    let _ = writeln!(out, "Recorded failures:");
    let failures = failures(view, &claims, coverage.as_ref());
    if failures.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for f in failures {
        let _ = writeln!(out, "  {f}");
    }

    let _ = writeln!(out);
    let _ = writeln!(out, "Timestamps:");
    for (label, value) in timestamps(view, ctx) {
        let _ = writeln!(out, "  {:<12}{value}", format!("{label}:"));
    }

    let _ = writeln!(out);
    let _ = writeln!(out, "Decision:");
    let _ = writeln!(out, "  {}", decided_by(view, &evidence));
    out
}

/// Whether an artifact is evidence for the run, in the words of docs/concepts.md.
fn standing(view: &RunView<'_>, c: &ClaimReport) -> String {
    let mut text = match &c.standing {
        ClaimStanding::OtherFamily { family } => {
            return format!("not evidence: a {} proves only {family} runs", c.kind);
        }
        ClaimStanding::OtherRunUid {
            claimed_uid,
            run_uid,
        } => {
            let theirs = claimed_uid
                .as_ref()
                .map_or("no run uid".to_string(), |u| format!("run uid {u}"));
            let ours = run_uid
                .as_ref()
                .map_or("has no uid".to_string(), |u| format!("is {u}"));
            format!("out of scope: it names {theirs}; the run's uid {ours}")
        }
        ClaimStanding::OtherOwner {
            owner_field,
            claimed_owner,
            run_owner,
        } => format!(
            "out of scope: it names {owner_field} {}, the run {}",
            claimed_owner.as_deref().unwrap_or("none"),
            run_owner.as_deref().unwrap_or("none")
        ),
        ClaimStanding::InScope => "in scope".to_string(),
    };
    if stored_related(view).any(|r| r.kind == c.kind && r.name == c.name) {
        text.push_str(", named by the decision");
    }
    text
}

/// The artifact's counts line, with what makes it malformed.
fn counts(c: &ClaimReport) -> String {
    let mut text = c.counts.clone();
    if c.contradiction.is_some() {
        text.push_str(" (the counts contradict themselves)");
    }
    if let Some(p) = &c.unreadable {
        let _ = write!(text, " (unreadable fields: {p})");
    }
    text
}

/// The artifacts the stored `Reconciled` condition names.
fn stored_related<'a>(view: &RunView<'a>) -> impl Iterator<Item = &'a ArtifactRef> + use<'a> {
    view.reconciled
        .and_then(|c| c.related_artifacts.as_deref())
        .unwrap_or_default()
        .iter()
}

/// Artifacts the stored decision names that no longer name the run.
fn related_missing<'a>(view: &RunView<'a>, claims: &[ClaimReport]) -> Vec<&'a ArtifactRef> {
    stored_related(view)
        .filter(|r| !claims.iter().any(|c| c.kind == r.kind && c.name == r.name))
        .collect()
}

fn coverage_text(coverage: &Coverage<'_>) -> String {
    let mut out = String::from("Coverage:\n");
    for line in &coverage.entries {
        let e = line.entry;
        let policy_type = e.policy_type.as_deref().unwrap_or("(no policyType)");
        let state = e.state.as_deref().unwrap_or("no state");
        let mut text = format!("  {policy_type}: {state}");
        if let Some(n) = e.item_count {
            let _ = write!(text, ", {n} items");
        }
        if let Some(c) = &e.failure_category {
            let _ = write!(text, " ({c})");
        }
        if !line.in_scope {
            text.push_str(" (out of scope: not in spec.inventory.policyTypes)");
        }
        if line.duplicate {
            text.push_str(" (ambiguous: more than one entry for this policy type)");
        }
        let _ = writeln!(out, "{text}");
    }
    for missing in &coverage.missing {
        let _ = writeln!(out, "  {missing}: no entry yet");
    }
    if coverage.entries.is_empty() && coverage.missing.is_empty() {
        out.push_str("  none\n");
    }
    out
}

fn condition(c: &RunCondition) -> String {
    let mut out = String::new();
    let reason = c
        .reason
        .as_deref()
        .map(|r| format!(" {r}"))
        .unwrap_or_default();
    let since = c
        .last_transition_time
        .as_deref()
        .map(|t| format!(", since {t}"))
        .unwrap_or_default();
    let foreign = if is_owned(&c.type_) {
        ""
    } else {
        " (not written by the controller)"
    };
    let _ = writeln!(out, "  {}={}{reason}{since}{foreign}", c.type_, c.status);
    if let Some(m) = c.message.as_deref().filter(|m| !m.trim().is_empty()) {
        let _ = writeln!(out, "    {m}");
    }
    let mut extra = Vec::new();
    if let Some(a) = &c.adapter {
        extra.push(format!("adapter: {a}"));
    }
    if let Some(p) = &c.previous_phase {
        extra.push(format!("previousPhase: {p}"));
    }
    if let Some(g) = c.observed_generation {
        extra.push(format!("observedGeneration: {g}"));
    }
    if !extra.is_empty() {
        let _ = writeln!(out, "    {}", extra.join(", "));
    }
    if let Some(related) = &c.related_artifacts {
        let list: Vec<String> = related
            .iter()
            .map(|r| format!("{} {} (uid {})", r.kind, r.name, or_dash(&r.uid)))
            .collect();
        let list = if list.is_empty() {
            "none".to_string()
        } else {
            list.join(", ")
        };
        let _ = writeln!(out, "    relatedArtifacts: {list}");
    }
    out
}

fn failures(
    view: &RunView<'_>,
    claims: &[ClaimReport],
    coverage: Option<&Coverage<'_>>,
) -> Vec<String> {
    let describe = |f: &Failure| {
        let category = f
            .category
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .unwrap_or("(no category)");
        match f.message.as_deref().filter(|m| !m.trim().is_empty()) {
            Some(m) => format!("{category}: {m}"),
            None => category.to_string(),
        }
    };
    let run = &view.run.object;
    let mut out = Vec::new();
    for f in run
        .status
        .as_ref()
        .and_then(|s| s.failures.as_deref())
        .unwrap_or_default()
    {
        out.push(format!("OperationRun {}: {}", view.name(), describe(f)));
    }
    for c in claims {
        for f in &c.failures {
            out.push(format!("{} {}: {}", c.kind, c.name, describe(f)));
        }
    }
    for line in coverage.map(|c| c.entries.as_slice()).unwrap_or_default() {
        let e = line.entry;
        if e.state.as_deref() == Some("Failed") {
            out.push(format!(
                "coverage {}: {}",
                e.policy_type.as_deref().unwrap_or("(no policyType)"),
                e.failure_category.as_deref().unwrap_or("(no category)")
            ));
        }
    }
    out
}

fn timestamps(view: &RunView<'_>, ctx: &Context<'_>) -> Vec<(&'static str, String)> {
    let run = &view.run.object;
    let status = run.status.as_ref();
    let stored = |v: Option<&str>| v.map_or("-".to_string(), str::to_string);
    let mut out = vec![
        (
            "created",
            run.metadata
                .creation_timestamp
                .as_ref()
                .map_or("-".to_string(), |t| format_time(t.0)),
        ),
        (
            "started",
            stored(status.and_then(|s| s.started_at.as_deref())),
        ),
        (
            "heartbeat",
            stored(status.and_then(|s| s.heartbeat_time.as_deref())),
        ),
        (
            "completed",
            stored(status.and_then(|s| s.completed_at.as_deref())),
        ),
    ];
    let stale_since = match &view.staleness {
        Staleness::Stale { since, .. } => format_time(*since),
        Staleness::Fresh { stale_at } => {
            format!("- (stale at {} without news)", format_time(*stale_at))
        }
        Staleness::Completed => "- (a Completed run is never stale)".to_string(),
        Staleness::Unknown => "- (no timestamp to measure from)".to_string(),
    };
    out.push(("staleSince", stale_since));
    if let Staleness::Stale { since, .. } = &view.staleness
        && !view.decided()
        && let Some(at) = abandon_due(*since, ctx.config)
    {
        out.push((
            "abandonAt",
            format!("{} (if still undecided)", format_time(at)),
        ));
    }
    out
}

/// The row of the decision table that decides on the current evidence, beside what the
/// controller stored. `judge` applies the table whatever the run's phase; abandonment is
/// left out, the stored reason says whether it happened.
fn decided_by(view: &RunView<'_>, evidence: &Evidence<'_>) -> String {
    let v = judge(view.run, evidence);
    let row = format!("rule {} ({})", v.rule, v.rule.describe());
    let stored = view.reconciled_reason();
    match stored.map(|s| (s, Reason::parse(s))) {
        Some((_, Some(reason))) if reason == v.reason => format!("Decided by {row}."),
        Some((_, Some(Reason::Abandoned))) if !v.reconciled => format!(
            "Decided by {row}, then closed as Abandoned: still not proven after the abandon-after period."
        ),
        Some((stored, _)) if view.decided() => format!(
            "The stored decision is {stored}; on the current evidence {row} would give {}, but a final decision is never rewritten.",
            v.reason
        ),
        Some((stored, _)) => format!(
            "The stored reason is {stored}; on the current evidence {row} gives {}, which the controller writes at its next reconcile.",
            v.reason
        ),
        None if view.completed() => {
            "No decision: the worker reported the outcome itself.".to_string()
        }
        None if view.stale => format!(
            "Not decided yet; on the current evidence {row} would give {}.",
            v.reason
        ),
        None => "No decision: the run is not stale.".to_string(),
    }
}
