//! Table tests of the decision core against SPEC §4–§6: one row per situation, each
//! asserting what an operator would notice — the `Stale` and `Reconciled` conditions, the
//! rule that decided, the Events (transitions), whether a write is needed and when the run
//! is looked at again.
//!
//! Every row is also checked against the invariants that hold for all rows: conditions are
//! listed Stale first and only the controller's own; `lastTransitionTime` moves exactly when
//! a status moves; Event severity follows the reason; a stored `Reconciled=True` is never
//! rewritten; the re-check instant follows §4; and deciding the result again at the same
//! instant changes nothing.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use operationrun_core::decide::{ConditionType, Config, Decision, Evidence, Staleness, decide};

const STALE: &str = ConditionType::Stale.as_str();
const RECONCILED: &str = ConditionType::Reconciled.as_str();
use operationrun_crds::{
    BackupSet, BackupSetSpec, BackupSetStatus, BackupSummary, BaselineSnapshot,
    BaselineSnapshotSpec, BaselineSnapshotStatus, CoverageEntry, Failure, GapCount, InventorySpec,
    InventoryStatus, LocalRef, OperationRun, OperationRunSpec, OperationRunStatus, Parsed,
    RECONCILE_ANNOTATION, RunCondition, RunRef, SnapshotSummary, Timeouts,
};

const NS: &str = "tenant-contoso";
const RUN: &str = "nightly-20261126";
const RUN_UID: &str = "5f0c0000-0000-0000-0000-000000000001";
const SCHEDULE: &str = "nightly";
const PROFILE: &str = "win11";

const BACKUP: &str = "backup.schedule.execute";
const CAPTURE: &str = "baseline.capture";
const INVENTORY: &str = "inventory.sync";

/// Creation of every run.
const CREATED: &str = "2026-11-26T10:00:00Z";
/// The default run is Running with this last heartbeat.
const HEARTBEAT: &str = "2026-11-26T11:00:00Z";
/// HEARTBEAT + the default heartbeat timeout (600 s).
const STALE_SINCE: &str = "2026-11-26T11:10:00Z";
/// The default decision time.
const NOW: &str = "2026-11-26T12:00:00Z";
/// STALE_SINCE + the default abandon-after (86400 s).
const ABANDON_DUE: &str = "2026-11-27T11:10:00Z";
/// One second after ABANDON_DUE.
const ABANDONED: &str = "2026-11-27T11:10:01Z";

fn ts(s: &str) -> Timestamp {
    s.parse()
        .unwrap_or_else(|e| panic!("bad timestamp {s:?} in a test row: {e}"))
}

// ---------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------

/// An OperationRun under construction; by default Running, last heartbeat HEARTBEAT.
#[derive(Clone)]
struct Run(OperationRun);

impl Run {
    fn of(family: &str) -> Run {
        let mut run = OperationRun::new(
            RUN,
            OperationRunSpec {
                type_: family.into(),
                ..Default::default()
            },
        );
        run.metadata.namespace = Some(NS.into());
        run.metadata.uid = Some(RUN_UID.into());
        run.metadata.generation = Some(3);
        run.metadata.creation_timestamp = Some(Time(ts(CREATED)));
        Run(run).phase("Running").heartbeat(HEARTBEAT)
    }
    fn backup() -> Run {
        Run::of(BACKUP).schedule(SCHEDULE)
    }
    fn capture() -> Run {
        Run::of(CAPTURE).profile(PROFILE)
    }
    fn inventory(types: &[&str]) -> Run {
        Run::of(INVENTORY).policy_types(types)
    }
    fn status(&mut self) -> &mut OperationRunStatus {
        self.0.status.get_or_insert_with(Default::default)
    }
    fn phase(mut self, phase: &str) -> Self {
        self.status().phase = Some(phase.into());
        self
    }
    fn no_phase(mut self) -> Self {
        self.status().phase = None;
        self
    }
    fn no_status(mut self) -> Self {
        self.0.status = None;
        self
    }
    fn outcome(mut self, outcome: &str) -> Self {
        self.status().outcome = Some(outcome.into());
        self
    }
    fn heartbeat(mut self, t: &str) -> Self {
        self.status().heartbeat_time = Some(t.into());
        self
    }
    fn no_heartbeat(mut self) -> Self {
        self.status().heartbeat_time = None;
        self
    }
    fn started(mut self, t: &str) -> Self {
        self.status().started_at = Some(t.into());
        self
    }
    fn created(mut self, t: &str) -> Self {
        self.0.metadata.creation_timestamp = Some(Time(ts(t)));
        self
    }
    /// Run-level failures; "" records a failure without a category.
    fn failures(mut self, categories: &[&str]) -> Self {
        self.status().failures = Some(failures(categories));
        self
    }
    /// Coverage entries (policyType, state, failureCategory; "" for none).
    fn coverage(mut self, entries: &[(&str, &str, &str)]) -> Self {
        let coverage = entries
            .iter()
            .map(|(t, state, category)| CoverageEntry {
                policy_type: Some(t.to_string()),
                state: Some(state.to_string()),
                item_count: Some(if *state == "Succeeded" { 0 } else { 7 }),
                failure_category: (!category.is_empty()).then(|| category.to_string()),
            })
            .collect();
        self.status().inventory = Some(InventoryStatus {
            coverage: Some(coverage),
        });
        self
    }
    fn timeouts(mut self, queued: Option<i64>, heartbeat: Option<i64>) -> Self {
        self.0.spec.timeouts = Some(Timeouts {
            queued_seconds: queued,
            heartbeat_seconds: heartbeat,
        });
        self
    }
    fn schedule(mut self, name: &str) -> Self {
        self.0.spec.backup_schedule_ref = Some(LocalRef { name: name.into() });
        self
    }
    fn no_schedule(mut self) -> Self {
        self.0.spec.backup_schedule_ref = None;
        self
    }
    fn profile(mut self, name: &str) -> Self {
        self.0.spec.baseline_profile_ref = Some(LocalRef { name: name.into() });
        self
    }
    fn no_profile(mut self) -> Self {
        self.0.spec.baseline_profile_ref = None;
        self
    }
    fn policy_types(mut self, types: &[&str]) -> Self {
        self.0.spec.inventory = Some(InventorySpec {
            policy_types: Some(types.iter().map(|t| t.to_string()).collect()),
        });
        self
    }
    fn no_inventory(mut self) -> Self {
        self.0.spec.inventory = None;
        self
    }
    fn uid(mut self, uid: Option<&str>) -> Self {
        self.0.metadata.uid = uid.map(str::to_string);
        self
    }
    fn annotate(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(key.into(), value.into());
        self
    }
    fn conditions(mut self, conditions: Vec<RunCondition>) -> Self {
        self.status().conditions = Some(conditions);
        self
    }
}

fn failures(categories: &[&str]) -> Vec<Failure> {
    categories
        .iter()
        .map(|c| Failure {
            category: (!c.is_empty()).then(|| c.to_string()),
            message: Some(format!("recorded {c}")),
        })
        .collect()
}

/// A stored condition as an earlier reconcile (or a person) left it.
fn cond(type_: &str, status: &str, reason: &str, ltt: &str) -> RunCondition {
    RunCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(format!("stored {reason}")),
        last_transition_time: Some(ltt.into()),
        observed_generation: Some(1),
        ..Default::default()
    }
}

/// A stored final decision.
fn final_decision(reason: &str, adapter: Option<&str>) -> RunCondition {
    RunCondition {
        adapter: adapter.map(str::to_string),
        previous_phase: Some("Running".into()),
        related_artifacts: Some(Vec::new()),
        ..cond(RECONCILED, "True", reason, "2026-11-26T11:15:00Z")
    }
}

/// A BackupSet claiming the run in scope: same namespace, run name, run uid and schedule.
/// Finalized with empty counts unless changed.
struct Set(BackupSet);

impl Set {
    fn named(name: &str) -> Set {
        let mut set = BackupSet::new(
            name,
            BackupSetSpec {
                backup_schedule_ref: Some(LocalRef {
                    name: SCHEDULE.into(),
                }),
                operation_run_ref: Some(RunRef {
                    name: RUN.into(),
                    uid: Some(RUN_UID.into()),
                }),
            },
        );
        set.metadata.namespace = Some(NS.into());
        set.metadata.uid = Some(format!("uid-{name}"));
        set.status = Some(BackupSetStatus {
            state: Some("Finalized".into()),
            summary: None,
            failures: None,
        });
        Set(set)
    }
    fn state(mut self, state: &str) -> Self {
        self.0.status.get_or_insert_with(Default::default).state = Some(state.into());
        self
    }
    fn counts(mut self, total: i64, succeeded: i64, failed: i64, skipped: i64) -> Self {
        self.0.status.get_or_insert_with(Default::default).summary = Some(BackupSummary {
            items_total: Some(total),
            succeeded: Some(succeeded),
            failed: Some(failed),
            skipped: Some(skipped),
        });
        self
    }
    fn failures(mut self, categories: &[&str]) -> Self {
        self.0.status.get_or_insert_with(Default::default).failures = Some(failures(categories));
        self
    }
    fn no_status(mut self) -> Self {
        self.0.status = None;
        self
    }
    fn namespace(mut self, ns: &str) -> Self {
        self.0.metadata.namespace = Some(ns.into());
        self
    }
    fn run_ref(mut self, name: &str, uid: Option<&str>) -> Self {
        self.0.spec.operation_run_ref = Some(RunRef {
            name: name.into(),
            uid: uid.map(str::to_string),
        });
        self
    }
    fn schedule(mut self, name: Option<&str>) -> Self {
        self.0.spec.backup_schedule_ref = name.map(|n| LocalRef { name: n.into() });
        self
    }
    fn ok(self) -> Parsed<BackupSet> {
        Parsed::ok(self.0)
    }
    fn unreadable(self, problem: &str) -> Parsed<BackupSet> {
        Parsed {
            object: self.0,
            problem: Some(problem.into()),
        }
    }
}

/// A complete in-scope BackupSet.
fn complete_set(name: &str) -> Parsed<BackupSet> {
    Set::named(name).counts(120, 120, 0, 0).ok()
}

/// A BaselineSnapshot claiming the run in scope, Finalized with empty counts unless changed.
struct Snap(BaselineSnapshot);

