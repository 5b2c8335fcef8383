//! A row of the table: the situation and what an operator should notice.

use super::*;

/// An expected Event: (condition, reason, warning, related artifact name).
pub type Ev = (&'static str, &'static str, bool, Option<&'static str>);

/// The state the run was decided in before, to store its conditions (time, run, evidence).
pub struct Prior {
    pub at: &'static str,
    pub run: Option<Run>,
    pub sets: Option<Vec<Parsed<BackupSet>>>,
}

pub struct Row {
    pub name: &'static str,
    pub run: Run,
    pub problem: Option<&'static str>,
    pub sets: Vec<Parsed<BackupSet>>,
    pub snaps: Vec<Parsed<BaselineSnapshot>>,
    pub now: Timestamp,
    pub config: Config,
    /// When the controller saw the heartbeat change (`None`: no history, as `evaluate`).
    pub seen: Option<HeartbeatSeen>,
    pub prior: Option<Prior>,
    // Expectations; None = not checked by this row (the invariants still are).
    pub stale: Option<Option<(&'static str, &'static str)>>,
    pub reconciled: Option<Option<(&'static str, &'static str)>>,
    pub rule: Option<Option<u8>>,
    pub adapter: Option<Option<&'static str>>,
    pub previous_phase: Option<&'static str>,
    pub related: Option<Vec<&'static str>>,
    pub events: Option<Vec<Ev>>,
    pub recheck_after: Option<Option<Timestamp>>,
    pub changed: Option<bool>,
    pub stale_since: Option<Timestamp>,
    pub ltt: Vec<(&'static str, &'static str)>,
}

pub fn row(name: &'static str, run: Run) -> Row {
    Row {
        name,
        run,
        problem: None,
        sets: Vec::new(),
        snaps: Vec::new(),
        now: ts(NOW),
        config: Config::default(),
        seen: None,
        prior: None,
        stale: None,
        reconciled: None,
        rule: None,
        adapter: None,
        previous_phase: None,
        related: None,
        events: None,
        recheck_after: None,
        changed: None,
        stale_since: None,
        ltt: Vec::new(),
    }
}

/// The `Reconciled` status docs/concepts.md#decision-table gives each reason.
pub fn status_of(reason: &str) -> &'static str {
    match reason {
        "Succeeded" | "PartiallySucceeded" | "Blocked" | "Failed" | "Abandoned" => "True",
        _ => "False",
    }
}

/// Event severity per docs/concepts.md#events: Warning when a run becomes stale and for
/// Blocked, Failed, Abandoned and the refusals other than AwaitingEvidence.
pub fn documented_warning(reason: &str) -> bool {
    !matches!(
        reason,
        "Succeeded" | "PartiallySucceeded" | "AwaitingEvidence" | "Resumed" | "WorkerCompleted"
    )
}

impl Row {
    pub fn sets(mut self, sets: Vec<Parsed<BackupSet>>) -> Self {
        self.sets = sets;
        self
    }
    pub fn snaps(mut self, snaps: Vec<Parsed<BaselineSnapshot>>) -> Self {
        self.snaps = snaps;
        self
    }
    pub fn problem(mut self, problem: &'static str) -> Self {
        self.problem = Some(problem);
        self
    }
    pub fn now(mut self, now: &str) -> Self {
        self.now = ts(now);
        self
    }
    pub fn now_ts(mut self, now: Timestamp) -> Self {
        self.now = now;
        self
    }
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }
    /// The controller saw the run's heartbeat change `age_secs` seconds ago.
    pub fn seen(mut self, age_secs: u64) -> Self {
        self.seen = Some(HeartbeatSeen { age_secs });
        self
    }
    /// Stores the conditions of deciding this same run and evidence at `at`.
    pub fn prior_at(mut self, at: &'static str) -> Self {
        self.prior = Some(Prior {
            at,
            run: None,
            sets: None,
        });
        self
    }
    /// Stores the conditions of deciding `run` with `sets` at `at`.
    pub fn prior(mut self, at: &'static str, run: Run, sets: Vec<Parsed<BackupSet>>) -> Self {
        self.prior = Some(Prior {
            at,
            run: Some(run),
            sets: Some(sets),
        });
        self
    }
    /// Expects a decision of the table: Reconciled with `reason`, taken by `rule`.
    pub fn decided(mut self, reason: &'static str, rule: u8) -> Self {
        self.reconciled = Some(Some((status_of(reason), reason)));
        self.rule = Some(Some(rule));
        self
    }
    /// Expects a Reconciled condition (e.g. a kept one) without a decision in this reconcile.
    pub fn kept(mut self, reason: &'static str) -> Self {
        self.reconciled = Some(Some((status_of(reason), reason)));
        self.rule = Some(None);
        self
    }
    pub fn no_reconciled(mut self) -> Self {
        self.reconciled = Some(None);
        self.rule = Some(None);
        self
    }
    pub fn stale(mut self, status: &'static str, reason: &'static str) -> Self {
        self.stale = Some(Some((status, reason)));
        self
    }
    pub fn no_stale(mut self) -> Self {
        self.stale = Some(None);
        self
    }
    /// Not stale, never was: nothing written, re-checked just after `stale_at`.
    pub fn fresh(self, stale_at: Timestamp) -> Self {
        self.no_stale()
            .no_reconciled()
            .changed(false)
            .events(&[])
            .recheck_after(Some(stale_at))
    }
    pub fn adapter(mut self, adapter: Option<&'static str>) -> Self {
        self.adapter = Some(adapter);
        self
    }
    pub fn previous(mut self, phase: &'static str) -> Self {
        self.previous_phase = Some(phase);
        self
    }
    pub fn related(mut self, names: &[&'static str]) -> Self {
        self.related = Some(names.to_vec());
        self
    }
    pub fn events(mut self, events: &[Ev]) -> Self {
        self.events = Some(events.to_vec());
        self
    }
    pub fn recheck_after(mut self, instant: Option<Timestamp>) -> Self {
        self.recheck_after = Some(instant);
        self
    }
    pub fn changed(mut self, changed: bool) -> Self {
        self.changed = Some(changed);
        self
    }
    pub fn stale_since(mut self, since: Timestamp) -> Self {
        self.stale_since = Some(since);
        self
    }
    pub fn ltt(mut self, condition: &'static str, at: &'static str) -> Self {
        self.ltt.push((condition, at));
        self
    }
}

/// A stale backup run (Running, heartbeat expired) decided at NOW.
pub fn backup(name: &'static str, run: Run, reason: &'static str, rule: u8) -> Row {
    row(name, run)
        .decided(reason, rule)
        .adapter(Some(BACKUP))
        .previous("Running")
        .stale("True", "HeartbeatExpired")
        .stale_since(ts(STALE_SINCE))
}

/// A stale capture run decided at NOW.
pub fn capture(name: &'static str, run: Run, reason: &'static str, rule: u8) -> Row {
    row(name, run)
        .decided(reason, rule)
        .adapter(Some(CAPTURE))
        .previous("Running")
        .stale("True", "HeartbeatExpired")
}

/// A stale inventory run decided at NOW; its evidence is the run itself.
pub fn inventory(name: &'static str, run: Run, reason: &'static str, rule: u8) -> Row {
    row(name, run)
        .decided(reason, rule)
        .adapter(Some(INVENTORY))
        .previous("Running")
        .stale("True", "HeartbeatExpired")
        .related(&[])
}
