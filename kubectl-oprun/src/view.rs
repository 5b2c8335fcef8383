//! What one run looks like to an operator: its situation, derived from the conditions the
//! controller stored and from the run's own timestamps. Nothing here decides anything;
//! the stored `Reconciled` condition is taken as it is.

use jiff::Timestamp;
use operationrun_core::decide::{
    ConditionStatus, Config, Owned, Phase, Reason, Staleness, is_disabled, staleness,
};
use operationrun_crds::{OperationRun, Parsed, RunCondition};

use crate::actions::Situation;

/// One run, read for display.
pub struct RunView<'a> {
    /// The run as stored (or as `--reconcile` left it).
    pub run: &'a Parsed<OperationRun>,
    /// Where the run stands at `now` with the given timeouts.
    pub staleness: Staleness,
    /// Stale now, or marked stale by the controller (and not Completed).
    pub stale: bool,
    /// The stored `Stale` condition.
    pub stale_condition: Option<&'a RunCondition>,
    /// The stored `Reconciled` condition.
    pub reconciled: Option<&'a RunCondition>,
    /// The run carries `ops.tenantatlas.io/reconcile: disabled`.
    pub disabled: bool,
    /// The situation that selects the next action.
    pub situation: Situation,
}

impl<'a> RunView<'a> {
    /// Reads `run` at `now`; `config` gives the timeouts staleness is measured with.
    pub fn new(run: &'a Parsed<OperationRun>, now: Timestamp, config: &Config) -> Self {
        let object = &run.object;
        let Owned {
            stale: stale_condition,
            reconciled,
        } = Owned::of(object);
        let state = staleness(object, now, config);
        let completed = matches!(state, Staleness::Completed);
        let stale = !completed
            && (matches!(state, Staleness::Stale { .. })
                || stale_condition.is_some_and(|c| ConditionStatus::True.is(&c.status)));
        let disabled = is_disabled(object);
        let from_reason = |c: &RunCondition| {
            c.reason
                .as_deref()
                .and_then(Reason::parse)
                .map_or(Situation::UnknownReason, Situation::Reconciled)
        };
        let situation = match reconciled {
            Some(c) if ConditionStatus::True.is(&c.status) => from_reason(c),
            _ if completed => {
                if worker_outcome(object).and_then(Reason::parse) == Some(Reason::Succeeded) {
                    Situation::WorkerSucceeded
                } else {
                    Situation::WorkerReported
                }
            }
            Some(c) => from_reason(c),
            None if stale && Phase::of(object) == Phase::Queued => Situation::QueuedTooLong,
            None if stale => Situation::HeartbeatExpired,
            None if Phase::of(object) == Phase::Queued => Situation::Queued,
            None => Situation::Running,
        };
        RunView {
            run,
            staleness: state,
            stale,
            stale_condition,
            reconciled,
            disabled,
            situation,
        }
    }

    /// The run's namespace.
    pub fn namespace(&self) -> &'a str {
        self.run
            .object
            .metadata
            .namespace
            .as_deref()
            .unwrap_or_default()
    }

    /// The run's name.
    pub fn name(&self) -> &'a str {
        self.run.object.metadata.name.as_deref().unwrap_or_default()
    }

    /// The run's family (`spec.type`).
    pub fn family(&self) -> &'a str {
        &self.run.object.spec.type_
    }

    /// The phase as the worker wrote it (`Queued` when there is none).
    pub fn phase(&self) -> &'a str {
        self.run
            .object
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .filter(|p| !p.trim().is_empty())
            .unwrap_or(Phase::Queued.as_str())
    }

    /// Whether the worker reported Completed.
    pub fn completed(&self) -> bool {
        matches!(self.staleness, Staleness::Completed)
    }

    /// `Reconciled=True`: the controller's final decision.
    pub fn decided(&self) -> bool {
        self.reconciled
            .is_some_and(|c| ConditionStatus::True.is(&c.status))
    }

    /// The reason of the stored `Reconciled` condition.
    pub fn reconciled_reason(&self) -> Option<&'a str> {
        self.reconciled.and_then(|c| c.reason.as_deref())
    }

    /// The worker's outcome, when it reported Completed.
    pub fn worker_outcome(&self) -> Option<&'a str> {
        worker_outcome(&self.run.object)
    }

    /// The outcome shown: the controller's reason when it decided (or declined to, while
    /// the run is not Completed), else the worker's outcome.
    pub fn outcome(&self) -> Option<&'a str> {
        match self.reconciled_reason() {
            Some(r) if self.decided() || !self.completed() => Some(r),
            _ => self.worker_outcome(),
        }
    }

    /// The OUTCOME column: [`RunView::outcome`], or `-`.
    pub fn outcome_label(&self) -> &'a str {
        self.outcome().unwrap_or("-")
    }

    /// 0 = stale and undecided, 1 = Blocked / Failed / Abandoned, 2 = the rest: the order
    /// in which `list` shows runs, most in need of attention first.
    pub fn attention(&self) -> u8 {
        if self.stale && !self.decided() {
            0
        } else if self
            .outcome()
            .and_then(Reason::parse)
            .is_some_and(|r| matches!(r, Reason::Blocked | Reason::Failed | Reason::Abandoned))
        {
            1
        } else {
            2
        }
    }
}

fn worker_outcome(run: &OperationRun) -> Option<&str> {
    if Phase::of(run) != Phase::Completed {
        return None;
    }
    run.status
        .as_ref()
        .and_then(|s| s.outcome.as_deref())
        .filter(|o| !o.trim().is_empty())
}

/// Formats a duration since `then` as kubectl's AGE column does.
pub fn age(then: Option<Timestamp>, now: Timestamp) -> String {
    let Some(then) = then else {
        return "<unknown>".into();
    };
    let seconds = now.as_second() - then.as_second();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if days < 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if days < 365 * 8 {
        let d = days % 365;
        return if d == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{d}d")
        };
    }
    format!("{years}y")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_reads_like_kubectl() {
        let now: Timestamp = "2026-11-26T12:00:00Z".parse().unwrap();
        let at = |s: i64| Some(Timestamp::from_second(now.as_second() - s).unwrap());
        assert_eq!(age(at(5), now), "5s");
        assert_eq!(age(at(119), now), "119s");
        assert_eq!(age(at(150), now), "2m30s");
        assert_eq!(age(at(1200), now), "20m");
        assert_eq!(age(at(2 * 3600), now), "120m");
        assert_eq!(age(at(4 * 3600 + 300), now), "4h5m");
        assert_eq!(age(at(30 * 3600), now), "30h");
        assert_eq!(age(at(3 * 86400 + 7200), now), "3d2h");
        assert_eq!(age(at(40 * 86400), now), "40d");
        assert_eq!(age(at(-10), now), "<invalid>");
        assert_eq!(age(None, now), "<unknown>");
    }
}