impl Snap {
    fn named(name: &str) -> Snap {
        let mut snap = BaselineSnapshot::new(
            name,
            BaselineSnapshotSpec {
                baseline_profile_ref: Some(LocalRef {
                    name: PROFILE.into(),
                }),
                operation_run_ref: Some(RunRef {
                    name: RUN.into(),
                    uid: Some(RUN_UID.into()),
                }),
            },
        );
        snap.metadata.namespace = Some(NS.into());
        snap.metadata.uid = Some(format!("uid-{name}"));
        snap.status = Some(BaselineSnapshotStatus {
            state: Some("Finalized".into()),
            ..Default::default()
        });
        Snap(snap)
    }
    fn status(&mut self) -> &mut BaselineSnapshotStatus {
        self.0.status.get_or_insert_with(Default::default)
    }
    fn summary(&mut self) -> &mut SnapshotSummary {
        self.status().summary.get_or_insert_with(Default::default)
    }
    fn state(mut self, state: &str) -> Self {
        self.status().state = Some(state.into());
        self
    }
    fn counts(mut self, total: i64, captured: i64) -> Self {
        let summary = self.summary();
        summary.subjects_total = Some(total);
        summary.captured = Some(captured);
        self
    }
    fn gaps(mut self, gaps: &[(&str, i64)]) -> Self {
        self.summary().gaps = Some(
            gaps.iter()
                .map(|(reason, count)| GapCount {
                    reason: Some(reason.to_string()),
                    count: Some(*count),
                })
                .collect(),
        );
        self
    }
    fn fallback(mut self) -> Self {
        self.status().fallback_used = Some(true);
        self
    }
    fn failures(mut self, categories: &[&str]) -> Self {
        self.status().failures = Some(failures(categories));
        self
    }
    fn namespace(mut self, ns: &str) -> Self {
        self.0.metadata.namespace = Some(ns.into());
        self
    }
    fn run_ref(mut self, name: &str, uid: Option<&str>) -> Self {
        self.0.spec.operation_run_ref = Some(RunRef {
            name: name.into(),
            uid: uid.map(str::to_string),
        });
        self
    }
    fn profile(mut self, name: Option<&str>) -> Self {
        self.0.spec.baseline_profile_ref = name.map(|n| LocalRef { name: n.into() });
        self
    }
    fn ok(self) -> Parsed<BaselineSnapshot> {
        Parsed::ok(self.0)
    }
    fn unreadable(self, problem: &str) -> Parsed<BaselineSnapshot> {
        Parsed {
            object: self.0,
            problem: Some(problem.into()),
        }
    }
}

fn complete_snap(name: &str) -> Parsed<BaselineSnapshot> {
    Snap::named(name).counts(40, 40).ok()
}

// ---------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------

/// An expected Event: (condition, reason, warning, related artifact name).
type Ev = (&'static str, &'static str, bool, Option<&'static str>);

/// The state the run was decided in before, to store its conditions (time, run, evidence).
struct Prior {
    at: &'static str,
    run: Option<Run>,
    sets: Option<Vec<Parsed<BackupSet>>>,
}

struct Row {
    name: &'static str,
    run: Run,
    problem: Option<&'static str>,
    sets: Vec<Parsed<BackupSet>>,
    snaps: Vec<Parsed<BaselineSnapshot>>,
    now: Timestamp,
    config: Config,
    prior: Option<Prior>,
    // Expectations; None = not checked by this row (the invariants still are).
    stale: Option<Option<(&'static str, &'static str)>>,
    reconciled: Option<Option<(&'static str, &'static str)>>,
    rule: Option<Option<u8>>,
    adapter: Option<Option<&'static str>>,
    previous_phase: Option<&'static str>,
    related: Option<Vec<&'static str>>,
    events: Option<Vec<Ev>>,
    recheck_after: Option<Option<Timestamp>>,
    changed: Option<bool>,
    stale_since: Option<Timestamp>,
    ltt: Vec<(&'static str, &'static str)>,
}

fn row(name: &'static str, run: Run) -> Row {
    Row {
        name,
        run,
        problem: None,
        sets: Vec::new(),
        snaps: Vec::new(),
        now: ts(NOW),
        config: Config::default(),
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

/// The `Reconciled` status SPEC §5 gives each reason.
fn status_of(reason: &str) -> &'static str {
    match reason {
        "Succeeded" | "PartiallySucceeded" | "Blocked" | "Failed" | "Abandoned" => "True",
        _ => "False",
    }
}

/// Event severity per SPEC §6: Warning when a run becomes stale and for Blocked, Failed,
/// Abandoned and the refusals other than AwaitingEvidence.
fn spec_warning(reason: &str) -> bool {
    !matches!(
        reason,
        "Succeeded" | "PartiallySucceeded" | "AwaitingEvidence" | "Resumed" | "WorkerCompleted"
    )
}

impl Row {
    fn sets(mut self, sets: Vec<Parsed<BackupSet>>) -> Self {
        self.sets = sets;
        self
    }
    fn snaps(mut self, snaps: Vec<Parsed<BaselineSnapshot>>) -> Self {
        self.snaps = snaps;
        self
    }
    fn problem(mut self, problem: &'static str) -> Self {
        self.problem = Some(problem);
        self
    }
    fn now(mut self, now: &str) -> Self {
        self.now = ts(now);
        self
    }
    fn now_ts(mut self, now: Timestamp) -> Self {
        self.now = now;
        self
    }
    fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }
    /// Stores the conditions of deciding this same run and evidence at `at`.
    fn prior_at(mut self, at: &'static str) -> Self {
        self.prior = Some(Prior {
            at,
            run: None,
            sets: None,
        });
        self
    }
    /// Stores the conditions of deciding `run` with `sets` at `at`.
    fn prior(mut self, at: &'static str, run: Run, sets: Vec<Parsed<BackupSet>>) -> Self {
        self.prior = Some(Prior {
            at,
            run: Some(run),
            sets: Some(sets),
        });
        self
    }
    /// Expects a decision of the table: Reconciled with `reason`, taken by `rule`.
    fn decided(mut self, reason: &'static str, rule: u8) -> Self {
        self.reconciled = Some(Some((status_of(reason), reason)));
        self.rule = Some(Some(rule));
        self
    }
    /// Expects a Reconciled condition (e.g. a kept one) without a decision in this reconcile.
    fn kept(mut self, reason: &'static str) -> Self {
        self.reconciled = Some(Some((status_of(reason), reason)));
        self.rule = Some(None);
        self
    }
    fn no_reconciled(mut self) -> Self {
        self.reconciled = Some(None);
        self.rule = Some(None);
        self
    }
    fn stale(mut self, status: &'static str, reason: &'static str) -> Self {
        self.stale = Some(Some((status, reason)));
        self
    }
    fn no_stale(mut self) -> Self {
        self.stale = Some(None);
        self
    }
    /// Not stale, never was: nothing written, re-checked just after `stale_at`.
    fn fresh(self, stale_at: Timestamp) -> Self {
        self.no_stale()
            .no_reconciled()
            .changed(false)
            .events(&[])
            .recheck_after(Some(stale_at))
    }
    fn adapter(mut self, adapter: Option<&'static str>) -> Self {
        self.adapter = Some(adapter);
        self
    }
    fn previous(mut self, phase: &'static str) -> Self {
        self.previous_phase = Some(phase);
        self
    }
    fn related(mut self, names: &[&'static str]) -> Self {
        self.related = Some(names.to_vec());
        self
    }
    fn events(mut self, events: &[Ev]) -> Self {
        self.events = Some(events.to_vec());
        self
    }
    fn recheck_after(mut self, instant: Option<Timestamp>) -> Self {
        self.recheck_after = Some(instant);
        self
    }
    fn changed(mut self, changed: bool) -> Self {
        self.changed = Some(changed);
        self
    }
    fn stale_since(mut self, since: Timestamp) -> Self {
        self.stale_since = Some(since);
        self
    }
    fn ltt(mut self, condition: &'static str, at: &'static str) -> Self {
        self.ltt.push((condition, at));
        self
    }
}

// ---------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------

fn parsed(run: OperationRun, problem: Option<&str>) -> Parsed<OperationRun> {
    Parsed {
        object: run,
        problem: problem.map(str::to_string),
    }
}

fn evidence<'a>(
    sets: &'a [Parsed<BackupSet>],
    snaps: &'a [Parsed<BaselineSnapshot>],
) -> Evidence<'a> {
    Evidence {
        backup_sets: sets.iter().collect(),
        baseline_snapshots: snaps.iter().collect(),
    }
}

fn owned(run: &OperationRun) -> Vec<RunCondition> {
    run.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.type_ == STALE || c.type_ == RECONCILED)
        .cloned()
        .collect()
}

/// The run with its controller-owned conditions replaced by `conditions` (others kept).
fn with_stored(mut run: OperationRun, conditions: &[RunCondition]) -> OperationRun {
    let status = run.status.get_or_insert_with(Default::default);
    let mut list: Vec<RunCondition> = status
        .conditions
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.type_ != STALE && c.type_ != RECONCILED)
        .collect();
    list.extend(conditions.iter().cloned());
    status.conditions = Some(list);
    run
}

fn find<'a>(conditions: &'a [RunCondition], type_: &str) -> Option<&'a RunCondition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Kubernetes timestamps have whole seconds.
fn whole_seconds(t: Timestamp) -> Timestamp {
    let s = t.as_second();
    let s = if t.subsec_nanosecond() < 0 { s - 1 } else { s };
    Timestamp::from_second(s).unwrap()
}

fn parse_ltt(c: &RunCondition) -> Option<Timestamp> {
    c.last_transition_time
        .as_deref()
        .and_then(|t| t.parse().ok())
}

