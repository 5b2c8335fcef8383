//! The runs every scenario puts under way, written as a platform's workers write them: the
//! run first, then its artifacts naming the run's real uid, then the run's status through
//! the status subresource. One copy of [`Case::ALL`] exercises most rows of the decision
//! table for every family; scenarios take several copies, plus runs whose workers are alive
//! (heartbeating) and runs their workers completed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

/// Tenant namespaces the runs are spread over.
pub const TENANTS: [&str; 4] = ["tenant-a", "tenant-b", "tenant-c", "tenant-d"];

const GROUP: &str = "ops.tenantatlas.io";
const VERSION: &str = "v1alpha1";

/// An API for `kind` of the project's group in `namespace`.
pub fn api(client: &Client, kind: &str, namespace: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(GROUP, VERSION, kind));
    Api::namespaced_with(client.clone(), namespace, &ar)
}

/// An API for `kind` in every namespace.
pub fn api_all(client: &Client, kind: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(GROUP, VERSION, kind));
    Api::all_with(client.clone(), &ar)
}

/// RFC 3339 with whole seconds, as workers (and `metav1.Time`) write times.
pub fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A stale run's situation: its family, its worker's last report, and its evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// One finalized, complete BackupSet: Succeeded.
    BackupComplete,
    /// 8 of 10 items stored, 2 throttled: PartiallySucceeded.
    BackupPartial,
    /// Two complete BackupSets claim the run: AmbiguousEvidence.
    BackupTwoClaims,
    /// A BackupSet naming the run with another uid: ScopeMismatch.
    BackupOtherUid,
    /// Nothing: AwaitingEvidence.
    BackupNothing,
    /// Every item refused for a missing permission: Blocked.
    BackupDenied,
    /// An unfinished set with nothing stored yet: AwaitingEvidence.
    BackupInProgress,
    /// Silent for two days, no evidence: Abandoned.
    BackupAbandoned,
    /// A complete snapshot: Succeeded.
    CaptureComplete,
    /// 4 of 5 subjects, one ambiguous match: PartiallySucceeded.
    CaptureGaps,
    /// Counts that contradict themselves (4 + 3 > 5): InvalidEvidence.
    CaptureMalformed,
    /// A snapshot of another baseline profile: ScopeMismatch.
    CaptureOtherProfile,
    /// A snapshot still building: AwaitingEvidence.
    CaptureBuilding,
    /// Every policy type synced: Succeeded.
    InventoryComplete,
    /// One type throttled: PartiallySucceeded.
    InventoryPartial,
    /// Two entries for one type: AmbiguousEvidence.
    InventoryDuplicate,
    /// Coverage only for a type the run did not ask for: ScopeMismatch.
    InventoryOutOfScope,
    /// No coverage, a provider error recorded: Failed.
    InventoryFailed,
    /// One type refused for a missing permission, nothing synced: Blocked.
    InventoryDenied,
    /// An explicitly unsupported family, with a complete BackupSet claiming it: UnsupportedFamily.
    UnsupportedWithSet,
    /// `report.generate`: UnsupportedFamily.
    UnsupportedReport,
    /// A family nobody knows: UnsupportedFamily.
    UnknownFamily,
}

impl Case {
    /// Every case once.
    pub const ALL: [Case; 22] = [
        Case::BackupComplete,
        Case::BackupPartial,
        Case::BackupTwoClaims,
        Case::BackupOtherUid,
        Case::BackupNothing,
        Case::BackupDenied,
        Case::BackupInProgress,
        Case::BackupAbandoned,
        Case::CaptureComplete,
        Case::CaptureGaps,
        Case::CaptureMalformed,
        Case::CaptureOtherProfile,
        Case::CaptureBuilding,
        Case::InventoryComplete,
        Case::InventoryPartial,
        Case::InventoryDuplicate,
        Case::InventoryOutOfScope,
        Case::InventoryFailed,
        Case::InventoryDenied,
        Case::UnsupportedWithSet,
        Case::UnsupportedReport,
        Case::UnknownFamily,
    ];

    fn slug(self) -> String {
        format!("{self:?}").to_lowercase()
    }

