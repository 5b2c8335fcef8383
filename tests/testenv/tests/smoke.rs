//! Smoke test of the test control plane: the API server features the
//! operator's end-to-end tests rely on really work against it.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use testenv::ControlPlane;

/// A throwaway kind shaped like the operator's: a CEL rule on the spec and a
/// list-map of conditions (keyed by `type`) with extra fields in status.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug)]
#[kube(
    group = "smoke.testenv.io",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus",
    shortname = "wdg"
)]
#[x_kube(
    validation = Rule::new("self.replicas <= self.maxReplicas").message("replicas must not exceed maxReplicas")
)]
#[serde(rename_all = "camelCase")]
struct WidgetSpec {
    replicas: i32,
    max_replicas: i32,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
struct WidgetStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phase: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    conditions: Vec<WidgetCondition>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
struct WidgetCondition {
    #[serde(rename = "type")]
    type_: String,
    status: String,
    reason: String,
    message: String,
    last_transition_time: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    observed_generation: Option<i64>,
    /// Extra fields beyond the standard condition ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    items_total: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    evidence: Option<String>,
}

const NS: &str = "smoke";

fn run(mut cmd: std::process::Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{shown} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn api_code<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> u16 {
    match r {
        Err(kube::Error::Api(s)) => s.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn condition<'a>(w: &'a Value, ty: &str) -> Option<&'a Value> {
    w["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_serves_what_the_operator_needs() {
    let t0 = Instant::now();
    let cp = ControlPlane::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "control plane ready in {:.1?} at {}",
        t0.elapsed(),
        cp.server_url()
    );
    let client = cp.client();

    // --- CRD installed and Established --------------------------------------
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = Widget::crd();
    let crd_json = serde_json::to_value(&crd).unwrap();
    let conds_schema = &crd_json["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
        ["status"]["properties"]["conditions"];
    assert_eq!(
        conds_schema["x-kubernetes-list-type"], "map",
        "{conds_schema}"
    );
    assert_eq!(conds_schema["x-kubernetes-list-map-keys"], json!(["type"]));
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let crd_name = "widgets.smoke.testenv.io";
    tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(crds.clone(), crd_name, conditions::is_crd_established()),
    )
    .await
    .expect("CRD not Established within 30s")
    .unwrap();

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();

    // --- create an object, set its status -----------------------------------
    let widgets: Api<Widget> = Api::namespaced(client.clone(), NS);
    let w1 = Widget::new(
        "w1",
        WidgetSpec {
            replicas: 1,
            max_replicas: 3,
        },
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Right after Established, a create can still meet a 404 while the
        // new resource is wired into the handler chain.
        match widgets.create(&PostParams::default(), &w1).await {
            Ok(_) => break,
            Err(kube::Error::Api(s)) if s.code == 404 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("creating w1: {e}"),
        }
    }
    let writer = PatchParams::default();
    let writer = PatchParams {
        field_manager: Some("smoke-writer".into()),
        ..writer
    };
    let status = json!({"status": {"phase": "Running", "conditions": [{
        "type": "Ready", "status": "True", "reason": "Started", "message": "worker started",
        "lastTransitionTime": "2026-11-26T10:00:00Z", "observedGeneration": 1,
    }]}});
    let after_status = widgets
        .patch_status("w1", &writer, &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(
        after_status.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );

    // --- server-side apply of conditions with a resourceVersion -------------
    let rv = after_status.metadata.resource_version.clone().unwrap();
    let apply = |rv: &str, message: &str| {
        json!({
            "apiVersion": "smoke.testenv.io/v1",
            "kind": "Widget",
            "metadata": {"name": "w1", "namespace": NS, "resourceVersion": rv},
            "status": {"conditions": [{
                "type": "Reconciled", "status": "True", "reason": "PartiallySucceeded",
                "message": message, "lastTransitionTime": "2026-11-26T11:00:00Z",
                "observedGeneration": 1, "itemsTotal": 120, "evidence": "backupset/nightly",
            }]},
        })
    };
    let ssa = PatchParams::apply("smoke-controller");
    let applied = widgets
        .patch_status(
            "w1",
            &ssa,
            &Patch::Apply(&apply(&rv, "100 of 120 items stored")),
        )
        .await
        .unwrap();
    let applied = serde_json::to_value(&applied).unwrap();
    // The list-map merged: the writer's Ready entry is untouched, ours added,
    // extra fields kept.
    assert_eq!(condition(&applied, "Ready").unwrap()["reason"], "Started");
    let reconciled = condition(&applied, "Reconciled").unwrap();
    assert_eq!(reconciled["itemsTotal"], 120);
    assert_eq!(reconciled["evidence"], "backupset/nightly");
    // The same apply carrying the now outdated resourceVersion: 409.
    let stale = widgets
        .patch_status("w1", &ssa, &Patch::Apply(&apply(&rv, "stale write")))
        .await;
    assert_eq!(api_code(stale), 409);

    // --- the CEL rule is enforced by the API server -------------------------
    let bad = Widget::new(
        "too-many",
        WidgetSpec {
            replicas: 5,
            max_replicas: 3,
        },
    );
    match widgets.create(&PostParams::default(), &bad).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 422, "{s:?}");
            assert!(
                s.message.contains("replicas must not exceed maxReplicas"),
                "{s:?}"
            );
        }
        other => panic!("CEL rule not enforced: {other:?}"),
    }

