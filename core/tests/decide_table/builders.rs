//! Builders of the inputs: a run, its BackupSets and BaselineSnapshots, stored conditions.

use super::*;

/// An OperationRun under construction; by default Running, last heartbeat HEARTBEAT.
#[derive(Clone)]
pub struct Run(pub OperationRun);

impl Run {
    pub fn of(family: &str) -> Run {
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
    pub fn backup() -> Run {
        Run::of(BACKUP).schedule(SCHEDULE)
    }
    pub fn capture() -> Run {
        Run::of(CAPTURE).profile(PROFILE)
    }
    pub fn inventory(types: &[&str]) -> Run {
        Run::of(INVENTORY).policy_types(types)
    }
    pub fn status(&mut self) -> &mut OperationRunStatus {
        self.0.status.get_or_insert_with(Default::default)
    }
    pub fn phase(mut self, phase: &str) -> Self {
        self.status().phase = Some(phase.into());
        self
    }
    pub fn no_phase(mut self) -> Self {
        self.status().phase = None;
        self
    }
    pub fn no_status(mut self) -> Self {
        self.0.status = None;
        self
    }
    pub fn outcome(mut self, outcome: &str) -> Self {
        self.status().outcome = Some(outcome.into());
        self
    }
    pub fn heartbeat(mut self, t: &str) -> Self {
        self.status().heartbeat_time = Some(t.into());
        self
    }
    pub fn no_heartbeat(mut self) -> Self {
        self.status().heartbeat_time = None;
        self
    }
    pub fn started(mut self, t: &str) -> Self {
        self.status().started_at = Some(t.into());
        self
    }
    pub fn created(mut self, t: &str) -> Self {
        self.0.metadata.creation_timestamp = Some(Time(ts(t)));
        self
    }
    /// Run-level failures; "" records a failure without a category.
    pub fn failures(mut self, categories: &[&str]) -> Self {
        self.status().failures = Some(failures(categories));
        self
    }
    /// Coverage entries (policyType, state, failureCategory; "" for none).
    pub fn coverage(mut self, entries: &[(&str, &str, &str)]) -> Self {
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
    pub fn timeouts(mut self, queued: Option<i64>, heartbeat: Option<i64>) -> Self {
        self.0.spec.timeouts = Some(Timeouts {
            queued_seconds: queued,
            heartbeat_seconds: heartbeat,
        });
        self
    }
    pub fn schedule(mut self, name: &str) -> Self {
        self.0.spec.backup_schedule_ref = Some(LocalRef { name: name.into() });
        self
    }
    pub fn no_schedule(mut self) -> Self {
        self.0.spec.backup_schedule_ref = None;
        self
    }
    pub fn profile(mut self, name: &str) -> Self {
        self.0.spec.baseline_profile_ref = Some(LocalRef { name: name.into() });
        self
    }
    pub fn no_profile(mut self) -> Self {
        self.0.spec.baseline_profile_ref = None;
        self
    }
    pub fn policy_types(mut self, types: &[&str]) -> Self {
        self.0.spec.inventory = Some(InventorySpec {
            policy_types: Some(types.iter().map(|t| t.to_string()).collect()),
        });
        self
    }
    pub fn no_inventory(mut self) -> Self {
        self.0.spec.inventory = None;
        self
    }
    pub fn uid(mut self, uid: Option<&str>) -> Self {
        self.0.metadata.uid = uid.map(str::to_string);
        self
    }
    pub fn annotate(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(key.into(), value.into());
        self
    }
    pub fn conditions(mut self, conditions: Vec<RunCondition>) -> Self {
        self.status().conditions = Some(conditions);
        self
    }
}

pub fn failures(categories: &[&str]) -> Vec<Failure> {
    categories
        .iter()
        .map(|c| Failure {
            category: (!c.is_empty()).then(|| c.to_string()),
            message: Some(format!("recorded {c}")),
        })
        .collect()
}

/// A stored condition as an earlier reconcile (or a person) left it.
pub fn cond(type_: &str, status: &str, reason: &str, ltt: &str) -> RunCondition {
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
pub fn final_decision(reason: &str, adapter: Option<&str>) -> RunCondition {
    RunCondition {
        adapter: adapter.map(str::to_string),
        previous_phase: Some("Running".into()),
        related_artifacts: Some(Vec::new()),
        ..cond(RECONCILED, "True", reason, "2026-11-26T11:15:00Z")
    }
}

/// A BackupSet claiming the run in scope: same namespace, run name, run uid and schedule.
/// Finalized with empty counts unless changed.
pub struct Set(pub BackupSet);

impl Set {
    pub fn named(name: &str) -> Set {
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
    pub fn state(mut self, state: &str) -> Self {
        self.0.status.get_or_insert_with(Default::default).state = Some(state.into());
        self
    }
    pub fn counts(mut self, total: i64, succeeded: i64, failed: i64, skipped: i64) -> Self {
        self.0.status.get_or_insert_with(Default::default).summary = Some(BackupSummary {
            items_total: Some(total),
            succeeded: Some(succeeded),
            failed: Some(failed),
            skipped: Some(skipped),
        });
        self
    }
    pub fn failures(mut self, categories: &[&str]) -> Self {
        self.0.status.get_or_insert_with(Default::default).failures = Some(failures(categories));
        self
    }
    pub fn no_status(mut self) -> Self {
        self.0.status = None;
        self
    }
    pub fn namespace(mut self, ns: &str) -> Self {
        self.0.metadata.namespace = Some(ns.into());
        self
    }
    pub fn run_ref(mut self, name: &str, uid: Option<&str>) -> Self {
        self.0.spec.operation_run_ref = Some(RunRef {
            name: name.into(),
            uid: uid.map(str::to_string),
        });
        self
    }
    pub fn schedule(mut self, name: Option<&str>) -> Self {
        self.0.spec.backup_schedule_ref = name.map(|n| LocalRef { name: n.into() });
        self
    }
    pub fn ok(self) -> Parsed<BackupSet> {
        Parsed::ok(self.0)
    }
    pub fn unreadable(self, problem: &str) -> Parsed<BackupSet> {
        Parsed {
            object: self.0,
            problem: Some(problem.into()),
        }
    }
}

/// A complete in-scope BackupSet.
pub fn complete_set(name: &str) -> Parsed<BackupSet> {
    Set::named(name).counts(120, 120, 0, 0).ok()
}

/// A BaselineSnapshot claiming the run in scope, Finalized with empty counts unless changed.
pub struct Snap(pub BaselineSnapshot);

impl Snap {
    pub fn named(name: &str) -> Snap {
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
    pub fn status(&mut self) -> &mut BaselineSnapshotStatus {
        self.0.status.get_or_insert_with(Default::default)
    }
    pub fn summary(&mut self) -> &mut SnapshotSummary {
        self.status().summary.get_or_insert_with(Default::default)
    }
    pub fn state(mut self, state: &str) -> Self {
        self.status().state = Some(state.into());
        self
    }
    pub fn counts(mut self, total: i64, captured: i64) -> Self {
        let summary = self.summary();
        summary.subjects_total = Some(total);
        summary.captured = Some(captured);
        self
    }
    pub fn gaps(mut self, gaps: &[(&str, i64)]) -> Self {
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
    pub fn fallback(mut self) -> Self {
        self.status().fallback_used = Some(true);
        self
    }
    pub fn failures(mut self, categories: &[&str]) -> Self {
        self.status().failures = Some(failures(categories));
        self
    }
    pub fn namespace(mut self, ns: &str) -> Self {
        self.0.metadata.namespace = Some(ns.into());
        self
    }
    pub fn run_ref(mut self, name: &str, uid: Option<&str>) -> Self {
        self.0.spec.operation_run_ref = Some(RunRef {
            name: name.into(),
            uid: uid.map(str::to_string),
        });
        self
    }
    pub fn profile(mut self, name: Option<&str>) -> Self {
        self.0.spec.baseline_profile_ref = name.map(|n| LocalRef { name: n.into() });
        self
    }
    pub fn ok(self) -> Parsed<BaselineSnapshot> {
        Parsed::ok(self.0)
    }
    pub fn unreadable(self, problem: &str) -> Parsed<BaselineSnapshot> {
        Parsed {
            object: self.0,
            problem: Some(problem.into()),
        }
    }
}

pub fn complete_snap(name: &str) -> Parsed<BaselineSnapshot> {
    Snap::named(name).counts(40, 40).ok()
}
