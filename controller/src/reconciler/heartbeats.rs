//! What the controller itself saw of each run's heartbeat. A worker whose clock runs behind
//! writes heartbeat timestamps that look old while it is alive; the controller trusts its
//! own monotonic clock instead: a run whose `heartbeatTime` it saw change less than the
//! heartbeat timeout ago is alive, whatever the timestamp says. Only a heartbeat that
//! moved from one value to another proves it: the first value seen (at start, after a
//! leadership change, or a status written once with a heartbeat, as a restore does)
//! proves nothing, and the timestamp rule holds until the heartbeat moves.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use operationrun_core::decide::HeartbeatSeen;
use tokio::time::Instant;

use super::Run;

#[derive(Debug)]
struct Seen {
    value: Option<String>,
    changed_at: Option<Instant>,
}

/// The heartbeat of every watched run, and when the controller last saw it change.
#[derive(Debug, Default)]
pub struct Heartbeats {
    runs: Mutex<HashMap<(String, String), Seen>>,
    /// The runs a (re-)list returned so far, to forget those it no longer returns.
    listed: Mutex<Option<HashSet<(String, String)>>>,
}

fn key(run: &Run) -> Option<(String, String)> {
    Some((run.namespace()?, run.meta().name.clone()?))
}

fn heartbeat(run: &Run) -> Option<String> {
    run.0
        .object
        .status
        .as_ref()
        .and_then(|s| s.heartbeat_time.clone())
}

impl Heartbeats {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Seen>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn listed(&self) -> std::sync::MutexGuard<'_, Option<HashSet<(String, String)>>> {
        self.listed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes a run as the watch (of one scope) delivered it; a re-list forgets the runs
    /// deleted while the watch was down.
    pub fn observe(&self, event: &watcher::Event<Run>) {
        match event {
            watcher::Event::Apply(run) => {
                let Some(k) = key(run) else { return };
                self.saw(k, heartbeat(run), Instant::now());
            }
            watcher::Event::InitApply(run) => {
                let Some(k) = key(run) else { return };
                if let Some(listed) = self.listed().as_mut() {
                    listed.insert(k.clone());
                }
                self.saw(k, heartbeat(run), Instant::now());
            }
            watcher::Event::Delete(run) => {
                if let Some(k) = key(run) {
                    self.lock().remove(&k);
                }
            }
            watcher::Event::Init => *self.listed() = Some(HashSet::new()),
            watcher::Event::InitDone => {
                if let Some(listed) = self.listed().take() {
                    self.lock().retain(|k, _| listed.contains(k));
                }
            }
        }
    }

    fn saw(&self, key: (String, String), value: Option<String>, at: Instant) {
        let mut runs = self.lock();
        match runs.get_mut(&key) {
            Some(seen) if seen.value != value => {
                // a heartbeat that moved; one that appears or disappears proves nothing
                seen.changed_at = (seen.value.is_some() && value.is_some()).then_some(at);
                seen.value = value;
            }
            Some(_) => {}
            None => {
                runs.insert(
                    key,
                    Seen {
                        value,
                        changed_at: None,
                    },
                );
            }
        }
    }

    /// How long ago (whole seconds) the controller saw run `ns/name`'s heartbeat change, if
    /// it did.
    pub fn seen(&self, ns: &str, name: &str) -> Option<HeartbeatSeen> {
        let runs = self.lock();
        let seen = runs.get(&(ns.to_string(), name.to_string()))?;
        let at = seen.changed_at?;
        Some(HeartbeatSeen {
            age_secs: at.elapsed().as_secs(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key(name: &str) -> (String, String) {
        ("ns".to_string(), name.to_string())
    }

    #[tokio::test(start_paused = true)]
    async fn only_a_change_the_controller_saw_counts() {
        let beats = Heartbeats::default();
        beats.saw(
            key("r"),
            Some("2026-01-01T00:00:00Z".into()),
            Instant::now(),
        );
        assert_eq!(beats.seen("ns", "r"), None, "a first sight proves nothing");
        tokio::time::advance(Duration::from_secs(3)).await;
        beats.saw(
            key("r"),
            Some("2026-01-01T00:00:00Z".into()),
            Instant::now(),
        );
        assert_eq!(
            beats.seen("ns", "r"),
            None,
            "the same value is no heartbeat"
        );
        beats.saw(
            key("r"),
            Some("2026-01-01T00:00:10Z".into()),
            Instant::now(),
        );
        tokio::time::advance(Duration::from_millis(7_900)).await;
        assert_eq!(beats.seen("ns", "r"), Some(HeartbeatSeen { age_secs: 7 }));
        assert_eq!(beats.seen("ns", "other"), None);
        beats.saw(key("r"), None, Instant::now());
        assert_eq!(
            beats.seen("ns", "r"),
            None,
            "a heartbeat removed proves nothing"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_heartbeat_that_appears_is_not_one_that_moved() {
        let beats = Heartbeats::default();
        // a run created, then its status written once (a restore, or a worker's last words)
        beats.saw(key("r"), None, Instant::now());
        beats.saw(
            key("r"),
            Some("2026-01-01T00:00:00Z".into()),
            Instant::now(),
        );
        assert_eq!(beats.seen("ns", "r"), None);
        beats.saw(
            key("r"),
            Some("2026-01-01T00:00:30Z".into()),
            Instant::now(),
        );
        assert_eq!(beats.seen("ns", "r"), Some(HeartbeatSeen { age_secs: 0 }));
    }

    #[tokio::test(start_paused = true)]
    async fn a_relist_forgets_runs_deleted_while_the_watch_was_down() {
        use kube::runtime::watcher::Event;
        let run = |name: &str, beat: &str| -> Run {
            super::super::lenient::Lenient::from_value(serde_json::json!({
                "metadata": {"name": name, "namespace": "ns"},
                "status": {"phase": "Running", "heartbeatTime": beat}
            }))
        };
        let beats = Heartbeats::default();
        beats.observe(&Event::Apply(run("kept", "2026-01-01T00:00:00Z")));
        beats.observe(&Event::Apply(run("gone", "2026-01-01T00:00:00Z")));
        beats.observe(&Event::Apply(run("kept", "2026-01-01T00:00:05Z")));
        beats.observe(&Event::Apply(run("gone", "2026-01-01T00:00:05Z")));
        assert!(beats.seen("ns", "gone").is_some());
        beats.observe(&Event::Init);
        beats.observe(&Event::InitApply(run("kept", "2026-01-01T00:00:05Z")));
        beats.observe(&Event::InitDone);
        assert!(
            beats.seen("ns", "kept").is_some(),
            "history survives a re-list"
        );
        assert_eq!(beats.seen("ns", "gone"), None);
    }
}
