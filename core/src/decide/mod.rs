//! The pure decision core: staleness, the family registry, the per-family adapters, the
//! decision table and the condition transitions. No I/O and no clock of its own: the
//! controller, `evaluate` and `kubectl oprun` call the same functions with the time as an
//! input.
//!
//! Modules depend on each other in one direction only: `vocabulary`, `time`, `message`,
//! `config` and `evidence` at the bottom; then `staleness` and `families`; then `registry`,
//! `outcome`, `conditions` and `report`; and this module, which only re-exports and
//! composes them.

pub mod conditions;
pub mod config;
pub mod evidence;
pub mod families;
pub mod message;
pub mod outcome;
pub mod registry;
pub mod report;
pub mod staleness;
pub mod time;
pub mod vocabulary;

use jiff::{SignedDuration, Timestamp};
use operationrun_crds::{OperationRun, Parsed, RECONCILE_ANNOTATION, RunCondition};

pub use conditions::{Owned, Transition, is_owned};
pub use config::Config;
pub use evidence::{ArtifactKind, Evidence};
pub use families::{ClaimScope, scope_of};
pub use message::{MAX_MESSAGE_BYTES, TRUNCATION_MARKER, cap_bytes, cap_message};
pub use outcome::{MAX_RELATED, Verdict, abandon_due, judge};
pub use registry::{Family, claim_kind, lookup};
pub use report::{ClaimReport, ClaimStanding, Coverage, CoverageLine, claim_reports, coverage};
pub use staleness::{HeartbeatSeen, Phase, Staleness, staleness, staleness_seen};
pub use time::format_time;
pub use vocabulary::{
    ConditionStatus, ConditionType, FreshReason, Reason, ReferenceField, Rule, StaleReason,
};

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

impl Decision {
    /// Whether the run holds a final decision (`Reconciled=True`) after this reconcile.
    pub fn is_final(&self) -> bool {
        self.conditions.iter().any(|c| {
            c.type_ == ConditionType::Reconciled.as_str() && ConditionStatus::True.is(&c.status)
        })
    }

    /// Whether this reconcile takes a final verdict (`Reconciled=True`, Abandoned included)
    /// that is not stored yet: the write that can never be taken back.
    pub fn takes_final_verdict(&self) -> bool {
        self.changed && self.verdict.as_ref().is_some_and(|v| v.reconciled)
    }
}

/// Decides one run at `now`: pure, deterministic, and total (it never panics). Without
/// history, as `evaluate` and a freshly started controller decide: [`decide_seen`] with
/// `None`.
pub fn decide(
    run: &Parsed<OperationRun>,
    evidence: &Evidence<'_>,
    now: Timestamp,
    config: &Config,
) -> Decision {
    decide_seen(run, evidence, now, config, None)
}

/// Decides one run at `now`, also knowing when the controller last saw its heartbeat change
/// (`seen`), so that a live worker whose clock runs behind is not declared stale.
pub fn decide_seen(
    run: &Parsed<OperationRun>,
    evidence: &Evidence<'_>,
    now: Timestamp,
    config: &Config,
    seen: Option<HeartbeatSeen>,
) -> Decision {
    let stored = Owned::of(&run.object);
    if is_disabled(&run.object) {
        return Decision {
            staleness: staleness_seen(&run.object, now, config, seen),
            verdict: None,
            conditions: stored.iter().cloned().collect(),
            changed: false,
            transitions: Vec::new(),
            recheck_at: None,
            disabled: true,
        };
    }
    let state = staleness_seen(&run.object, now, config, seen);
    let verdict = match &state {
        Staleness::Stale { since, .. } if stored.final_decision().is_none() => {
            let verdict = judge(run, evidence);
            Some(outcome::abandon_if_due(verdict, *since, now, config))
        }
        _ => None,
    };
    let recheck_at = match (&state, &verdict) {
        (Staleness::Fresh { stale_at }, _) => Some(*stale_at),
        (Staleness::Stale { since, .. }, Some(v)) if !v.reconciled => {
            outcome::abandon_due(*since, config)
        }
        _ => None,
    }
    .and_then(|t| t.checked_add(SignedDuration::from_secs(1)).ok());
    let (conditions, transitions) =
        conditions::desired(&run.object, stored, &state, verdict.as_ref(), now);
    let changed = !conditions.iter().eq(stored.iter());
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

/// Whether an operator excluded the run with `ops.tenantatlas.io/reconcile: disabled`; the
/// controller then leaves it alone entirely.
pub fn is_disabled(run: &OperationRun) -> bool {
    run.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(RECONCILE_ANNOTATION))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("disabled"))
}
