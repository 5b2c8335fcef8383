//! What the API server's audit log says the controllers did: every status write with its
//! body and answer, in order; checks that every write is explained and that no final verdict
//! ever changes.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde_json::Value;

use super::verdicts::{Dump, Key, verdict};

/// One status write of a controller, as the audit log recorded it.
#[derive(Clone, Debug)]
pub struct Write {
    /// The run written.
    pub key: Key,
    /// Who wrote.
    pub user: String,
    /// The answer's HTTP code.
    pub code: u16,
    /// When the API server received it.
    pub received: Timestamp,
    /// When the API server answered it.
    pub done: Timestamp,
    /// The body's `Reconciled` condition, whole.
    pub reconciled: Option<Value>,
    /// The body's controller-owned conditions, as verdicts.
    pub verdicts: Vec<Value>,
}

impl Write {
    /// Whether the API server accepted it.
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.code)
    }
}

fn time(event: &Value, field: &str) -> Option<Timestamp> {
    event[field].as_str()?.parse().ok()
}

/// Completed requests of `users` (all controller identities).
fn by<'a>(events: &'a [Value], users: &'a [String]) -> impl Iterator<Item = &'a Value> + 'a {
    events.iter().filter(move |e| {
        e["stage"] == "ResponseComplete"
            && e["user"]["username"]
                .as_str()
                .is_some_and(|u| users.iter().any(|x| x == u))
    })
}

/// Every status write of `users`, in the order the API server answered them.
pub fn status_writes(events: &[Value], users: &[String]) -> Vec<Write> {
    let mut out: Vec<Write> = by(events, users)
        .filter(|e| {
            e["verb"] == "patch"
                && e["objectRef"]["resource"] == "operationruns"
                && e["objectRef"]["subresource"] == "status"
        })
        .filter_map(|e| {
            let conditions = &e["requestObject"]["status"]["conditions"];
            Some(Write {
                key: (
                    e["objectRef"]["namespace"].as_str()?.to_string(),
                    e["objectRef"]["name"].as_str()?.to_string(),
                ),
                user: e["user"]["username"].as_str()?.to_string(),
                code: e["responseStatus"]["code"]
                    .as_u64()
                    .and_then(|c| u16::try_from(c).ok())
                    .unwrap_or(0),
                received: time(e, "requestReceivedTimestamp")?,
                done: time(e, "stageTimestamp")?,
                reconciled: conditions
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["type"] == "Reconciled")
                    .cloned(),
                verdicts: super::verdicts::owned(conditions),
            })
        })
        .collect();
    out.sort_by_key(|w| w.done);
    out
}

/// Writes of `users` that are none of the controller's: a status patch of a run, an Event,
/// its Lease.
pub fn foreign_writes(events: &[Value], users: &[String]) -> Vec<String> {
    by(events, users)
        .filter(|e| !matches!(e["verb"].as_str(), Some("get" | "list" | "watch")))
        .filter(|e| {
            let r = &e["objectRef"];
            let status_patch = e["verb"] == "patch"
                && r["resource"] == "operationruns"
                && r["subresource"] == "status";
            let event =
                r["resource"] == "events" && matches!(e["verb"].as_str(), Some("create" | "patch"));
            let lease = r["resource"] == "leases"
                && matches!(e["verb"].as_str(), Some("create" | "update"));
            !(status_patch || event || lease)
        })
        .map(|e| format!("{} {}", e["verb"], e["requestURI"]))
        .collect()
}

/// LISTs of `resource` by `user` answered after `after` that are not narrowed by a field
/// selector: a watch's initial list or its re-list after 410 Gone (the confirming reads
/// are narrowed to one run).
pub fn relists(events: &[Value], user: &str, resource: &str, after: Timestamp) -> usize {
    let users = [user.to_string()];
    by(events, &users)
        .filter(|e| e["verb"] == "list" && e["objectRef"]["resource"] == resource)
        .filter(|e| {
            !e["requestURI"]
                .as_str()
                .is_some_and(|u| u.contains("fieldSelector"))
        })
        .filter(|e| time(e, "stageTimestamp").is_some_and(|t| t > after))
        .count()
}

/// The first status write `user` got accepted after `after`.
pub fn first_write(writes: &[Write], user: &str, after: Timestamp) -> Option<Timestamp> {
    writes
        .iter()
        .filter(|w| w.user == user && w.accepted() && w.done > after)
        .map(|w| w.done)
        .min()
}

/// How the status writes add up.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Every status write the audit log recorded.
    pub writes: usize,
    /// Writes the API server accepted.
    pub accepted: usize,
    /// Writes refused with 409 Conflict (the run had changed since it was observed).
    pub conflicts: usize,
    /// Writes that failed while a fault was on (the API server could not reach etcd, ...).
    pub failed_in_fault: usize,
    /// Runs holding a decision at the end (a `Reconciled` condition).
    pub decided: usize,
    /// Runs whose decision was written by a request the API server died answering (so the
    /// audit log never recorded it).
    pub unaudited: usize,
    /// Runs whose decision etcd committed although the API server answered the write with
    /// an error (etcd died before its answer reached the API server).
    pub committed_on_error: usize,
    /// Writes of a non-final verdict taken from a cache that lagged after a fault, corrected
    /// by a later write when the watch caught up (no final verdict among them).
    pub corrected: usize,
    /// Everything that does not add up.
    pub problems: Vec<String>,
}

impl Ledger {
    /// Status writes per decided run.
    pub fn per_decided(&self) -> f64 {
        self.writes as f64 / self.decided.max(1) as f64
    }
}

