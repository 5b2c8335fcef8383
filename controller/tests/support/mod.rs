//! Shared set-up for tests against the real control plane: CRDs, namespaces, the
//! controller's ServiceAccount with the RBAC the Helm chart grants it (docs/operating.md#rbac),
//! and worker-style writes.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, ResourceExt};
use operationrun_controller::reconciler::{Hooks, Settings};
use operationrun_core::decide::Config;
use operationrun_crds::{BackupSet, OperationRun};
use serde_json::{Value, json};
use testenv::ControlPlane;

pub const SYSTEM_NS: &str = "operationrun-system";
pub const SA: &str = "operationrun-controller";

pub fn sa_user(name: &str) -> String {
    format!("system:serviceaccount:{SYSTEM_NS}:{name}")
}

/// A control plane with the CRDs installed and the controller identity prepared.
pub struct Cluster {
    pub cp: ControlPlane,
    pub admin: Client,
}

pub async fn cluster(tenants: &[&str]) -> Cluster {
    let cp = ControlPlane::start().await.expect("control plane starts");
    let admin = cp.client();
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    for crd in operationrun_crds::crds() {
        let name = crd.metadata.name.clone().expect("crd name");
        crds.patch(
            &name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("CRD accepted");
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(crds.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .expect("CRD established in time")
        .expect("CRD watch");
    }
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    for ns in std::iter::once(&SYSTEM_NS).chain(tenants) {
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": ns}})).expect("ns"),
            )
            .await
            .expect("namespace created");
    }
    // discovery of the new kinds can lag Established by a moment
    let runs: Api<OperationRun> = Api::all(admin.clone());
    let deadline = Instant::now() + Duration::from_secs(20);
    while runs.list(&Default::default()).await.is_err() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Cluster { cp, admin }
}

/// The chart's ServiceAccount and RBAC, rendered by the pinned helm with its objects named
/// `name` (cluster-wide, leader election on the Lease `operationrun-controller` in
/// [`SYSTEM_NS`]) and created; returns a client acting as that ServiceAccount.
pub async fn controller_identity(c: &Cluster, name: &str) -> Client {
    let rendered = testenv::chart::render(
        "operationrun-controller",
        SYSTEM_NS,
        &[
            "--set",
            &format!("fullnameOverride={name}"),
            "--set",
            "leaderElection.leaseName=operationrun-controller",
        ],
    )
    .expect("the chart renders");
    let objects = testenv::chart::rbac(&rendered).expect("the chart's RBAC");
    let mut sa_found = false;
    for object in objects {
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or(SYSTEM_NS);
        let admin = c.admin.clone();
        match object["kind"].as_str().unwrap_or_default() {
            "ServiceAccount" => {
                assert_eq!(
                    object["metadata"]["name"], name,
                    "the chart's ServiceAccount"
                );
                sa_found = true;
                create(Api::<ServiceAccount>::namespaced(admin, ns), object).await;
            }
            "ClusterRole" => create(Api::<ClusterRole>::all(admin), object).await,
            "ClusterRoleBinding" => create(Api::<ClusterRoleBinding>::all(admin), object).await,
            "Role" => create(Api::<Role>::namespaced(admin, ns), object).await,
            "RoleBinding" => create(Api::<RoleBinding>::namespaced(admin, ns), object).await,
            other => panic!("not an RBAC kind: {other}"),
        }
    }
    assert!(sa_found, "the chart renders no ServiceAccount");
    let token =
        c.cp.service_account_token(SYSTEM_NS, name)
            .await
            .expect("token");
    c.cp.client_for_token(&token)
        .await
        .expect("client for token")
}

/// Creates `object` (a rendered chart document) with `api`.
async fn create<K>(api: Api<K>, object: Value)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let what = format!("{} {}", object["kind"], object["metadata"]["name"]);
    let typed: K = serde_json::from_value(object).unwrap_or_else(|e| panic!("{what}: {e}"));
    api.create(&PostParams::default(), &typed)
        .await
        .unwrap_or_else(|e| panic!("creating {what}: {e}"));
}

pub fn settings(instance: &str) -> Settings {
    Settings {
        config: Config::default(),
        namespaces: Vec::new(),
        dry_run: false,
        concurrency: 4,
        instance: instance.to_string(),
        events: Default::default(),
        request_timeout: Duration::from_secs(5),
        caches: Arc::new(operationrun_controller::stall::Caches::new(
            Duration::from_secs(180),
        )),
    }
}

