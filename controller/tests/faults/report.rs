//! The end of every scenario: wait until every run holds what `evaluate` gives, read the
//! audit log, check that every write is explained and no final verdict changed, and print
//! the measured figures (docs/reliability.md is written from them).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::audit::{self, Ledger, Write};
use super::fleet::Fleet;
use super::harness::{Pod, Stage};
use super::verdicts::{self, Dump, Key};

/// How long a scenario may take to converge once its fault is over.
pub const CONVERGE_WITHIN: Duration = Duration::from_secs(90);

/// What a scenario measured.
pub struct Outcome {
    /// The dump every run matched.
    pub end: Dump,
    /// The status writes, in order.
    pub writes: Vec<Write>,
    /// How they add up.
    pub ledger: Ledger,
    /// Every audit event, for scenario-specific checks.
    pub events: Vec<serde_json::Value>,
    /// What did not add up: unexplained writes, changed final verdicts, foreign writes.
    pub problems: Vec<String>,
    /// From the end of the fault until every run held what `evaluate` gives.
    pub recovery: Duration,
    name: String,
    logs: std::path::PathBuf,
}

impl Outcome {
    /// Fails the scenario with every problem found (after the scenario printed what it
    /// measured).
    pub fn check(&self) {
        if !self.problems.is_empty() {
            eprintln!("logs kept in {}", self.logs.display());
            panic!("{}:\n  {}", self.name, self.problems.join("\n  "));
        }
    }
}

/// What the end check needs to know about the scenario.
pub struct Ending<'a> {
    /// The scenario's name, as printed.
    pub name: &'a str,
    /// The fault, in a few words.
    pub fault: String,
    /// Every fleet it created.
    pub fleet: &'a Fleet,
    /// Runs whose inputs changed after creation (new evidence, heartbeats resuming).
    pub dynamic: BTreeSet<Key>,
    /// When faults were on (API-server answers other than 409 are explained only there).
    pub faults: Vec<(Timestamp, Timestamp)>,
    /// The API server was killed (a write it died answering is missing from its audit log).
    pub api_server_killed: bool,
    /// The controller identities (audit usernames).
    pub users: Vec<String>,
    /// When the fault ended.
    pub fault_over: Instant,
    /// When the scenario began.
    pub began: Instant,
}

/// Waits for convergence (panics with the runs that differ if it does not come) and checks
/// the audit log; [`Outcome::check`] fails the scenario with what did not add up.
pub async fn finish(stage: &Stage, pods: &mut [&mut Pod], ending: Ending<'_>) -> Outcome {
    let converged = verdicts::converge(&stage.admin, pods, CONVERGE_WITHIN).await;
    let (_, end) = match converged {
        Ok(ok) => ok,
        Err(e) => {
            for pod in pods.iter() {
                eprintln!("--- end of {} log ---\n{}", pod.name, tail(&pod.log(), 40));
            }
            eprintln!("logs kept in {}", stage.logs.display());
            panic!("{}: {e}", ending.name);
        }
    };
    let recovery = ending.fault_over.elapsed();
    // the audit log is written as each request completes: give the last ones a moment
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = stage.cp.audit_events().expect("the audit log reads");
    let writes = audit::status_writes(&events, &ending.users);
    let ledger = audit::ledger(
        &writes,
        &end,
        &ending.dynamic,
        &ending.faults,
        ending.api_server_killed,
    );
    let finals = audit::finals_never_change(&writes);
    let foreign = audit::foreign_writes(&events, &ending.users);
    let keys: BTreeSet<Key> = end.held.keys().cloned().collect();
    let mut problems = Vec::new();
    if !ledger.problems.is_empty() {
        problems.push(format!(
            "writes not explained:\n    {}",
            ledger.problems.join("\n    ")
        ));
    }
    if !finals.is_empty() {
        problems.push(format!(
            "final verdicts changed:\n    {}",
            finals.join("\n    ")
        ));
    }
    if !foreign.is_empty() {
        problems.push(format!(
            "writes a controller must never make:\n    {}",
            foreign.join("\n    ")
        ));
    }
    let absent: Vec<String> = ending
        .fleet
        .keys()
        .difference(&keys)
        .map(|(ns, n)| format!("{ns}/{n}"))
        .collect();
    if !absent.is_empty() {
        problems.push(format!("runs missing from the cluster: {absent:?}"));
    }
    println!(
        "FAULTS | {} | runs {} ({} stale, {} decided: {:?}) | fault: {} | recovery {:.1} s | \
         status writes {} ({} accepted, {} conflicts, {} failed during the fault, {} committed though answered with an error, {} unaudited, \
         {} corrections of a non-final verdict from a lagging cache) \
         = {:.2} per decided run | wrong 0 | lost 0 | scenario {:.0} s{}",
        ending.name,
        end.held.len(),
        end.stale(),
        end.decided(),
        end.reasons(),
        ending.fault,
        recovery.as_secs_f64(),
        ledger.writes,
        ledger.accepted,
        ledger.conflicts,
        ledger.failed_in_fault,
        ledger.committed_on_error,
        ledger.unaudited,
        ledger.corrected,
        ledger.per_decided(),
        ending.began.elapsed().as_secs_f64(),
        if problems.is_empty() {
            String::new()
        } else {
            format!(" | FAILED: {} problems", problems.len())
        }
    );
    Outcome {
        end,
        writes,
        ledger,
        events,
        problems,
        recovery,
        name: ending.name.to_string(),
        logs: stage.logs.clone(),
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
