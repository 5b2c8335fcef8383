//! Faults injected into a real control plane while the controller decides a few hundred
//! stale runs of every family (docs/reliability.md): kube-apiserver and etcd killed and
//! restarted, watches expired by an etcd compaction, connection faults through a TCP fault
//! proxy, a leader killed or frozen with a standby running, a stale view of the artifacts,
//! and a heartbeat storm; and gray failures, where something goes on half-working: hung
//! connections, CRDs without `selectableFields`, replicas whose clocks disagree by minutes,
//! status writes refused with 403, and an artifact kind the controller cannot list. After
//! each fault every run must hold what `evaluate` gives for what the cluster then holds,
//! every status write in the audit log must be explained, and no `Reconciled=True` may ever
//! change.
//!
//! Scenarios run one at a time (they share 2 cores with the control plane); each prints a
//! `FAULTS |` line with what it measured:
//!
//! ```sh
//! cargo test -p operationrun-controller --test faults -- --nocapture
//! ```

#[path = "faults/audit.rs"]
mod audit;
#[path = "faults/clocks.rs"]
mod clocks;
#[path = "faults/connection.rs"]
mod connection;
#[path = "faults/fleet.rs"]
mod fleet;
#[path = "faults/gray.rs"]
mod gray;
#[path = "faults/harness.rs"]
mod harness;
#[path = "faults/leadership.rs"]
mod leadership;
#[path = "faults/refusals.rs"]
mod refusals;
#[path = "faults/report.rs"]
mod report;
#[path = "faults/storm.rs"]
mod storm;
#[path = "faults/verdicts.rs"]
mod verdicts;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use testenv::faults::Component;

use fleet::{Fleet, Plan, Workers};
use harness::{Pod, Stage, user};
use report::{Ending, finish};

/// One scenario at a time: each runs a control plane and controllers on the same 2 cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Time given to create a fleet before its stuck runs go stale.
const SETUP: SignedDuration = SignedDuration::from_secs(8);

async fn sleep_until(t: Timestamp) {
    let wait = t.duration_since(Timestamp::now());
    if wait.is_positive() {
        tokio::time::sleep(wait.unsigned_abs()).await;
    }
}

/// Starts one controller replica acting as ServiceAccount `sa`, and waits until it leads.
async fn leader(stage: &Stage, sa: &str, via_proxy: bool) -> Pod {
    let kubeconfig = stage.identity(sa, via_proxy).await;
    let name = format!("{sa}-0");
    let pod = Pod::start(&name, &kubeconfig, &stage.logs).await;
    stage.wait_leader(&name, Duration::from_secs(30)).await;
    pod
}

/// Creates the fleet, starts its workers, and says how long that took.
async fn fleet_under_way(stage: &Stage, prefix: &'static str) -> (Fleet, Workers, Timestamp) {
    fleet_of(stage, |stale_at| Plan::new(prefix, stale_at)).await
}

/// Creates the fleet `plan` gives for a time [`SETUP`] from now, and starts the workers of
/// its live runs.
async fn fleet_of(
    stage: &Stage,
    plan: impl FnOnce(Timestamp) -> Plan,
) -> (Fleet, Workers, Timestamp) {
    let began = Instant::now();
    let stale_at = Timestamp::now() + SETUP;
    let fleet = fleet::create(&stage.admin, plan(stale_at)).await;
    let workers = Workers::start(&stage.admin, fleet.live(), Duration::from_secs(2));
    let spare = stale_at.duration_since(Timestamp::now());
    println!(
        "  {} runs created in {:.1} s; the stuck ones go stale in {:.1} s",
        fleet.members.len(),
        began.elapsed().as_secs_f64(),
        spare.as_secs_f64()
    );
    (fleet, workers, stale_at)
}