/// Decides a row; returns the decision, the run as decided and every mismatch.
fn run_row(r: &Row) -> (Decision, Vec<String>) {
    let mut errors = Vec::new();
    let mut run = r.run.0.clone();
    if let Some(prior) = &r.prior {
        let prior_run = prior
            .run
            .as_ref()
            .map_or_else(|| run.clone(), |p| p.0.clone());
        let prior_sets = prior.sets.as_ref().unwrap_or(&r.sets);
        let before = decide(
            &parsed(prior_run, r.problem),
            &evidence(prior_sets, &r.snaps),
            ts(prior.at),
            &r.config,
        );
        run = with_stored(run, &before.conditions);
    }
    let input = parsed(run.clone(), r.problem);
    let d = decide(&input, &evidence(&r.sets, &r.snaps), r.now, &r.config);
    let mut err = |m: String| errors.push(format!("[{}] {m}", r.name));

    // --- this row's expectations ---
    let stale = find(&d.conditions, STALE);
    let reconciled = find(&d.conditions, RECONCILED);
    if let Some(expected) = r.stale {
        let actual = stale.map(|c| (c.status.as_str(), c.reason.as_deref().unwrap_or("")));
        if actual != expected {
            err(format!("Stale is {actual:?}, expected {expected:?}"));
        }
    }
    if let Some(expected) = r.reconciled {
        let actual = reconciled.map(|c| (c.status.as_str(), c.reason.as_deref().unwrap_or("")));
        if actual != expected {
            err(format!("Reconciled is {actual:?}, expected {expected:?}"));
        }
    }
    if let Some(expected) = r.rule {
        let actual = d.verdict.as_ref().map(|v| v.rule.number());
        if actual != expected {
            err(format!("rule is {actual:?}, expected {expected:?}"));
        }
    }
    if let Some(expected) = r.adapter {
        match reconciled {
            Some(c) if c.adapter.as_deref() == expected => {}
            Some(c) => err(format!("adapter is {:?}, expected {expected:?}", c.adapter)),
            None => err("no Reconciled condition to carry the adapter".into()),
        }
    }
    if let Some(expected) = r.previous_phase {
        let actual = reconciled.and_then(|c| c.previous_phase.as_deref());
        if actual != Some(expected) {
            err(format!("previousPhase is {actual:?}, expected {expected}"));
        }
    }
    if let Some(expected) = &r.related {
        match reconciled.map(|c| &c.related_artifacts) {
            Some(Some(list)) => {
                let names: Vec<&str> = list.iter().map(|a| a.name.as_str()).collect();
                if names != *expected {
                    err(format!("relatedArtifacts {names:?}, expected {expected:?}"));
                }
                let uids_ok = list.iter().all(|a| a.uid == format!("uid-{}", a.name));
                let kinds_ok = list
                    .iter()
                    .all(|a| a.kind == "BackupSet" || a.kind == "BaselineSnapshot");
                if !uids_ok || !kinds_ok {
                    err(format!("relatedArtifacts carry wrong kind/uid: {list:?}"));
                }
            }
            other => err(format!(
                "relatedArtifacts is {other:?}, expected {expected:?}"
            )),
        }
    }
    if let Some(expected) = &r.events {
        let actual: Vec<(String, String, bool, Option<String>)> = d
            .transitions
            .iter()
            .map(|t| {
                (
                    t.condition.to_string(),
                    t.reason.clone(),
                    t.warning,
                    t.related.as_ref().map(|a| a.name.clone()),
                )
            })
            .collect();
        let expected: Vec<(String, String, bool, Option<String>)> = expected
            .iter()
            .map(|(c, reason, w, rel)| {
                (
                    c.to_string(),
                    reason.to_string(),
                    *w,
                    rel.map(str::to_string),
                )
            })
            .collect();
        if actual != expected {
            err(format!("events {actual:?}, expected {expected:?}"));
        }
    }
    if let Some(expected) = r.recheck_after {
        match (d.recheck_at, expected) {
            (None, None) => {}
            (Some(at), Some(instant))
                if at > instant && at <= instant + SignedDuration::from_secs(1) => {}
            (actual, _) => err(format!(
                "recheck_at {actual:?}, expected just after {expected:?}"
            )),
        }
    }
    if let Some(expected) = r.changed
        && d.changed != expected
    {
        err(format!("changed is {}, expected {expected}", d.changed));
    }
    if let Some(expected) = r.stale_since {
        match &d.staleness {
            Staleness::Stale { since, .. } if *since == expected => {}
            Staleness::Fresh { stale_at } if *stale_at == expected => {}
            other => err(format!(
                "staleness {other:?}, expected staleSince {expected}"
            )),
        }
    }
    for (type_, at) in &r.ltt {
        let actual = find(&d.conditions, type_).and_then(parse_ltt);
        if actual != Some(ts(at)) {
            err(format!(
                "{type_} lastTransitionTime {actual:?}, expected {at}"
            ));
        }
    }

    // --- invariants of every decision ---
    invariants(&input, &d, r.now, &r.config, &mut err);
    (d, errors)
}

fn invariants(
    input: &Parsed<OperationRun>,
    d: &Decision,
    now: Timestamp,
    config: &Config,
    err: &mut impl FnMut(String),
) {
    let stored = owned(&input.object);
    let stored_stale = find(&stored, STALE);
    let stored_reconciled = find(&stored, RECONCILED);

    // Only the controller's own conditions, Stale first, each at most once.
    let types: Vec<&str> = d.conditions.iter().map(|c| c.type_.as_str()).collect();
    if !matches!(
        types.as_slice(),
        [] | ["Stale"] | ["Reconciled"] | ["Stale", "Reconciled"]
    ) {
        err(format!("conditions are {types:?}"));
    }
    // changed ⇔ the owned conditions differ from the stored ones.
    if d.changed != (d.conditions != stored) {
        err(format!(
            "changed is {} but conditions {}",
            d.changed,
            if d.conditions == stored {
                "equal the stored ones"
            } else {
                "differ"
            }
        ));
    }
    // Reconciled=True is final.
    if let Some(s) = stored_reconciled.filter(|c| c.status == "True")
        && find(&d.conditions, RECONCILED) != Some(s)
    {
        err("a stored Reconciled=True was rewritten".into());
    }
    // lastTransitionTime moves exactly when status moves.
    for c in &d.conditions {
        let before = find(&stored, &c.type_);
        let Some(ltt) = parse_ltt(c) else {
            err(format!("{} has no readable lastTransitionTime", c.type_));
            continue;
        };
        match before {
            Some(b) if b.status == c.status => {
                if let Some(kept) = parse_ltt(b)
                    && kept != ltt
                {
                    err(format!(
                        "{} kept its status but lastTransitionTime moved from {kept} to {ltt}",
                        c.type_
                    ));
                }
            }
            _ => {
                if ltt != whole_seconds(now) {
                    err(format!(
                        "{} changed status but lastTransitionTime is {ltt}, not now",
                        c.type_
                    ));
                }
            }
        }
    }
    // Events: one per transition, severity per reason, related = first related artifact.
    for t in &d.transitions {
        if t.warning != spec_warning(&t.reason) {
            err(format!(
                "Event for {} {} is {}, SPEC says {}",
                t.condition,
                t.reason,
                if t.warning { "Warning" } else { "Normal" },
                if spec_warning(&t.reason) {
                    "Warning"
                } else {
                    "Normal"
                }
            ));
        }
        let Some(c) = find(&d.conditions, t.condition.as_str()) else {
            err(format!("Event for {} without the condition", t.condition));
            continue;
        };
        if c.reason.as_deref() != Some(t.reason.as_str()) {
            err(format!(
                "Event reason {} differs from the condition's",
                t.reason
            ));
        }
        let first = c
            .related_artifacts
            .as_ref()
            .and_then(|l| l.first())
            .cloned();
        if t.related != first {
            err(format!(
                "Event for {} relates {:?}, expected the first related artifact {first:?}",
                t.condition, t.related
            ));
        }
    }
    let stale_moved = find(&d.conditions, STALE)
        .is_some_and(|c| stored_stale.is_none_or(|s| s.status != c.status || s.reason != c.reason));
    let reconciled_moved = find(&d.conditions, RECONCILED).is_some_and(|c| {
        stored_reconciled.is_none_or(|s| s.status != c.status || s.reason != c.reason)
    });
    let expected_events = usize::from(stale_moved) + usize::from(reconciled_moved);
    if d.transitions.len() != expected_events {
        err(format!(
            "{} Events for {expected_events} condition transitions",
            d.transitions.len()
        ));
    }
    // Stale tells the truth once written; never written for a run that was never stale.
    match (&d.staleness, find(&d.conditions, STALE)) {
        (Staleness::Stale { .. }, Some(c)) if c.status == "True" => {}
        (Staleness::Stale { .. }, c) => err(format!("stale run with Stale {c:?}")),
        (_, Some(c)) if c.status == "True" => err("fresh run with Stale=True".into()),
        (_, None) if stored_stale.is_some() => err("a written Stale disappeared".into()),
        (_, Some(_)) if stored_stale.is_none() => {
            err("Stale written for a run that was never stale".into())
        }
        _ => {}
    }
    // Reconciled=False only while stale.
    if !matches!(d.staleness, Staleness::Stale { .. })
        && find(&d.conditions, RECONCILED).is_some_and(|c| c.status != "True")
    {
        err("Reconciled=False kept on a run that is not stale".into());
    }
    // Re-check just after staleSince (fresh), or staleSince + abandonAfter (stale,
    // undecided, abandonment on); otherwise none.
    let due = match &d.staleness {
        Staleness::Fresh { stale_at } => Some(*stale_at),
        Staleness::Stale { since, .. }
            if config.abandon_after > 0
                && find(&d.conditions, RECONCILED).is_some_and(|c| c.status != "True") =>
        {
            i64::try_from(config.abandon_after)
                .ok()
                .and_then(|s| since.checked_add(SignedDuration::from_secs(s)).ok())
        }
        _ => None,
    };
    match (d.recheck_at, due) {
        (None, None) => {}
        (Some(at), Some(due)) if at > due && at <= due + SignedDuration::from_secs(1) => {}
        (actual, due) => err(format!(
            "recheck_at {actual:?}, expected just after {due:?}"
        )),
    }
    if d.recheck_at.is_some_and(|at| at <= now) {
        err("recheck_at is not in the future".into());
    }
}

