//! Leader election with its default timings against a real kube-apiserver: how soon a
//! standby takes over from a leader that dies, and that a leader cut off from the API server
//! stops at its renew deadline, before its Lease expires and a standby takes it.

mod support;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, DeleteParams};
use operationrun_controller::leader::{Elector, LeaderError, Timings};
use support::*;
use tokio::time::Instant;

const LEASE: &str = "operationrun-controller";

/// The Lease's holder and last `renewTime`.
async fn lease(c: &Cluster) -> (Option<String>, Option<Timestamp>) {
    let leases: Api<Lease> = Api::namespaced(c.admin.clone(), SYSTEM_NS);
    let spec = leases
        .get(LEASE)
        .await
        .expect("the Lease")
        .spec
        .unwrap_or_default();
    (spec.holder_identity, spec.renew_time.map(|t| t.0))
}

/// Starts `elector`'s `acquire` and resolves to the moment it returned.
fn acquiring(elector: &Arc<Elector>) -> tokio::task::JoinHandle<Instant> {
    let elector = elector.clone();
    tokio::spawn(async move {
        elector.acquire().await;
        Instant::now()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_in_time_and_a_cut_off_leader_stops_first() {
    let c = cluster(&[]).await;
    let a = controller_identity(&c, "controller-a").await;
    let b = controller_identity(&c, "controller-b").await;
    let timings = Timings::default();
    assert_eq!(timings.renew_deadline(), Duration::from_secs(10));

    // A leader that dies (no release): the standby takes over within the lease (15 s)
    // plus one retry (2 s) of the death, with some room for a loaded machine.
    let leader = Arc::new(Elector::new(a.clone(), SYSTEM_NS, LEASE, "a", timings));
    leader.acquire().await;
    let holding = {
        let leader = leader.clone();
        tokio::spawn(async move { leader.hold().await })
    };
    let standby = Arc::new(Elector::new(b.clone(), SYSTEM_NS, LEASE, "b", timings));
    let took = acquiring(&standby);
    tokio::time::sleep(Duration::from_millis(4500)).await;
    holding.abort();
    let died = Instant::now();
    let took = took.await.expect("the standby's acquire");
    let takeover = took - died;
    eprintln!(
        "LEADER | takeover {:.1} s after the leader died",
        takeover.as_secs_f64()
    );
    assert!(
        takeover >= Duration::from_secs(11) && takeover <= Duration::from_millis(17_500),
        "took over {takeover:?} after the leader died"
    );
    assert_eq!(lease(&c).await.0.as_deref(), Some("b"));
    standby.release().await;
    assert_eq!(lease(&c).await.0, None, "released");

    // A leader that can no longer renew (its Lease permissions are gone) stops acting at its
    // renew deadline, 10 s after its last renewal, while a standby only takes the Lease 15 s
    // after it.
    let leader = Arc::new(Elector::new(a, SYSTEM_NS, LEASE, "a", timings));
    leader.acquire().await;
    let holding = {
        let leader = leader.clone();
        tokio::spawn(async move {
            let why = leader.hold().await;
            (Timestamp::now(), Instant::now(), why)
        })
    };
    let standby = Arc::new(Elector::new(b, SYSTEM_NS, LEASE, "b", timings));
    let took = acquiring(&standby);
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let bindings: Api<RoleBinding> = Api::namespaced(c.admin.clone(), SYSTEM_NS);
    bindings
        .delete("controller-a-leader-election", &DeleteParams::default())
        .await
        .expect("the leader's RoleBinding deleted");
    let (stopped_at, stopped, why) = holding.await.expect("the leader's hold");
    assert!(matches!(why, LeaderError::Expired(..)), "{why}");
    let (holder, renewed) = lease(&c).await;
    assert_eq!(holder.as_deref(), Some("a"), "nobody took the Lease yet");
    let renewed = renewed.expect("renewTime");
    let acted = stopped_at.duration_since(renewed);
    let took = took.await.expect("the standby's acquire");
    let gap = took - stopped;
    eprintln!(
        "LEADER | cut off: stopped {:.1} s after its last renewal; the standby took over {:.1} s later",
        acted.as_secs_f64(),
        gap.as_secs_f64()
    );
    assert!(
        acted.as_secs_f64() >= 9.9 && acted.as_secs_f64() <= 10.5,
        "stopped {acted:?} after its last renewal"
    );
    assert!(
        gap >= Duration::from_secs(4),
        "the standby took over {gap:?} after the old leader stopped"
    );
    assert_eq!(lease(&c).await.0.as_deref(), Some("b"));
}
