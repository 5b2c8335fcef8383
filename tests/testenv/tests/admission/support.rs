//! Helpers of the admission-policy tests: rendering and installing the chart, identities
//! with chosen RBAC, and writes as workers make them.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde::Deserialize;
use serde_json::{Value, json};
use testenv::ControlPlane;

pub const RELEASE: &str = "operationrun-controller";
pub const RELEASE_NS: &str = "operationrun-system";
pub const TENANT: &str = "tenant-a";
pub const CONTROLLER: &str = "system:serviceaccount:operationrun-system:operationrun-controller";
pub const POLICY: &str = "operationrun-controller-conditions";
pub const GROUP: &str = "ops.tenantatlas.io";
/// The field BackupSets and BaselineSnapshots declare in their CRDs' `selectableFields`.
pub const RUN_REF_FIELD: &str = "spec.operationRunRef.name";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Runs `cmd`, feeding `stdin` if given.
pub fn output(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Runs `cmd` and returns its stdout; panics with stderr unless it succeeds.
pub fn run_ok(cmd: Command, stdin: Option<&str>) -> String {
    let debug = format!("{cmd:?}");
    let out = output(cmd, stdin);
    assert!(
        out.status.success(),
        "{debug} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A scratch directory for helm's homes, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new() -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "oprun-admission-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `helm template RELEASE chart --namespace NS ARGS…` with the pinned helm, offline.
pub fn render(release: &str, namespace: &str, args: &[&str]) -> String {
    let helm = testenv::bin_dir().unwrap().join("helm");
    assert!(
        helm.is_file(),
        "{} missing: build it with tests/controlplane/build.sh",
        helm.display()
    );
    let scratch = Scratch::new();
    let mut cmd = Command::new(helm);
    cmd.env("HELM_CACHE_HOME", scratch.0.join("cache"))
        .env("HELM_CONFIG_HOME", scratch.0.join("config"))
        .env("HELM_DATA_HOME", scratch.0.join("data"))
        .arg("template")
        .arg(release)
        .arg(repo_root().join("charts/operationrun-controller"))
        .args(["--namespace", namespace])
        .args(args);
    run_ok(cmd, None)
}

pub fn docs(yaml: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

pub fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The chart with default values and its CRDs, applied as an operator would, with the
/// release and tenant namespaces created first.
pub fn install(cp: &ControlPlane) {
    for ns in [RELEASE_NS, TENANT] {
        let mut cmd = cp.kubectl();
        cmd.args(["create", "namespace", ns]);
        run_ok(cmd, None);
    }
    let manifest = render(RELEASE, RELEASE_NS, &["--include-crds"]);
    let mut cmd = cp.kubectl();
    cmd.args([
        "apply",
        "--server-side",
        "--field-manager=admission-test",
        "--validate=strict",
        "-f",
        "-",
    ]);
    run_ok(cmd, Some(&manifest));
    let mut cmd = cp.kubectl();
    cmd.args(["wait", "--for=condition=Established", "--timeout=60s"])
        .args(["crd", "operationruns.ops.tenantatlas.io"])
        .args([
            "backupsets.ops.tenantatlas.io",
            "baselinesnapshots.ops.tenantatlas.io",
        ]);
    run_ok(cmd, None);
}

pub fn api(client: &kube::Client, kind: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(GROUP, "v1alpha1", kind));
    Api::namespaced_with(client.clone(), TENANT, &ar)
}

/// One identity: a client and a kubeconfig (for kubectl) acting as it.
pub struct Actor {
    pub user: String,
    pub client: kube::Client,
    pub kubeconfig: PathBuf,
}

impl Actor {
    pub async fn service_account(cp: &ControlPlane, namespace: &str, name: &str) -> Self {
        let token = cp
            .service_account_token(namespace, name)
            .await
            .unwrap_or_else(|e| panic!("token for {namespace}/{name}: {e}"));
        Self {
            user: format!("system:serviceaccount:{namespace}:{name}"),
            client: cp.client_for_token(&token).await.unwrap(),
            kubeconfig: cp.kubeconfig_for_token(&token).unwrap(),
        }
    }

    pub fn runs(&self) -> Api<DynamicObject> {
        api(&self.client, "OperationRun")
    }
}

/// Creates ServiceAccount `name` in the tenant namespace with a Role holding `rules`.
pub fn service_account_with_rules(cp: &ControlPlane, name: &str, rules: Value) {
    let objects = [
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": name, "namespace": TENANT}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": name, "namespace": TENANT}, "rules": rules}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": name, "namespace": TENANT},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
               "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": TENANT}]}),
    ];
    let stream: String = objects
        .iter()
        .map(|o| format!("---\n{}\n", serde_json::to_string(o).unwrap()))
        .collect();
    let mut cmd = cp.kubectl();
    cmd.args(["apply", "--server-side", "-f", "-"]);
    run_ok(cmd, Some(&stream));
}

/// What a worker holds: read runs, label them, patch their status.
pub fn worker_rules() -> Value {
    json!([
        {"apiGroups": [GROUP], "resources": ["operationruns"], "verbs": ["get", "list", "patch"]},
        {"apiGroups": [GROUP], "resources": ["operationruns/status"], "verbs": ["get", "patch"]},
    ])
}

