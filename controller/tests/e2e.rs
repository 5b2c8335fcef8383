//! End to end on the real control plane: the chart rendered by the built Helm and applied;
//! the controller binary started with the Deployment's arguments and the chart
//! ServiceAccount's token (not as admin); every example applied as a worker would; each run
//! ends with the conditions `evaluate` gives for it. Then what an operator sees with kubectl.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use operationrun_core::decide::Config;
use operationrun_core::{evaluate, manifests};
use operationrun_crds::{BackupSet, BaselineSnapshot, OperationRun};
use serde_json::{Value, json};
use testenv::ControlPlane;
use testenv::controller::Launch;

const RELEASE_NS: &str = "operationrun-system";
const CHART_SA: &str = "operationrun-controller";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(mut cmd: Command, stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write;
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("command starts");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).expect("stdin");
    }
    let out = child.wait_with_output().expect("command ends");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The fields compared: everything but lastTransitionTime, messages and artifact UIDs (the
/// API server assigns its own).
fn comparable(conditions: &[Value]) -> Vec<Value> {
    conditions
        .iter()
        .map(|c| {
            let mut c = c.clone();
            if let Some(m) = c.as_object_mut() {
                m.remove("lastTransitionTime");
                m.remove("message");
                m.remove("observedGeneration");
                if let Some(Value::Array(related)) = m.get_mut("relatedArtifacts") {
                    for r in related.iter_mut() {
                        if let Some(r) = r.as_object_mut() {
                            r.remove("uid");
                        }
                    }
                }
            }
            c
        })
        .collect()
}

fn owned(run: &DynamicObject) -> Vec<Value> {
    let mut list: Vec<Value> = run.data["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c["type"] == "Stale" || c["type"] == "Reconciled")
        .collect();
    list.sort_by_key(|c| if c["type"] == "Stale" { 0 } else { 1 });
    list
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_end_as_evaluate_says_on_a_real_cluster() {
    let cp = ControlPlane::start().await.expect("control plane");
    let admin = cp.client();

    // the chart, rendered by the built Helm with its CRDs, applied as an operator would
    let rendered =
        testenv::chart::render("operationrun-controller", RELEASE_NS, &["--include-crds"])
            .expect("helm template");
    let (ok, _, err) = run(
        {
            let mut c = cp.kubectl();
            c.args(["create", "namespace", RELEASE_NS]);
            c
        },
        None,
    );
    assert!(ok, "{err}");
    let (ok, out, err) = run(
        {
            let mut c = cp.kubectl();
            c.args(["apply", "--server-side", "--validate=strict", "-f", "-"]);
            c
        },
        Some(&rendered),
    );
    assert!(ok, "the API server accepts the chart: {out}{err}");
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    for name in ["operationruns", "backupsets", "baselinesnapshots"] {
        let name = format!("{name}.ops.tenantatlas.io");
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(crds.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .expect("established")
        .expect("watch");
    }

    // the controller, with exactly the Deployment's arguments (only the port made free for
    // parallel tests) and the chart ServiceAccount's token
    let token = cp
        .service_account_token(RELEASE_NS, CHART_SA)
        .await
        .expect("token");
    let kubeconfig = cp.kubeconfig_for_token(&token).expect("kubeconfig");
    let _controller = Launch::new(env!("CARGO_BIN_EXE_operationrun-controller"))
        .args(testenv::chart::deployment_args(&rendered).expect("Deployment args"))
        .kubeconfig(&kubeconfig)
        .env("POD_NAMESPACE", RELEASE_NS)
        .env("POD_NAME", "operationrun-controller-e2e")
        .start()
        .await
        .unwrap_or_else(|e| panic!("the controller starts: {e}"));

    // every example, applied as its workers would
    let examples = root().join("examples");
    let applied = testenv::worker::apply(&admin, &examples, Timestamp::now())
        .await
        .expect("examples applied");
    // admission keeps out what is impossible on its face: the malformed example's counts
    let rejected: Vec<(&str, &str)> = applied
        .rejected_status
        .iter()
        .map(|(k, ns, _, _)| (k.as_str(), ns.as_str()))
        .collect();
    assert_eq!(
        rejected,
        [("BackupSet", "tenant-wingtip")],
        "{:?}",
        applied.rejected_status
    );
    assert!(
        applied.rejected_status[0]
            .3
            .contains("must not exceed itemsTotal")
    );

    // what evaluate says of the examples as they now stand in the cluster, at their
    // reference time
    let mut offline = manifests::load(std::slice::from_ref(&examples)).expect("examples load");
    for (kind, ns, name, _) in &applied.rejected_status {
        let matches = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            m.namespace.as_deref() == Some(ns.as_str()) && m.name.as_deref() == Some(name.as_str())
        };
        if kind == "BackupSet" {
            offline
                .backup_sets
                .iter_mut()
                .filter(|b| matches(&b.object.metadata))
                .for_each(|b| b.object.status = None);
        }
    }
    let reference: Timestamp = testenv::worker::EXAMPLES_REFERENCE.parse().expect("time");
    let expected: BTreeMap<(String, String), Vec<Value>> =
        evaluate::evaluate(&offline, reference, &Config::default())
            .into_iter()
            .map(|(e, _)| {
                let conditions: Vec<Value> = e
                    .conditions
                    .iter()
                    .map(|c| serde_json::to_value(c).expect("json"))
                    .collect();
                ((e.namespace, e.name), comparable(&conditions))
            })
            .collect();
    assert_eq!(applied.runs.len(), expected.len());

    let ar = kube::api::ApiResource::erase::<OperationRun>(&());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = BTreeMap::new();
    loop {
        let mut mismatched = Vec::new();
        for ((ns, name), want) in &expected {
            let api: Api<DynamicObject> = Api::namespaced_with(admin.clone(), ns, &ar);
            let got = comparable(&owned(&api.get(name).await.expect("run")));
            if &got != want {
                mismatched.push(format!("{ns}/{name}: got {got:?}\n   want {want:?}"));
            }
            last.insert((ns.clone(), name.clone()), got);
        }
        if mismatched.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "runs did not end as evaluate says:\n{}",
            mismatched.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // the controller's identity is refused everything the chart does not grant
    // (docs/operating.md#rbac)
    let sa = cp.client_for_token(&token).await.expect("sa client");
    let forbidden =
        |r: Result<(), kube::Error>| matches!(r, Err(kube::Error::Api(s)) if s.code == 403);
    let sets: Api<BackupSet> = Api::namespaced(sa.clone(), "tenant-contoso");
    let set = Api::<BackupSet>::namespaced(admin.clone(), "tenant-contoso")
        .get("nightly-20261126")
        .await
        .expect("set");
    assert!(
        forbidden(
            sets.replace("nightly-20261126", &PostParams::default(), &set)
                .await
                .map(|_| ())
        ),
        "update BackupSet"
    );
    let snaps: Api<BaselineSnapshot> = Api::namespaced(sa.clone(), "tenant-contoso");
    assert!(
        forbidden(
            snaps
                .patch(
                    "win11-security-baseline-20261126",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}}))
                )
                .await
                .map(|_| ())
        ),
        "patch BaselineSnapshot"
    );
    let runs: Api<OperationRun> = Api::namespaced(sa.clone(), "tenant-contoso");
    assert!(
        forbidden(
            runs.patch(
                "nightly-20261126",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"timeouts": {"queuedSeconds": 5}}}))
            )
            .await
            .map(|_| ())
        ),
        "patch an OperationRun's spec"
    );
    let secrets: Api<Secret> = Api::namespaced(sa, RELEASE_NS);
    assert!(
        forbidden(secrets.list(&Default::default()).await.map(|_| ())),
        "read Secrets"
    );

    // what an operator sees
    let kubectl = |args: &[&str]| {
        let mut c = cp.kubectl();
        c.args(args);
        run(c, None)
    };
    let (ok, table, err) = kubectl(&["get", "opruns", "-A"]);
    assert!(ok, "{err}");
    let header = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>();
    assert_eq!(
        header,
        [
            "NAMESPACE",
            "NAME",
            "TYPE",
            "PHASE",
            "OUTCOME",
            "STALE",
            "RECONCILED",
            "AGE"
        ]
    );
    let row = table
        .lines()
        .find(|l| l.starts_with("tenant-tailspin"))
        .expect("partial backup row");
    let cells: Vec<&str> = row.split_whitespace().collect();
    // OUTCOME is empty (the worker never reported one), so it splits away
    assert_eq!(
        cells[..6],
        [
            "tenant-tailspin",
            "nightly-20261126",
            "backup.schedule.execute",
            "Running",
            "True",
            "PartiallySucceeded"
        ],
        "{row}"
    );
    let (ok, explain, err) = kubectl(&["explain", "operationrun.spec.timeouts"]);
    assert!(ok, "{err}");
    assert!(
        explain.contains("heartbeatSeconds") && explain.contains("Per-run overrides"),
        "{explain}"
    );
    let (ok, _, err) = kubectl(&[
        "wait",
        "--for=condition=Reconciled",
        "oprun/nightly-20261126",
        "-n",
        "tenant-tailspin",
        "--timeout=30s",
    ]);
    assert!(ok, "kubectl wait: {err}");
    let (ok, events, err) = kubectl(&["get", "events", "-A"]);
    assert!(ok, "{err}");
    for reason in [
        "HeartbeatExpired",
        "PartiallySucceeded",
        "Succeeded",
        "Blocked",
        "WorkerCompleted",
    ] {
        assert!(events.contains(reason), "an Event for {reason}:\n{events}");
    }
}
