//! A heartbeat storm: workers heartbeating every 100 ms on runs whose heartbeat timeout is
//! 2 s, falling silent now and then for 1.5 to 3 s, so that the runs cross the edge of
//! staleness back and forth while the controller decides them. Heartbeats land between
//! decisions and their writes: conflicts, looks again, and no final verdict ever changes.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::fleet::{self, Plan, Role, Workers};
use crate::harness::{Stage, user};
use crate::report::{Ending, finish};
use crate::{SERIAL, fleet_of, leader};

/// Runs at the edge of staleness.
const EDGE: usize = 20;
/// How long the storm lasts.
const STORM: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_storm_at_the_edge_of_staleness() {
    let _serial = SERIAL.lock().await;
    let began = Instant::now();
    let stage = Stage::new("storm", false).await;
    let mut pod = leader(&stage, "ctrl-a", false).await;
    let (fleet, workers, _) = fleet_of(&stage, |t| Plan {
        copies: 8,
        edge: EDGE,
        ..Plan::new("s7", t)
    })
    .await;
    let edge = fleet.with_role(Role::Edge);

    let from = Timestamp::now();
    let storm = Workers::with_pauses(
        &stage.admin,
        edge.clone(),
        Duration::from_millis(100),
        Some((Duration::from_secs(3), Duration::from_millis(1500))),
    );
    tokio::time::sleep(STORM).await;
    let (beats, failed) = storm.stop().await;
    // the end: a third of the workers report their runs Completed, the others fall silent
    // for good (their runs go stale 2 s later and are decided)
    fleet::complete_runs(&stage.admin, &edge[..EDGE / 3]).await;
    let to = Timestamp::now();
    let fault_over = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let dynamic: BTreeSet<_> = edge.iter().cloned().collect();
    let out = finish(
        &stage,
        &mut [&mut pod],
        Ending {
            name: "heartbeat storm",
            fault: format!(
                "{EDGE} runs with a 2 s heartbeat timeout heartbeated every 100 ms for {} s, \
                 their workers silent 1.5 to 3 s after every 3 s",
                STORM.as_secs()
            ),
            fleet: &fleet,
            dynamic: dynamic.clone(),
            faults: vec![(from, to)],
            api_server_killed: false,
            users: vec![user("ctrl-a")],
            fault_over,
            began,
        },
    )
    .await;
    workers.stop().await;
    let on_edge: Vec<_> = out
        .writes
        .iter()
        .filter(|w| dynamic.contains(&w.key))
        .collect();
    let became_stale = on_edge
        .iter()
        .filter(|w| w.accepted())
        .filter(|w| {
            w.verdicts
                .iter()
                .any(|c| c["type"] == "Stale" && c["status"] == "True")
        })
        .count();
    let resumed = on_edge
        .iter()
        .filter(|w| w.accepted())
        .filter(|w| {
            w.verdicts
                .iter()
                .any(|c| c["type"] == "Stale" && c["reason"] == "Resumed")
        })
        .count();
    let finals = out
        .end
        .held
        .iter()
        .filter(|(k, _)| dynamic.contains(*k))
        .filter(|(_, c)| {
            c.iter()
                .any(|c| c["type"] == "Reconciled" && c["status"] == "True")
        })
        .count();
    println!(
        "  storm: {beats} heartbeats ({failed} failed); on the edge runs {} status writes \
         ({} refused with 409), {became_stale} writes of Stale=True, {resumed} of Resumed; \
         {finals} of {EDGE} end with a final verdict",
        on_edge.len(),
        on_edge.iter().filter(|w| w.code == 409).count()
    );
    assert!(
        became_stale > EDGE,
        "the storm's runs crossed the edge of staleness only {became_stale} times"
    );
    out.check();
    pod.stop().await;
    stage.clean();
}
