//! Faults between the controller and the API server, through toxiproxy: latency, connection
//! resets and a blackhole longer than the Lease while runs go stale; and a stale view, the
//! controller's watch events held back while a second claim is written.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use testenv::faults::Toxic;

use crate::fleet::{self, Case, Fleet, Plan};
use crate::harness::{PROXY, Stage, user};
use crate::report::{Ending, finish};
use crate::{SERIAL, fleet_of, leader, sleep_until};

/// `kind` on both streams of every connection through the proxy.
pub(crate) fn toxics(kind: &str, attributes: Value) -> Vec<Toxic> {
    ["upstream", "downstream"]
        .into_iter()
        .map(|stream| {
            Toxic::new(
                &format!("{kind}-{stream}"),
                kind,
                stream,
                attributes.clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_resets_and_a_blackhole_longer_than_the_lease() {
    let _serial = SERIAL.lock().await;
    let began = Instant::now();
    let stage = Stage::new("connection", true).await;
    let mut pod = leader(&stage, "ctrl-a", true).await;
    let proxy = stage.toxiproxy();
    let mut fleet = Fleet::default();
    let mut faults = Vec::new();

    // each phase: its own 88 stuck runs go stale while the fault is on
    let phases: [(&str, &'static str, Vec<Toxic>, SignedDuration, Duration); 3] = [
        (
            "latency",
            "s4-lat",
            toxics("latency", json!({"latency": 300, "jitter": 200})),
            SignedDuration::from_secs(-1),
            Duration::from_secs(10),
        ),
        (
            "resets",
            "s4-rst",
            vec![Toxic::new(
                "reset-downstream",
                "reset_peer",
                "downstream",
                json!({"timeout": 500}),
            )],
            SignedDuration::from_secs(-1),
            Duration::from_secs(10),
        ),
        (
            "blackhole",
            "s4-bh",
            // data is dropped, and every connection is closed after 20 s (as a peer that
            // never answers is given up on)
            toxics("timeout", json!({"timeout": 20_000})),
            SignedDuration::from_secs(-1),
            Duration::from_secs(20),
        ),
    ];
    let mut workers = None;
    for (phase, prefix, toxics, start, hold) in phases {
        let (more, w, stale_at) = fleet_of(&stage, |t| Plan {
            copies: 4,
            live: if workers.is_none() { 20 } else { 0 },
            completed: if workers.is_none() { 10 } else { 0 },
            ..Plan::new(prefix, t)
        })
        .await;
        if workers.is_none() {
            workers = Some(w);
        } else {
            w.stop().await;
        }
        fleet.extend(more);
        sleep_until(stale_at + start).await;
        let from = Timestamp::now();
        for toxic in &toxics {
            proxy
                .add_toxic(PROXY, toxic)
                .await
                .unwrap_or_else(|e| panic!("adding {}: {e}", toxic.name));
        }
        tokio::time::sleep(hold).await;
        for toxic in &toxics {
            proxy
                .remove_toxic(PROXY, &toxic.name)
                .await
                .unwrap_or_else(|e| panic!("removing {}: {e}", toxic.name));
        }
        let to = Timestamp::now();
        let fault_over = Instant::now();
        faults.push((from, to));
        let restarts_before = pod.restarts;
        let described = match phase {
            "latency" => "300 ± 200 ms added each way for 10 s, from 1 s before the burst".into(),
            "resets" => {
                "every connection reset after 500 ms without data from the server, for 10 s".into()
            }
            _ => format!(
                "blackhole for {} s from 1 s before the burst (every byte dropped, connections closed at its end)",
                hold.as_secs()
            ),
        };
        let out = finish(
            &stage,
            &mut [&mut pod],
            Ending {
                name: &format!("connection: {phase}"),
                fault: described,
                fleet: &fleet,
                dynamic: BTreeSet::new(),
                faults: faults.clone(),
                api_server_killed: false,
                users: vec![user("ctrl-a")],
                fault_over,
                began,
            },
        )
        .await;
        println!(
            "  {phase}: the controller was started again {} times; {} decisions written during the fault",
            pod.restarts - restarts_before,
            out.writes
                .iter()
                .filter(|w| w.accepted() && w.done >= from && w.done <= to)
                .count()
        );
        out.check();
    }
    if let Some(w) = workers {
        w.stop().await;
    }
    pod.stop().await;
    stage.clean();
}

/// The value of `fieldSelector=` in a request URI, decoded.
fn field_selector(uri: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    let value = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("fieldSelector="))?;
    Some(value.replace("%3D", "=").replace("%2F", "/"))
}

/// Stale-view targets, written in waves of [`WAVE`] (the controller reconciles 4 runs at a
/// time; a wave it can take at once sees each first claim alone in its cache).
const TARGETS: usize = 32;
const WAVE: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_view_never_gives_succeeded_for_ambiguous_evidence() {
    let _serial = SERIAL.lock().await;
    let began = Instant::now();
    let stage = Stage::new("staleview", true).await;
    let mut pod = leader(&stage, "ctrl-a", true).await;
    let (mut fleet, workers, stale_at) = fleet_of(&stage, |t| Plan {
        copies: 8,
        ..Plan::new("s6", t)
    })
    .await;
    // runs stuck with one unfinished claim (AwaitingEvidence); it will be finished, and a
    // second complete claim will follow
    let targets = fleet::create(
        &stage.admin,
        Plan {
            copies: TARGETS,
            cases: &[Case::BackupInProgress],
            live: 0,
            completed: 0,
            ..Plan::new("s6-view", stale_at)
        },
    )
    .await;
    sleep_until(stale_at + SignedDuration::from_secs(1)).await;
    fleet.extend(targets.clone());
    crate::verdicts::converge(
        &stage.admin,
        &mut [&mut pod],
        crate::report::CONVERGE_WITHIN,
    )
    .await
    .unwrap_or_else(|e| panic!("before the fault: {e}"));

    // what the controller hears from the API server arrives 500 ms late; its requests do not
    let from = Timestamp::now();
    let lag = Toxic::new(
        "lag",
        "latency",
        "downstream",
        json!({"latency": 500, "jitter": 0}),
    );
    let proxy = stage.toxiproxy();
    proxy.add_toxic(PROXY, &lag).await.expect("latency added");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // the first claim finishes, complete; a second complete claim is created 100 ms later,
    // straight to the API server: when the first one's event reaches the controller, its
    // cache shows the first alone, and the second exists (so the truth is AmbiguousEvidence)
    for wave in targets.members.chunks(WAVE) {
        let admin = stage.admin.clone();
        futures::future::join_all(wave.iter().map(|m| {
            let admin = admin.clone();
            async move {
                fleet::complete_backup(&admin, m).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                fleet::claim(&admin, m, "b").await;
            }
        }))
        .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    // every second claim exists now: what the controller reads from here on shows it
    proxy
        .remove_toxic(PROXY, "lag")
        .await
        .expect("latency removed");
    let to = Timestamp::now();
    let fault_over = Instant::now();

    let dynamic: BTreeSet<_> = targets
        .members
        .iter()
        .map(|m| (m.namespace.clone(), m.name.clone()))
        .collect();
    let out = finish(
        &stage,
        &mut [&mut pod],
        Ending {
            name: "stale view",
            fault: format!(
                "{TARGETS} runs: their claim completes, a second one is created 100 ms later, while the controller hears 500 ms late",
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

    // per target, from the audit log: when its second claim was created, and when the
    // controller's confirming reads of its claims reached the API server
    let time = |e: &Value, field: &str| e[field].as_str().and_then(|t| t.parse::<Timestamp>().ok());
    let controller = user("ctrl-a");
    let mut second_claim = std::collections::BTreeMap::new();
    let mut reads: std::collections::BTreeMap<String, Vec<Timestamp>> = Default::default();
    for e in out
        .events
        .iter()
        .filter(|e| e["stage"] == "ResponseComplete" && e["objectRef"]["resource"] == "backupsets")
    {
        if e["verb"] == "create"
            && let Some(run) = e["objectRef"]["name"]
                .as_str()
                .and_then(|n| n.strip_suffix("-b"))
            && let Some(t) = time(e, "stageTimestamp")
        {
            second_claim.insert(run.to_string(), t);
        }
        if e["verb"] == "list"
            && e["user"]["username"] == controller.as_str()
            && let Some(run) = e["requestURI"]
                .as_str()
                .and_then(field_selector)
                .and_then(|s| {
                    s.strip_prefix("spec.operationRunRef.name=")
                        .map(String::from)
                })
            && let Some(t) = time(e, "requestReceivedTimestamp")
        {
            reads.entry(run).or_default().push(t);
        }
    }
    let mut stale_views = 0;
    let mut before_second = 0;
    for key in &dynamic {
        let name = &key.1;
        let Some(created) = second_claim.get(name) else {
            panic!("{}/{name}: its second claim is not in the audit log", key.0);
        };
        let read_after = reads
            .get(name)
            .is_some_and(|r| r.iter().any(|t| t > created));
        let succeeded: Vec<&crate::audit::Write> = out
            .writes
            .iter()
            .filter(|w| &w.key == key)
            .filter(|w| {
                w.reconciled
                    .as_ref()
                    .is_some_and(|r| r["reason"] == "Succeeded")
            })
            .collect();
        for w in &succeeded {
            // the read that confirmed it: the last one before the write
            let confirmed_by = reads
                .get(name)
                .and_then(|r| r.iter().filter(|t| **t < w.received).max().copied());
            assert!(
                confirmed_by.is_some_and(|t| t < *created),
                "{}/{name}: Succeeded written (answered {}) although its second claim existed \
                 (created {created}) before the read that confirmed it ({confirmed_by:?})",
                key.0,
                w.code
            );
        }
        if !succeeded.is_empty() {
            // decided before the second claim existed: a true answer at its time, final
            before_second += 1;
            continue;
        }
        let held = out.end.held.get(key).cloned().unwrap_or_default();
        assert!(
            held.iter()
                .any(|c| c["type"] == "Reconciled" && c["reason"] == "AmbiguousEvidence"),
            "{}/{name}: {held:?}",
            key.0
        );
        if read_after {
            stale_views += 1;
        }
    }
    println!(
        "  {stale_views} of {TARGETS} runs: the cache said Succeeded, the consistent read found the \
         second claim and AmbiguousEvidence was written; {before_second} decided before their \
         second claim existed"
    );
    assert!(
        stale_views >= TARGETS / 2,
        "the scenario gave the controller a stale view for only {stale_views} of {TARGETS} runs"
    );
    out.check();
    pod.stop().await;
    stage.clean();
}

#[cfg(test)]
mod tests {
    #[test]
    fn field_selectors_are_decoded() {
        assert_eq!(
            super::field_selector(
                "/apis/ops.tenantatlas.io/v1alpha1/namespaces/a/backupsets?fieldSelector=spec.operationRunRef.name%3Drun-1&limit=5"
            )
            .as_deref(),
            Some("spec.operationRunRef.name=run-1")
        );
    }
}
