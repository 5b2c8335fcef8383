//! Gray failures of the connection and of the cluster's CRDs: connections that hang without
//! ever closing (a blackhole that drops every byte and keeps the sockets open) for longer
//! than the request deadline while runs go stale; then, on the same cluster, artifact CRDs
//! installed before they declared `selectableFields`, so that the API server refuses the
//! field selector final verdicts are confirmed with.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::fleet::{self, Plan};
use crate::harness::{PROXY, Stage, metric, samples, user};
use crate::report::{Ending, finish};
use crate::{SERIAL, fleet_of, leader, sleep_until};

/// The controller's default `--request-timeout`: the deadline of every request but a watch.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the connections hang: longer than the request deadline, and than the renew
/// deadline (10 s), shorter than the Lease (15 s).
const HANG: Duration = Duration::from_secs(14);
/// Every run must hold its verdict this soon after the connections heal.
const RECOVER_WITHIN: Duration = Duration::from_secs(10);

/// The buckets of histogram `name`: (upper bound, cumulative count), `+Inf` last.
fn buckets(metrics: &str, name: &str) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = samples(metrics, &format!("{name}_bucket"))
        .into_iter()
        .filter_map(|(labels, count)| {
            let le = labels.split("le=\"").nth(1)?.split('"').next()?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((bound, count))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// Observations above `bound` (the smallest bucket bound at or above `at_least`), the
/// bound, and the bound of the highest bucket that holds an observation.
fn above(buckets: &[(f64, f64)], at_least: f64) -> (f64, f64, f64) {
    let total = buckets.last().map_or(0.0, |b| b.1);
    let (bound, within) = buckets
        .iter()
        .find(|(le, _)| *le >= at_least)
        .copied()
        .unwrap_or((f64::INFINITY, total));
    let highest = buckets
        .iter()
        .find(|(_, count)| *count >= total)
        .map_or(0.0, |b| b.0);
    (total - within, bound, highest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_connections_then_crds_without_selectable_fields() {
    let _serial = SERIAL.lock().await;
    let began = Instant::now();
    let stage = Stage::new("gray", true).await;
    let mut pod = leader(&stage, "ctrl-a", true).await;
    // the stuck runs' last heartbeat is as they are written: stale at the same second for
    // the controller, which sees them written, and for evaluate
    let (mut fleet, workers, stale_at) = fleet_of(&stage, |t| Plan {
        copies: 2,
        live: 10,
        completed: 4,
        stale_after: crate::SETUP.as_secs(),
        ..Plan::new("g1", t)
    })
    .await;

    // from 1 s before the runs go stale, every connection to the API server hangs: bytes
    // are dropped both ways and no socket is closed (a peer that vanished without a FIN)
    sleep_until(stale_at - SignedDuration::from_secs(1)).await;
    let proxy = stage.toxiproxy();
    let toxics = crate::connection::toxics("timeout", json!({"timeout": 0}));
    let from = Timestamp::now();
    let hang_began = Instant::now();
    for toxic in &toxics {
        proxy
            .add_toxic(PROXY, toxic)
            .await
            .unwrap_or_else(|e| panic!("adding {}: {e}", toxic.name));
    }
    // how the leader fares while it hangs: its gauge, read straight from the process
    let mut stepped_down = None;
    while hang_began.elapsed() < HANG {
        if stepped_down.is_none()
            && pod
                .metrics()
                .await
                .is_some_and(|m| metric(&m, "operationrun_leader", &[]) == 0.0)
        {
            stepped_down = Some(hang_began.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for toxic in &toxics {
        proxy
            .remove_toxic(PROXY, &toxic.name)
            .await
            .unwrap_or_else(|e| panic!("removing {}: {e}", toxic.name));
    }
    let to = Timestamp::now();
    let fault_over = Instant::now();
    let hang = (from, to);

    let out = finish(
        &stage,
        &mut [&mut pod],
        Ending {
            name: "hung connections",
            fault: format!(
                "every connection hung (bytes dropped both ways, sockets kept open) for {} s \
                 from 1 s before the runs go stale",
                HANG.as_secs()
            ),
            fleet: &fleet,
            dynamic: BTreeSet::new(),
            faults: vec![hang],
            api_server_killed: false,
            users: vec![user("ctrl-a")],
            fault_over,
            began,
        },
    )
    .await;
    let metrics = pod.metrics().await.unwrap_or_default();
    let durations = buckets(&metrics, "operationrun_reconcile_duration_seconds");
    let limit = REQUEST_TIMEOUT.as_secs_f64() + 1.0;
    let (too_long, bound, highest) = above(&durations, limit);
    let timeouts = metric(
        &metrics,
        "operationrun_api_errors_total",
        &["code=\"timeout\""],
    );
    let transport = metric(
        &metrics,
        "operationrun_api_errors_total",
        &["code=\"transport\""],
    );
    let during = out
        .writes
        .iter()
        .filter(|w| w.accepted() && w.done >= from && w.done <= to)
        .count();
    let lost = pod.log().matches("lost the leader Lease").count();
    // its first accepted write of the Lease after the heal, if it had stepped down
    let me = user("ctrl-a");
    let led_again = out
        .events
        .iter()
        .filter(|e| {
            e["stage"] == "ResponseComplete"
                && e["user"]["username"] == me.as_str()
                && e["objectRef"]["resource"] == "leases"
                && e["verb"] == "update"
                && e["responseStatus"]["code"] == 200
        })
        .filter_map(|e| e["stageTimestamp"].as_str()?.parse::<Timestamp>().ok())
        .filter(|t| *t > to)
        .min()
        .map(|t| t.duration_since(to).as_secs_f64());
    println!(
        "  hung connections: recovery {:.1} s after the heal (at most {} s); {} reconciles, the \
         longest in the bucket up to {highest} s, {too_long} above {bound} s; API errors: \
         {timeouts} timeout, {transport} transport; {during} decisions written during the hang; \
         the leader {} (\"lost the leader Lease\" logged {lost} times), first renewed its \
         Lease {led_again:.1?} s after the heal, started again {} times",
        out.recovery.as_secs_f64(),
        RECOVER_WITHIN.as_secs(),
        durations.last().map_or(0.0, |b| b.1),
        match stepped_down {
            Some(t) => format!("stepped down {:.1} s into the hang", t.as_secs_f64()),
            None => "kept leading through the hang".to_string(),
        },
        pod.restarts
    );
    out.check();
    assert!(
        out.recovery <= RECOVER_WITHIN,
        "every run must hold its verdict within {RECOVER_WITHIN:?} of the heal; it took {:?}",
        out.recovery
    );
    assert!(
        !durations.is_empty(),
        "no operationrun_reconcile_duration_seconds histogram on /metrics"
    );
    assert_eq!(
        too_long, 0.0,
        "{too_long} reconciles held their slot longer than the request deadline plus 1 s \
         (above the {bound} s bucket): {durations:?}"
    );
    assert!(
        timeouts > 0.0,
        "requests hung past the deadline are counted as operationrun_api_errors_total{{code=\"timeout\"}}; got {timeouts}"
    );
    assert_eq!(
        pod.restarts, 0,
        "the controller exited (a lost Lease stops it in-process, it does not exit)"
    );
    pod.stop().await;

    // the same cluster, its artifact CRDs downgraded to a version without selectableFields
    // (Helm never upgrades a chart's crds/); a new controller finds them so at its start
    let began = Instant::now();
    stage.crds_without_selectable_fields().await;
    let old = fleet::create(
        &stage.admin,
        Plan {
            copies: 2,
            live: 0,
            completed: 0,
            ..Plan::new("g3", Timestamp::now())
        },
    )
    .await;
    fleet.extend(old);
    let started = Timestamp::now();
    let started_at = Instant::now();
    let mut pod = leader(&stage, "ctrl-c", false).await;
    let out = finish(
        &stage,
        &mut [&mut pod],
        Ending {
            name: "CRDs without selectableFields",
            fault: "BackupSet and BaselineSnapshot CRDs without selectableFields (field selector \
                    refused); 44 stuck runs already stale when a new controller starts"
                .into(),
            fleet: &fleet,
            dynamic: BTreeSet::new(),
            faults: vec![hang],
            api_server_killed: false,
            users: vec![user("ctrl-a"), user("ctrl-c")],
            fault_over: started_at,
            began,
        },
    )
    .await;
    workers.stop().await;
    let metrics = pod.metrics().await.unwrap_or_default();
    let modes: Vec<(&str, f64)> = samples(&metrics, "operationrun_confirmation_mode")
        .into_iter()
        .filter(|(_, v)| *v == 1.0)
        .collect();
    let in_mode = |kind: &str, mode: &str| {
        modes.iter().any(|(labels, _)| {
            labels.to_lowercase().contains(&kind.to_lowercase())
                && labels.contains(&format!("mode=\"{mode}\""))
        })
    };
    let reads = metric(&metrics, "operationrun_confirmation_reads_total", &[]);
    // the confirming reads in the audit log: namespace-scoped LISTs of an artifact kind (the
    // watches list every namespace at once); a consistent read names no resourceVersion
    let me = user("ctrl-c");
    let mut namespace_lists = 0;
    let mut selector_lists = Vec::new();
    let mut inconsistent = Vec::new();
    for e in out.events.iter().filter(|e| {
        e["stage"] == "ResponseComplete"
            && e["user"]["username"] == me.as_str()
            && e["verb"] == "list"
            && matches!(
                e["objectRef"]["resource"].as_str(),
                Some("backupsets" | "baselinesnapshots")
            )
            && e["requestReceivedTimestamp"]
                .as_str()
                .and_then(|t| t.parse::<Timestamp>().ok())
                .is_some_and(|t| t >= started)
    }) {
        let uri = e["requestURI"].as_str().unwrap_or_default();
        let code = e["responseStatus"]["code"].as_u64().unwrap_or(0);
        if uri.contains("fieldSelector=") {
            selector_lists.push(code);
        } else if e["objectRef"]["namespace"].as_str().is_some() {
            namespace_lists += 1;
            let rv = uri
                .split(['?', '&'])
                .find_map(|kv| kv.strip_prefix("resourceVersion="))
                .unwrap_or_default();
            if !rv.is_empty() {
                inconsistent.push(uri.to_string());
            }
        }
    }
    // the start-up lines that name the mode, per kind
    let log = plain(&pod.log());
    let said = |kind: &str| {
        log.lines()
            .find(|l| {
                l.contains(&format!("kind=\"{kind}\"")) && l.contains("mode=\"namespaceList\"")
            })
            .map(|l| l.split(" kind=").next().unwrap_or(l).trim().to_string())
    };
    let said = [said("BackupSet"), said("BaselineSnapshot")];
    println!(
        "  old CRDs: everything decided {:.1} s after the controller started; confirmation \
         mode 1 for {:?}; {reads} confirmation reads counted; in the audit log {namespace_lists} \
         namespace-scoped LISTs of artifacts, LISTs with a field selector answered {:?}; the \
         controller said at start: {:?}",
        out.recovery.as_secs_f64(),
        modes.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        selector_lists,
        said[0]
    );
    out.check();
    for kind in ["BackupSet", "BaselineSnapshot"] {
        assert!(
            in_mode(kind, "namespaceList"),
            "operationrun_confirmation_mode{{kind={kind},mode=\"namespaceList\"}} is not 1: {modes:?}"
        );
        assert!(
            !in_mode(kind, "fieldSelector"),
            "{kind} is said to be confirmed with a field selector the API server refuses: {modes:?}"
        );
    }
    assert!(
        said.iter().all(Option::is_some),
        "the controller names the namespaceList mode of each kind at start: {said:?}"
    );
    assert!(
        selector_lists.iter().all(|code| *code >= 400),
        "a LIST with a field selector was answered {selector_lists:?} although the CRDs declare none"
    );
    assert!(
        namespace_lists > 0,
        "no final verdict was confirmed with a namespace-scoped LIST"
    );
    assert!(
        inconsistent.is_empty(),
        "confirming LISTs must be consistent reads (no resourceVersion): {inconsistent:?}"
    );
    pod.stop().await;
    stage.clean();
}

/// `text` without terminal colour sequences (`ESC [ … m`).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn colours_are_removed() {
        assert_eq!(
            super::plain(
                "\u{1b}[2mt\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m x \u{1b}[3mkind\u{1b}[0m\u{1b}[2m=\u{1b}[0m\"B\""
            ),
            "t  WARN x kind=\"B\""
        );
    }

    #[test]
    fn observations_above_a_bound_are_counted() {
        let text = "x_bucket{le=\"1.0\"} 3\nx_bucket{le=\"6.5536\"} 5\nx_bucket{le=\"26.2144\"} 6\nx_bucket{le=\"+Inf\"} 6\n";
        let b = super::buckets(text, "x");
        assert_eq!(b.len(), 4);
        assert_eq!(super::above(&b, 6.0), (1.0, 6.5536, 26.2144));
        assert_eq!(super::above(&b[..2], 6.0).0, 0.0);
    }
}