    fn spec(self) -> Value {
        match self {
            Case::BackupComplete
            | Case::BackupPartial
            | Case::BackupTwoClaims
            | Case::BackupOtherUid
            | Case::BackupNothing
            | Case::BackupDenied
            | Case::BackupInProgress
            | Case::BackupAbandoned => backup_spec(),
            Case::CaptureComplete
            | Case::CaptureGaps
            | Case::CaptureMalformed
            | Case::CaptureOtherProfile
            | Case::CaptureBuilding => {
                json!({"type": "baseline.capture", "baselineProfileRef": {"name": "win11"}})
            }
            Case::InventoryComplete
            | Case::InventoryPartial
            | Case::InventoryDuplicate
            | Case::InventoryOutOfScope
            | Case::InventoryFailed
            | Case::InventoryDenied => json!({"type": "inventory.sync",
                "inventory": {"policyTypes": ["deviceConfiguration", "compliancePolicy"]}}),
            Case::UnsupportedWithSet => {
                json!({"type": "backup_set.update", "backupScheduleRef": {"name": "nightly"}})
            }
            Case::UnsupportedReport => json!({"type": "report.generate"}),
            Case::UnknownFamily => json!({"type": "custom.reindex"}),
        }
    }

    /// The worker's fields of the run's status besides phase and times.
    fn worker_fields(self) -> Value {
        let entry = |t: &str, state: &str| json!({"policyType": t, "state": state, "itemCount": 3});
        match self {
            Case::InventoryComplete => json!({"inventory": {"coverage": [
                entry("deviceConfiguration", "Succeeded"), entry("compliancePolicy", "Succeeded")]}}),
            Case::InventoryPartial => json!({"inventory": {"coverage": [
                entry("deviceConfiguration", "Succeeded"),
                {"policyType": "compliancePolicy", "state": "Failed", "failureCategory": "Throttled"}]}}),
            Case::InventoryDuplicate => json!({"inventory": {"coverage": [
                entry("deviceConfiguration", "Succeeded"), entry("deviceConfiguration", "Succeeded"),
                entry("compliancePolicy", "Succeeded")]}}),
            Case::InventoryOutOfScope => {
                json!({"inventory": {"coverage": [entry("appProtectionPolicy", "Succeeded")]}})
            }
            Case::InventoryFailed => {
                json!({"failures": [{"category": "ProviderError", "message": "Graph answered 502"}]})
            }
            Case::InventoryDenied => json!({"inventory": {"coverage": [
                {"policyType": "deviceConfiguration", "state": "Failed", "failureCategory": "PermissionDenied"}]}}),
            _ => json!({}),
        }
    }

    /// The artifacts the run left: (kind, name suffix, spec, status). `uid` is the run's.
    fn artifacts(self, run: &str, uid: &str) -> Vec<(&'static str, &'static str, Value, Value)> {
        let set_spec = |uid: &str| json!({"backupScheduleRef": {"name": "nightly"}, "operationRunRef": {"name": run, "uid": uid}});
        let snap_spec = |profile: &str| json!({"baselineProfileRef": {"name": profile}, "operationRunRef": {"name": run, "uid": uid}});
        let complete_set = json!({"state": "Finalized", "summary": {"itemsTotal": 10, "succeeded": 10, "failed": 0, "skipped": 0}});
        let set = |status: Value| vec![("BackupSet", "set", set_spec(uid), status)];
        let snap = |status: Value| vec![("BaselineSnapshot", "snap", snap_spec("win11"), status)];
        match self {
            Case::BackupComplete | Case::UnsupportedWithSet => set(complete_set),
            Case::BackupPartial => set(json!({"state": "Finalized",
                "summary": {"itemsTotal": 10, "succeeded": 8, "failed": 2, "skipped": 0},
                "failures": [{"category": "Throttled", "message": "429 from Graph"}]})),
            Case::BackupTwoClaims => vec![
                ("BackupSet", "set-1", set_spec(uid), complete_set.clone()),
                ("BackupSet", "set-2", set_spec(uid), complete_set),
            ],
            Case::BackupOtherUid => vec![(
                "BackupSet",
                "set",
                set_spec("00000000-0000-0000-0000-000000000000"),
                complete_set,
            )],
            Case::BackupDenied => set(json!({"state": "Finalized",
                "summary": {"itemsTotal": 10, "succeeded": 0, "failed": 10, "skipped": 0},
                "failures": [{"category": "PermissionDenied", "message": "missing DeviceManagementConfiguration.Read.All"}]})),
            Case::BackupInProgress => {
                set(json!({"state": "InProgress", "summary": {"itemsTotal": 10, "succeeded": 0}}))
            }
            Case::CaptureComplete => {
                snap(json!({"state": "Finalized", "summary": {"subjectsTotal": 5, "captured": 5}}))
            }
            Case::CaptureGaps => snap(json!({"state": "Finalized",
                "summary": {"subjectsTotal": 5, "captured": 4, "gaps": [{"reason": "AmbiguousMatch", "count": 1}]}})),
            Case::CaptureMalformed => snap(json!({"state": "Finalized",
                "summary": {"subjectsTotal": 5, "captured": 4, "gaps": [{"reason": "FetchFailed", "count": 3}]}})),
            Case::CaptureOtherProfile => vec![(
                "BaselineSnapshot",
                "snap",
                snap_spec("macos"),
                json!({"state": "Finalized", "summary": {"subjectsTotal": 5, "captured": 5}}),
            )],
            Case::CaptureBuilding => {
                snap(json!({"state": "Building", "summary": {"subjectsTotal": 5, "captured": 2}}))
            }
            _ => Vec::new(),
        }
    }
}