/// Runs rows and fails with every mismatch at once.
fn check(rows: Vec<Row>) {
    let mut errors = Vec::new();
    for r in &rows {
        let (d, mut e) = run_row(r);
        // Idempotence: decide the output again, same run, evidence and instant.
        let run = with_stored(r.run.0.clone(), &d.conditions);
        let again = decide(
            &parsed(run, r.problem),
            &evidence(&r.sets, &r.snaps),
            r.now,
            &r.config,
        );
        if again.changed || !again.transitions.is_empty() {
            e.push(format!(
                "[{}] deciding the result again: changed={} transitions={:?}",
                r.name, again.changed, again.transitions
            ));
        }
        if serde_json::to_string(&again.conditions).unwrap()
            != serde_json::to_string(&d.conditions).unwrap()
        {
            e.push(format!(
                "[{}] deciding the result again changed the conditions",
                r.name
            ));
        }
        errors.extend(e);
    }
    assert!(
        errors.is_empty(),
        "{} of {} rows disagree with SPEC:\n{}",
        errors.len(),
        rows.len(),
        errors.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Decision table, per family (SPEC §5)
// ---------------------------------------------------------------------------------------

/// A stale backup run (Running, heartbeat expired) decided at NOW.
fn backup(name: &'static str, run: Run, reason: &'static str, rule: u8) -> Row {
    row(name, run)
        .decided(reason, rule)
        .adapter(Some(BACKUP))
        .previous("Running")
        .stale("True", "HeartbeatExpired")
        .stale_since(ts(STALE_SINCE))
}

#[test]
fn backup_schedule_execute_rows() {
    let out_of_scope = || {
        Set::named("set-b")
            .counts(120, 120, 0, 0)
            .run_ref(RUN, Some("other-uid"))
    };
    check(vec![
        // Rule 2.
        backup(
            "no schedule ref",
            Run::backup().no_schedule(),
            "InvalidRun",
            2,
        )
        .sets(vec![complete_set("set-a")])
        .related(&[]),
        backup(
            "schedule ref with an empty name",
            Run::backup().schedule(""),
            "InvalidRun",
            2,
        )
        .sets(vec![complete_set("set-a")])
        .related(&[]),
        backup(
            "run fields cannot be interpreted",
            Run::backup(),
            "InvalidRun",
            2,
        )
        .problem("status.failures: invalid type: string, expected a sequence")
        .sets(vec![complete_set("set-a")]),
        // Rule 3.
        backup("two in-scope sets", Run::backup(), "AmbiguousEvidence", 3)
            .sets(vec![complete_set("set-b"), complete_set("set-a")])
            .related(&["set-a", "set-b"])
            .events(&[
                ("Stale", "HeartbeatExpired", true, None),
                ("Reconciled", "AmbiguousEvidence", true, Some("set-a")),
            ]),
        backup(
            "a malformed and a well-formed set",
            Run::backup(),
            "AmbiguousEvidence",
            3,
        )
        .sets(vec![
            complete_set("set-a"),
            Set::named("set-b").counts(10, -1, 0, 0).ok(),
        ])
        .related(&["set-a", "set-b"]),
        // Rule 4.
        backup("finalized, all stored", Run::backup(), "Succeeded", 4)
            .sets(vec![complete_set("set-a")])
            .related(&["set-a"])
            .events(&[
                ("Stale", "HeartbeatExpired", true, None),
                ("Reconciled", "Succeeded", false, Some("set-a")),
            ])
            .recheck_after(None)
            .changed(true),
        backup(
            "finalized, rest skipped by design",
            Run::backup(),
            "Succeeded",
            4,
        )
        .sets(vec![Set::named("set-a").counts(120, 100, 0, 20).ok()])
        .related(&["set-a"]),
        backup(
            "finalized with nothing to back up",
            Run::backup(),
            "Succeeded",
            4,
        )
        .sets(vec![Set::named("set-a").counts(0, 0, 0, 0).ok()])
        .related(&["set-a"]),
        backup(
            "complete beside an out-of-scope set",
            Run::backup(),
            "Succeeded",
            4,
        )
        .sets(vec![out_of_scope().ok(), complete_set("set-a")])
        .related(&["set-a"]),
        backup(
            "complete although the run recorded a failure",
            Run::backup().failures(&["PermissionDenied"]),
            "Succeeded",
            4,
        )
        .sets(vec![complete_set("set-a")]),
        // Rule 5.
        backup(
            "finalized, some failed",
            Run::backup(),
            "PartiallySucceeded",
            5,
        )
        .sets(vec![
            Set::named("set-a")
                .counts(120, 100, 20, 0)
                .failures(&["Throttled"])
                .ok(),
        ])
        .related(&["set-a"])
        .events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "PartiallySucceeded", false, Some("set-a")),
        ]),
        backup(
            "unfinished set with stored items",
            Run::backup(),
            "PartiallySucceeded",
            5,
        )
        .sets(vec![
            Set::named("set-a")
                .state("InProgress")
                .counts(120, 10, 0, 0)
                .ok(),
        ]),
        backup(
            "finalized with unaccounted items",
            Run::backup(),
            "PartiallySucceeded",
            5,
        )
        .sets(vec![Set::named("set-a").counts(120, 100, 0, 0).ok()]),
        backup(
            "usable output outranks a precondition failure",
            Run::backup().failures(&["PermissionDenied"]),
            "PartiallySucceeded",
            5,
        )
        .sets(vec![
            Set::named("set-a")
                .state("InProgress")
                .counts(10, 5, 0, 0)
                .failures(&["ConsentMissing"])
                .ok(),
        ]),
        // Rule 6.
        backup(
            "set records a precondition failure",
            Run::backup(),
            "Blocked",
            6,
        )
        .sets(vec![
            Set::named("set-a")
                .state("InProgress")
                .counts(10, 0, 0, 0)
                .failures(&["PermissionDenied"])
                .ok(),
        ])
        .related(&["set-a"])
        .events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "Blocked", true, Some("set-a")),
        ])
        .recheck_after(None),
        backup(
            "run records ConsentMissing, no set",
            Run::backup().failures(&["ConsentMissing"]),
            "Blocked",
            6,
        )
        .related(&[]),
        backup(
            "run records ConnectionMissing",
            Run::backup().failures(&["ConnectionMissing"]),
            "Blocked",
            6,
        ),
        backup(
            "run records LicenseMissing",
            Run::backup().failures(&["LicenseMissing"]),
            "Blocked",
            6,
        ),
        backup(
            "a precondition beside execution failures",
            Run::backup().failures(&["Throttled", "LicenseMissing", ""]),
            "Blocked",
            6,
        ),
        backup(
            "precondition failure beside out-of-scope sets",
            Run::backup().failures(&["PermissionDenied"]),
            "Blocked",
            6,
        )
        .sets(vec![out_of_scope().ok()])
        .related(&[]),
        // Rule 7.
        backup(
            "failed items without a category",
            Run::backup(),
            "Failed",
            7,
        )
        .sets(vec![Set::named("set-a").counts(20, 0, 20, 0).ok()])
        .related(&["set-a"])
        .events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "Failed", true, Some("set-a")),
        ]),
        backup(
            "run records Throttled",
            Run::backup().failures(&["Throttled"]),
            "Failed",
            7,
        ),
        backup(
            "run failure without a category",
            Run::backup().failures(&[""]),
            "Failed",
            7,
        ),
        backup(
            "a category this list does not know",
            Run::backup().failures(&["QuotaExceeded"]),
            "Failed",
            7,
        ),
        backup(
            "set failures on an unfinished empty set",
            Run::backup(),
            "Failed",
            7,
        )
        .sets(vec![
            Set::named("set-a")
                .state("InProgress")
                .failures(&["ProviderError"])
                .ok(),
        ]),
        backup(
            "execution failure beside out-of-scope sets",
            Run::backup().failures(&["Timeout"]),
            "Failed",
            7,
        )
        .sets(vec![out_of_scope().ok()])
        .related(&[]),
        // Rule 8.
        backup(
            "set names another run uid",
            Run::backup(),
            "ScopeMismatch",
            8,
        )
        .sets(vec![out_of_scope().ok()])
        .related(&[])
        .events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "ScopeMismatch", true, None),
        ]),
        backup("set has no run uid", Run::backup(), "ScopeMismatch", 8)
            .sets(vec![
                Set::named("set-b")
                    .counts(120, 120, 0, 0)
                    .run_ref(RUN, None)
                    .ok(),
            ])
            .related(&[]),
        backup(
            "set has an empty run uid",
            Run::backup(),
            "ScopeMismatch",
            8,
        )
        .sets(vec![
            Set::named("set-b")
                .counts(120, 120, 0, 0)
                .run_ref(RUN, Some(""))
                .ok(),
        ]),
        backup(
            "run has no uid",
            Run::backup().uid(None),
            "ScopeMismatch",
            8,
        )
        .sets(vec![complete_set("set-a")])
        .related(&[]),
        backup(
            "both uids empty",
            Run::backup().uid(Some("")),
            "ScopeMismatch",
            8,
        )
        .sets(vec![
            Set::named("set-a")
                .counts(120, 120, 0, 0)
                .run_ref(RUN, Some(""))
                .ok(),
        ]),
        backup(
            "set names another schedule",
            Run::backup(),
            "ScopeMismatch",
            8,
        )
        .sets(vec![
            Set::named("set-a")
                .counts(120, 120, 0, 0)
                .schedule(Some("weekly"))
                .ok(),
        ])
        .related(&[]),
        backup("set names no schedule", Run::backup(), "ScopeMismatch", 8).sets(vec![
            Set::named("set-a")
                .counts(120, 120, 0, 0)
                .schedule(None)
                .ok(),
        ]),
        backup(
            "out-of-scope set records a precondition failure",
            Run::backup(),
            "ScopeMismatch",
            8,
        )
        .sets(vec![
            out_of_scope()
                .counts(10, 0, 10, 0)
                .failures(&["PermissionDenied"])
                .ok(),
        ]),
        // Rule 9.
        backup("negative count", Run::backup(), "InvalidEvidence", 9)
            .sets(vec![Set::named("set-a").counts(10, -1, 0, 0).ok()])
            .related(&["set-a"])
            .events(&[
                ("Stale", "HeartbeatExpired", true, None),
                ("Reconciled", "InvalidEvidence", true, Some("set-a")),
            ]),
        backup("negative itemsTotal", Run::backup(), "InvalidEvidence", 9)
            .sets(vec![Set::named("set-a").counts(-5, 0, 0, 0).ok()]),
        backup(
            "counts exceed itemsTotal",
            Run::backup(),
            "InvalidEvidence",
            9,
        )
        .sets(vec![Set::named("set-a").counts(10, 8, 3, 0).ok()]),
        backup("counts overflow i64", Run::backup(), "InvalidEvidence", 9).sets(vec![
            Set::named("set-a")
                .counts(i64::MAX, i64::MAX, i64::MAX, 0)
                .ok(),
        ]),
        backup("fields cannot be read", Run::backup(), "InvalidEvidence", 9)
            .sets(vec![
                Set::named("set-a")
                    .counts(120, 120, 0, 0)
                    .unreadable("status.summary.succeeded: invalid type"),
            ])
            .related(&["set-a"]),
        backup(
            "a malformed set contributes no failures",
            Run::backup(),
            "InvalidEvidence",
            9,
        )
        .sets(vec![
            Set::named("set-a")
                .counts(10, 0, 20, 0)
                .failures(&["PermissionDenied"])
                .ok(),
        ]),
        backup(
            "malformed beside an out-of-scope set",
            Run::backup(),
            "InvalidEvidence",
            9,
        )
        .sets(vec![
            out_of_scope().ok(),
            Set::named("set-a").counts(10, 0, -2, 0).ok(),
        ])
        .related(&["set-a"]),
        // Rule 10.
        backup("no set yet", Run::backup(), "AwaitingEvidence", 10)
            .related(&[])
            .events(&[
                ("Stale", "HeartbeatExpired", true, None),
                ("Reconciled", "AwaitingEvidence", false, None),
            ])
            .recheck_after(Some(ts(ABANDON_DUE)))
            .changed(true)
            .ltt(STALE, NOW)
            .ltt(RECONCILED, NOW),
        backup(
            "unfinished set stores nothing",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .sets(vec![
            Set::named("set-a")
                .state("InProgress")
                .counts(10, 0, 0, 0)
                .ok(),
        ])
        .related(&["set-a"])
        .events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "AwaitingEvidence", false, Some("set-a")),
        ]),
        backup("set without status", Run::backup(), "AwaitingEvidence", 10)
            .sets(vec![Set::named("set-a").no_status().ok()])
            .related(&["set-a"]),
        backup(
            "finalized set stores nothing and records nothing",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .sets(vec![Set::named("set-a").counts(10, 0, 0, 0).ok()]),
        backup(
            "a set in another namespace is invisible",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .sets(vec![
            Set::named("set-a")
                .counts(120, 120, 0, 0)
                .namespace("tenant-fabrikam")
                .ok(),
        ])
        .related(&[]),
        backup(
            "an out-of-scope set in another namespace is not even out of scope",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .sets(vec![out_of_scope().namespace("tenant-fabrikam").ok()]),
        backup(
            "a set naming another run is no claim",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .sets(vec![
            Set::named("set-a")
                .counts(120, 120, 0, 0)
                .run_ref("other-run", Some(RUN_UID))
                .ok(),
        ])
        .related(&[]),
        backup(
            "a BaselineSnapshot is the wrong kind",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .snaps(vec![complete_snap("snap-a")])
        .related(&[]),
        backup(
            "an outcome without Completed is ignored",
            Run::backup().outcome("Succeeded"),
            "AwaitingEvidence",
            10,
        ),
    ]);
}

/// A stale capture run decided at NOW.
fn capture(name: &'static str, run: Run, reason: &'static str, rule: u8) -> Row {
    row(name, run)
        .decided(reason, rule)
        .adapter(Some(CAPTURE))
        .previous("Running")
        .stale("True", "HeartbeatExpired")
}

#[test]
fn baseline_capture_rows() {
    let out_of_scope = || {
        Snap::named("snap-b")
            .counts(40, 40)
            .run_ref(RUN, Some("other-uid"))
    };
    check(vec![
        // Rule 2.
        capture(
            "no profile ref",
            Run::capture().no_profile(),
            "InvalidRun",
            2,
        )
        .snaps(vec![complete_snap("snap-a")])
        .related(&[]),
        capture(
            "profile ref with an empty name",
            Run::capture().profile(""),
            "InvalidRun",
            2,
        ),
        // Rule 3.
        capture(
            "two in-scope snapshots",
            Run::capture(),
            "AmbiguousEvidence",
            3,
        )
        .snaps(vec![complete_snap("snap-b"), complete_snap("snap-a")])
        .related(&["snap-a", "snap-b"])
        .events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "AmbiguousEvidence", true, Some("snap-a")),
        ]),
        capture(
            "a malformed and a building snapshot",
            Run::capture(),
            "AmbiguousEvidence",
            3,
        )
        .snaps(vec![
            Snap::named("snap-a").counts(1, 5).ok(),
            Snap::named("snap-b").state("Building").ok(),
        ])
        .related(&["snap-a", "snap-b"]),
        // Rule 4.
        capture("finalized, all captured", Run::capture(), "Succeeded", 4)
            .snaps(vec![complete_snap("snap-a")])
            .related(&["snap-a"])
            .events(&[
                ("Stale", "HeartbeatExpired", true, None),
                ("Reconciled", "Succeeded", false, Some("snap-a")),
            ]),
        capture("finalized empty profile", Run::capture(), "Succeeded", 4)
            .snaps(vec![Snap::named("snap-a").counts(0, 0).ok()]),
        capture("gaps listed with count 0", Run::capture(), "Succeeded", 4).snaps(vec![
            Snap::named("snap-a")
                .counts(40, 40)
                .gaps(&[("AmbiguousMatch", 0)])
                .ok(),
        ]),
        // Rule 5.
        capture(
            "finalized with gaps",
            Run::capture(),
            "PartiallySucceeded",
            5,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(40, 37)
                .gaps(&[("AmbiguousMatch", 3)])
                .ok(),
        ])
        .related(&["snap-a"]),
        capture(
            "fallback used is never complete",
            Run::capture(),
            "PartiallySucceeded",
            5,
        )
        .snaps(vec![Snap::named("snap-a").counts(40, 40).fallback().ok()]),
        capture(
            "finalized, some not captured",
            Run::capture(),
            "PartiallySucceeded",
            5,
        )
        .snaps(vec![Snap::named("snap-a").counts(40, 30).ok()]),
        capture(
            "usable output outranks a precondition failure",
            Run::capture().failures(&["PermissionDenied"]),
            "PartiallySucceeded",
            5,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(40, 20)
                .gaps(&[("MissingPermission", 20)])
                .ok(),
        ]),
        // Rule 6.
        capture(
            "snapshot records a precondition failure",
            Run::capture(),
            "Blocked",
            6,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .state("Building")
                .counts(40, 0)
                .failures(&["PermissionDenied"])
                .ok(),
        ])
        .related(&["snap-a"]),
        capture(
            "an unfinished snapshot is not usable",
            Run::capture().failures(&["LicenseMissing"]),
            "Blocked",
            6,
        )
        .snaps(vec![
            Snap::named("snap-a").state("Building").counts(40, 30).ok(),
        ]),
        // Rule 7.
        capture(
            "snapshot records an execution failure",
            Run::capture(),
            "Failed",
            7,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(40, 0)
                .failures(&["ProviderError"])
                .ok(),
        ])
        .related(&["snap-a"]),
        capture(
            "run records a failure without a category",
            Run::capture().failures(&[""]),
            "Failed",
            7,
        ),
        // Rule 8.
        capture(
            "snapshot names another profile",
            Run::capture(),
            "ScopeMismatch",
            8,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(40, 40)
                .profile(Some("mac14"))
                .ok(),
        ])
        .related(&[]),
        capture(
            "snapshot names another run uid",
            Run::capture(),
            "ScopeMismatch",
            8,
        )
        .snaps(vec![out_of_scope().ok()]),
        capture(
            "snapshot has no run uid",
            Run::capture(),
            "ScopeMismatch",
            8,
        )
        .snaps(vec![
            Snap::named("snap-a").counts(40, 40).run_ref(RUN, None).ok(),
        ]),
        capture(
            "run has no uid",
            Run::capture().uid(None),
            "ScopeMismatch",
            8,
        )
        .snaps(vec![complete_snap("snap-a")]),
        // Rule 9.
        capture(
            "captured exceeds subjectsTotal",
            Run::capture(),
            "InvalidEvidence",
            9,
        )
        .snaps(vec![Snap::named("snap-a").counts(40, 41).ok()])
        .related(&["snap-a"]),
        capture(
            "captured + gaps exceed subjectsTotal",
            Run::capture(),
            "InvalidEvidence",
            9,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(40, 38)
                .gaps(&[("FetchFailed", 3)])
                .ok(),
        ]),
        capture("negative gap count", Run::capture(), "InvalidEvidence", 9).snaps(vec![
            Snap::named("snap-a")
                .counts(40, 40)
                .gaps(&[("FetchFailed", -1)])
                .ok(),
        ]),
        capture("negative captured", Run::capture(), "InvalidEvidence", 9)
            .snaps(vec![Snap::named("snap-a").counts(40, -1).ok()]),
        capture(
            "gap counts overflow i64",
            Run::capture(),
            "InvalidEvidence",
            9,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(i64::MAX, 1)
                .gaps(&[("FetchFailed", i64::MAX), ("AmbiguousMatch", i64::MAX)])
                .ok(),
        ]),
        capture(
            "fields cannot be read",
            Run::capture(),
            "InvalidEvidence",
            9,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(40, 40)
                .unreadable("status.fallbackUsed: invalid type"),
        ]),
        capture(
            "a malformed snapshot contributes no failures",
            Run::capture(),
            "InvalidEvidence",
            9,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(1, 2)
                .failures(&["PermissionDenied"])
                .ok(),
        ]),
        // Rule 10.
        capture("no snapshot yet", Run::capture(), "AwaitingEvidence", 10)
            .related(&[])
            .recheck_after(Some(ts(ABANDON_DUE))),
        capture(
            "a building snapshot is not a baseline",
            Run::capture(),
            "AwaitingEvidence",
            10,
        )
        .snaps(vec![
            Snap::named("snap-a").state("Building").counts(40, 39).ok(),
        ])
        .related(&["snap-a"]),
        capture(
            "gap reasons are not failures",
            Run::capture(),
            "AwaitingEvidence",
            10,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(40, 0)
                .gaps(&[("MissingPermission", 40)])
                .ok(),
        ]),
        capture(
            "a snapshot in another namespace is invisible",
            Run::capture(),
            "AwaitingEvidence",
            10,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(40, 40)
                .namespace("tenant-fabrikam")
                .ok(),
        ]),
        capture(
            "a BackupSet is the wrong kind, its failures too",
            Run::capture(),
            "AwaitingEvidence",
            10,
        )
        .sets(vec![
            Set::named("set-a")
                .counts(10, 0, 10, 0)
                .failures(&["PermissionDenied"])
                .ok(),
        ])
        .related(&[]),
    ]);
}