/// Accounts for every status write: each accepted write changes what the run holds (no
/// write repeats the one before); a run whose inputs did not change after it was created
/// (not in `dynamic`) is written exactly once if it ends holding conditions and never
/// otherwise, except that a non-final verdict written from a cache lagging after a fault
/// may be corrected by later writes (counted in [`Ledger::corrected`]); a refused write is a 409 Conflict, or failed during one of `faults` (answered
/// after the fault began and sent before it ended). With
/// `api_server_killed`, a run may hold a decision whose write the audit log never recorded.
pub fn ledger(
    writes: &[Write],
    end: &Dump,
    dynamic: &BTreeSet<Key>,
    faults: &[(Timestamp, Timestamp)],
    api_server_killed: bool,
) -> Ledger {
    let mut ledger = Ledger {
        writes: writes.len(),
        decided: end.decided(),
        ..Ledger::default()
    };
    let mut per_run: BTreeMap<&Key, Vec<&Write>> = BTreeMap::new();
    for w in writes {
        per_run.entry(&w.key).or_default().push(w);
        if w.accepted() {
            ledger.accepted += 1;
        } else if w.code == 409 {
            ledger.conflicts += 1;
        } else if faults
            .iter()
            .any(|(from, to)| w.done >= *from && w.received <= *to)
        {
            ledger.failed_in_fault += 1;
        } else {
            ledger.problems.push(format!(
                "{}/{}: a write answered {} outside any fault (received {})",
                w.key.0, w.key.1, w.code, w.received
            ));
        }
    }
    let in_fault = |w: &Write| {
        faults
            .iter()
            .any(|(from, to)| w.done >= *from && w.received <= *to)
    };
    for (key, held) in &end.held {
        let runs_writes = per_run.get(key).cloned().unwrap_or_default();
        let accepted: Vec<&&Write> = runs_writes.iter().filter(|w| w.accepted()).collect();
        for pair in accepted.windows(2) {
            if pair[0].verdicts == pair[1].verdicts {
                ledger.problems.push(format!(
                    "{}/{}: a write repeats the one before ({} at {} and {})",
                    key.0,
                    key.1,
                    Value::Array(pair[1].verdicts.clone()),
                    pair[0].done,
                    pair[1].done
                ));
            }
        }
        // etcd may commit a write whose answer the API server then loses (etcd died before
        // answering): the write failed, yet the run holds what it carried
        let last_accepted = accepted.last().map(|w| w.done);
        let committed_on_error = runs_writes.iter().any(|w| {
            !w.accepted()
                && w.code != 409
                && in_fault(w)
                && &w.verdicts == held
                && last_accepted.is_none_or(|t| w.done > t)
        });
        if let Some(last) = accepted.last()
            && &last.verdicts != held
            && !committed_on_error
            && !api_server_killed
        {
            ledger.problems.push(format!(
                "{}/{}: holds {} but the last accepted write was {}",
                key.0,
                key.1,
                Value::Array(held.clone()),
                Value::Array(last.verdicts.clone())
            ));
        }
        if dynamic.contains(key) {
            continue;
        }
        let want = usize::from(!held.is_empty());
        // a non-final answer may come from a cache that lags after a fault; the next watch
        // event corrects it (docs/concepts.md): writes carrying no final verdict, all after
        // a fault began, each followed by the next
        let after_fault = |w: &Write| faults.iter().any(|(from, _)| w.done >= *from);
        let corrections = accepted.len().saturating_sub(want);
        let corrected = want == 1
            && corrections > 0
            && accepted[..accepted.len() - 1].iter().all(|w| {
                after_fault(w) && w.reconciled.as_ref().is_none_or(|r| r["status"] != "True")
            });
        match accepted.len() {
            n if n == want => {}
            _ if corrected => ledger.corrected += corrections,
            0 if committed_on_error => ledger.committed_on_error += 1,
            0 if api_server_killed => ledger.unaudited += 1,
            n => ledger.problems.push(format!(
                "{}/{}: {n} accepted writes for a run whose inputs never changed (expected {want}); holds {}",
                key.0,
                key.1,
                Value::Array(held.clone())
            )),
        }
    }
    ledger
}

/// Checks, from the bodies of every status write in order, that a final verdict never
/// changes: once a body carrying `Reconciled=True` has been accepted, every later body for
/// that run carries the identical `Reconciled` condition; and a final verdict refused (its
/// write conflicted) is never followed by a different final verdict.
pub fn finals_never_change(writes: &[Write]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut per_run: BTreeMap<&Key, Vec<&Write>> = BTreeMap::new();
    for w in writes {
        per_run.entry(&w.key).or_default().push(w);
    }
    for (key, list) in per_run {
        let mut fixed: Option<&Value> = None;
        let mut attempted: Option<Value> = None;
        for w in list {
            let is_true = w.reconciled.as_ref().is_some_and(|r| r["status"] == "True");
            if let Some(f) = fixed {
                if w.reconciled.as_ref() != Some(f) {
                    problems.push(format!(
                        "{}/{}: Reconciled=True {} was followed by a write carrying {} \
                         (sent by {} at {}, answered {})",
                        key.0,
                        key.1,
                        f,
                        w.reconciled.clone().unwrap_or(Value::Null),
                        w.user,
                        w.received,
                        w.code
                    ));
                }
                continue;
            }
            if is_true {
                let v = w.reconciled.as_ref().map(verdict);
                if let (Some(a), Some(v)) = (&attempted, &v)
                    && a != v
                {
                    problems.push(format!(
                        "{}/{}: final verdict {} attempted after a refused {}",
                        key.0, key.1, v, a
                    ));
                }
                if w.accepted() {
                    fixed = w.reconciled.as_ref();
                } else {
                    attempted = v;
                }
            }
        }
    }
    problems
}