fn backup_spec() -> Value {
    json!({"type": "backup.schedule.execute", "backupScheduleRef": {"name": "nightly"}})
}

/// What a run of the fleet is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A stuck run in this situation, stale from [`Plan::stale_at`] (or long before, for
    /// [`Case::BackupAbandoned`]).
    Stale(Case),
    /// A run whose worker is alive and heartbeats it (a complete BackupSet exists, so a
    /// wrong staleness would show as a final verdict).
    Live,
    /// A run its worker completed: never stale.
    Completed,
    /// A run at the edge of staleness: a heartbeat timeout of [`EDGE_TIMEOUT`] seconds, its
    /// worker heartbeating it in a storm; every other one has a complete BackupSet (so a
    /// moment of staleness gives a final verdict), the others no evidence.
    Edge,
}

/// One run of the fleet.
#[derive(Clone, Debug)]
pub struct Member {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The uid the API server gave it.
    pub uid: String,
    /// What it is.
    pub role: Role,
}

/// How many runs of each kind, and when the stuck ones go stale.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Copies of `cases`.
    pub copies: usize,
    /// The situations of the stuck runs ([`Case::ALL`] unless a scenario needs one).
    pub cases: &'static [Case],
    /// Runs at the edge of staleness ([`Role::Edge`]).
    pub edge: usize,
    /// Runs whose workers heartbeat them.
    pub live: usize,
    /// Runs their workers completed.
    pub completed: usize,
    /// When the stuck runs (all but the abandoned ones) go stale: their last heartbeat is
    /// [`STALE_AFTER`] seconds before.
    pub stale_at: Timestamp,
    /// Name prefix, so that several fleets can live in one cluster.
    pub prefix: &'static str,
    /// The namespaces the runs are spread over ([`TENANTS`] unless a scenario needs others).
    pub namespaces: &'static [&'static str],
    /// `spec.timeouts.heartbeatSeconds` of the live runs ([`LIVE_TIMEOUT`] unless a scenario
    /// needs them fresh for longer, e.g. under a skewed clock).
    pub live_timeout: i64,
    /// `spec.timeouts.heartbeatSeconds` of the stuck runs; their last heartbeat is this long
    /// before [`Plan::stale_at`] ([`STALE_AFTER`] unless a scenario needs another).
    pub stale_after: i64,
}

impl Plan {
    /// Ten copies of every case, 20 live runs and 10 completed ones.
    pub fn new(prefix: &'static str, stale_at: Timestamp) -> Plan {
        Plan {
            copies: 10,
            cases: &Case::ALL,
            edge: 0,
            live: 20,
            completed: 10,
            stale_at,
            prefix,
            namespaces: &TENANTS,
            live_timeout: LIVE_TIMEOUT,
            stale_after: STALE_AFTER,
        }
    }
}

/// `spec.timeouts.heartbeatSeconds` of the runs at the edge of staleness.
pub const EDGE_TIMEOUT: i64 = 2;

