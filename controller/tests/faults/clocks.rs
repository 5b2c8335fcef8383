//! Replicas whose wall clocks disagree by minutes (libfaketime, the monotonic clock left
//! alone): a standby five minutes ahead and one five minutes behind never take a Lease that
//! is being renewed; when the holder dies, a skewed standby takes over within the Lease; and
//! a holder whose clock steps back by ten minutes as it is cut off stops at its renew
//! deadline and writes nothing once another replica leads.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use testenv::clock::FakeClock;
use testenv::faults::{Signal, Toxic, signal};

use crate::fleet::{self, Plan};
use crate::harness::{LEASE, Pod, Stage, metric, user};
use crate::report::{CONVERGE_WITHIN, Ending, finish};
use crate::verdicts;
use crate::{SERIAL, leader};

/// How far the standbys' clocks are off: one ahead, one behind.
const SKEW: i64 = 300;
/// How far the new holder's clock steps back as it is cut off.
const STEP_BACK: i64 = 600;
/// The controller's Lease timings (its defaults).
const LEASE_DURATION: Duration = Duration::from_secs(15);
const RETRY: Duration = Duration::from_secs(2);
const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// A standby counts the Lease's expiry from when it itself last saw the record change, which
/// it sees at its next look, up to one retry period after the renewal; it looks again right
/// when the Lease expires. So the Lease plus one retry, and 0.5 s for the requests.
const TAKEOVER_WITHIN: Duration = LEASE_DURATION
    .saturating_add(RETRY)
    .saturating_add(Duration::from_millis(500));
/// How long after its last renewal a cut-off holder may still say it leads: its renew
/// deadline, plus a retry period for the check and the test's polling.
const STOP_WITHIN: Duration = RENEW_DEADLINE.saturating_add(RETRY);

/// A replica with a fake wall clock, reaching the API server through a proxy of its own.
struct Skewed {
    pod: Pod,
    clock: FakeClock,
    proxy: String,
    user: String,
}

async fn skewed(stage: &Stage, sa: &str, offset: i64) -> Skewed {
    let listen = stage.add_proxy(sa).await;
    let kubeconfig = stage.identity_with(sa, Some(listen), &[], |_| {}).await;
    let clock = FakeClock::new(&stage.logs.join(format!("{sa}.clock")), offset)
        .unwrap_or_else(|e| panic!("{e}"));
    let pod = Pod::start_with(&format!("{sa}-0"), &kubeconfig, &stage.logs, |l| {
        clock.apply(l)
    })
    .await;
    Skewed {
        pod,
        clock,
        proxy: sa.to_string(),
        user: user(sa),
    }
}

/// One write of the Lease, from the audit log.
#[derive(Clone, Debug)]
struct LeaseWrite {
    user: String,
    code: u64,
    received: Timestamp,
    done: Timestamp,
    holder: String,
}

fn lease_writes(events: &[Value]) -> Vec<LeaseWrite> {
    let time = |e: &Value, f: &str| e[f].as_str().and_then(|t| t.parse::<Timestamp>().ok());
    let mut out: Vec<LeaseWrite> = events
        .iter()
        .filter(|e| {
            e["stage"] == "ResponseComplete"
                && e["objectRef"]["resource"] == "leases"
                && e["objectRef"]["name"] == LEASE
                && matches!(e["verb"].as_str(), Some("update" | "create" | "patch"))
        })
        .filter_map(|e| {
            Some(LeaseWrite {
                user: e["user"]["username"].as_str()?.to_string(),
                code: e["responseStatus"]["code"].as_u64().unwrap_or(0),
                received: time(e, "requestReceivedTimestamp")?,
                done: time(e, "stageTimestamp")?,
                holder: e["requestObject"]["spec"]["holderIdentity"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            })
        })
        .collect();
    out.sort_by_key(|w| w.done);
    out
}

fn accepted(w: &LeaseWrite) -> bool {
    (200..300).contains(&w.code)
}

/// The audit log, once it holds what was answered until now.
async fn audit(stage: &Stage) -> Vec<Value> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    stage.cp.audit_events().expect("the audit log reads")
}

