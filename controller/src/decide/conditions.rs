//! How the controller-owned conditions move (SPEC §6): `Stale` tells the truth about
//! staleness once written; `Reconciled=True` is final; `Reconciled=False` goes away when
//! the run is fresh again or completed. `lastTransitionTime` moves only with `status`.

use jiff::Timestamp;
use operationrun_crds::{OperationRun, RunCondition};

use super::Transition;
use super::outcome::Verdict;
use super::staleness::{Phase, Staleness};

/// Type of the condition that says whether a run is stale.
pub const STALE: &str = "Stale";
/// Type of the condition that carries the controller's decision.
pub const RECONCILED: &str = "Reconciled";

/// Formats a timestamp as Kubernetes does (RFC 3339, whole seconds, UTC).
pub fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The stored `Stale` and `Reconciled` conditions of a run, in that order.
pub fn owned_conditions(run: &OperationRun) -> [Option<&RunCondition>; 2] {
    let list = run.status.as_ref().and_then(|s| s.conditions.as_ref());
    let find = |t: &str| list.and_then(|l| l.iter().find(|c| c.type_ == t));
    [find(STALE), find(RECONCILED)]
}

struct Builder<'a> {
    now: String,
    generation: Option<i64>,
    transitions: &'a mut Vec<Transition>,
}

impl Builder<'_> {
    /// Builds a condition, keeping `lastTransitionTime` when the status did not change, and
    /// records a transition when status or reason changed.
    fn set(
        &mut self,
        stored: Option<&RunCondition>,
        mut next: RunCondition,
        warning: bool,
        related: Option<operationrun_crds::ArtifactRef>,
    ) -> RunCondition {
        next.observed_generation = self.generation;
        next.last_transition_time = match stored {
            Some(s) if s.status == next.status => s
                .last_transition_time
                .clone()
                .or_else(|| Some(self.now.clone())),
            _ => Some(self.now.clone()),
        };
        let moved = stored.is_none_or(|s| s.status != next.status || s.reason != next.reason);
        if moved {
            self.transitions.push(Transition {
                condition: if next.type_ == STALE {
                    STALE
                } else {
                    RECONCILED
                },
                reason: next.reason.clone().unwrap_or_default(),
                message: next.message.clone().unwrap_or_default(),
                warning,
                related,
            });
        }
        next
    }
}

/// The controller-owned conditions after one reconcile, and the transitions that led there.
pub(super) fn desired(
    run: &OperationRun,
    stored: [Option<&RunCondition>; 2],
    state: &Staleness,
    verdict: Option<&Verdict>,
    now: Timestamp,
) -> (Vec<RunCondition>, Vec<Transition>) {
    let [stored_stale, stored_reconciled] = stored;
    let mut transitions = Vec::new();
    let mut b = Builder {
        now: format_time(now),
        generation: run.metadata.generation,
        transitions: &mut transitions,
    };
    let final_reconciled = stored_reconciled.filter(|c| c.status == "True");
    let mut out = Vec::new();
    match state {
        Staleness::Stale {
            reason,
            reference,
            reference_field,
            limit,
            phase,
            ..
        } => {
            let message = match phase {
                Phase::Queued => format!(
                    "Queued since {} ({reference_field}); the queued limit is {limit} s.",
                    format_time(*reference)
                ),
                _ => format!(
                    "No heartbeat since {} ({reference_field}); the heartbeat limit is {limit} s.",
                    format_time(*reference)
                ),
            };
            let stale = RunCondition {
                type_: STALE.into(),
                status: "True".into(),
                reason: Some(reason.as_str().into()),
                message: Some(message),
                ..Default::default()
            };
            out.push(b.set(stored_stale, stale, true, None));
            if let Some(kept) = final_reconciled {
                out.push(kept.clone());
            } else if let Some(v) = verdict {
                let reconciled = RunCondition {
                    type_: RECONCILED.into(),
                    status: if v.reconciled { "True" } else { "False" }.into(),
                    reason: Some(v.reason.as_str().into()),
                    message: Some(v.message.clone()),
                    adapter: v.adapter.map(str::to_string),
                    previous_phase: Some(phase.as_str().into()),
                    related_artifacts: Some(v.related.clone()),
                    ..Default::default()
                };
                out.push(b.set(
                    stored_reconciled,
                    reconciled,
                    v.reason.is_warning(),
                    v.related.first().cloned(),
                ));
            }
        }
        Staleness::Completed | Staleness::Fresh { .. } | Staleness::Unknown => {
            if let Some(s) = stored_stale {
                let (reason, message) = match state {
                    Staleness::Completed => (
                        "WorkerCompleted",
                        "The worker reported Completed; the run is no longer stale.",
                    ),
                    _ => (
                        "Resumed",
                        "The worker reported progress; the run is no longer stale.",
                    ),
                };
                // a stored False stays as it is, except that Completed is always told
                let completed_untold = matches!(state, Staleness::Completed)
                    && s.reason.as_deref() != Some("WorkerCompleted");
                if s.status == "False" && !completed_untold {
                    out.push(s.clone());
                } else {
                    let fresh = RunCondition {
                        type_: STALE.into(),
                        status: "False".into(),
                        reason: Some(reason.into()),
                        message: Some(message.into()),
                        ..Default::default()
                    };
                    out.push(b.set(Some(s), fresh, false, None));
                }
            }
            if let Some(kept) = final_reconciled {
                out.push(kept.clone());
            }
        }
    }
    (out, transitions)
}