/// `spec.timeouts.heartbeatSeconds` of the stuck runs.
pub const STALE_AFTER: i64 = 30;
/// `spec.timeouts.heartbeatSeconds` of the live runs; they heartbeat every 2 s.
pub const LIVE_TIMEOUT: i64 = 30;

/// The runs created, in creation order.
#[derive(Clone, Debug, Default)]
pub struct Fleet {
    /// Every run.
    pub members: Vec<Member>,
}

impl Fleet {
    /// The live runs, as (namespace, name).
    pub fn live(&self) -> Vec<(String, String)> {
        self.with_role(Role::Live)
    }

    /// The runs of `role`, as (namespace, name).
    pub fn with_role(&self, role: Role) -> Vec<(String, String)> {
        self.members
            .iter()
            .filter(|m| m.role == role)
            .map(|m| (m.namespace.clone(), m.name.clone()))
            .collect()
    }

    /// Every run's (namespace, name).
    pub fn keys(&self) -> BTreeSet<(String, String)> {
        self.members
            .iter()
            .map(|m| (m.namespace.clone(), m.name.clone()))
            .collect()
    }

    /// Adds the runs of `other`.
    pub fn extend(&mut self, other: Fleet) {
        self.members.extend(other.members);
    }
}

/// Creates a run with `spec` (timeouts added), then its artifacts, then its status.
#[allow(clippy::too_many_arguments)]
async fn create_run(
    admin: &Client,
    namespace: &str,
    name: &str,
    mut spec: Value,
    heartbeat_seconds: Option<i64>,
    status: Value,
    artifacts: impl FnOnce(&str) -> Vec<(&'static str, &'static str, Value, Value)>,
) -> Result<String, kube::Error> {
    if let Some(secs) = heartbeat_seconds {
        spec["timeouts"] = json!({"heartbeatSeconds": secs});
    }
    let body: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{GROUP}/{VERSION}"), "kind": "OperationRun",
        "metadata": {"name": name, "namespace": namespace}, "spec": spec,
    }))
    .map_err(kube::Error::SerdeError)?;
    let runs = api(admin, "OperationRun", namespace);
    let created = runs.create(&PostParams::default(), &body).await?;
    let uid = created.uid().unwrap_or_default();
    for (kind, suffix, spec, status) in artifacts(&uid) {
        let artifact_name = format!("{name}-{suffix}");
        let body: DynamicObject = serde_json::from_value(json!({
            "apiVersion": format!("{GROUP}/{VERSION}"), "kind": kind,
            "metadata": {"name": artifact_name, "namespace": namespace}, "spec": spec,
        }))
        .map_err(kube::Error::SerdeError)?;
        let artifacts = api(admin, kind, namespace);
        artifacts.create(&PostParams::default(), &body).await?;
        artifacts
            .patch_status(
                &artifact_name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await?;
    }
    runs.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await?;
    Ok(uid)
}

/// Creates the fleet of `plan` as workers would, eight runs at a time.
pub async fn create(admin: &Client, plan: Plan) -> Fleet {
    let mut wanted: Vec<(String, String, Role)> = Vec::new();
    let mut n = 0usize;
    let mut next = |role: Role, slug: String| {
        let ns = plan.namespaces[n % plan.namespaces.len()].to_string();
        n += 1;
        (ns, format!("{}-{slug}-{n}", plan.prefix), role)
    };
    for _ in 0..plan.copies {
        for case in plan.cases {
            wanted.push(next(Role::Stale(*case), case.slug()));
        }
    }
    for _ in 0..plan.edge {
        wanted.push(next(Role::Edge, "edge".into()));
    }
    for _ in 0..plan.live {
        wanted.push(next(Role::Live, "live".into()));
    }
    for _ in 0..plan.completed {
        wanted.push(next(Role::Completed, "done".into()));
    }
    let timing = Timing {
        stale_at: plan.stale_at,
        stale_after: plan.stale_after,
        live_timeout: plan.live_timeout,
    };
    let members = futures::stream::iter(wanted)
        .map(|(namespace, name, role)| {
            let admin = admin.clone();
            async move {
                let uid = create_member(&admin, &namespace, &name, role, timing)
                    .await
                    .unwrap_or_else(|e| panic!("creating {namespace}/{name}: {e}"));
                Member {
                    namespace,
                    name,
                    uid,
                    role,
                }
            }
        })
        .buffered(8)
        .collect()
        .await;
    Fleet { members }
}

