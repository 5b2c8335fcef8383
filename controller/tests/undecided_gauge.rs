//! The `operationrun_stale_undecided` gauge follows the runs that exist: a deleted run leaves
//! it at once, so the alert built on it stops firing without a restart.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams};
use operationrun_controller::metrics::Metrics;
use operationrun_controller::reconciler::{self, Hooks};
use operationrun_crds::OperationRun;
use support::*;

const NS: &str = "tenant-g";

fn undecided(metrics: &Metrics) -> i64 {
    metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with("operationrun_stale_undecided{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
        .sum()
}

async fn until(what: &str, metrics: &Metrics, want: i64) {
    let start = Instant::now();
    while undecided(metrics) != want {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: gauge is {}, expected {want}\n{}",
            undecided(metrics),
            metrics.encode()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_run_leaves_the_undecided_gauge() {
    let c = cluster(&[NS]).await;
    let client = controller_identity(&c, SA).await;
    backup_run(&c.admin, NS, "waiting-1", 3600).await;
    backup_run(&c.admin, NS, "waiting-2", 3600).await;
    let metrics = Arc::new(Metrics::default());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(reconciler::run(
        client,
        settings("test-0"),
        metrics.clone(),
        Hooks::default(),
        async move {
            let _ = rx.await;
        },
    ));
    until("two stale runs without evidence", &metrics, 2).await;
    let api: Api<OperationRun> = Api::namespaced(c.admin.clone(), NS);
    api.delete("waiting-1", &DeleteParams::default())
        .await
        .expect("run deleted");
    until("one run deleted", &metrics, 1).await;
    let _ = tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
}
