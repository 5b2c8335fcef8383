//! `kubectl oprun` against a real kube-apiserver: CRDs installed from the project's types,
//! runs and a BackupSet created, conditions written through the status subresource as the
//! controller writes them, and the built plugin binary reading them through a kubeconfig.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use operationrun_crds::{BackupSet, OperationRun};
use serde_json::{Value, json};
use testenv::ControlPlane;

const NS: &str = "tenant-contoso";
const OTHER_NS: &str = "tenant-fabrikam";

fn oprun(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-oprun"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("the plugin binary runs")
}

fn ok(kubeconfig: &Path, args: &[&str]) -> String {
    let out = oprun(kubeconfig, args);
    assert!(
        out.status.success(),
        "kubectl-oprun {args:?} failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ago(minutes: i64) -> String {
    let t = Timestamp::now() - SignedDuration::from_mins(minutes);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Creates an object, retrying while a freshly Established CRD is not served yet.
async fn create(api: &Api<kube::api::DynamicObject>, body: Value) -> Value {
    let object: kube::api::DynamicObject = serde_json::from_value(body).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match api.create(&PostParams::default(), &object).await {
            Ok(o) => return serde_json::to_value(o).unwrap(),
            Err(kube::Error::Api(s)) if s.code == 404 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("creating {}: {e}", object.metadata.name.unwrap_or_default()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_explain_read_what_the_controller_stored() {
    let cp = ControlPlane::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = cp.client();
    let kubeconfig = cp.kubeconfig_path().to_path_buf();

    // --- CRDs and namespaces ----------------------------------------------------------
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in operationrun_crds::crds() {
        let name = crd.metadata.name.clone().unwrap();
        crds.create(&PostParams::default(), &crd).await.unwrap();
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(crds.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .expect("CRD Established within 30 s")
        .unwrap();
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in [NS, OTHER_NS] {
        let body: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
        namespaces
            .create(&PostParams::default(), &body)
            .await
            .unwrap();
    }

    let run_resource = kube::api::ApiResource::erase::<OperationRun>(&());
    let set_resource = kube::api::ApiResource::erase::<BackupSet>(&());
    let runs = Api::namespaced_with(client.clone(), NS, &run_resource);
    let other_runs = Api::namespaced_with(client.clone(), OTHER_NS, &run_resource);
    let sets = Api::namespaced_with(client.clone(), NS, &set_resource);

    // --- a backup the controller decided PartiallySucceeded ---------------------------
    let run = create(
        &runs,
        json!({
            "apiVersion": "ops.tenantatlas.io/v1alpha1", "kind": "OperationRun",
            "metadata": {"name": "nightly-20261126"},
            "spec": {"type": "backup.schedule.execute", "backupScheduleRef": {"name": "nightly"}},
        }),
    )
    .await;
    let run_uid = run["metadata"]["uid"].as_str().unwrap().to_string();
    let set = create(
        &sets,
        json!({
            "apiVersion": "ops.tenantatlas.io/v1alpha1", "kind": "BackupSet",
            "metadata": {"name": "nightly-20261126"},
            "spec": {"backupScheduleRef": {"name": "nightly"},
                     "operationRunRef": {"name": "nightly-20261126", "uid": run_uid}},
        }),
    )
    .await;
    let set_uid = set["metadata"]["uid"].as_str().unwrap().to_string();
    let worker = PatchParams {
        field_manager: Some("worker".into()),
        ..PatchParams::default()
    };
    sets.patch_status(
        "nightly-20261126",
        &worker,
        &Patch::Merge(json!({"status": {
            "state": "Finalized",
            "summary": {"itemsTotal": 120, "succeeded": 100, "failed": 20, "skipped": 0},
            "failures": [{"category": "Throttled", "message": "Graph returned 429"}],
        }})),
    )
    .await
    .unwrap();
    let heartbeat = ago(90);
    let updated = runs
        .patch_status(
            "nightly-20261126",
            &worker,
            &Patch::Merge(json!({"status": {
                "phase": "Running", "startedAt": ago(120), "heartbeatTime": heartbeat,
            }})),
        )
        .await
        .unwrap();
    let message = "100 of 120 items stored in BackupSet nightly-20261126; 20 failed (Throttled).";
    let decided_at = ago(70);
    runs.patch_status(
        "nightly-20261126",
        &PatchParams::apply("operationrun-controller"),
        &Patch::Apply(json!({
            "apiVersion": "ops.tenantatlas.io/v1alpha1", "kind": "OperationRun",
            "metadata": {"name": "nightly-20261126", "namespace": NS,
                         "resourceVersion": updated.metadata.resource_version},
            "status": {"conditions": [
                {"type": "Stale", "status": "True", "reason": "HeartbeatExpired",
                 "message": format!("No heartbeat since {heartbeat} (heartbeatTime); the heartbeat limit is 600 s."),
                 "lastTransitionTime": decided_at, "observedGeneration": 1},
                {"type": "Reconciled", "status": "True", "reason": "PartiallySucceeded",
                 "message": message, "lastTransitionTime": decided_at, "observedGeneration": 1,
                 "adapter": "backup.schedule.execute", "previousPhase": "Running",
                 "relatedArtifacts": [{"kind": "BackupSet", "name": "nightly-20261126", "uid": set_uid}]},
            ]},
        })),
    )
    .await
    .unwrap();

    // --- a stale run nothing decided (e.g. the controller runs with --dry-run) ---------
    create(
        &runs,
        json!({
            "apiVersion": "ops.tenantatlas.io/v1alpha1", "kind": "OperationRun",
            "metadata": {"name": "sync-stuck"},
            "spec": {"type": "inventory.sync", "inventory": {"policyTypes": ["deviceConfiguration"]}},
        }),
    )
    .await;
    runs.patch_status(
        "sync-stuck",
        &worker,
        &Patch::Merge(
            json!({"status": {"phase": "Running", "startedAt": ago(60), "heartbeatTime": ago(45)}}),
        ),
    )
    .await
    .unwrap();

    // --- a fresh queued run in another namespace ----------------------------------------
    create(
        &other_runs,
        json!({
            "apiVersion": "ops.tenantatlas.io/v1alpha1", "kind": "OperationRun",
            "metadata": {"name": "capture-win11"},
            "spec": {"type": "baseline.capture", "baselineProfileRef": {"name": "win11"}},
        }),
    )
    .await;

    // --- list -A: stale and undecided first, then the rest ------------------------------
    let list = ok(&kubeconfig, &["list", "-A"]);
    let rows: Vec<Vec<&str>> = list
        .lines()
        .map(|l| {
            l.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        rows[0],
        [
            "NAMESPACE",
            "NAME",
            "TYPE",
            "PHASE",
            "OUTCOME",
            "AGE",
            "NEXT ACTION"
        ],
        "{list}"
    );
    assert_eq!(rows.len(), 4, "{list}");
    let pick = |row: &Vec<&str>| [row[0], row[1], row[3], row[4], row[6]].map(str::to_string);
    assert_eq!(
        pick(&rows[1]),
        [NS, "sync-stuck", "Running (stale)", "-", "check worker"],
        "{list}"
    );
    assert_eq!(
        pick(&rows[3]),
        [OTHER_NS, "capture-win11", "Queued", "-", "none"],
        "{list}"
    );
    assert_eq!(
        pick(&rows[2]),
        [
            NS,
            "nightly-20261126",
            "Running (stale)",
            "PartiallySucceeded",
            "retry what is missing"
        ],
        "{list}"
    );

    // --- explain: the stored decision, calm ---------------------------------------------
    let explain = ok(&kubeconfig, &["explain", "nightly-20261126", "-n", NS]);
    let lines: Vec<&str> = explain.lines().collect();
    assert_eq!(
        lines[0],
        "OperationRun tenant-contoso/nightly-20261126 (backup.schedule.execute)"
    );
    assert!(
        lines[1].starts_with(&format!(
            "The worker went silent: last heartbeat at {heartbeat}"
        )),
        "{explain}"
    );
    assert_eq!(
        lines[2],
        format!("Outcome: PartiallySucceeded, decided by the controller. {message}")
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("Next: ")).count(),
        1,
        "{explain}"
    );
    assert!(
        explain.contains("Next: Retry only what is missing; the stored output is usable as it is."),
        "{explain}"
    );
    assert!(!explain.contains(&set_uid) && !explain.contains("relatedArtifacts"));

    // --- explain --diagnostics: the evidence and the deciding rule ----------------------
    let diagnostics = ok(
        &kubeconfig,
        &["explain", "nightly-20261126", "-n", NS, "--diagnostics"],
    );
    for expected in [
        format!("  BackupSet nightly-20261126 (uid {set_uid}): in scope, named by the decision"),
        "    Finalized: 100 succeeded, 20 failed, 0 skipped of 120 total".to_string(),
        format!("  Reconciled=True PartiallySucceeded, since {decided_at}"),
        "  BackupSet nightly-20261126: Throttled: Graph returned 429".to_string(),
        format!("  heartbeat:  {heartbeat}"),
        "  Decided by rule 5 (usable output exists).".to_string(),
    ] {
        assert!(diagnostics.contains(&expected), "{expected}\n{diagnostics}");
    }

    // --- the undecided stale run ---------------------------------------------------------
    let stuck = ok(
        &kubeconfig,
        &["explain", "sync-stuck", "-n", NS, "--diagnostics"],
    );
    assert!(
        stuck.contains("Undecided: the controller has not written a decision."),
        "{stuck}"
    );
    assert!(
        stuck.contains("Not decided yet; on the current evidence rule 10"),
        "{stuck}"
    );
    assert!(
        stuck.contains("Next: Check the worker pod that ran it"),
        "{stuck}"
    );

    // --- the namespace comes from the kubeconfig context unless -n is given -------------
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&kubeconfig).unwrap()).unwrap();
    let context = config["contexts"][0].clone();
    let mut fabrikam = context.clone();
    fabrikam["name"] = json!("fabrikam");
    fabrikam["context"]["namespace"] = json!(OTHER_NS);
    config["contexts"] = json!([context, fabrikam]);
    let with_contexts = cp.dir().join("kubeconfig-contexts");
    std::fs::write(&with_contexts, config.to_string()).unwrap();

    let out = oprun(&with_contexts, &["list"]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "No OperationRuns found in namespace default.\n"
    );
    let fab = ok(&with_contexts, &["--context", "fabrikam", "list"]);
    assert!(
        fab.starts_with("NAME ") && fab.contains("capture-win11"),
        "{fab}"
    );
    assert!(!fab.contains("nightly"), "{fab}");
    let fab = ok(&with_contexts, &["list", "--context", "fabrikam", "-n", NS]);
    assert!(
        fab.contains("nightly-20261126") && !fab.contains("capture-win11"),
        "{fab}"
    );

    // --- errors ---------------------------------------------------------------------------
    let out = oprun(&kubeconfig, &["explain", "no-such-run", "-n", NS]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: OperationRun no-such-run not found in namespace tenant-contoso\n"
    );
    let out = oprun(&with_contexts, &["--context", "nope", "list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