/// The times of a [`Plan`] its runs are written with.
#[derive(Clone, Copy, Debug)]
struct Timing {
    stale_at: Timestamp,
    stale_after: i64,
    live_timeout: i64,
}

async fn create_member(
    admin: &Client,
    namespace: &str,
    name: &str,
    role: Role,
    timing: Timing,
) -> Result<String, kube::Error> {
    let Timing {
        stale_at,
        stale_after,
        live_timeout,
    } = timing;
    let now = Timestamp::now();
    let ago = |secs: i64| rfc3339(now - SignedDuration::from_secs(secs));
    match role {
        Role::Edge => {
            let status = json!({"phase": "Running", "startedAt": ago(60), "heartbeatTime": ago(0)});
            let with_set = name.bytes().map(u32::from).sum::<u32>() % 2 == 0;
            create_run(
                admin,
                namespace,
                name,
                backup_spec(),
                Some(EDGE_TIMEOUT),
                status,
                |uid| {
                    if with_set {
                        Case::BackupComplete.artifacts(name, uid)
                    } else {
                        Vec::new()
                    }
                },
            )
            .await
        }
        Role::Stale(Case::BackupAbandoned) => {
            let status = json!({"phase": "Running", "startedAt": ago(2 * 86_400 + 60), "heartbeatTime": ago(2 * 86_400)});
            create_run(admin, namespace, name, backup_spec(), None, status, |_| {
                Vec::new()
            })
            .await
        }
        Role::Stale(case) => {
            let heartbeat = stale_at - SignedDuration::from_secs(stale_after);
            let mut status = case.worker_fields();
            status["phase"] = json!("Running");
            status["startedAt"] = json!(rfc3339(heartbeat - SignedDuration::from_secs(60)));
            status["heartbeatTime"] = json!(rfc3339(heartbeat));
            create_run(
                admin,
                namespace,
                name,
                case.spec(),
                Some(stale_after),
                status,
                |uid| case.artifacts(name, uid),
            )
            .await
        }
        Role::Live => {
            let status = json!({"phase": "Running", "startedAt": ago(60), "heartbeatTime": ago(0)});
            create_run(
                admin,
                namespace,
                name,
                backup_spec(),
                Some(live_timeout),
                status,
                |uid| Case::BackupComplete.artifacts(name, uid),
            )
            .await
        }
        Role::Completed => {
            let status = json!({"phase": "Completed", "outcome": "Succeeded", "startedAt": ago(600),
                "heartbeatTime": ago(120), "completedAt": ago(120)});
            create_run(admin, namespace, name, backup_spec(), None, status, |uid| {
                Case::BackupComplete.artifacts(name, uid)
            })
            .await
        }
    }
}

/// Workers heartbeating runs in the background until stopped.
pub struct Workers {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Heartbeats the API server accepted.
    pub sent: Arc<AtomicU64>,
    /// Heartbeats that failed (the API server was down, or the write conflicted).
    pub failed: Arc<AtomicU64>,
}

impl Workers {
    /// One worker per run of `runs`, each patching `status.heartbeatTime` to now every
    /// `every` (as a merge patch of its own field, as the worker contract says).
    pub fn start(admin: &Client, runs: Vec<(String, String)>, every: Duration) -> Workers {
        Workers::with_pauses(admin, runs, every, None)
    }

