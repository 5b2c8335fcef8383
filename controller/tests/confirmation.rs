//! Final verdicts are taken on a consistent read: a claim the watch cache has not seen yet
//! still counts, and every final verdict costs exactly one confirming LIST.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use operationrun_controller::reconciler::{HookFuture, Hooks};
use serde_json::json;
use support::*;

const NS: &str = "tenant-c";

fn complete_set() -> serde_json::Value {
    json!({"state": "Finalized", "summary": {"itemsTotal": 10, "succeeded": 10, "failed": 0, "skipped": 0}})
}

/// The LISTs of BackupSets the controller made, from the audit log.
fn confirmation_lists(c: &Cluster, user: &str) -> Vec<serde_json::Value> {
    c.cp.audit_events()
        .expect("audit log")
        .into_iter()
        .filter(|e| {
            e["stage"] == "ResponseComplete"
                && e["user"]["username"] == user
                && e["verb"] == "list"
                && e["objectRef"]["resource"] == "backupsets"
                && e["requestURI"].as_str().is_some_and(names_a_run)
        })
        .collect()
}

/// Whether a LIST's field selector names a run: a confirmation, not the start-up probe of
/// whether the API server accepts the selector (`spec.operationRunRef.name=`, empty).
fn names_a_run(uri: &str) -> bool {
    uri.split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("fieldSelector="))
        .is_some_and(|v| !v.ends_with("%3D") && !v.ends_with('='))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_claim_the_cache_has_not_seen_makes_the_evidence_ambiguous_not_succeeded() {
    let c = cluster(&[NS]).await;
    let client = controller_identity(&c, SA).await;
    let uid = backup_run(&c.admin, NS, "nightly", 3600).await;
    backup_set(&c.admin, NS, "nightly-a", "nightly", &uid, complete_set()).await;
    let admin = c.admin.clone();
    let fired = Arc::new(AtomicBool::new(false));
    let once = fired.clone();
    let run_uid = uid.clone();
    let hooks = Hooks {
        before_confirmation: Some(Arc::new(move |ns: String, name: String| -> HookFuture {
            let admin = admin.clone();
            let uid = run_uid.clone();
            let first = !once.swap(true, Ordering::SeqCst);
            Box::pin(async move {
                if first {
                    // the cache says Succeeded; a second claim lands before the write
                    backup_set(&admin, &ns, "nightly-b", &name, &uid, complete_set()).await;
                }
            })
        })),
        ..Hooks::default()
    };
    let controller = start(client, settings("test-0"), hooks);
    let run = wait_for(
        &c.admin,
        NS,
        "nightly",
        30,
        reason_is("Reconciled", "AmbiguousEvidence"),
    )
    .await;
    controller.stop().await;
    assert!(
        fired.load(Ordering::SeqCst),
        "the cache gave a final verdict"
    );
    let reconciled = condition(&run, "Reconciled").expect("Reconciled");
    assert_eq!(reconciled["status"], "False");
    let names: Vec<&str> = reconciled["relatedArtifacts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, ["nightly-a", "nightly-b"]);
    let patches: Vec<_> = writes_by(&c, &sa_user(SA))
        .into_iter()
        .filter(|e| is_status_patch(e, "nightly"))
        .collect();
    for p in &patches {
        let reasons = p["requestObject"]["status"]["conditions"].to_string();
        assert!(
            !reasons.contains("Succeeded"),
            "a success was written: {reasons}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_final_verdict_costs_one_consistent_list_and_one_write() {
    let c = cluster(&[NS]).await;
    let client = controller_identity(&c, SA).await;
    let mut names = Vec::new();
    for i in 0..4 {
        let name = format!("run-{i}");
        let uid = backup_run(&c.admin, NS, &name, 3600).await;
        backup_set(&c.admin, NS, &name, &name, &uid, complete_set()).await;
        names.push(name);
    }
    // a stale run with no evidence: not final, so no confirming read
    backup_run(&c.admin, NS, "waiting", 3600).await;
    let controller = start(client, settings("test-0"), Hooks::default());
    for name in &names {
        wait_for(&c.admin, NS, name, 30, reason_is("Reconciled", "Succeeded")).await;
    }
    wait_for(
        &c.admin,
        NS,
        "waiting",
        30,
        reason_is("Reconciled", "AwaitingEvidence"),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    controller.stop().await;
    let lists = confirmation_lists(&c, &sa_user(SA));
    assert_eq!(
        lists.len(),
        names.len(),
        "one LIST per final verdict: {lists:#?}"
    );
    for l in &lists {
        let uri = l["requestURI"].as_str().unwrap_or_default();
        assert!(
            !uri.contains("resourceVersion"),
            "a consistent read carries no resourceVersion: {uri}"
        );
        assert!(uri.contains("spec.operationRunRef.name"), "{uri}");
    }
    let writes = writes_by(&c, &sa_user(SA));
    for name in names.iter().map(String::as_str).chain(["waiting"]) {
        let n = writes.iter().filter(|e| is_status_patch(e, name)).count();
        assert_eq!(n, 1, "one status write for {name}");
    }
}