    // --- a ServiceAccount token, and RBAC denying it ------------------------
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), NS);
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "reader"}})).unwrap();
    sas.create(&PostParams::default(), &sa).await.unwrap();
    let token = cp.service_account_token(NS, "reader").await.unwrap();
    let as_reader: Api<Widget> = Api::namespaced(cp.client_for_token(&token).await.unwrap(), NS);
    assert_eq!(api_code(as_reader.get("w1").await), 403);

    // --- the audit log has that denial --------------------------------------
    let denial = cp
        .wait_for_audit_event(Duration::from_secs(10), |e| {
            e["user"]["username"] == "system:serviceaccount:smoke:reader"
                && e["responseStatus"]["code"] == 403
                && e["objectRef"]["resource"] == "widgets"
        })
        .await
        .unwrap();
    assert_eq!(denial["verb"], "get");
    assert_eq!(denial["objectRef"]["name"], "w1");
    assert_eq!(
        denial["annotations"]["authorization.k8s.io/decision"],
        "forbid"
    );
    // Writes are logged with their bodies: what the controller sent is there.
    let write = cp
        .wait_for_audit_event(Duration::from_secs(10), |e| {
            e["verb"] == "patch"
                && e["objectRef"]["subresource"] == "status"
                && e["requestURI"]
                    .as_str()
                    .is_some_and(|u| u.contains("fieldManager=smoke-controller"))
                && e["responseStatus"]["code"] == 200
        })
        .await
        .unwrap();
    assert_eq!(write["level"], "RequestResponse");
    assert_eq!(
        write["requestObject"]["status"]["conditions"][0]["message"],
        "100 of 120 items stored"
    );

    // --- kubectl and helm against it ----------------------------------------
    let k8s = testenv::Versions::pinned().unwrap().kubernetes;
    let out = stdout(&run({
        let mut c = cp.kubectl();
        c.args(["get", "widgets", "-n", NS, "-o", "name"]);
        c
    }));
    assert_eq!(out.trim(), "widget.smoke.testenv.io/w1");
    let out = stdout(&run({
        let mut c = cp.kubectl();
        c.args(["version", "-o", "json"]);
        c
    }));
    let version: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(version["clientVersion"]["gitVersion"], k8s.as_str());
    assert_eq!(version["serverVersion"]["gitVersion"], k8s.as_str());

    let helm_version = testenv::Versions::pinned().unwrap().helm;
    let out = stdout(&run({
        let mut c = cp.helm();
        c.args(["version", "--short"]);
        c
    }));
    assert!(out.starts_with(&helm_version), "{out}");

    let chart = cp.dir().join("smoke-chart");
    write_chart(&chart);
    let out = stdout(&run({
        let mut c = cp.helm();
        c.arg("template").arg("smoke").arg(&chart);
        c
    }));
    assert!(out.contains("name: smoke-cm"), "{out}");
    // Offline, helm assumes the Kubernetes minor its client-go is built for
    // (stamped by build.sh): v1.37.2 -> "v1.37.0".
    let minor = k8s.rsplit_once('.').unwrap().0;
    assert!(out.contains(&format!("kube: \"{minor}.0\"")), "{out}");
    run({
        let mut c = cp.helm();
        c.args(["install", "smoke", "-n", NS]).arg(&chart);
        c
    });
    let out = stdout(&run({
        let mut c = cp.helm();
        c.args(["list", "-n", NS, "-o", "json"]);
        c
    }));
    let releases: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(releases[0]["name"], "smoke", "{releases}");
    assert_eq!(releases[0]["status"], "deployed", "{releases}");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let cm = cms.get("smoke-cm").await.unwrap();
    // Rendered against the live server: its version came from discovery.
    assert_eq!(cm.data.unwrap()["kube"], k8s);

    // --- nothing is left behind ---------------------------------------------
    let pids = cp.pids();
    assert_eq!(pids.len(), 2);
    let dir = cp.dir().to_path_buf();
    drop(cp);
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} outlived the control plane"
        );
    }
    assert!(
        !dir.exists(),
        "{} outlived the control plane",
        dir.display()
    );
}

