//! The pure decision core: staleness, the family registry, the per-family adapters, the
//! outcome table and the condition transitions. No I/O and no clock of its own: the
//! controller and `evaluate` call the same [`decide`] with the time as an input.

mod conditions;
pub mod families;
mod outcome;
mod registry;
mod staleness;

use jiff::Timestamp;
use operationrun_crds::{
    ArtifactRef, BackupSet, BaselineSnapshot, OperationRun, Parsed, RECONCILE_ANNOTATION,
    RunCondition,
};

pub use conditions::{RECONCILED, STALE, owned_conditions};
pub use families::{Scope, scope_of};
pub use outcome::{Reason, Verdict};
pub use registry::{Family, lookup};
pub use staleness::{Phase, StaleReason, Staleness, staleness};

/// Timeouts and abandonment, from the controller's flags; a run's `spec.timeouts`
/// overrides the first two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Seconds a run may stay Queued before it is stale.
    pub queued_timeout: u64,
    /// Seconds a Running run may go without a heartbeat before it is stale.
    pub heartbeat_timeout: u64,
    /// Seconds after a run became stale at which an undecided run is closed as Abandoned;
    /// 0 disables abandonment.
    pub abandon_after: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            queued_timeout: 1800,
            heartbeat_timeout: 600,
            abandon_after: 86_400,
        }
    }
}

/// The artifacts that may claim a run. Callers pass what they index by (namespace, run
/// name); `decide` checks namespace and name again, so extra artifacts are harmless.
#[derive(Clone, Debug, Default)]
pub struct Evidence<'a> {
    /// BackupSets in the run's namespace naming the run.
    pub backup_sets: Vec<&'a Parsed<BackupSet>>,
    /// BaselineSnapshots in the run's namespace naming the run.
    pub baseline_snapshots: Vec<&'a Parsed<BaselineSnapshot>>,
}

/// A change of one controller-owned condition; each becomes one Kubernetes Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// `Stale` or `Reconciled`.
    pub condition: &'static str,
    /// The new reason.
    pub reason: String,
    /// The new message.
    pub message: String,
    /// Warning (something needs attention) or Normal.
    pub warning: bool,
    /// The first related artifact, if any, for the Event's `related` object.
    pub related: Option<ArtifactRef>,
}

/// Everything one reconcile of one run concludes.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// Whether the run is stale, and since when.
    pub staleness: Staleness,
    /// The decision table's verdict, when one was taken in this reconcile.
    pub verdict: Option<Verdict>,
    /// The controller-owned conditions as they stand after this reconcile (Stale first).
    pub conditions: Vec<RunCondition>,
    /// True when `conditions` differ from the stored ones, i.e. a write is needed.
    pub changed: bool,
    /// The condition changes, one Event each.
    pub transitions: Vec<Transition>,
    /// When the run must be looked at again even if nothing changes (becoming stale, or
    /// being abandoned); `None` when only a watch event can change the outcome.
    pub recheck_at: Option<Timestamp>,
    /// The run carries `ops.tenantatlas.io/reconcile: disabled` and was left alone.
    pub disabled: bool,
}

/// Decides one run at `now`: pure, deterministic, and total (it never panics).
pub fn decide(
    run: &Parsed<OperationRun>,
    evidence: &Evidence<'_>,
    now: Timestamp,
    config: &Config,
) -> Decision {
    let stored = owned_conditions(&run.object);
    if is_disabled(&run.object) {
        return Decision {
            staleness: staleness(&run.object, now, config),
            verdict: None,
            conditions: stored.into_iter().flatten().cloned().collect(),
            changed: false,
            transitions: Vec::new(),
            recheck_at: None,
            disabled: true,
        };
    }
    let state = staleness(&run.object, now, config);
    let final_decision = stored[1].is_some_and(|c| c.status == "True");
    let verdict = match &state {
        Staleness::Stale { since, .. } if !final_decision => {
            let verdict = outcome::judge(run, evidence);
            Some(outcome::abandon_if_due(verdict, *since, now, config))
        }
        _ => None,
    };
    let recheck_at = match (&state, &verdict) {
        (Staleness::Fresh { stale_at }, _) => Some(*stale_at),
        (Staleness::Stale { since, .. }, Some(v)) if !v.reconciled && config.abandon_after > 0 => {
            i64::try_from(config.abandon_after).ok().and_then(|after| {
                since
                    .checked_add(jiff::SignedDuration::from_secs(after))
                    .ok()
            })
        }
        _ => None,
    }
    .and_then(|t| t.checked_add(jiff::SignedDuration::from_secs(1)).ok());
    let (conditions, transitions) =
        conditions::desired(&run.object, stored, &state, verdict.as_ref(), now);
    let changed =
        conditions.iter().collect::<Vec<_>>() != stored.into_iter().flatten().collect::<Vec<_>>();
    Decision {
        staleness: state,
        verdict,
        conditions,
        changed,
        transitions,
        recheck_at,
        disabled: false,
    }
}

fn is_disabled(run: &OperationRun) -> bool {
    run.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(RECONCILE_ANNOTATION))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("disabled"))
}
