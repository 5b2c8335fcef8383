//! The text `list` and `explain` print. Calm by default: what happened, the outcome with
//! its proof, one next action. The evidence (artifacts, counts, every condition, failures,
//! timestamps, the deciding rule) only with `--diagnostics`.

use std::fmt::Write as _;

use jiff::Timestamp;
use operationrun_core::decide::{Config, Phase, ReferenceField, Staleness, format_time};
use operationrun_core::manifests::Manifests;
use operationrun_crds::RunCondition;

use crate::actions::{next_action, short_action};
use crate::diagnostics::diagnostics;
use crate::view::{RunView, age};

/// The `list` table, runs needing attention first. `all_namespaces` adds NAMESPACE.
pub fn list(views: &[RunView<'_>], all_namespaces: bool, now: Timestamp) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["NAME", "TYPE", "PHASE", "OUTCOME", "AGE", "NEXT ACTION"];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    rows.push(header.into_iter().map(String::from).collect());
    for v in by_attention(views) {
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

/// The runs most in need of attention first, then by namespace and name.
fn by_attention<'v, 'a>(views: &'v [RunView<'a>]) -> Vec<&'v RunView<'a>> {
    let mut order: Vec<&RunView<'_>> = views.iter().collect();
    order.sort_by(|a, b| {
        (a.attention(), a.namespace(), a.name()).cmp(&(b.attention(), b.namespace(), b.name()))
    });
    order
}

/// `list -o json`: the runs in `list`'s order, as a JSON array for scripts. `reconciled`
/// is the stored `Reconciled` condition's status and reason (`null` when there is none).
pub fn list_json(views: &[RunView<'_>]) -> String {
    let runs: Vec<serde_json::Value> = by_attention(views)
        .into_iter()
        .map(|v| {
            let reconciled = v.reconciled.map(|c| {
                serde_json::json!({
                    "status": c.status,
                    "reason": c.reason,
                })
            });
            serde_json::json!({
                "namespace": v.namespace(),
                "name": v.name(),
                "type": v.family(),
                "phase": v.phase(),
                "stale": v.stale,
                "reconciled": reconciled,
                "outcome": v.outcome(),
                "nextAction": next_action(v.situation),
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&runs).unwrap_or_else(|_| "[]".into());
    text.push('\n');
    text
}

/// The text, or `-` when it is blank.
pub(crate) fn or_dash(s: &str) -> String {
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
            let (reference, since) = (format_time(*reference), format_time(*since));
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
        Staleness::Fresh { .. } if Phase::of(&view.run.object) == Phase::Queued => {
            let created = view
                .run
                .object
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| format!(" since {}", format_time(t.0)))
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