/// A stale inventory run decided at NOW; its evidence is the run itself.
fn inventory(name: &'static str, run: Run, reason: &'static str, rule: u8) -> Row {
    row(name, run)
        .decided(reason, rule)
        .adapter(Some(INVENTORY))
        .previous("Running")
        .stale("True", "HeartbeatExpired")
        .related(&[])
}

#[test]
fn inventory_sync_rows() {
    let types = ["deviceConfiguration", "compliancePolicy"];
    let inv = || Run::inventory(&types);
    check(vec![
        // Rule 2.
        inventory(
            "no inventory spec",
            Run::of(INVENTORY).no_inventory(),
            "InvalidRun",
            2,
        ),
        inventory("empty policy types", Run::inventory(&[]), "InvalidRun", 2).events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "InvalidRun", true, None),
        ]),
        // Rule 3.
        inventory(
            "two entries for one type",
            inv().coverage(&[
                ("deviceConfiguration", "Succeeded", ""),
                ("deviceConfiguration", "Failed", "Throttled"),
                ("compliancePolicy", "Succeeded", ""),
            ]),
            "AmbiguousEvidence",
            3,
        ),
        // Rule 4.
        inventory(
            "every type succeeded",
            inv().coverage(&[
                ("compliancePolicy", "Succeeded", ""),
                ("deviceConfiguration", "Succeeded", ""),
            ]),
            "Succeeded",
            4,
        )
        .events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "Succeeded", false, None),
        ]),
        inventory(
            "policy types are a set",
            Run::inventory(&["deviceConfiguration", "deviceConfiguration"]).coverage(&[(
                "deviceConfiguration",
                "Succeeded",
                "",
            )]),
            "Succeeded",
            4,
        ),
        inventory(
            "coverage outside the set is ignored",
            inv().coverage(&[
                ("deviceConfiguration", "Succeeded", ""),
                ("compliancePolicy", "Succeeded", ""),
                ("appProtection", "Failed", "PermissionDenied"),
            ]),
            "Succeeded",
            4,
        ),
        inventory(
            "BackupSets are not inventory evidence",
            inv().coverage(&[
                ("deviceConfiguration", "Succeeded", ""),
                ("compliancePolicy", "Succeeded", ""),
            ]),
            "Succeeded",
            4,
        )
        .sets(vec![Set::named("set-a").counts(10, 0, 10, 0).ok()]),
        // Rule 5.
        inventory(
            "one succeeded, one failed",
            inv().coverage(&[
                ("deviceConfiguration", "Succeeded", ""),
                ("compliancePolicy", "Failed", "Throttled"),
            ]),
            "PartiallySucceeded",
            5,
        ),
        inventory(
            "one succeeded, one not finished",
            inv().coverage(&[("deviceConfiguration", "Succeeded", "")]),
            "PartiallySucceeded",
            5,
        ),
        inventory(
            "usable output outranks a precondition failure",
            inv().coverage(&[
                ("deviceConfiguration", "Succeeded", ""),
                ("compliancePolicy", "Failed", "PermissionDenied"),
            ]),
            "PartiallySucceeded",
            5,
        ),
        // Rule 6.
        inventory(
            "a type failed on a precondition",
            inv().coverage(&[("compliancePolicy", "Failed", "PermissionDenied")]),
            "Blocked",
            6,
        ),
        inventory(
            "run records ConsentMissing, no coverage",
            inv().failures(&["ConsentMissing"]),
            "Blocked",
            6,
        ),
        // Rule 7.
        inventory(
            "a type failed without a category",
            inv().coverage(&[("compliancePolicy", "Failed", "")]),
            "Failed",
            7,
        ),
        inventory(
            "a type failed on an execution failure",
            inv().coverage(&[
                ("compliancePolicy", "Failed", "Throttled"),
                ("deviceConfiguration", "InProgress", ""),
            ]),
            "Failed",
            7,
        ),
        // Rule 8.
        inventory(
            "coverage only outside the set",
            inv().coverage(&[("appProtection", "Succeeded", "")]),
            "ScopeMismatch",
            8,
        ),
        inventory(
            "out-of-set failures are not recorded",
            inv().coverage(&[("appProtection", "Failed", "PermissionDenied")]),
            "ScopeMismatch",
            8,
        ),
        // Rule 10.
        inventory("no coverage yet", inv(), "AwaitingEvidence", 10)
            .recheck_after(Some(ts(ABANDON_DUE))),
        inventory(
            "types still in progress",
            inv().coverage(&[
                ("compliancePolicy", "InProgress", ""),
                ("deviceConfiguration", "Running", ""),
            ]),
            "AwaitingEvidence",
            10,
        ),
    ]);
}