    /// Like [`start`](Self::start), but each worker falls silent now and then: after
    /// `pauses.0` of heartbeats it pauses for between `pauses.1` and twice that (varying by
    /// run and by pause), so its run crosses the edge of staleness and comes back.
    pub fn with_pauses(
        admin: &Client,
        runs: Vec<(String, String)>,
        every: Duration,
        pauses: Option<(Duration, Duration)>,
    ) -> Workers {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let tasks = runs
            .into_iter()
            .enumerate()
            .map(|(i, (namespace, name))| {
                let (admin, stop, sent, failed) =
                    (admin.clone(), stop.clone(), sent.clone(), failed.clone());
                tokio::spawn(async move {
                    let runs = api(&admin, "OperationRun", &namespace);
                    // spread the workers over the period
                    let offset = every.as_millis() as u64 * (i as u64 % 10) / 10;
                    tokio::time::sleep(Duration::from_millis(offset)).await;
                    let mut tick = tokio::time::interval(every);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    let mut beating_since = tokio::time::Instant::now();
                    let mut pause_no = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        tick.tick().await;
                        if let Some((beat, pause)) = pauses
                            && beating_since.elapsed() >= beat
                        {
                            pause_no += 1;
                            // a deterministic spread over [pause, 2 × pause)
                            let spread = (i as u64 * 7919 + pause_no * 104_729) % 1000;
                            let silent = pause + pause.mul_f64(spread as f64 / 1000.0);
                            tokio::time::sleep(silent).await;
                            beating_since = tokio::time::Instant::now();
                            if stop.load(Ordering::Relaxed) {
                                break;
                            }
                        }
                        let patch = Patch::Merge(
                            json!({"status": {"heartbeatTime": rfc3339(Timestamp::now())}}),
                        );
                        let params = PatchParams::default();
                        let request = runs.patch_status(&name, &params, &patch);
                        match tokio::time::timeout(Duration::from_secs(5), request).await {
                            Ok(Ok(_)) => sent.fetch_add(1, Ordering::Relaxed),
                            _ => failed.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                })
            })
            .collect();
        Workers {
            stop,
            tasks,
            sent,
            failed,
        }
    }

    /// Stops every worker and waits for them.
    pub async fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        (
            self.sent.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// The worker of a run stores its backup after all: a complete, finalized BackupSet claims
/// it (an existing set is updated, else one is created).
pub async fn complete_backup(admin: &Client, run: &Member) {
    let name = format!("{}-set", run.name);
    let sets = api(admin, "BackupSet", &run.namespace);
    if sets.get_opt(&name).await.ok().flatten().is_none() {
        let body: DynamicObject = serde_json::from_value(json!({
            "apiVersion": format!("{GROUP}/{VERSION}"), "kind": "BackupSet",
            "metadata": {"name": name, "namespace": run.namespace},
            "spec": {"backupScheduleRef": {"name": "nightly"},
                     "operationRunRef": {"name": run.name, "uid": run.uid}},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        sets.create(&PostParams::default(), &body)
            .await
            .unwrap_or_else(|e| panic!("creating {name}: {e}"));
    }
    let status = json!({"status": {"state": "Finalized",
        "summary": {"itemsTotal": 10, "succeeded": 10, "failed": 0, "skipped": 0}}});
    sets.patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap_or_else(|e| panic!("finishing {name}: {e}"));
}

/// The workers of `runs` report them Completed (outcome Succeeded), as a merge patch of
/// their own fields.
pub async fn complete_runs(admin: &Client, runs: &[(String, String)]) {
    for (namespace, name) in runs {
        let now = rfc3339(Timestamp::now());
        let patch = json!({"status": {"phase": "Completed", "outcome": "Succeeded",
            "heartbeatTime": now, "completedAt": now}});
        api(admin, "OperationRun", namespace)
            .patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap_or_else(|e| panic!("completing {namespace}/{name}: {e}"));
    }
}

/// A complete, finalized BackupSet named `<run>-<suffix>` claiming `run`, as its worker
/// writes it (created, then its status).
pub async fn claim(admin: &Client, run: &Member, suffix: &str) {
    let name = format!("{}-{suffix}", run.name);
    let sets = api(admin, "BackupSet", &run.namespace);
    let body: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{GROUP}/{VERSION}"), "kind": "BackupSet",
        "metadata": {"name": name, "namespace": run.namespace},
        "spec": {"backupScheduleRef": {"name": "nightly"},
                 "operationRunRef": {"name": run.name, "uid": run.uid}},
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    sets.create(&PostParams::default(), &body)
        .await
        .unwrap_or_else(|e| panic!("creating {name}: {e}"));
    let status = json!({"status": {"state": "Finalized",
        "summary": {"itemsTotal": 10, "succeeded": 10, "failed": 0, "skipped": 0}}});
    sets.patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap_or_else(|e| panic!("finishing {name}: {e}"));
}
