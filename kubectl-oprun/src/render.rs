//! The text `list` and `explain` print. Calm by default: what happened, the outcome with
//! its proof, one next action. The evidence (artifacts, counts, every condition, failures,
//! timestamps, the deciding rule) only with `--diagnostics`.

use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};
use operationrun_core::decide::{
    ClaimScope as Scope, Config, Evidence, Phase, ReferenceField, Staleness, Verdict, decide,
    scope_of,
};
use operationrun_core::evaluate::ClaimIndex;
use operationrun_core::manifests::Manifests;
use operationrun_crds::{
    BackupSet, BaselineSnapshot, Failure, LocalRef, OperationRun, Parsed, RECONCILE_ANNOTATION,
    RunCondition, Timeouts,
};

const STALE: &str = operationrun_core::decide::ConditionType::Stale.as_str();
const RECONCILED: &str = operationrun_core::decide::ConditionType::Reconciled.as_str();

use crate::actions::{next_action, short_action};
use crate::view::{RunView, age};

/// Formats a timestamp as Kubernetes does (RFC 3339, whole seconds, UTC).
fn time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The `list` table, runs needing attention first. `all_namespaces` adds NAMESPACE.
pub fn list(views: &[RunView<'_>], all_namespaces: bool, now: Timestamp) -> String {
    let mut order: Vec<&RunView<'_>> = views.iter().collect();
    order.sort_by(|a, b| {
        (a.attention(), a.namespace(), a.name()).cmp(&(b.attention(), b.namespace(), b.name()))
    });
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["NAME", "TYPE", "PHASE", "OUTCOME", "AGE", "NEXT ACTION"];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    rows.push(header.into_iter().map(String::from).collect());
    for v in order {
        let phase = if v.stale {
            format!("{} (stale)", v.phase())
        } else {
            v.phase().to_string()
        };
        let created = v
            .run
            .object
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0);
        let mut row = vec![
            v.name().to_string(),
            or_dash(v.family()),
            phase,
            v.outcome_label().to_string(),
            age(created, now),
            short_action(v.situation).to_string(),
        ];
        if all_namespaces {
            row.insert(0, v.namespace().to_string());
        }
        rows.push(row);
    }
    table(&rows)
}

fn or_dash(s: &str) -> String {
    if s.trim().is_empty() {
        "-".into()
    } else {
        s.to_string()
    }
}

/// Aligns rows into columns separated by three spaces, as kubectl does.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// What `explain` needs beside the run itself.
pub struct Context<'a> {
    /// The time the run is read at.
    pub now: Timestamp,
    /// The timeouts staleness is measured with.
    pub config: &'a Config,
    /// Artifacts in the run's namespace; needed only for `--diagnostics`.
    pub manifests: Option<&'a Manifests>,
    /// Add the evidence.
    pub diagnostics: bool,
}