#[test]
fn unsupported_and_unknown_families_rows() {
    // Every evidence kind claims the run in scope, complete; none of it may be borrowed.
    let families = [
        "policy.sync",
        "backup_set.update",
        "restore.execute",
        "review.compose",
        "evidence.snapshot",
        "review_pack.generate",
        "report.weekly",
        "report.tenant.monthly",
        "foo.bar",
        "backup.schedule",
        "backup.schedule.execute.v2",
        "inventory.sync2",
        "Baseline.Capture",
    ];
    let mut rows = Vec::new();
    for family in families {
        let run = Run::of(family)
            .schedule(SCHEDULE)
            .profile(PROFILE)
            .policy_types(&["deviceConfiguration"])
            .coverage(&[("deviceConfiguration", "Succeeded", "")]);
        rows.push(
            row(family_name(family), run)
                .sets(vec![complete_set("set-a")])
                .snaps(vec![complete_snap("snap-a")])
                .decided("UnsupportedFamily", 1)
                .adapter(None)
                .previous("Running")
                .related(&[])
                .stale("True", "HeartbeatExpired")
                .events(&[
                    ("Stale", "HeartbeatExpired", true, None),
                    ("Reconciled", "UnsupportedFamily", true, None),
                ])
                .recheck_after(Some(ts(ABANDON_DUE))),
        );
    }
    rows.push(
        row("rule 1 before rule 2", Run::of("policy.sync"))
            .problem("spec.timeouts: invalid type")
            .decided("UnsupportedFamily", 1)
            .adapter(None),
    );
    rows.push(
        row(
            "unsupported and Queued",
            Run::of("restore.execute").phase("Queued"),
        )
        .decided("UnsupportedFamily", 1)
        .adapter(None)
        .previous("Queued")
        .stale("True", "QueuedTooLong"),
    );
    check(rows);
}

fn family_name(family: &str) -> &'static str {
    Box::leak(format!("family {family}").into_boxed_str())
}

// ---------------------------------------------------------------------------------------
// Staleness (SPEC §4)
// ---------------------------------------------------------------------------------------

/// A stale backup run without evidence.
fn awaiting(name: &'static str, run: Run, previous: &'static str, reason: &'static str) -> Row {
    row(name, run)
        .decided("AwaitingEvidence", 10)
        .adapter(Some(BACKUP))
        .previous(previous)
        .stale("True", reason)
}

#[test]
fn staleness_rows() {
    let queued = || Run::backup().phase("Queued");
    let running = || Run::backup();
    let config = |queued: u64, heartbeat: u64| Config {
        queued_timeout: queued,
        heartbeat_timeout: heartbeat,
        ..Config::default()
    };
    check(vec![
        // Queued: reference creationTimestamp, limit 1800 s.
        row("queued, exactly at the limit", queued())
            .now("2026-11-26T10:30:00Z")
            .fresh(ts("2026-11-26T10:30:00Z")),
        awaiting(
            "queued, one second over",
            queued(),
            "Queued",
            "QueuedTooLong",
        )
        .now("2026-11-26T10:30:01Z")
        .stale_since(ts("2026-11-26T10:30:00Z"))
        .recheck_after(Some(ts("2026-11-27T10:30:00Z"))),
        row(
            "queued, sub-second at the limit",
            queued().created("2026-11-26T10:00:00.25Z"),
        )
        .now("2026-11-26T10:30:00.25Z")
        .fresh(ts("2026-11-26T10:30:00.25Z")),
        awaiting(
            "queued, a millisecond over",
            queued().created("2026-11-26T10:00:00.25Z"),
            "Queued",
            "QueuedTooLong",
        )
        .now("2026-11-26T10:30:00.251Z"),
        awaiting(
            "no status is Queued",
            Run::backup().no_status(),
            "Queued",
            "QueuedTooLong",
        )
        .now("2026-11-26T10:30:01Z"),
        awaiting(
            "no phase is Queued, heartbeat ignored",
            Run::backup().no_phase().heartbeat("2026-11-26T10:29:00Z"),
            "Queued",
            "QueuedTooLong",
        )
        .now("2026-11-26T10:30:01Z"),
        awaiting(
            "Queued ignores a heartbeat",
            queued()
                .heartbeat("2026-11-26T10:30:00Z")
                .started("2026-11-26T10:30:00Z"),
            "Queued",
            "QueuedTooLong",
        )
        .now("2026-11-26T10:30:01Z")
        .stale_since(ts("2026-11-26T10:30:00Z")),
        // Running: reference heartbeatTime, limit 600 s.
        row("running, exactly at the limit", running())
            .now(STALE_SINCE)
            .fresh(ts(STALE_SINCE)),
        awaiting(
            "running, one second over",
            running(),
            "Running",
            "HeartbeatExpired",
        )
        .now("2026-11-26T11:10:01Z")
        .stale_since(ts(STALE_SINCE)),
        row(
            "running, sub-second heartbeat at the limit",
            running().heartbeat("2026-11-26T11:00:00.5Z"),
        )
        .now("2026-11-26T11:10:00.5Z")
        .fresh(ts("2026-11-26T11:10:00.5Z")),
        awaiting(
            "running, a nanosecond over",
            running().heartbeat("2026-11-26T11:00:00.5Z"),
            "Running",
            "HeartbeatExpired",
        )
        .now("2026-11-26T11:10:00.500000001Z")
        .stale_since(ts("2026-11-26T11:10:00.5Z")),
        row(
            "heartbeat beats an older startedAt",
            running()
                .heartbeat("2026-11-26T11:55:00Z")
                .started("2026-11-26T10:00:00Z"),
        )
        .fresh(ts("2026-11-26T12:05:00Z")),
        row(
            "no heartbeat: startedAt",
            running().no_heartbeat().started("2026-11-26T11:55:00Z"),
        )
        .fresh(ts("2026-11-26T12:05:00Z")),
        awaiting(
            "no heartbeat: startedAt, stale",
            running().no_heartbeat().started("2026-11-26T11:00:00Z"),
            "Running",
            "HeartbeatExpired",
        )
        .stale_since(ts(STALE_SINCE)),
        awaiting(
            "no heartbeat, no startedAt: creation",
            running().no_heartbeat(),
            "Running",
            "HeartbeatExpired",
        )
        .stale_since(ts("2026-11-26T10:10:00Z"))
        .recheck_after(Some(ts("2026-11-27T10:10:00Z"))),
        row(
            "no heartbeat, no startedAt, fresh by creation",
            running().no_heartbeat().created("2026-11-26T11:55:00Z"),
        )
        .fresh(ts("2026-11-26T12:05:00Z")),
        // Limits: spec.timeouts over the configuration.
        row(
            "spec heartbeat timeout longer than the config",
            running().timeouts(None, Some(7200)),
        )
        .fresh(ts("2026-11-26T13:00:00Z")),
        awaiting(
            "spec heartbeat timeout shorter than the config",
            running()
                .heartbeat("2026-11-26T11:58:00Z")
                .timeouts(None, Some(60)),
            "Running",
            "HeartbeatExpired",
        )
        .config(config(1800, 7200))
        .stale_since(ts("2026-11-26T11:59:00Z")),
        awaiting(
            "spec queued timeout",
            queued().timeouts(Some(60), None),
            "Queued",
            "QueuedTooLong",
        )
        .now("2026-11-26T10:01:01Z")
        .stale_since(ts("2026-11-26T10:01:00Z")),
        row(
            "spec queued timeout does not apply to Running",
            running()
                .heartbeat("2026-11-26T11:55:00Z")
                .timeouts(Some(60), None),
        )
        .fresh(ts("2026-11-26T12:05:00Z")),
        row("config heartbeat timeout", running())
            .config(config(1800, 7200))
            .fresh(ts("2026-11-26T13:00:00Z")),
        awaiting("config queued timeout", queued(), "Queued", "QueuedTooLong")
            .config(config(60, 600))
            .now("2026-11-26T10:01:01Z")
            .stale_since(ts("2026-11-26T10:01:00Z")),
        row(
            "spec overrides config even when the config is longer",
            running().timeouts(None, Some(3600)),
        )
        .config(config(1800, 86_400))
        .now("2026-11-26T12:00:00Z")
        .fresh(ts("2026-11-26T12:00:00Z")),
        // Unknown phases count as Running.
        awaiting(
            "unknown phase",
            running().phase("Paused"),
            "Running",
            "HeartbeatExpired",
        )
        .stale_since(ts(STALE_SINCE)),
        awaiting(
            "lower-case phase is not a known one",
            running().phase("queued"),
            "Running",
            "HeartbeatExpired",
        )
        .stale_since(ts(STALE_SINCE)),
        awaiting(
            "empty phase",
            running().phase(""),
            "Running",
            "HeartbeatExpired",
        ),
        // Completed is never stale.
        row(
            "completed long ago",
            running()
                .phase("Completed")
                .outcome("Failed")
                .heartbeat("2020-01-01T00:00:00Z"),
        )
        .now("2030-01-01T00:00:00Z")
        .no_stale()
        .no_reconciled()
        .changed(false)
        .events(&[])
        .recheck_after(None),
        row(
            "completed without timestamps",
            Run::backup().no_heartbeat().phase("Completed"),
        )
        .now("2030-01-01T00:00:00Z")
        .no_stale()
        .no_reconciled()
        .recheck_after(None),
    ]);
}