/// A running in-process controller; dropping the handle stops it.
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(20), &mut self.task).await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn start(client: Client, settings: Settings, hooks: Hooks) -> Running {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let metrics = std::sync::Arc::new(operationrun_controller::metrics::Metrics::default());
    let task = tokio::spawn(async move {
        operationrun_controller::reconciler::run(client, settings, metrics, hooks, async move {
            let _ = rx.await;
        })
        .await;
    });
    Running {
        stop: Some(tx),
        task,
    }
}

pub fn ago(secs: i64) -> String {
    let t = Timestamp::now() - jiff::SignedDuration::from_secs(secs);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Creates a backup run and, as its worker would, reports it Running with a heartbeat
/// `heartbeat_age` seconds old. Returns the run's uid.
pub async fn backup_run(admin: &Client, ns: &str, name: &str, heartbeat_age: i64) -> String {
    let api: Api<OperationRun> = Api::namespaced(admin.clone(), ns);
    let run: OperationRun = serde_json::from_value(json!({
        "apiVersion": "ops.tenantatlas.io/v1alpha1", "kind": "OperationRun",
        "metadata": {"name": name},
        "spec": {"type": "backup.schedule.execute", "backupScheduleRef": {"name": "nightly"}}
    }))
    .expect("run");
    let created = api
        .create(&PostParams::default(), &run)
        .await
        .expect("run created");
    worker_status(admin, ns, name, json!({"phase": "Running", "startedAt": ago(heartbeat_age + 60), "heartbeatTime": ago(heartbeat_age)})).await;
    created.uid().expect("uid")
}

/// Merges `status` into the run's status, as a worker does (its own field manager).
pub async fn worker_status(admin: &Client, ns: &str, name: &str, status: Value) {
    let api: Api<OperationRun> = Api::namespaced(admin.clone(), ns);
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await
    .expect("worker status");
}

/// Creates a BackupSet claiming the run and sets its status.
pub async fn backup_set(
    admin: &Client,
    ns: &str,
    name: &str,
    run: &str,
    run_uid: &str,
    status: Value,
) {
    let api: Api<BackupSet> = Api::namespaced(admin.clone(), ns);
    let set: BackupSet = serde_json::from_value(json!({
        "apiVersion": "ops.tenantatlas.io/v1alpha1", "kind": "BackupSet",
        "metadata": {"name": name},
        "spec": {"backupScheduleRef": {"name": "nightly"}, "operationRunRef": {"name": run, "uid": run_uid}}
    }))
    .expect("set");
    api.create(&PostParams::default(), &set)
        .await
        .expect("set created");
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await
    .expect("set status");
}

/// Like [`worker_status`], for a status the typed client could not read back.
pub async fn worker_status_raw(admin: &Client, ns: &str, name: &str, status: Value) {
    let ar = kube::api::ApiResource::erase::<OperationRun>(&());
    Api::<DynamicObject>::namespaced_with(admin.clone(), ns, &ar)
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .expect("worker status");
}

pub async fn run_object(admin: &Client, ns: &str, name: &str) -> DynamicObject {
    let ar = kube::api::ApiResource::erase::<OperationRun>(&());
    Api::<DynamicObject>::namespaced_with(admin.clone(), ns, &ar)
        .get(name)
        .await
        .expect("run")
}

pub fn condition(run: &DynamicObject, type_: &str) -> Option<Value> {
    run.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

/// Polls the run until `pred` holds on its Reconciled condition (or panics after `secs`).
pub async fn wait_for(
    admin: &Client,
    ns: &str,
    name: &str,
    secs: u64,
    pred: impl Fn(&DynamicObject) -> bool,
) -> DynamicObject {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let run = run_object(admin, ns, name).await;
        if pred(&run) {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting on {ns}/{name}: {}",
            run.data["status"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn reason_is(type_: &'static str, reason: &'static str) -> impl Fn(&DynamicObject) -> bool {
    move |run| condition(run, type_).is_some_and(|c| c["reason"] == reason)
}

/// Writes (anything but get/list/watch) made by `user`, from the audit log.
pub fn writes_by(c: &Cluster, user: &str) -> Vec<Value> {
    c.cp.audit_events()
        .expect("audit log")
        .into_iter()
        .filter(|e| e["stage"] == "ResponseComplete")
        .filter(|e| e["user"]["username"] == user)
        .filter(|e| !matches!(e["verb"].as_str(), Some("get" | "list" | "watch")))
        .collect()
}

pub fn is_status_patch(e: &Value, name: &str) -> bool {
    e["objectRef"]["resource"] == "operationruns"
        && e["objectRef"]["subresource"] == "status"
        && e["objectRef"]["name"] == name
}

pub fn is_event(e: &Value) -> bool {
    e["objectRef"]["resource"] == "events" && e["objectRef"]["apiGroup"] == "events.k8s.io"
}