/// The `explain` text of one run: a few calm lines and exactly one `Next: ` line.
pub fn explain(view: &RunView<'_>, ctx: &Context<'_>) -> String {
    let mut out = String::new();
    let family = if view.family().trim().is_empty() {
        "no spec.type".to_string()
    } else {
        view.family().to_string()
    };
    let _ = writeln!(
        out,
        "OperationRun {}/{} ({family})",
        view.namespace(),
        view.name()
    );
    let _ = writeln!(out, "{}", happened(view));
    let _ = writeln!(out, "{}", outcome(view));
    if let Some(line) = worker_after_decision(view) {
        let _ = writeln!(out, "{line}");
    }
    if ctx.diagnostics {
        out.push_str(&diagnostics(view, ctx));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Next: {}", next_action(view.situation));
    if !ctx.diagnostics {
        let _ = writeln!(out, "For the evidence, add --diagnostics.");
    }
    out
}

fn happened(view: &RunView<'_>) -> String {
    let status = view.run.object.status.as_ref();
    let mut text = match &view.staleness {
        Staleness::Completed => {
            let at = status
                .and_then(|s| s.completed_at.as_deref())
                .map(|t| format!(" at {t}"))
                .unwrap_or_default();
            format!("The worker reported Completed{at}.")
        }
        Staleness::Stale {
            since,
            reference,
            reference_field,
            phase,
            ..
        } => {
            let (reference, since) = (time(*reference), time(*since));
            match (phase, reference_field) {
                (Phase::Queued, _) => format!(
                    "No worker picked the run up: queued since {reference}, stale since {since}."
                ),
                (_, ReferenceField::HeartbeatTime) => format!(
                    "The worker went silent: last heartbeat at {reference}, stale since {since}."
                ),
                (_, ReferenceField::StartedAt) => format!(
                    "The worker went silent: started at {reference} without a heartbeat, stale since {since}."
                ),
                _ => format!(
                    "The run is {} but no worker ever reported a start or a heartbeat; stale since {since}.",
                    view.phase()
                ),
            }
        }
        Staleness::Fresh { .. } if view.stale => {
            let message = view
                .stale_condition
                .and_then(|c| c.message.as_deref())
                .map(|m| format!(" {m}"))
                .unwrap_or_default();
            format!("The controller marked the run stale.{message}")
        }
        Staleness::Fresh { .. } if view.phase() == "Queued" => {
            let created = view
                .run
                .object
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| format!(" since {}", time(t.0)))
                .unwrap_or_default();
            format!("The run is queued{created}, waiting for a worker.")
        }
        Staleness::Fresh { .. } => {
            match (
                status.and_then(|s| s.heartbeat_time.as_deref()),
                status.and_then(|s| s.started_at.as_deref()),
            ) {
                (Some(h), _) => format!("The worker is running: last heartbeat at {h}."),
                (None, Some(s)) => format!("The worker is running: started at {s}."),
                (None, None) => "The worker is running.".to_string(),
            }
        }
        Staleness::Unknown => {
            "The run carries no timestamp to measure its staleness from.".to_string()
        }
    };
    if view.disabled {
        text.push_str(" The controller leaves this run alone (reconcile disabled).");
    }
    text
}

fn outcome(view: &RunView<'_>) -> String {
    let message = |c: &RunCondition| {
        c.message
            .as_deref()
            .filter(|m| !m.trim().is_empty())
            .map(|m| format!(" {m}"))
            .unwrap_or_default()
    };
    match view.reconciled {
        Some(c) if view.decided() => format!(
            "Outcome: {}, decided by the controller.{}",
            c.reason.as_deref().unwrap_or("unknown"),
            message(c)
        ),
        Some(c) if !view.completed() => format!(
            "Undecided: {}.{}",
            c.reason.as_deref().unwrap_or("no reason given"),
            message(c)
        ),
        _ if view.completed() => match view.worker_outcome() {
            Some(o) => format!("Outcome: {o}, reported by the worker."),
            None => "No outcome: the worker reported Completed without one.".to_string(),
        },
        _ if view.stale && view.disabled => {
            "Undecided: the controller does not reconcile this run.".to_string()
        }
        _ if view.stale => "Undecided: the controller has not written a decision.".to_string(),
        _ => "No outcome yet: the run has not finished.".to_string(),
    }
}

/// The one line saying that the worker reported Completed after the controller's final
/// decision, with a different outcome.
fn worker_after_decision(view: &RunView<'_>) -> Option<String> {
    if !view.decided() || !view.completed() {
        return None;
    }
    let decided = view.reconciled_reason().unwrap_or_default();
    match view.worker_outcome() {
        Some(o) if o == decided => None,
        Some(o) => Some(format!(
            "The worker later reported Completed with outcome {o}; the controller's decision stands."
        )),
        None => Some(
            "The worker later reported Completed without an outcome; the controller's decision stands."
                .to_string(),
        ),
    }
}