// ---------------------------------------------------------------------------------------
// Abandonment (SPEC §5, after the table)
// ---------------------------------------------------------------------------------------

#[test]
fn abandonment_rows() {
    let abandoned = |name: &'static str, run: Run, rule: u8, adapter: Option<&'static str>| {
        row(name, run)
            .now(ABANDONED)
            .decided("Abandoned", rule)
            .adapter(adapter)
            .stale("True", "HeartbeatExpired")
            .recheck_after(None)
    };
    check(vec![
        backup(
            "exactly at staleSince + abandonAfter",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .now(ABANDON_DUE)
        .recheck_after(Some(ts(ABANDON_DUE))),
        abandoned("one second after", Run::backup(), 10, Some(BACKUP))
            .previous("Running")
            .related(&[])
            .events(&[
                ("Stale", "HeartbeatExpired", true, None),
                ("Reconciled", "Abandoned", true, None),
            ]),
        abandoned("a nanosecond after", Run::backup(), 10, Some(BACKUP))
            .now_ts(ts(ABANDON_DUE) + SignedDuration::from_nanos(1)),
        backup(
            "abandon-after 0 disables abandonment",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .now("2036-01-01T00:00:00Z")
        .config(Config {
            abandon_after: 0,
            ..Config::default()
        })
        .recheck_after(None),
        abandoned(
            "an unsupported family",
            Run::of("backup_set.update"),
            1,
            None,
        )
        .sets(vec![complete_set("set-a")])
        .related(&[]),
        abandoned("an unknown family", Run::of("foo.bar"), 1, None).related(&[]),
        abandoned(
            "an invalid run",
            Run::backup().no_schedule(),
            2,
            Some(BACKUP),
        ),
        abandoned(
            "ambiguous evidence keeps both artifacts",
            Run::backup(),
            3,
            Some(BACKUP),
        )
        .sets(vec![complete_set("set-b"), complete_set("set-a")])
        .related(&["set-a", "set-b"])
        .events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "Abandoned", true, Some("set-a")),
        ]),
        abandoned("scope mismatch", Run::backup(), 8, Some(BACKUP))
            .sets(vec![Set::named("set-b").run_ref(RUN, Some("other")).ok()])
            .related(&[]),
        abandoned(
            "malformed evidence keeps the artifact",
            Run::backup(),
            9,
            Some(BACKUP),
        )
        .sets(vec![Set::named("set-a").counts(1, 2, 0, 0).ok()])
        .related(&["set-a"]),
        abandoned(
            "an unfinished set keeps the artifact",
            Run::backup(),
            10,
            Some(BACKUP),
        )
        .sets(vec![Set::named("set-a").state("InProgress").ok()])
        .related(&["set-a"]),
        abandoned("capture, no snapshot", Run::capture(), 10, Some(CAPTURE)),
        abandoned(
            "inventory, no coverage",
            Run::inventory(&["a"]),
            10,
            Some(INVENTORY),
        )
        .related(&[]),
        abandoned(
            "queued run",
            Run::backup().phase("Queued"),
            10,
            Some(BACKUP),
        )
        .now("2026-11-27T10:30:01Z")
        .previous("Queued")
        .stale("True", "QueuedTooLong"),
        backup(
            "a decided run is not abandoned",
            Run::backup(),
            "Succeeded",
            4,
        )
        .now(ABANDONED)
        .sets(vec![complete_set("set-a")]),
        backup(
            "a failed run is not abandoned",
            Run::backup().failures(&["Throttled"]),
            "Failed",
            7,
        )
        .now(ABANDONED),
        backup(
            "configured abandon-after, at it",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .now("2026-11-26T11:11:00Z")
        .config(Config {
            abandon_after: 60,
            ..Config::default()
        })
        .recheck_after(Some(ts("2026-11-26T11:11:00Z"))),
        abandoned(
            "configured abandon-after, past it",
            Run::backup(),
            10,
            Some(BACKUP),
        )
        .now("2026-11-26T11:11:01Z")
        .config(Config {
            abandon_after: 60,
            ..Config::default()
        }),
        abandoned(
            "spec timeouts move staleSince, not abandon-after",
            Run::backup().timeouts(None, Some(60)),
            10,
            Some(BACKUP),
        )
        .now("2026-11-27T11:01:01Z"),
        backup(
            "spec timeouts move staleSince, not abandon-after (at it)",
            Run::backup().timeouts(None, Some(60)),
            "AwaitingEvidence",
            10,
        )
        .now("2026-11-27T11:01:00Z")
        .stale_since(ts("2026-11-26T11:01:00Z"))
        .recheck_after(Some(ts("2026-11-27T11:01:00Z"))),
        abandoned(
            "a stored AwaitingEvidence becomes Abandoned",
            Run::backup(),
            10,
            Some(BACKUP),
        )
        .prior_at("2026-11-26T11:20:00Z")
        .ltt(STALE, "2026-11-26T11:20:00Z")
        .ltt(RECONCILED, ABANDONED)
        .events(&[("Reconciled", "Abandoned", true, None)])
        .changed(true),
        row("Abandoned is final", Run::backup())
            .prior(ABANDONED, Run::backup(), vec![])
            .now("2026-11-28T00:00:00Z")
            .sets(vec![complete_set("set-a")])
            .kept("Abandoned")
            .ltt(RECONCILED, ABANDONED)
            .changed(false)
            .events(&[])
            .recheck_after(None),
    ]);
}

/// A recheck instant past what a timestamp can hold must not turn into "now".
#[test]
fn abandon_after_beyond_the_timestamp_range_schedules_no_recheck_in_the_past() {
    check(vec![
        backup(
            "abandon-after u64::MAX",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .config(Config {
            abandon_after: u64::MAX,
            ..Config::default()
        }),
        backup(
            "abandon-after i64::MAX + 1",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .config(Config {
            abandon_after: i64::MAX as u64 + 1,
            ..Config::default()
        }),
    ]);
}

// ---------------------------------------------------------------------------------------
// Condition lifecycle (SPEC §6)
// ---------------------------------------------------------------------------------------

#[test]
fn condition_lifecycle_rows() {
    const EARLIER: &str = "2026-11-26T11:20:00Z";
    let fresh = || Run::backup().heartbeat("2026-11-26T11:59:00Z");
    check(vec![
        backup("first time stale", Run::backup(), "AwaitingEvidence", 10)
            .ltt(STALE, NOW)
            .ltt(RECONCILED, NOW)
            .changed(true)
            .events(&[
                ("Stale", "HeartbeatExpired", true, None),
                ("Reconciled", "AwaitingEvidence", false, None),
            ]),
        backup(
            "unchanged run decided later: no write",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .prior_at(EARLIER)
        .ltt(STALE, EARLIER)
        .ltt(RECONCILED, EARLIER)
        .changed(false)
        .events(&[]),
        backup(
            "unchanged ambiguous decision later: no write",
            Run::backup(),
            "AmbiguousEvidence",
            3,
        )
        .sets(vec![complete_set("set-b"), complete_set("set-a")])
        .prior_at(EARLIER)
        .changed(false)
        .events(&[]),
        backup(
            "AwaitingEvidence becomes Succeeded",
            Run::backup(),
            "Succeeded",
            4,
        )
        .prior(EARLIER, Run::backup(), vec![])
        .sets(vec![complete_set("set-a")])
        .ltt(STALE, EARLIER)
        .ltt(RECONCILED, NOW)
        .changed(true)
        .events(&[("Reconciled", "Succeeded", false, Some("set-a"))]),
        backup(
            "a False decision changes reason, keeps its transition time",
            Run::backup(),
            "ScopeMismatch",
            8,
        )
        .prior(EARLIER, Run::backup(), vec![])
        .sets(vec![Set::named("set-b").run_ref(RUN, Some("other")).ok()])
        .ltt(RECONCILED, EARLIER)
        .changed(true)
        .events(&[("Reconciled", "ScopeMismatch", true, None)]),
        row(
            "worker completed after stale",
            Run::backup().phase("Completed").outcome("Succeeded"),
        )
        .prior(EARLIER, Run::backup(), vec![])
        .stale("False", "WorkerCompleted")
        .no_reconciled()
        .ltt(STALE, NOW)
        .changed(true)
        .events(&[("Stale", "WorkerCompleted", false, None)])
        .recheck_after(None),
        row("resumed after stale", fresh())
            .prior(EARLIER, Run::backup(), vec![])
            .stale("False", "Resumed")
            .no_reconciled()
            .ltt(STALE, NOW)
            .changed(true)
            .events(&[("Stale", "Resumed", false, None)])
            .recheck_after(Some(ts("2026-11-26T12:09:00Z"))),
        row("resumed keeps a final decision", fresh())
            .prior(EARLIER, Run::backup(), vec![complete_set("set-a")])
            .stale("False", "Resumed")
            .kept("Succeeded")
            .adapter(Some(BACKUP))
            .related(&["set-a"])
            .ltt(RECONCILED, EARLIER)
            .events(&[("Stale", "Resumed", false, None)]),
        row(
            "completed keeps a final decision",
            Run::backup().phase("Completed").outcome("Failed"),
        )
        .prior(EARLIER, Run::backup(), vec![complete_set("set-a")])
        .stale("False", "WorkerCompleted")
        .kept("Succeeded")
        .events(&[("Stale", "WorkerCompleted", false, None)]),
        row(
            "a final decision is not rewritten when the evidence changes",
            Run::backup(),
        )
        .prior(EARLIER, Run::backup(), vec![complete_set("set-a")])
        .sets(vec![complete_set("set-a"), complete_set("set-b")])
        .stale("True", "HeartbeatExpired")
        .kept("Succeeded")
        .related(&["set-a"])
        .changed(false)
        .events(&[])
        .recheck_after(None),
        row(
            "a final decision is not rewritten when stale again",
            Run::backup().conditions(vec![
                cond(STALE, "False", "Resumed", "2026-11-26T11:30:00Z"),
                final_decision("Blocked", Some(BACKUP)),
            ]),
        )
        .sets(vec![complete_set("set-a")])
        .stale("True", "HeartbeatExpired")
        .kept("Blocked")
        .ltt(STALE, NOW)
        .events(&[("Stale", "HeartbeatExpired", true, None)])
        .recheck_after(None),
        row(
            "a stored final decision without Stale gets Stale, nothing else",
            Run::backup().conditions(vec![final_decision("Failed", None)]),
        )
        .stale("True", "HeartbeatExpired")
        .kept("Failed")
        .adapter(None)
        .events(&[("Stale", "HeartbeatExpired", true, None)]),
        backup(
            "stale again after resume",
            Run::backup().conditions(vec![cond(
                STALE,
                "False",
                "Resumed",
                "2026-11-26T11:30:00Z",
            )]),
            "AwaitingEvidence",
            10,
        )
        .ltt(STALE, NOW)
        .ltt(RECONCILED, NOW)
        .events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "AwaitingEvidence", false, None),
        ]),
        row(
            "a stored Stale=False on a fresh run is kept",
            fresh().conditions(vec![cond(
                STALE,
                "False",
                "Resumed",
                "2026-11-26T11:30:00Z",
            )]),
        )
        .stale("False", "Resumed")
        .no_reconciled()
        .ltt(STALE, "2026-11-26T11:30:00Z")
        .changed(false)
        .events(&[]),
        row("a run that was never stale gets nothing", fresh()).fresh(ts("2026-11-26T12:09:00Z")),
        row(
            "a stale Reconciled=False alone is removed when fresh",
            fresh().conditions(vec![cond(RECONCILED, "False", "AwaitingEvidence", EARLIER)]),
        )
        .no_stale()
        .no_reconciled()
        .changed(true)
        .events(&[]),
        row("Stale follows the phase: Queued to Running", Run::backup())
            .prior(
                "2026-11-26T10:40:00Z",
                Run::backup().phase("Queued"),
                vec![],
            )
            .stale("True", "HeartbeatExpired")
            .decided("AwaitingEvidence", 10)
            .previous("Running")
            .ltt(STALE, "2026-11-26T10:40:00Z")
            .ltt(RECONCILED, "2026-11-26T10:40:00Z")
            .events(&[("Stale", "HeartbeatExpired", true, None)]),
        row(
            "foreign conditions are not the controller's",
            fresh().conditions(vec![cond("Ready", "True", "Working", EARLIER)]),
        )
        .fresh(ts("2026-11-26T12:09:00Z")),
        backup(
            "foreign conditions are left out of the owned list",
            Run::backup().conditions(vec![
                cond("Ready", "False", "Stuck", EARLIER),
                cond("Progressing", "True", "X", EARLIER),
            ]),
            "AwaitingEvidence",
            10,
        )
        .changed(true),
        backup(
            "a garbage stored Reconciled status is not final",
            Run::backup().conditions(vec![cond(RECONCILED, "Unknown", "Whatever", EARLIER)]),
            "AwaitingEvidence",
            10,
        )
        .ltt(RECONCILED, NOW),
    ]);
}