fn write_chart(dir: &Path) {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: smoke\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n\
         data:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n",
    )
    .unwrap();
}

#[test]
fn missing_binaries_error_names_the_build_script() {
    let e = testenv::Error::BinariesMissing {
        dir: "/nowhere".into(),
        missing: "etcd".into(),
    };
    assert!(e.to_string().contains("tests/controlplane/build.sh"), "{e}");
}

/// Whether `pid` is gone: no `/proc` entry, or a zombie nobody reaped yet.
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// Helper for `killed_test_process_leaves_nothing_behind`: starts a control
/// plane, reports it, and waits to be killed.
#[tokio::test]
#[ignore = "run as a child process by killed_test_process_leaves_nothing_behind"]
async fn hold_control_plane_until_killed() {
    let Some(report) = std::env::var_os("TESTENV_HOLD_REPORT") else {
        return;
    };
    let cp = ControlPlane::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pids: Vec<String> = cp.pids().iter().map(u32::to_string).collect();
    let tmp = Path::new(&report).with_extension("tmp");
    std::fs::write(
        &tmp,
        format!("{}\n{}\n", pids.join(" "), cp.dir().display()),
    )
    .unwrap();
    std::fs::rename(&tmp, &report).unwrap();
    tokio::time::sleep(Duration::from_secs(300)).await;
}

/// A test process killed with SIGKILL runs no destructor: its etcd and
/// kube-apiserver must still die with it, and the next start must remove the
/// directory it left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_test_process_leaves_nothing_behind() {
    let report = std::env::temp_dir().join(format!("testenv-hold-{}", std::process::id()));
    let _ = std::fs::remove_file(&report);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "hold_control_plane_until_killed"])
        .env("TESTENV_HOLD_REPORT", &report)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !report.exists() {
        assert!(child.try_wait().unwrap().is_none(), "holder exited early");
        assert!(
            Instant::now() < deadline,
            "holder did not start a control plane"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = std::fs::read_to_string(&report).unwrap();
    std::fs::remove_file(&report).unwrap();
    let mut lines = text.lines();
    let pids: Vec<u32> = lines
        .next()
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    let dir = Path::new(lines.next().unwrap()).to_path_buf();
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|&p| !process_gone(p)) && dir.exists());

    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids.iter().all(|&p| process_gone(p)) {
        assert!(
            Instant::now() < deadline,
            "etcd/kube-apiserver {pids:?} outlived their killed test process"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(dir.exists(), "nothing removed it yet");
    let cp = ControlPlane::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !dir.exists(),
        "stale {} not removed on start",
        dir.display()
    );
    drop(cp);
}
