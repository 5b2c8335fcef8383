//! How the controller-owned conditions move (docs/concepts.md#conditions): `Stale` tells
//! the truth about staleness once written; `Reconciled=True` is final; `Reconciled=False`
//! goes away when the run is fresh again or completed. `lastTransitionTime` moves only with
//! `status`.

use jiff::Timestamp;
use operationrun_crds::{ArtifactRef, OperationRun, RunCondition};

use super::message::cap_message;
use super::outcome::Verdict;
use super::staleness::{Phase, Staleness};
use super::time::format_time;
use super::vocabulary::{ConditionStatus, ConditionType, FreshReason};

/// A change of one controller-owned condition; each becomes one Kubernetes Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// Which condition moved.
    pub condition: ConditionType,
    /// The new reason.
    pub reason: String,
    /// The new message.
    pub message: String,
    /// Warning (something needs attention) or Normal.
    pub warning: bool,
    /// The first related artifact, if any, for the Event's `related` object.
    pub related: Option<ArtifactRef>,
}

/// The controller-owned conditions stored on a run, by type.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Owned<'a> {
    /// The stored `Stale` condition.
    pub stale: Option<&'a RunCondition>,
    /// The stored `Reconciled` condition.
    pub reconciled: Option<&'a RunCondition>,
}

impl<'a> Owned<'a> {
    /// Finds the controller-owned conditions among a run's conditions.
    pub fn of(run: &'a OperationRun) -> Owned<'a> {
        let list = run.status.as_ref().and_then(|s| s.conditions.as_ref());
        let find = |t: ConditionType| list.and_then(|l| l.iter().find(|c| c.type_ == t.as_str()));
        Owned {
            stale: find(ConditionType::Stale),
            reconciled: find(ConditionType::Reconciled),
        }
    }

    /// The stored final decision (`Reconciled=True`), which is never rewritten.
    pub fn final_decision(&self) -> Option<&'a RunCondition> {
        self.reconciled
            .filter(|c| ConditionStatus::True.is(&c.status))
    }

    /// The stored conditions in write order, `Stale` first.
    pub fn iter(&self) -> impl Iterator<Item = &'a RunCondition> + use<'a> {
        [self.stale, self.reconciled].into_iter().flatten()
    }
}

/// Whether a condition type is one the controller owns (and only it may write).
pub fn is_owned(condition_type: &str) -> bool {
    ConditionType::parse(condition_type).is_some()
}

struct Builder<'a> {
    now: String,
    generation: Option<i64>,
    transitions: &'a mut Vec<Transition>,
}

impl Builder<'_> {
    /// Builds a condition, keeping `lastTransitionTime` when the status did not change, and
    /// records a transition when status or reason changed. Every message built here is
    /// capped, so none is too long for the API server.
    fn set(
        &mut self,
        stored: Option<&RunCondition>,
        mut next: RunCondition,
        warning: bool,
        related: Option<ArtifactRef>,
    ) -> RunCondition {
        next.message = next.message.as_deref().map(cap_message);
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
                condition: ConditionType::parse(&next.type_).unwrap_or(ConditionType::Reconciled),
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
    stored: Owned<'_>,
    state: &Staleness,
    verdict: Option<&Verdict>,
    now: Timestamp,
) -> (Vec<RunCondition>, Vec<Transition>) {
    let Owned {
        stale: stored_stale,
        reconciled: stored_reconciled,
    } = stored;
    let mut transitions = Vec::new();
    let mut b = Builder {
        now: format_time(now),
        generation: run.metadata.generation,
        transitions: &mut transitions,
    };
    let final_reconciled = stored.final_decision();
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
                type_: ConditionType::Stale.as_str().into(),
                status: ConditionStatus::True.as_str().into(),
                reason: Some(reason.as_str().into()),
                message: Some(message),
                ..Default::default()
            };
            out.push(b.set(stored_stale, stale, true, None));
            if let Some(kept) = final_reconciled {
                out.push(kept.clone());
            } else if let Some(v) = verdict {
                let reconciled = RunCondition {
                    type_: ConditionType::Reconciled.as_str().into(),
                    status: ConditionStatus::from_bool(v.reconciled).as_str().into(),
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
                // the reason of Stale=False follows the current phase
                let (reason, message) = match state {
                    Staleness::Completed => (
                        FreshReason::WorkerCompleted,
                        "The worker reported Completed; the run is no longer stale.",
                    ),
                    _ => (
                        FreshReason::Resumed,
                        "The worker reported progress; the run is no longer stale.",
                    ),
                };
                if ConditionStatus::False.is(&s.status)
                    && s.reason.as_deref() == Some(reason.as_str())
                {
                    out.push(s.clone());
                } else {
                    let fresh = RunCondition {
                        type_: ConditionType::Stale.as_str().into(),
                        status: ConditionStatus::False.as_str().into(),
                        reason: Some(reason.as_str().into()),
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