/// The answer to a write: the object, or the refusal's HTTP code and message.
pub type Answer = Result<Value, (u16, String)>;

pub fn answer(r: Result<DynamicObject, kube::Error>) -> Answer {
    match r {
        Ok(o) => Ok(serde_json::to_value(o).unwrap()),
        Err(kube::Error::Api(s)) => Err((s.code, s.message.clone())),
        Err(e) => panic!("request failed without an answer from the API server: {e}"),
    }
}

pub async fn merge(actor: &Actor, run: &str, body: Value) -> Answer {
    answer(
        actor
            .runs()
            .patch_status(run, &PatchParams::default(), &Patch::Merge(&body))
            .await,
    )
}

/// Server-side apply of `status` on the status subresource, forced, as `manager`.
pub async fn apply(actor: &Actor, manager: &str, run: &str, status: Value) -> Answer {
    let body = json!({
        "apiVersion": "ops.tenantatlas.io/v1alpha1", "kind": "OperationRun",
        "metadata": {"name": run, "namespace": TENANT},
        "status": status,
    });
    answer(
        actor
            .runs()
            .patch_status(
                run,
                &PatchParams::apply(manager).force(),
                &Patch::Apply(&body),
            )
            .await,
    )
}

/// A JSON patch (RFC 6902) of the status subresource.
pub async fn json_patch(actor: &Actor, run: &str, ops: Value) -> Answer {
    let url = format!("{}/{run}/status", actor.runs().resource_url());
    let req = http::Request::patch(url)
        .header("Content-Type", "application/json-patch+json")
        .body(serde_json::to_vec(&ops).unwrap())
        .unwrap();
    match actor.client.request::<Value>(req).await {
        Ok(v) => Ok(v),
        Err(kube::Error::Api(s)) => Err((s.code, s.message.clone())),
        Err(e) => panic!("JSON patch failed without an answer from the API server: {e}"),
    }
}

#[track_caller]
pub fn allowed(what: &str, a: Answer) -> Value {
    match a {
        Ok(v) => v,
        Err((code, message)) => panic!("{what}: refused ({code}): {message}"),
    }
}

/// Asserts a refusal by the policy (403) whose message contains every one of `parts`.
#[track_caller]
pub fn refused(what: &str, a: Answer, parts: &[&str]) {
    match a {
        Ok(v) => panic!("{what}: allowed, but must be refused: {v}"),
        Err((code, message)) => {
            assert_eq!(code, 403, "{what}: {message}");
            assert!(
                message.contains(POLICY),
                "{what}: not refused by the policy: {message}"
            );
            for p in parts {
                assert!(message.contains(p), "{what}: {message:?} lacks {p:?}");
            }
        }
    }
}

pub fn conditions(run: &Value) -> Vec<Value> {
    run["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

pub fn condition(run: &Value, kind: &str) -> Option<Value> {
    conditions(run).into_iter().find(|c| c["type"] == kind)
}

/// The index of condition `kind`, for a JSON patch.
pub fn index(run: &Value, kind: &str) -> usize {
    conditions(run)
        .iter()
        .position(|c| c["type"] == kind)
        .unwrap_or_else(|| panic!("{kind} missing: {run}"))
}

/// JSON patch that removes condition `kind` at its index, guarded by a test of its type.
pub fn remove_ops(run: &Value, kind: &str) -> Value {
    let i = index(run, kind);
    json!([
        {"op": "test", "path": format!("/status/conditions/{i}/type"), "value": kind},
        {"op": "remove", "path": format!("/status/conditions/{i}")},
    ])
}

pub async fn get(cp: &ControlPlane, run: &str) -> Value {
    serde_json::to_value(api(&cp.client(), "OperationRun").get(run).await.unwrap()).unwrap()
}

pub async fn create_run(cp: &ControlPlane, name: &str) {
    let run: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "ops.tenantatlas.io/v1alpha1", "kind": "OperationRun",
        "metadata": {"name": name, "namespace": TENANT},
        "spec": {"type": "backup.schedule.execute", "backupScheduleRef": {"name": "nightly"}},
    }))
    .unwrap();
    // Right after Established, a create can still meet a 404 while the new resource is
    // wired into the handler chain.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match api(&cp.client(), "OperationRun")
            .create(&PostParams::default(), &run)
            .await
        {
            Ok(_) => return,
            Err(kube::Error::Api(s)) if s.code == 404 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("creating run {name}: {e}"),
        }
    }
}

pub fn stale_true() -> Value {
    json!({"type": "Stale", "status": "True", "reason": "HeartbeatExpired",
           "message": "no heartbeat since 2026-11-26T10:02:00Z (limit 600s)",
           "lastTransitionTime": "2026-11-26T10:12:05Z", "observedGeneration": 1})
}

pub fn reconciled(status: &str, reason: &str, message: &str) -> Value {
    json!({"type": "Reconciled", "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-11-26T10:12:05Z", "observedGeneration": 1,
           "adapter": "backup.schedule.execute", "previousPhase": "Running",
           "relatedArtifacts": []})
}