/// Stuck runs stale for three hours (and the usual abandoned ones, silent for two days):
/// stale under any of the replicas' clocks.
async fn stuck(stage: &Stage, prefix: &'static str, live: usize) -> fleet::Fleet {
    fleet::create(
        &stage.admin,
        Plan {
            copies: 1,
            live,
            completed: if live > 0 { 2 } else { 0 },
            // fresh under a clock minutes ahead: an hour without a heartbeat allowed
            live_timeout: 3600,
            // a leader that sees a run written takes it for alive a heartbeat timeout long
            stale_after: 2,
            ..Plan::new(prefix, Timestamp::now() - SignedDuration::from_hours(3))
        },
    )
    .await
}

fn toxics() -> Vec<Toxic> {
    ["upstream", "downstream"]
        .into_iter()
        .map(|s| Toxic::new(&format!("cut-{s}"), "timeout", s, json!({"timeout": 0})))
        .collect()
}

fn secs(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skewed_clocks_neither_steal_nor_keep_the_lease() {
    let _serial = SERIAL.lock().await;
    let began = Instant::now();
    let stage = Stage::new("clocks", true).await;
    let mut a = leader(&stage, "ctrl-a", false).await;
    let ahead = skewed(&stage, "ctrl-b", SKEW).await;
    let behind = skewed(&stage, "ctrl-c", -SKEW).await;
    let mut fleet = stuck(&stage, "c1", 6).await;
    let workers = fleet::Workers::start(&stage.admin, fleet.live(), Duration::from_secs(2));

    // 1. the holder renews; the skewed standbys watch it for longer than a Lease
    let watched_from = Timestamp::now();
    let watch = LEASE_DURATION + Duration::from_secs(5);
    let until = Instant::now() + watch;
    while Instant::now() < until {
        // (None: the admin's read failed, which says nothing about the holder)
        if let Some(holder) = stage.lease_holder().await {
            assert_eq!(
                holder, "ctrl-a-0",
                "a standby whose clock is {SKEW} s off took a Lease that was being renewed"
            );
        }
        for s in [&ahead, &behind] {
            if let Some(m) = s.pod.metrics().await {
                assert_eq!(
                    metric(&m, "operationrun_leader", &[]),
                    0.0,
                    "{} (clock {:+} s) says it leads while ctrl-a-0 holds the Lease",
                    s.pod.name,
                    s.clock.offset()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let events = audit(&stage).await;
    let stolen: Vec<LeaseWrite> = lease_writes(&events)
        .into_iter()
        .filter(|w| w.user != user("ctrl-a") && accepted(w))
        .collect();
    assert!(
        stolen.is_empty(),
        "skewed standbys wrote the Lease while it was renewed: {stolen:?}"
    );

    // 2. the holder dies; a skewed standby takes over, and decides the runs that arrive
    let killed = Timestamp::now();
    signal(a.pid().expect("ctrl-a runs"), Signal::Kill).expect("SIGKILL");
    fleet.extend(stuck(&stage, "c2", 0).await);
    let deadline = Instant::now() + Duration::from_secs(40);
    let winner = loop {
        match stage.lease_holder().await.as_deref() {
            Some("ctrl-b-0") => break "ctrl-b-0",
            Some("ctrl-c-0") => break "ctrl-c-0",
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "no standby took the Lease within 40 s of the holder's death"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (mut holder, mut standby) = if winner == "ctrl-b-0" {
        (ahead, behind)
    } else {
        (behind, ahead)
    };
    let events = audit(&stage).await;
    let writes = lease_writes(&events);
    let last_a = writes
        .iter()
        .filter(|w| w.user == user("ctrl-a") && accepted(w))
        .map(|w| w.done)
        .max()
        .expect("ctrl-a renewed the Lease");
    let taken = writes
        .iter()
        .find(|w| w.user == holder.user && accepted(w) && w.holder == holder.pod.name)
        .map(|w| w.done)
        .expect("the new holder's write of the Lease is in the audit log");
    let takeover = taken.duration_since(last_a).unsigned_abs();
    verdicts::converge(
        &stage.admin,
        &mut [&mut holder.pod, &mut standby.pod],
        CONVERGE_WITHIN,
    )
    .await
    .unwrap_or_else(|e| panic!("after the takeover: {e}"));
    // it renews in its own frame for a few periods, the other one watching
    tokio::time::sleep(RETRY * 2).await;

    // 3. the holder's clock steps back ten minutes as its connection hangs: it must stop at
    // its renew deadline, counted on its monotonic clock
    let proxy = stage.toxiproxy();
    let cut = Timestamp::now();
    for t in toxics() {
        proxy
            .add_toxic(&holder.proxy, &t)
            .await
            .unwrap_or_else(|e| panic!("cutting {} off: {e}", holder.pod.name));
    }
    let offset = holder.clock.offset() - STEP_BACK;
    holder.clock.set(offset).unwrap_or_else(|e| panic!("{e}"));
    fleet.extend(stuck(&stage, "c3", 0).await);
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut stopped = None;
    let mut moved = None;
    while stopped.is_none() || moved.is_none() {
        if stopped.is_none()
            && holder
                .pod
                .metrics()
                .await
                .is_some_and(|m| metric(&m, "operationrun_leader", &[]) == 0.0)
        {
            stopped = Some(Timestamp::now());
        }
        if moved.is_none() && stage.lease_holder().await.as_deref() == Some(&standby.pod.name) {
            moved = Some(Timestamp::now());
        }
        assert!(
            Instant::now() < deadline,
            "40 s after the cut: {} still says it leads: {}; {} holds the Lease: {}",
            holder.pod.name,
            stopped.is_none(),
            standby.pod.name,
            moved.is_some()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stopped = stopped.unwrap_or(cut);
    tokio::time::sleep(RETRY).await;
    for t in toxics() {
        proxy
            .remove_toxic(&holder.proxy, &t.name)
            .await
            .unwrap_or_else(|e| panic!("healing {}: {e}", holder.pod.name));
    }
    let healed = Timestamp::now();
    let fault_over = Instant::now();
    // reconnected, it campaigns again as a standby with its clock fifteen (or five) minutes
    // off, while the new holder renews and decides
    tokio::time::sleep(Duration::from_secs(5)).await;
    let still = holder
        .pod
        .metrics()
        .await
        .map(|m| metric(&m, "operationrun_leader", &[]));

    let out = finish(
        &stage,
        &mut [&mut holder.pod, &mut standby.pod],
        Ending {
            name: "skewed clocks",
            fault: format!(
                "replicas {SKEW} s ahead and {SKEW} s behind the holder's clock; the holder \
                 SIGKILLed; the new holder's clock stepped back {STEP_BACK} s as it was cut off"
            ),
            fleet: &fleet,
            dynamic: BTreeSet::new(),
            faults: vec![
                (killed, taken),
                (cut, healed + SignedDuration::from_secs(5)),
            ],
            api_server_killed: false,
            users: vec![user("ctrl-a"), user("ctrl-b"), user("ctrl-c")],
            fault_over,
            began,
        },
    )
    .await;
    workers.stop().await;
    let writes = lease_writes(&out.events);
    let last_renewal = writes
        .iter()
        .filter(|w| w.user == holder.user && accepted(w) && w.done < cut)
        .max_by_key(|w| w.done)
        .cloned()
        .expect("the cut-off holder renewed before the cut");
    let taken_back = writes
        .iter()
        .find(|w| w.user == standby.user && accepted(w) && w.done > cut)
        .map(|w| w.done)
        .expect("the standby's takeover is in the audit log");
    let stop_after = stopped.duration_since(last_renewal.received).unsigned_abs();
    let second_takeover = taken_back.duration_since(last_renewal.done).unsigned_abs();
    let late_lease: Vec<&LeaseWrite> = writes
        .iter()
        .filter(|w| w.user == holder.user && accepted(w) && w.done > taken_back)
        .collect();
    let late_status = out
        .writes
        .iter()
        .filter(|w| w.user == holder.user && w.received > taken_back)
        .count();
    let late_other: Vec<String> = out
        .events
        .iter()
        .filter(|e| {
            e["stage"] == "ResponseComplete"
                && e["user"]["username"] == holder.user.as_str()
                && !matches!(e["verb"].as_str(), Some("get" | "list" | "watch"))
                && e["requestReceivedTimestamp"]
                    .as_str()
                    .and_then(|t| t.parse::<Timestamp>().ok())
                    .is_some_and(|t| t > taken_back)
        })
        .map(|e| {
            format!(
                "{} {} {}",
                e["verb"], e["requestURI"], e["responseStatus"]["code"]
            )
        })
        .collect();
    println!(
        "  skewed clocks: over {:.0} s the standbys ({SKEW:+} s and {:+} s) never took the \
         renewed Lease; after the SIGKILL {} ({:+} s) took it {:.1} s after the last renewal \
         ({:.1} s after the kill; at most {:.1} s); cut off with its clock stepped to {:+} s, \
         it stopped leading {:.1} s after the start of its last renewal (renew deadline {} s), \
         {} ({:+} s) took the Lease {:.1} s after that renewal; the old holder sent {} status \
         writes, {} accepted Lease writes and {:?} other writes after that, still leads: {:?}, \
         restarts {}",
        secs(watched_from, killed),
        -SKEW,
        holder.pod.name,
        offset + STEP_BACK,
        takeover.as_secs_f64(),
        secs(killed, taken),
        TAKEOVER_WITHIN.as_secs_f64(),
        offset,
        stop_after.as_secs_f64(),
        RENEW_DEADLINE.as_secs(),
        standby.pod.name,
        standby.clock.offset(),
        second_takeover.as_secs_f64(),
        late_status,
        late_lease.len(),
        late_other,
        still,
        holder.pod.restarts,
    );
    out.check();
    assert!(
        takeover <= TAKEOVER_WITHIN,
        "{} took the dead holder's Lease {takeover:?} after its last renewal (at most {TAKEOVER_WITHIN:?})",
        holder.pod.name
    );
    assert!(
        second_takeover <= TAKEOVER_WITHIN,
        "{} took the cut-off holder's Lease {second_takeover:?} after its last renewal (at most {TAKEOVER_WITHIN:?})",
        standby.pod.name
    );
    assert!(
        stop_after <= STOP_WITHIN,
        "{} (clock stepped back {STEP_BACK} s) still said it led {stop_after:?} after the start \
         of its last renewal (renew deadline {RENEW_DEADLINE:?})",
        holder.pod.name
    );
    assert!(
        stopped < taken_back,
        "{} still said it led when {} took the Lease",
        holder.pod.name,
        standby.pod.name
    );
    assert_eq!(
        late_status, 0,
        "the old holder sent status writes after the standby took over"
    );
    assert!(
        late_lease.is_empty(),
        "the old holder wrote the Lease after the standby took over: {late_lease:?}"
    );
    assert_eq!(
        still,
        Some(0.0),
        "the old holder must be a standby after it reconnects"
    );
    for p in [&holder.pod, &standby.pod] {
        assert_eq!(
            p.restarts, 0,
            "{} exited (a lost Lease stops the controller in-process)",
            p.name
        );
    }
    a.stop().await;
    holder.pod.stop().await;
    standby.pod.stop().await;
    stage.clean();
}