fn diagnostics(view: &RunView<'_>, ctx: &Context<'_>) -> String {
    let mut out = String::new();
    let run = &view.run.object;
    let claims = claims(view, ctx.manifests);
    if let Some(problem) = &view.run.problem {
        let _ = writeln!(out);
        let _ = writeln!(out, "Unreadable fields of the run:");
        let _ = writeln!(out, "  {problem}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Related artifacts:");
    if claims.is_empty() {
        let why = if view.family() == "inventory.sync" {
            "none: an inventory sync's evidence is its own coverage"
        } else {
            "none claims this run"
        };
        let _ = writeln!(out, "  {why}");
    }
    for c in &claims {
        let _ = writeln!(out, "  {} {} (uid {}): {}", c.kind, c.name, c.uid, c.scope);
        let _ = writeln!(out, "    {}", c.counts);
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
    if let Some(coverage) = coverage(run) {
        let _ = writeln!(out);
        out.push_str(&coverage);
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
    let failures = failures(view, &claims);
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
    let _ = writeln!(out, "  {}", decided_by(view, ctx));
    out
}

/// An artifact naming the run, as diagnostics show it.
struct Claim {
    kind: &'static str,
    name: String,
    uid: String,
    scope: String,
    counts: String,
    failures: Vec<Failure>,
}

fn claims(view: &RunView<'_>, manifests: Option<&Manifests>) -> Vec<Claim> {
    let Some(m) = manifests else {
        return Vec::new();
    };
    let run = &view.run.object;
    let related: Vec<(&str, &str)> = view
        .reconciled
        .and_then(|c| c.related_artifacts.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|r| (r.kind.as_str(), r.name.as_str()))
        .collect();
    let names_run = |ns: Option<&str>, run_name: Option<&str>| {
        ns == run.metadata.namespace.as_deref() && run_name == run.metadata.name.as_deref()
    };
    let mut out = Vec::new();
    for b in &m.backup_sets {
        let o = &b.object;
        let reference = o.spec.operation_run_ref.as_ref();
        if !names_run(
            o.metadata.namespace.as_deref(),
            reference.map(|r| r.name.as_str()),
        ) {
            continue;
        }
        let name = o.metadata.name.clone().unwrap_or_default();
        let scope = scope(
            view,
            "BackupSet",
            "backup.schedule.execute",
            reference.and_then(|r| r.uid.as_deref()),
            (
                o.spec.backup_schedule_ref.as_ref(),
                run.spec.backup_schedule_ref.as_ref(),
                "backup schedule",
            ),
            related.contains(&("BackupSet", name.as_str())),
        );
        out.push(Claim {
            kind: "BackupSet",
            uid: or_dash(o.metadata.uid.as_deref().unwrap_or_default()),
            name,
            scope,
            counts: backup_counts(b),
            failures: o
                .status
                .as_ref()
                .and_then(|s| s.failures.clone())
                .unwrap_or_default(),
        });
    }
    for s in &m.baseline_snapshots {
        let o = &s.object;
        let reference = o.spec.operation_run_ref.as_ref();
        if !names_run(
            o.metadata.namespace.as_deref(),
            reference.map(|r| r.name.as_str()),
        ) {
            continue;
        }
        let name = o.metadata.name.clone().unwrap_or_default();
        let scope = scope(
            view,
            "BaselineSnapshot",
            "baseline.capture",
            reference.and_then(|r| r.uid.as_deref()),
            (
                o.spec.baseline_profile_ref.as_ref(),
                run.spec.baseline_profile_ref.as_ref(),
                "baseline profile",
            ),
            related.contains(&("BaselineSnapshot", name.as_str())),
        );
        out.push(Claim {
            kind: "BaselineSnapshot",
            uid: or_dash(o.metadata.uid.as_deref().unwrap_or_default()),
            name,
            scope,
            counts: snapshot_counts(s),
            failures: o
                .status
                .as_ref()
                .and_then(|s| s.failures.clone())
                .unwrap_or_default(),
        });
    }
    out.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    out
}

/// Whether an artifact is evidence for the run, in the words of SPEC §5.
fn scope(
    view: &RunView<'_>,
    kind: &str,
    family: &str,
    claimed_uid: Option<&str>,
    (owner, run_owner, owner_field): (Option<&LocalRef>, Option<&LocalRef>, &str),
    related: bool,
) -> String {
    if view.family() != family {
        return format!("not evidence: a {kind} proves only {family} runs");
    }
    let run_uid = view
        .run
        .object
        .metadata
        .uid
        .as_deref()
        .filter(|u| !u.is_empty());
    let mut text = match scope_of(run_uid, claimed_uid, run_owner, owner) {
        Scope::OtherRunUid => {
            let theirs = claimed_uid
                .filter(|u| !u.is_empty())
                .map_or("no run uid".to_string(), |u| format!("run uid {u}"));
            let ours = run_uid.map_or("has no uid".to_string(), |u| format!("is {u}"));
            format!("out of scope: it names {theirs}; the run's uid {ours}")
        }
        Scope::OtherOwner => format!(
            "out of scope: it names {owner_field} {}, the run {}",
            owner.map_or("none", |o| o.name.as_str()),
            run_owner.map_or("none".to_string(), |o| o.name.clone())
        ),
        Scope::InScope => "in scope".to_string(),
    };
    if related {
        text.push_str(", named by the decision");
    }
    text
}

fn count(n: Option<i64>) -> String {
    n.map_or("?".into(), |n| n.to_string())
}

fn backup_counts(b: &Parsed<BackupSet>) -> String {
    let status = b.object.status.as_ref();
    let state = status
        .and_then(|s| s.state.as_deref())
        .unwrap_or("no state");
    let s = status.and_then(|s| s.summary.clone()).unwrap_or_default();
    let mut text = format!(
        "{state}: {} succeeded, {} failed, {} skipped of {} total",
        count(s.succeeded),
        count(s.failed),
        count(s.skipped),
        count(s.items_total)
    );
    let parts = [s.succeeded, s.failed, s.skipped, s.items_total];
    let sum = [s.succeeded, s.failed, s.skipped]
        .iter()
        .map(|n| n.unwrap_or(0))
        .fold(0i64, i64::saturating_add);
    if parts.iter().flatten().any(|n| *n < 0) || sum > s.items_total.unwrap_or(0) {
        text.push_str(" (the counts contradict themselves)");
    }
    if let Some(p) = &b.problem {
        let _ = write!(text, " (unreadable fields: {p})");
    }
    text
}

fn snapshot_counts(s: &Parsed<BaselineSnapshot>) -> String {
    let status = s.object.status.as_ref();
    let state = status
        .and_then(|s| s.state.as_deref())
        .unwrap_or("no state");
    let summary = status.and_then(|s| s.summary.clone()).unwrap_or_default();
    let gaps = summary.gaps.clone().unwrap_or_default();
    let gap_text = if gaps.is_empty() {
        "no gaps".to_string()
    } else {
        let list: Vec<String> = gaps
            .iter()
            .map(|g| {
                format!(
                    "{} {}",
                    g.reason.as_deref().unwrap_or("unspecified"),
                    count(g.count)
                )
            })
            .collect();
        format!("gaps: {}", list.join(", "))
    };
    let mut text = format!(
        "{state}: {} captured of {} total; {gap_text}",
        count(summary.captured),
        count(summary.subjects_total)
    );
    if status.and_then(|s| s.fallback_used) == Some(true) {
        text.push_str("; captured from cached inventory (fallback)");
    }
    let gap_sum = gaps
        .iter()
        .map(|g| g.count.unwrap_or(0))
        .fold(0i64, i64::saturating_add);
    let negative = [summary.captured, summary.subjects_total]
        .iter()
        .flatten()
        .chain(gaps.iter().filter_map(|g| g.count.as_ref()))
        .any(|n| *n < 0);
    if negative
        || summary.captured.unwrap_or(0).saturating_add(gap_sum)
            > summary.subjects_total.unwrap_or(0)
    {
        text.push_str(" (the counts contradict themselves)");
    }
    if let Some(p) = &s.problem {
        let _ = write!(text, " (unreadable fields: {p})");
    }
    text
}

fn related_missing<'a>(
    view: &RunView<'a>,
    claims: &[Claim],
) -> Vec<&'a operationrun_crds::ArtifactRef> {
    view.reconciled
        .and_then(|c| c.related_artifacts.as_deref())
        .unwrap_or_default()
        .iter()
        .filter(|r| !claims.iter().any(|c| c.kind == r.kind && c.name == r.name))
        .collect()
}

fn coverage(run: &OperationRun) -> Option<String> {
    if run.spec.type_ != "inventory.sync" {
        return None;
    }
    let mut wanted: Vec<&str> = run
        .spec
        .inventory
        .as_ref()
        .and_then(|i| i.policy_types.as_deref())
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let entries = run
        .status
        .as_ref()
        .and_then(|s| s.inventory.as_ref())
        .and_then(|i| i.coverage.as_deref())
        .unwrap_or_default();
    let mut out = String::from("Coverage:\n");
    for e in entries {
        let policy_type = e.policy_type.as_deref().unwrap_or("(no policyType)");
        let state = e.state.as_deref().unwrap_or("no state");
        let mut line = format!("  {policy_type}: {state}");
        if let Some(n) = e.item_count {
            let _ = write!(line, ", {n} items");
        }
        if let Some(c) = &e.failure_category {
            let _ = write!(line, " ({c})");
        }
        if !wanted.contains(&policy_type) {
            line.push_str(" (out of scope: not in spec.inventory.policyTypes)");
        }
        let _ = writeln!(out, "{line}");
    }
    for w in wanted {
        if !entries.iter().any(|e| e.policy_type.as_deref() == Some(w)) {
            let _ = writeln!(out, "  {w}: no entry yet");
        }
    }
    if entries.is_empty() && out.lines().count() == 1 {
        out.push_str("  none\n");
    }
    Some(out)
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
    let foreign = if c.type_ == STALE || c.type_ == RECONCILED {
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

fn failures(view: &RunView<'_>, claims: &[Claim]) -> Vec<String> {
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
    if run.spec.type_ == "inventory.sync" {
        for e in run
            .status
            .as_ref()
            .and_then(|s| s.inventory.as_ref())
            .and_then(|i| i.coverage.as_deref())
            .unwrap_or_default()
        {
            if e.state.as_deref() == Some("Failed") {
                out.push(format!(
                    "coverage {}: {}",
                    e.policy_type.as_deref().unwrap_or("(no policyType)"),
                    e.failure_category.as_deref().unwrap_or("(no category)")
                ));
            }
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
                .map_or("-".to_string(), |t| time(t.0)),
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
        Staleness::Stale { since, .. } => time(*since),
        Staleness::Fresh { stale_at } => {
            format!("- (stale at {} without news)", time(*stale_at))
        }
        Staleness::Completed => "- (a Completed run is never stale)".to_string(),
        Staleness::Unknown => "- (no timestamp to measure from)".to_string(),
    };
    out.push(("staleSince", stale_since));
    if let Staleness::Stale { since, .. } = &view.staleness
        && !view.decided()
        && ctx.config.abandon_after > 0
        && let Some(at) = i64::try_from(ctx.config.abandon_after)
            .ok()
            .and_then(|s| since.checked_add(SignedDuration::from_secs(s)).ok())
    {
        out.push(("abandonAt", format!("{} (if still undecided)", time(at))));
    }
    out
}

/// Applies the decision table to the run as it stands at `now`, whatever its phase and
/// stored decision: the run is presented as freshly stale and undecided, so `decide`
/// runs rows 1–10 on the current evidence. Abandonment is left out; the stored reason
/// says whether it happened.
pub fn recompute(
    run: &Parsed<OperationRun>,
    evidence: &Evidence<'_>,
    now: Timestamp,
) -> Option<Verdict> {
    let mut probe = run.clone();
    let status = probe.object.status.get_or_insert_with(Default::default);
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != STALE && c.type_ != RECONCILED);
    }
    status.phase = Some("Running".into());
    let beat = now.checked_sub(SignedDuration::from_secs(2)).ok()?;
    status.heartbeat_time = Some(time(beat));
    probe.object.spec.timeouts = Some(Timeouts {
        queued_seconds: None,
        heartbeat_seconds: Some(1),
    });
    if let Some(a) = probe.object.metadata.annotations.as_mut() {
        a.remove(RECONCILE_ANNOTATION);
    }
    let config = Config {
        abandon_after: 0,
        ..Config::default()
    };
    decide(&probe, evidence, now, &config).verdict
}

fn decided_by(view: &RunView<'_>, ctx: &Context<'_>) -> String {
    let empty = Manifests::default();
    let index = ClaimIndex::new(ctx.manifests.unwrap_or(&empty));
    let evidence = index.evidence(view.namespace(), view.name());
    let Some(v) = recompute(view.run, &evidence, ctx.now) else {
        return "The decision table cannot be applied to this run.".to_string();
    };
    let row = format!("rule {} ({})", v.rule, v.rule.describe());
    match view.reconciled_reason() {
        Some(stored) if stored == v.reason.as_str() => format!("Decided by {row}."),
        Some("Abandoned") if !v.reconciled => format!(
            "Decided by {row}, then closed as Abandoned: still not proven after the abandon-after period."
        ),
        Some(stored) if view.decided() => format!(
            "The stored decision is {stored}; on the current evidence {row} would give {}, but a final decision is never rewritten.",
            v.reason.as_str()
        ),
        Some(stored) => format!(
            "The stored reason is {stored}; on the current evidence {row} gives {}, which the controller writes at its next reconcile.",
            v.reason.as_str()
        ),
        None if view.completed() => {
            "No decision: the worker reported the outcome itself.".to_string()
        }
        None if view.stale => format!(
            "Not decided yet; on the current evidence {row} would give {}.",
            v.reason.as_str()
        ),
        None => "No decision: the run is not stale.".to_string(),
    }
}