/// Accepted status writes answered before `t`.
fn written_before(writes: &[audit::Write], t: Timestamp) -> usize {
    writes.iter().filter(|w| w.accepted() && w.done < t).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_server_killed_mid_burst_and_restarted() {
    let _serial = SERIAL.lock().await;
    let began = Instant::now();
    let mut stage = Stage::new("apiserver", false).await;
    let mut pod = leader(&stage, "ctrl-a", false).await;
    let (fleet, workers, stale_at) = fleet_under_way(&stage, "s1").await;

    // the stuck runs are decided from stale_at + 1 s: kill the API server in that burst
    sleep_until(stale_at + SignedDuration::from_millis(1500)).await;
    let from = Timestamp::now();
    let stopped = stage
        .cp
        .kill(Component::ApiServer)
        .expect("kube-apiserver killed");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let took = stage
        .cp
        .restart(stopped)
        .await
        .expect("kube-apiserver starts again");
    let to = Timestamp::now();
    let fault_over = Instant::now();
    println!(
        "  kube-apiserver down {:.1} s (ready {:.1} s after its start)",
        to.duration_since(from).as_secs_f64(),
        took.as_secs_f64()
    );

    let out = finish(
        &stage,
        &mut [&mut pod],
        Ending {
            name: "kube-apiserver SIGKILL",
            fault: "kube-apiserver SIGKILLed mid-burst, started again on the same etcd 3 s later"
                .into(),
            fleet: &fleet,
            dynamic: BTreeSet::new(),
            faults: vec![(from, to)],
            api_server_killed: true,
            users: vec![user("ctrl-a")],
            fault_over,
            began,
        },
    )
    .await;
    let (beats, failed) = workers.stop().await;
    println!(
        "  {} decisions written before the kill, {} after; heartbeats {beats} sent, {failed} failed",
        written_before(&out.writes, from),
        out.ledger.accepted - written_before(&out.writes, from)
    );
    out.check();
    pod.stop().await;
    stage.clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_killed_mid_burst_and_restarted() {
    let _serial = SERIAL.lock().await;
    let began = Instant::now();
    let mut stage = Stage::new("etcd", false).await;
    let mut pod = leader(&stage, "ctrl-a", false).await;
    let (fleet, workers, stale_at) = fleet_under_way(&stage, "s2").await;

    sleep_until(stale_at + SignedDuration::from_millis(1500)).await;
    let from = Timestamp::now();
    let stopped = stage.cp.kill(Component::Etcd).expect("etcd killed");
    tokio::time::sleep(Duration::from_secs(5)).await;
    stage
        .cp
        .restart(stopped)
        .await
        .expect("etcd starts again on its data");
    let to = Timestamp::now();
    let fault_over = Instant::now();

    let out = finish(
        &stage,
        &mut [&mut pod],
        Ending {
            name: "etcd SIGKILL",
            fault: "etcd SIGKILLed mid-burst, started again on its data directory 5 s later".into(),
            fleet: &fleet,
            dynamic: BTreeSet::new(),
            // requests the API server was holding for etcd fail up to its timeout later
            faults: vec![(from, to + SignedDuration::from_secs(1))],
            api_server_killed: false,
            users: vec![user("ctrl-a")],
            fault_over,
            began,
        },
    )
    .await;
    let (beats, failed) = workers.stop().await;
    println!(
        "  {} decisions written before the kill, {} after; heartbeats {beats} sent, {failed} failed",
        written_before(&out.writes, from),
        out.ledger.accepted - written_before(&out.writes, from)
    );
    out.check();
    pod.stop().await;
    stage.clean();
}

/// Runs of `fleet` in `cases`.
fn of_cases<'a>(
    fleet: &'a Fleet,
    cases: &'a [fleet::Case],
) -> impl Iterator<Item = &'a fleet::Member> + 'a {
    fleet
        .members
        .iter()
        .filter(move |m| matches!(m.role, fleet::Role::Stale(c) if cases.contains(&c)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_expired_by_an_etcd_compaction_relist() {
    let _serial = SERIAL.lock().await;
    let began = Instant::now();
    let mut stage = Stage::new("compaction", true).await;
    // with its watch cache, kube-apiserver keeps recent events past a compaction and
    // resumes a watch from them; without it, watches are served by etcd itself, and a
    // compaction past a watcher's resourceVersion expires it (410 Gone)
    let stopped = stage
        .cp
        .kill(Component::ApiServer)
        .expect("kube-apiserver stopped");
    stage
        .cp
        .restart_with(stopped, &["--watch-cache=false"])
        .await
        .expect("kube-apiserver without a watch cache");
    let mut pod = leader(&stage, "ctrl-a", true).await;
    let (mut fleet, workers, stale_at) = fleet_under_way(&stage, "s3").await;
    sleep_until(stale_at + SignedDuration::from_secs(1)).await;
    verdicts::converge(&stage.admin, &mut [&mut pod], report::CONVERGE_WITHIN)
        .await
        .unwrap_or_else(|e| panic!("before the fault: {e}"));

    // the controller loses the API server (for less than its 10 s renew deadline, so that it
    // stays the leader and its watches resume); meanwhile evidence arrives for runs it
    // decided AwaitingEvidence and new stuck runs appear
    let from = Timestamp::now();
    let proxy = stage.toxiproxy();
    proxy
        .set_enabled(harness::PROXY, false)
        .await
        .expect("proxy disabled");
    let mut dynamic = BTreeSet::new();
    for m in of_cases(
        &fleet,
        &[fleet::Case::BackupNothing, fleet::Case::BackupInProgress],
    ) {
        fleet::complete_backup(&stage.admin, m).await;
        dynamic.insert((m.namespace.clone(), m.name.clone()));
    }
    let late = fleet::create(
        &stage.admin,
        Plan {
            copies: 2,
            live: 0,
            completed: 0,
            ..Plan::new("s3-late", Timestamp::now())
        },
    )
    .await;
    let revision = stage.cp.etcd_revision().await.expect("etcd revision");
    stage
        .cp
        .compact_etcd(revision)
        .await
        .expect("etcd compacted");
    proxy
        .set_enabled(harness::PROXY, true)
        .await
        .expect("proxy enabled");
    let to = Timestamp::now();
    let fault_over = Instant::now();
    fleet.extend(late);

    let out = finish(
        &stage,
        &mut [&mut pod],
        Ending {
            name: "watch expiry (410 Gone)",
            fault: format!(
                "controller cut off {:.0} s while evidence and runs arrive; etcd compacted at revision {revision}",
                to.duration_since(from).as_secs_f64()
            ),
            fleet: &fleet,
            dynamic,
            faults: vec![(from, to)],
            api_server_killed: false,
            users: vec![user("ctrl-a")],
            fault_over,
            began,
        },
    )
    .await;
    workers.stop().await;
    let relisted: Vec<(&str, usize)> = ["operationruns", "backupsets", "baselinesnapshots"]
        .into_iter()
        .map(|r| (r, audit::relists(&out.events, &user("ctrl-a"), r, to)))
        .collect();
    let gone = pod.log().matches("code: 410").count();
    println!(
        "  re-lists after the fault: {relisted:?}; watch errors 410 in the controller log: {gone}"
    );
    assert_eq!(
        pod.restarts, 0,
        "the controller was started again, so its re-lists prove nothing about 410 Gone"
    );
    assert!(gone > 0, "no watch of the controller got 410 Gone");
    assert!(
        relisted.iter().all(|(_, n)| *n >= 1),
        "every watch re-lists after its resourceVersion was compacted: {relisted:?}"
    );
    out.check();
    pod.stop().await;
    stage.clean();
}
