//! The controller against a real kube-apiserver + etcd: what it writes, when, and as whom.

mod support;

use std::sync::Arc;
use std::time::Duration;

use operationrun_controller::leader::{Elector, Timings};
use operationrun_controller::metrics::Metrics;
use operationrun_controller::reconciler::{HookFuture, Hooks, run_elected};
use serde_json::json;
use support::*;

const NS: &str = "tenant-a";

fn partial_set() -> serde_json::Value {
    json!({"state": "Finalized", "summary": {"itemsTotal": 120, "succeeded": 100, "failed": 20, "skipped": 0},
           "failures": [{"category": "Throttled", "message": "429"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_only_write_is_one_status_apply_with_the_resource_version() {
    let c = cluster(&[NS]).await;
    let client = controller_identity(&c, SA).await;
    let uid = backup_run(&c.admin, NS, "nightly", 3600).await;
    backup_set(&c.admin, NS, "nightly", "nightly", &uid, partial_set()).await;
    let observed = run_object(&c.admin, NS, "nightly").await;
    let controller = start(client, settings("test-0"), Hooks::default());
    let run = wait_for(
        &c.admin,
        NS,
        "nightly",
        30,
        reason_is("Reconciled", "PartiallySucceeded"),
    )
    .await;
    let reconciled = condition(&run, "Reconciled").expect("Reconciled");
    assert_eq!(reconciled["status"], "True");
    assert_eq!(reconciled["adapter"], "backup.schedule.execute");
    assert_eq!(reconciled["previousPhase"], "Running");
    assert_eq!(reconciled["relatedArtifacts"][0]["name"], "nightly");
    assert_eq!(
        condition(&run, "Stale").expect("Stale")["reason"],
        "HeartbeatExpired"
    );
    // let any further reconcile happen, then read what was written
    tokio::time::sleep(Duration::from_secs(3)).await;
    controller.stop().await;
    let writes = writes_by(&c, &sa_user(SA));
    let patches: Vec<_> = writes
        .iter()
        .filter(|e| is_status_patch(e, "nightly"))
        .collect();
    assert_eq!(patches.len(), 1, "one status write: {patches:#?}");
    let body = &patches[0]["requestObject"];
    assert_eq!(patches[0]["verb"], "patch");
    assert_eq!(
        body["metadata"]["resourceVersion"],
        observed
            .metadata
            .resource_version
            .clone()
            .expect("rv")
            .as_str()
    );
    assert!(
        body.get("spec").is_none(),
        "the apply carries no spec: {body}"
    );
    let status_keys: Vec<&String> = body["status"].as_object().expect("status").keys().collect();
    assert_eq!(status_keys, ["conditions"], "only conditions are applied");
    assert!(
        patches[0]["requestURI"]
            .as_str()
            .unwrap_or_default()
            .contains("fieldManager=operationrun-controller")
    );
    let others: Vec<_> = writes
        .iter()
        .filter(|e| !is_status_patch(e, "nightly") && !is_event(e))
        .collect();
    assert!(others.is_empty(), "nothing else is written: {others:#?}");
    let events: Vec<_> = writes.iter().filter(|e| is_event(e)).collect();
    assert_eq!(
        events.len(),
        2,
        "one Event per transition (Stale, Reconciled): {events:#?}"
    );
    // the worker's fields are untouched
    assert_eq!(run.data["status"]["phase"], "Running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_runs_cost_no_write_and_decided_runs_are_never_written_again() {
    let c = cluster(&[NS]).await;
    let client = controller_identity(&c, SA).await;
    backup_run(&c.admin, NS, "fresh", 10).await;
    let uid = backup_run(&c.admin, NS, "done", 3600).await;
    backup_set(
        &c.admin,
        NS,
        "done",
        "done",
        &uid,
        json!({"state": "Finalized", "summary": {"itemsTotal": 5, "succeeded": 5}}),
    )
    .await;
    let controller = start(client.clone(), settings("test-0"), Hooks::default());
    wait_for(
        &c.admin,
        NS,
        "done",
        30,
        reason_is("Reconciled", "Succeeded"),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    controller.stop().await;
    // a restart sees the decided run again and leaves it alone
    let controller = start(client, settings("test-1"), Hooks::default());
    tokio::time::sleep(Duration::from_secs(4)).await;
    controller.stop().await;
    let writes = writes_by(&c, &sa_user(SA));
    assert!(
        !writes.iter().any(|e| is_status_patch(e, "fresh")),
        "a fresh run gets no write"
    );
    let done = writes.iter().filter(|e| is_status_patch(e, "done")).count();
    assert_eq!(
        done, 1,
        "a decided run is written once, also across a restart"
    );
    assert!(condition(&run_object(&c.admin, NS, "fresh").await, "Stale").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_created_after_the_run_went_stale_decides_it_without_a_restart() {
    let c = cluster(&[NS]).await;
    let client = controller_identity(&c, SA).await;
    let uid = backup_run(&c.admin, NS, "late", 3600).await;
    let controller = start(client, settings("test-0"), Hooks::default());
    wait_for(
        &c.admin,
        NS,
        "late",
        30,
        reason_is("Reconciled", "AwaitingEvidence"),
    )
    .await;
    backup_set(&c.admin, NS, "late", "late", &uid, partial_set()).await;
    let run = wait_for(
        &c.admin,
        NS,
        "late",
        30,
        reason_is("Reconciled", "PartiallySucceeded"),
    )
    .await;
    assert_eq!(condition(&run, "Reconciled").expect("c")["status"], "True");
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_between_observation_and_write_makes_the_write_conflict_and_the_run_is_seen_fresh()
 {
    let c = cluster(&[NS]).await;
    let client = controller_identity(&c, SA).await;
    backup_run(&c.admin, NS, "racing", 3600).await;
    let admin = c.admin.clone();
    let fired = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let once = fired.clone();
    let hooks = Hooks {
        before_write: Some(Arc::new(move |ns: String, name: String| -> HookFuture {
            let admin = admin.clone();
            let first = !once.swap(true, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move {
                if first {
                    // the worker heartbeats right between the decision and its write
                    worker_status(&admin, &ns, &name, json!({"heartbeatTime": ago(0)})).await;
                }
            })
        })),
        ..Hooks::default()
    };
    let controller = start(client, settings("test-0"), hooks);
    tokio::time::sleep(Duration::from_secs(5)).await;
    controller.stop().await;
    assert!(
        fired.load(std::sync::atomic::Ordering::SeqCst),
        "the controller tried to write"
    );
    let patches: Vec<_> = writes_by(&c, &sa_user(SA))
        .into_iter()
        .filter(|e| is_status_patch(e, "racing"))
        .collect();
    assert_eq!(patches.len(), 1, "one write attempt, refused: {patches:#?}");
    assert_eq!(patches[0]["responseStatus"]["code"], 409);
    let run = run_object(&c.admin, NS, "racing").await;
    assert!(
        condition(&run, "Stale").is_none(),
        "the next look saw a fresh run: {}",
        run.data["status"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_first_decisions_use_the_synced_evidence() {
    let c = cluster(&[NS]).await;
    let client = controller_identity(&c, SA).await;
    let mut names = Vec::new();
    for i in 0..5 {
        let name = format!("run-{i}");
        let uid = backup_run(&c.admin, NS, &name, 3600).await;
        backup_set(&c.admin, NS, &name, &name, &uid, partial_set()).await;
        names.push(name);
    }
    let controller = start(client, settings("test-0"), Hooks::default());
    for name in &names {
        wait_for(
            &c.admin,
            NS,
            name,
            30,
            reason_is("Reconciled", "PartiallySucceeded"),
        )
        .await;
    }
    controller.stop().await;
    for patch in writes_by(&c, &sa_user(SA))
        .iter()
        .filter(|e| e["objectRef"]["subresource"] == "status")
    {
        let reasons: Vec<&str> = patch["requestObject"]["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["reason"].as_str())
            .collect();
        assert!(
            !reasons.contains(&"AwaitingEvidence"),
            "decided before the store synced: {reasons:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_leader_election_only_the_leader_writes_and_a_standby_takes_over() {
    let c = cluster(&[NS]).await;
    let a = controller_identity(&c, "controller-a").await;
    let b = controller_identity(&c, "controller-b").await;
    let timings = Timings {
        lease_duration: Duration::from_secs(3),
        retry_period: Duration::from_millis(500),
    };
    let spawn = |client: kube::Client, id: &str| {
        let elector = Elector::new(
            client.clone(),
            SYSTEM_NS,
            "operationrun-controller",
            id,
            timings,
        );
        let settings = settings(id);
        tokio::spawn(async move {
            let _ = run_elected(
                client,
                Some(elector),
                settings,
                Arc::new(Metrics::default()),
                Hooks::default(),
                std::future::pending(),
            )
            .await;
        })
    };
    let leader = spawn(a, "controller-a");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let standby = spawn(b, "controller-b");
    let uid = backup_run(&c.admin, NS, "first", 3600).await;
    backup_set(&c.admin, NS, "first", "first", &uid, partial_set()).await;
    wait_for(
        &c.admin,
        NS,
        "first",
        30,
        reason_is("Reconciled", "PartiallySucceeded"),
    )
    .await;
    // the leader is killed: no release, the standby waits for the Lease to expire
    leader.abort();
    let uid = backup_run(&c.admin, NS, "second", 3600).await;
    backup_set(&c.admin, NS, "second", "second", &uid, partial_set()).await;
    wait_for(
        &c.admin,
        NS,
        "second",
        30,
        reason_is("Reconciled", "PartiallySucceeded"),
    )
    .await;
    standby.abort();
    let by_a = writes_by(&c, &sa_user("controller-a"));
    let by_b = writes_by(&c, &sa_user("controller-b"));
    assert!(
        by_a.iter().any(|e| is_status_patch(e, "first")),
        "the leader decided the first run"
    );
    assert!(
        !by_b.iter().any(|e| is_status_patch(e, "first")),
        "the standby wrote nothing while not leading"
    );
    assert!(
        by_b.iter().any(|e| is_status_patch(e, "second")),
        "the standby took over"
    );
    assert!(!by_a.iter().any(|e| is_status_patch(e, "second")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_bounds_the_whole_process_however_many_namespaces_it_watches() {
    let namespaces = ["tenant-a", "tenant-b", "tenant-c"];
    let c = cluster(&namespaces).await;
    let client = controller_identity(&c, SA).await;
    for ns in namespaces {
        for i in 0..3 {
            // stale, no evidence: AwaitingEvidence, one write each
            backup_run(&c.admin, ns, &format!("run-{i}"), 3600).await;
        }
    }
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (flight, peak) = (in_flight.clone(), most.clone());
    let hooks = Hooks {
        before_write: Some(Arc::new(move |_, _| {
            let (flight, peak) = (flight.clone(), peak.clone());
            Box::pin(async move {
                use std::sync::atomic::Ordering::SeqCst;
                let now = flight.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                tokio::time::sleep(Duration::from_millis(400)).await;
                flight.fetch_sub(1, SeqCst);
            }) as HookFuture
        })),
        ..Default::default()
    };
    let mut settings = settings("test-0");
    settings.namespaces = namespaces.iter().map(|n| n.to_string()).collect();
    settings.concurrency = 2;
    let controller = start(client, settings, hooks);
    for ns in namespaces {
        for i in 0..3 {
            wait_for(
                &c.admin,
                ns,
                &format!("run-{i}"),
                60,
                reason_is("Reconciled", "AwaitingEvidence"),
            )
            .await;
        }
    }
    controller.stop().await;
    let peak = most.load(std::sync::atomic::Ordering::SeqCst);
    // one Controller per namespace used to give each its own 2 slots: 6 at once
    assert_eq!(peak, 2, "reconciles in flight at once over 3 namespaces");
}
