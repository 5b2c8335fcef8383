//! The `operationrun-controller run` process against a real API server, as a platform
//! engineer runs it: flags, health and metrics, dry-run, opt-out, namespaces, odd objects,
//! and a clean Lease hand-over on SIGTERM.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use support::*;
use testenv::controller::{Controller, Launch};

/// `operationrun-controller run` as ServiceAccount `sa`, leader election on its Lease in
/// [`SYSTEM_NS`], with `extra` flags; ready once it returns.
async fn spawn(c: &Cluster, sa: &str, extra: &[&str]) -> Controller {
    let token =
        c.cp.service_account_token(SYSTEM_NS, sa)
            .await
            .expect("token");
    let kubeconfig = c.cp.kubeconfig_for_token(&token).expect("kubeconfig");
    Launch::new(env!("CARGO_BIN_EXE_operationrun-controller"))
        .args([
            "run",
            "--log-format",
            "json",
            "--lease-namespace",
            SYSTEM_NS,
        ])
        .args(extra.iter().copied())
        .kubeconfig(kubeconfig)
        .env("POD_NAME", format!("{sa}-pod"))
        .start()
        .await
        .unwrap_or_else(|e| panic!("the controller starts: {e}"))
}

/// `GET path`: the status code (0 if nothing answered) and the body.
async fn get(p: &Controller, path: &str) -> (u16, String) {
    p.get(path).await.unwrap_or((0, String::new()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_a_released_lease_on_sigterm() {
    let c = cluster(&["tenant-a"]).await;
    controller_identity(&c, SA).await;
    let uid = backup_run(&c.admin, "tenant-a", "nightly", 3600).await;
    backup_set(
        &c.admin,
        "tenant-a",
        "nightly",
        "nightly",
        &uid,
        json!({"state": "Finalized", "summary": {"itemsTotal": 3, "succeeded": 3}}),
    )
    .await;
    let mut p = spawn(&c, SA, &[]).await;
    assert_eq!(get(&p, "/healthz").await.0, 200);
    wait_for(
        &c.admin,
        "tenant-a",
        "nightly",
        30,
        reason_is("Reconciled", "Succeeded"),
    )
    .await;
    let (code, metrics) = get(&p, "/metrics").await;
    assert_eq!(code, 200);
    assert!(metrics.contains("operationrun_reconciliations_total{family=\"backup.schedule.execute\",reason=\"Succeeded\"} 1"), "{metrics}");
    assert!(metrics.contains("operationrun_leader 1"), "{metrics}");
    assert!(
        metrics.contains("operationrun_status_writes_total 1"),
        "{metrics}"
    );
    let leases: Api<Lease> = Api::namespaced(c.admin.clone(), SYSTEM_NS);
    let lease = leases.get("operationrun-controller").await.expect("lease");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("operationrun-controller-pod")
    );
    let status = p
        .terminate()
        .await
        .expect("the controller stops on SIGTERM");
    assert!(status.success(), "graceful shutdown exits 0: {status}");
    let lease = leases.get("operationrun-controller").await.expect("lease");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity),
        None,
        "the Lease is released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_writes_nothing_and_opted_out_or_unwatched_runs_are_left_alone() {
    let c = cluster(&["tenant-a", "tenant-b"]).await;
    controller_identity(&c, SA).await;
    backup_run(&c.admin, "tenant-a", "stale", 3600).await;
    let p = spawn(&c, SA, &["--dry-run"]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = get(&p, "/metrics").await.1;
        if metrics.contains("reason=\"AwaitingEvidence\"} ") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "dry-run never decided: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(p);
    assert!(
        writes_by(&c, &sa_user(SA))
            .iter()
            .all(|e| e["objectRef"]["resource"] == "leases"),
        "dry-run writes only its Lease"
    );

    // opt-out annotation, and a namespace outside --namespace
    let runs: Api<operationrun_crds::OperationRun> = Api::namespaced(c.admin.clone(), "tenant-a");
    runs.patch(
        "stale",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"annotations": {"ops.tenantatlas.io/reconcile": "disabled"}}}),
        ),
    )
    .await
    .expect("annotate");
    backup_run(&c.admin, "tenant-a", "watched", 3600).await;
    backup_run(&c.admin, "tenant-b", "unwatched", 3600).await;
    let _p = spawn(&c, SA, &["--namespace", "tenant-a"]).await;
    wait_for(
        &c.admin,
        "tenant-a",
        "watched",
        30,
        reason_is("Reconciled", "AwaitingEvidence"),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        condition(&run_object(&c.admin, "tenant-a", "stale").await, "Stale").is_none(),
        "opted-out run untouched"
    );
    assert!(
        condition(
            &run_object(&c.admin, "tenant-b", "unwatched").await,
            "Stale"
        )
        .is_none(),
        "other namespace untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_odd_object_gets_a_reason_and_the_watch_goes_on() {
    let c = cluster(&["tenant-a"]).await;
    controller_identity(&c, SA).await;
    // an older, looser schema lets a worker store a status the current types cannot read
    let crds: Api<CustomResourceDefinition> = Api::all(c.admin.clone());
    let mut crd = serde_json::to_value(&operationrun_crds::crds()[0]).expect("crd");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"] =
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    crds.patch(
        "operationruns.ops.tenantatlas.io",
        &PatchParams::apply("test").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("looser CRD");
    tokio::time::sleep(Duration::from_secs(1)).await;
    backup_run(&c.admin, "tenant-a", "odd", 3600).await;
    worker_status_raw(
        &c.admin,
        "tenant-a",
        "odd",
        json!({"failures": "not a list"}),
    )
    .await;
    backup_run(&c.admin, "tenant-a", "normal", 3600).await;
    let _p = spawn(&c, SA, &[]).await;
    let odd = wait_for(&c.admin, "tenant-a", "odd", 30, |r| {
        condition(r, "Reconciled").is_some()
    })
    .await;
    let reconciled = condition(&odd, "Reconciled").expect("Reconciled");
    assert_eq!(reconciled["reason"], "InvalidRun", "{reconciled}");
    wait_for(
        &c.admin,
        "tenant-a",
        "normal",
        30,
        reason_is("Reconciled", "AwaitingEvidence"),
    )
    .await;
    let events = writes_by(&c, &sa_user(SA));
    assert!(
        events
            .iter()
            .any(|e| is_event(e) && e["requestObject"]["reason"] == "InvalidRun"),
        "an Event names the reason"
    );
}
