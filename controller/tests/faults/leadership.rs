//! Two replicas on one Lease: the leader killed (SIGKILL) or frozen (SIGSTOP) past its Lease
//! in the middle of a burst of decisions, with the standby running. The standby takes over
//! within 17 s (a 15 s Lease plus a 2 s retry), and a frozen leader that wakes up writes
//! nothing that contradicts the new leader.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use testenv::faults::{Signal, signal};

use crate::audit::{self, Write};
use crate::harness::{Pod, Stage, user};
use crate::report::{Ending, finish};
use crate::{SERIAL, fleet_under_way, leader, sleep_until};

/// The most a standby may take, from the leader's death to its own first write.
const TAKEOVER_WITHIN: Duration = Duration::from_secs(17);

/// Waits until `pod` holds the Lease; returns when it was seen holding it.
async fn taken_by(stage: &Stage, pod: &str, within: Duration) -> (Instant, Timestamp) {
    stage.wait_leader(pod, within).await;
    (Instant::now(), Timestamp::now())
}

fn seconds(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64()
}

/// Writes of `who` answered after `after`: (accepted, refused with 409, other).
fn writes_of(writes: &[Write], who: &str, after: Timestamp) -> (usize, usize, usize) {
    let mine: Vec<&Write> = writes
        .iter()
        .filter(|w| w.user == who && w.done > after)
        .collect();
    (
        mine.iter().filter(|w| w.accepted()).count(),
        mine.iter().filter(|w| w.code == 409).count(),
        mine.iter()
            .filter(|w| !w.accepted() && w.code != 409)
            .count(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_mid_burst_and_the_standby_takes_over() {
    let _serial = SERIAL.lock().await;
    let began = Instant::now();
    let stage = Stage::new("leaderkill", false).await;
    let mut a = leader(&stage, "ctrl-a", false).await;
    let standby = stage.identity("ctrl-b", false).await;
    let mut b = Pod::start("ctrl-b-0", &standby, &stage.logs).await;
    assert_eq!(
        stage.lease_holder().await.as_deref(),
        Some("ctrl-a-0"),
        "the standby waits"
    );
    let (fleet, workers, stale_at) = fleet_under_way(&stage, "s5k").await;

    sleep_until(stale_at + SignedDuration::from_millis(1200)).await;
    let killed = Timestamp::now();
    signal(a.pid().expect("the leader runs"), Signal::Kill).expect("SIGKILL");
    // the node is gone: nothing starts the old leader again
    let (fault_over, acquired) = taken_by(&stage, "ctrl-b-0", Duration::from_secs(40)).await;

    let out = finish(
        &stage,
        &mut [&mut b],
        Ending {
            name: "leader SIGKILL",
            fault: "leader SIGKILLed mid-burst; the standby takes the Lease".into(),
            fleet: &fleet,
            dynamic: BTreeSet::new(),
            faults: vec![(killed, acquired)],
            api_server_killed: false,
            users: vec![user("ctrl-a"), user("ctrl-b")],
            fault_over,
            began,
        },
    )
    .await;
    workers.stop().await;
    let first = audit::first_write(&out.writes, &user("ctrl-b"), killed)
        .expect("the standby wrote decisions after the leader died");
    let takeover = first.duration_since(killed).unsigned_abs();
    println!(
        "  takeover: Lease taken {:.1} s after the kill, first write {:.1} s after; \
         {} decisions written by the old leader before its death, {} by the new one",
        seconds(killed, acquired),
        takeover.as_secs_f64(),
        audit_count(&out.writes, &user("ctrl-a")),
        audit_count(&out.writes, &user("ctrl-b"))
    );
    assert!(
        takeover <= TAKEOVER_WITHIN,
        "the standby's first write came {takeover:?} after the leader's death (at most {TAKEOVER_WITHIN:?})"
    );
    out.check();
    a.stop().await;
    b.stop().await;
    stage.clean();
}

fn audit_count(writes: &[Write], who: &str) -> usize {
    writes
        .iter()
        .filter(|w| w.user == who && w.accepted())
        .count()
}

/// On waking, a leader frozen past its renew deadline must not send a write at all: the
/// writes it had prepared before the freeze carry old resourceVersions and another
/// `Reconciled=True` (another lastTransitionTime) than the one the new leader wrote. The
/// controller checks its renew deadline right before every write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_frozen_past_its_lease_then_resumed() {
    let _serial = SERIAL.lock().await;
    let began = Instant::now();
    let stage = Stage::new("leaderfreeze", false).await;
    let mut a = leader(&stage, "ctrl-a", false).await;
    let standby = stage.identity("ctrl-b", false).await;
    let mut b = Pod::start("ctrl-b-0", &standby, &stage.logs).await;
    let (fleet, workers, stale_at) = fleet_under_way(&stage, "s5f").await;

    sleep_until(stale_at + SignedDuration::from_millis(1200)).await;
    let frozen = Timestamp::now();
    let pid = a.pid().expect("the leader runs");
    signal(pid, Signal::Stop).expect("SIGSTOP");
    let (_, acquired) = taken_by(&stage, "ctrl-b-0", Duration::from_secs(40)).await;
    // the new leader decides for a while; then the old one wakes up, 20 s or more after
    // it froze, with its decisions half made
    sleep_until(
        (acquired + SignedDuration::from_secs(3)).max(frozen + SignedDuration::from_secs(20)),
    )
    .await;
    let resumed = Timestamp::now();
    let resumed_at = Instant::now();
    signal(pid, Signal::Cont).expect("SIGCONT");
    // it finds its Lease gone (or its renew deadline long past) and stops deciding
    while a.leading().await {
        assert!(
            resumed_at.elapsed() < Duration::from_secs(10),
            "the resumed leader still leads 10 s after waking up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stepped_down = resumed_at.elapsed();
    // what it might still write, it writes now
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fault_over = Instant::now();

    let out = finish(
        &stage,
        &mut [&mut a, &mut b],
        Ending {
            name: "leader SIGSTOP",
            fault: format!(
                "leader frozen (SIGSTOP) mid-burst for {:.0} s, past its 15 s Lease, then resumed (SIGCONT)",
                seconds(frozen, resumed)
            ),
            fleet: &fleet,
            dynamic: BTreeSet::new(),
            faults: vec![(frozen, resumed + SignedDuration::from_secs(5))],
            api_server_killed: false,
            users: vec![user("ctrl-a"), user("ctrl-b")],
            fault_over,
            began,
        },
    )
    .await;
    workers.stop().await;
    let first = audit::first_write(&out.writes, &user("ctrl-b"), frozen)
        .expect("the standby wrote decisions after the leader froze");
    let takeover = first.duration_since(frozen).unsigned_abs();
    let (late_ok, late_conflicts, late_other) = writes_of(&out.writes, &user("ctrl-a"), resumed);
    println!(
        "  takeover: Lease taken {:.1} s after the freeze, first write {:.1} s after; the old \
         leader stopped leading {:.2} s after it woke up, having sent {late_ok} accepted \
         writes, {late_conflicts} refused with 409 and {late_other} that failed otherwise (a \
         request canceled as the process exits is answered 504); it was started again {} times \
         (a standby then)",
        seconds(frozen, acquired),
        takeover.as_secs_f64(),
        stepped_down.as_secs_f64(),
        a.restarts
    );
    assert!(
        takeover <= TAKEOVER_WITHIN,
        "the standby's first write came {takeover:?} after the leader froze (at most {TAKEOVER_WITHIN:?})"
    );
    assert_eq!(
        stage.lease_holder().await.as_deref(),
        Some("ctrl-b-0"),
        "the resumed leader does not take the Lease back"
    );
    out.check();
    a.stop().await;
    b.stop().await;
    stage.clean();
}