#[test]
fn written_conditions_carry_the_generation_and_whole_second_times() {
    let run = Run::backup();
    let input = parsed(run.0.clone(), None);
    let now = ts("2026-11-26T12:00:00.75Z");
    let d = decide(&input, &Evidence::default(), now, &Config::default());
    assert_eq!(d.conditions.len(), 2);
    for c in &d.conditions {
        assert_eq!(c.observed_generation, Some(3), "{c:?}");
        assert_eq!(c.last_transition_time.as_deref(), Some(NOW), "{c:?}");
        assert!(c.message.as_deref().is_some_and(|m| !m.is_empty()), "{c:?}");
    }
}

#[test]
fn the_same_decision_later_yields_byte_identical_conditions() {
    // Messages must not change with the clock: decide at several instants, all stale and
    // undecided, starting from the conditions of the first.
    let sets = [Set::named("set-a")
        .state("InProgress")
        .counts(10, 0, 0, 0)
        .ok()];
    let run = Run::backup();
    let first = decide(
        &parsed(run.0.clone(), None),
        &evidence(&sets, &[]),
        ts("2026-11-26T11:10:01Z"),
        &Config::default(),
    );
    let stored = with_stored(run.0.clone(), &first.conditions);
    for later in ["2026-11-26T12:00:00Z", "2026-11-27T00:00:00Z", ABANDON_DUE] {
        let d = decide(
            &parsed(stored.clone(), None),
            &evidence(&sets, &[]),
            ts(later),
            &Config::default(),
        );
        assert!(!d.changed, "at {later}: {:?}", d.conditions);
        assert!(d.transitions.is_empty(), "at {later}");
        assert_eq!(
            serde_json::to_string(&d.conditions).unwrap(),
            serde_json::to_string(&first.conditions).unwrap(),
            "at {later}"
        );
    }
}

#[test]
fn scope_mismatch_message_does_not_depend_on_evidence_order() {
    // The informer's store has no order; two out-of-scope sets listed either way must give
    // the same conditions, or every reconcile may rewrite the run (SPEC §6).
    let a = Set::named("set-a").run_ref(RUN, Some("other")).ok();
    let b = Set::named("set-b").schedule(Some("weekly")).ok();
    let run = parsed(Run::backup().0, None);
    let one = decide(
        &run,
        &evidence(&[a.clone(), b.clone()], &[]),
        ts(NOW),
        &Config::default(),
    );
    let other = decide(&run, &evidence(&[b, a], &[]), ts(NOW), &Config::default());
    assert_eq!(one.verdict.as_ref().map(|v| v.rule.number()), Some(8));
    assert_eq!(
        serde_json::to_string(&one.conditions).unwrap(),
        serde_json::to_string(&other.conditions).unwrap(),
        "the conditions depend on the order of the evidence list"
    );
}

// ---------------------------------------------------------------------------------------
// Disabled runs and Event severity
// ---------------------------------------------------------------------------------------

#[test]
fn reconcile_disabled_annotation_leaves_the_run_alone() {
    let sets = [complete_set("set-a")];
    let cases = [
        ("stale, never decided", Run::backup()),
        (
            "stale with stored conditions",
            Run::backup().conditions(vec![
                cond(STALE, "True", "QueuedTooLong", "2026-11-26T10:31:00Z"),
                cond(
                    RECONCILED,
                    "False",
                    "AwaitingEvidence",
                    "2026-11-26T10:31:00Z",
                ),
                cond("Ready", "False", "Stuck", "2026-11-26T10:31:00Z"),
            ]),
        ),
        (
            "completed with a stored Stale=True",
            Run::backup().phase("Completed").conditions(vec![cond(
                STALE,
                "True",
                "HeartbeatExpired",
                "2026-11-26T11:11:00Z",
            )]),
        ),
        ("fresh", Run::backup().heartbeat("2026-11-26T11:59:00Z")),
        ("long abandoned", Run::of("foo.bar")),
    ];
    for (name, run) in cases {
        let run = run.annotate(RECONCILE_ANNOTATION, "disabled");
        let stored = owned(&run.0);
        for now in [NOW, "2030-01-01T00:00:00Z"] {
            let d = decide(
                &parsed(run.0.clone(), None),
                &evidence(&sets, &[]),
                ts(now),
                &Config::default(),
            );
            assert!(d.disabled, "{name}");
            assert!(!d.changed, "{name}: changed");
            assert!(d.transitions.is_empty(), "{name}: {:?}", d.transitions);
            assert_eq!(d.verdict, None, "{name}");
            assert_eq!(d.recheck_at, None, "{name}");
            assert_eq!(d.conditions, stored, "{name}");
        }
    }
    // Any other value is no opt-out.
    let run = Run::backup().annotate(RECONCILE_ANNOTATION, "enabled");
    let d = decide(
        &parsed(run.0, None),
        &evidence(&sets, &[]),
        ts(NOW),
        &Config::default(),
    );
    assert!(!d.disabled);
    assert_eq!(d.verdict.map(|v| v.reason.as_str()), Some("Succeeded"));
}

#[test]
fn event_severity_per_reason() {
    // One situation per reason; collect the severity of its Event.
    let mut seen: Vec<(String, bool)> = Vec::new();
    let mut record = |d: &Decision| {
        for t in &d.transitions {
            seen.push((t.reason.clone(), t.warning));
        }
    };
    let decide_now = |run: Run, sets: &[Parsed<BackupSet>], now: &str| {
        decide(
            &parsed(run.0, None),
            &evidence(sets, &[]),
            ts(now),
            &Config::default(),
        )
    };
    record(&decide_now(Run::of("restore.execute"), &[], NOW));
    record(&decide_now(Run::backup().no_schedule(), &[], NOW));
    record(&decide_now(
        Run::backup(),
        &[complete_set("a"), complete_set("b")],
        NOW,
    ));
    record(&decide_now(Run::backup(), &[complete_set("a")], NOW));
    record(&decide_now(
        Run::backup(),
        &[Set::named("a").counts(10, 5, 5, 0).ok()],
        NOW,
    ));
    record(&decide_now(
        Run::backup().failures(&["PermissionDenied"]),
        &[],
        NOW,
    ));
    record(&decide_now(
        Run::backup().failures(&["Throttled"]),
        &[],
        NOW,
    ));
    record(&decide_now(
        Run::backup(),
        &[Set::named("a").run_ref(RUN, None).ok()],
        NOW,
    ));
    record(&decide_now(
        Run::backup(),
        &[Set::named("a").counts(-1, 0, 0, 0).ok()],
        NOW,
    ));
    record(&decide_now(Run::backup(), &[], NOW));
    record(&decide_now(Run::backup(), &[], ABANDONED));
    record(&decide_now(Run::backup().phase("Queued"), &[], NOW));
    let stale = with_stored(
        Run::backup().0,
        &decide_now(Run::backup(), &[], NOW).conditions,
    );
    let resumed = Run(stale.clone()).heartbeat("2026-11-26T12:01:00Z");
    record(&decide_now(resumed, &[], "2026-11-26T12:02:00Z"));
    let completed = Run(stale).phase("Completed");
    record(&decide_now(completed, &[], "2026-11-26T12:02:00Z"));

    let expected = [
        ("UnsupportedFamily", true),
        ("InvalidRun", true),
        ("AmbiguousEvidence", true),
        ("Succeeded", false),
        ("PartiallySucceeded", false),
        ("Blocked", true),
        ("Failed", true),
        ("ScopeMismatch", true),
        ("InvalidEvidence", true),
        ("AwaitingEvidence", false),
        ("Abandoned", true),
        ("HeartbeatExpired", true),
        ("QueuedTooLong", true),
        ("Resumed", false),
        ("WorkerCompleted", false),
    ];
    for (reason, warning) in expected {
        let events: Vec<bool> = seen
            .iter()
            .filter(|(r, _)| r == reason)
            .map(|(_, w)| *w)
            .collect();
        assert!(!events.is_empty(), "no Event for {reason}");
        assert!(
            events.iter().all(|w| *w == warning),
            "Event for {reason} should be {}",
            if warning { "Warning" } else { "Normal" }
        );
    }
}
