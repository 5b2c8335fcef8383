//! Makes a stall visible. A watch that keeps failing, or a cache that never completes its
//! list, stops decisions without stopping the process; so each watched kind reports whether
//! its cache is synced and when its last event came, its errors are counted and logged at
//! warn (at most one line per kind and interval), and `/readyz` fails until every cache has
//! synced and while one has been unsynced for longer than a set time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::metrics::{KindLabel, Metrics};

/// The kinds the controller watches.
pub const KINDS: [&str; 3] = ["OperationRun", "BackupSet", "BaselineSnapshot"];

/// How often a failing watch of one kind is logged at warn at most.
const LOG_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct ScopeState {
    synced_once: bool,
    /// Since when the cache is not synced (its first list, or a re-list), if it is not.
    unsynced_since: Option<Instant>,
}

#[derive(Debug, Default)]
struct KindState {
    scopes: HashMap<String, ScopeState>,
    last_warn: Option<Instant>,
    suppressed: u64,
}

/// The caches' health, shared by every watch and read by `/readyz`.
#[derive(Debug)]
pub struct Caches {
    /// How long a kind may stay unsynced (after its first sync) before `/readyz` fails.
    pub unsynced_timeout: Duration,
    active: AtomicBool,
    kinds: Mutex<HashMap<&'static str, KindState>>,
}

impl Caches {
    /// Cache health with the given tolerance for a re-list.
    pub fn new(unsynced_timeout: Duration) -> Self {
        Caches {
            unsynced_timeout,
            active: AtomicBool::new(false),
            kinds: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, KindState>> {
        self.kinds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The controller starts its watches over `scopes` ("" for all namespaces): every
    /// kind is unsynced until its first list completes.
    pub fn start(&self, scopes: &[String], metrics: &Metrics) {
        let now = Instant::now();
        let mut kinds = self.lock();
        kinds.clear();
        for kind in KINDS {
            let state = kinds.entry(kind).or_default();
            for scope in scopes {
                state.scopes.insert(
                    scope.clone(),
                    ScopeState {
                        synced_once: false,
                        unsynced_since: Some(now),
                    },
                );
            }
            metrics.cache_synced(kind, false);
        }
        self.active.store(true, Ordering::Release);
    }

    /// The controller stopped (it lost the Lease, or shuts down): readiness no longer
    /// depends on caches it does not keep.
    pub fn stop(&self, metrics: &Metrics) {
        self.active.store(false, Ordering::Release);
        self.lock().clear();
        for kind in KINDS {
            metrics.cache_synced(kind, false);
        }
    }

    fn set(&self, kind: &'static str, scope: &str, synced: bool, metrics: &Metrics) {
        let mut kinds = self.lock();
        let state = kinds.entry(kind).or_default();
        let entry = state.scopes.entry(scope.to_string()).or_insert(ScopeState {
            synced_once: false,
            unsynced_since: None,
        });
        if synced {
            entry.synced_once = true;
            entry.unsynced_since = None;
        } else if entry.unsynced_since.is_none() {
            entry.unsynced_since = Some(Instant::now());
        }
        let all = state.scopes.values().all(|s| s.unsynced_since.is_none());
        metrics.cache_synced(kind, all);
    }

    /// A list of `kind` in `scope` began (the first one, or a re-list after a 410).
    pub fn listing(&self, kind: &'static str, scope: &str, metrics: &Metrics) {
        self.set(kind, scope, false, metrics);
    }

    /// A list of `kind` in `scope` completed.
    pub fn synced(&self, kind: &'static str, scope: &str, metrics: &Metrics) {
        self.set(kind, scope, true, metrics);
    }

    /// A watch of `kind` failed: counted, and logged at warn unless it was in the last
    /// [`LOG_EVERY`] (then counted as suppressed and reported with the next line).
    pub fn watch_error(
        &self,
        kind: &'static str,
        error: &dyn std::fmt::Display,
        metrics: &Metrics,
    ) {
        metrics
            .watch_errors
            .get_or_create(&KindLabel { kind: kind.into() })
            .inc();
        let mut kinds = self.lock();
        let state = kinds.entry(kind).or_default();
        let now = Instant::now();
        if state
            .last_warn
            .is_some_and(|at| now.duration_since(at) < LOG_EVERY)
        {
            state.suppressed += 1;
            tracing::debug!(kind, error = %error, "watch error");
            return;
        }
        let suppressed = std::mem::take(&mut state.suppressed);
        state.last_warn = Some(now);
        tracing::warn!(kind, error = %error, suppressed, "watch failed; retrying with backoff");
    }

    /// Why `/readyz` should fail, if it should: a cache never synced, or unsynced for too long.
    pub fn not_ready(&self) -> Option<String> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        let kinds = self.lock();
        let now = Instant::now();
        let mut problems: Vec<String> = Vec::new();
        for kind in KINDS {
            let Some(state) = kinds.get(kind) else {
                continue;
            };
            for (scope, s) in &state.scopes {
                let Some(since) = s.unsynced_since else {
                    continue;
                };
                let waited = now.duration_since(since);
                let scope = if scope.is_empty() {
                    "all namespaces".to_string()
                } else {
                    format!("namespace {scope}")
                };
                if !s.synced_once {
                    problems.push(format!(
                        "{kind} cache ({scope}) not synced yet ({} s)",
                        waited.as_secs()
                    ));
                } else if waited > self.unsynced_timeout {
                    problems.push(format!(
                        "{kind} cache ({scope}) unsynced for {} s",
                        waited.as_secs()
                    ));
                }
            }
        }
        problems.sort();
        (!problems.is_empty()).then(|| problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn readiness_waits_for_every_cache_then_tolerates_a_short_relist() {
        let metrics = Metrics::default();
        let caches = Caches::new(Duration::from_secs(60));
        assert_eq!(caches.not_ready(), None, "a standby keeps no caches");
        caches.start(&["a".into(), "b".into()], &metrics);
        assert!(caches.not_ready().is_some());
        for kind in KINDS {
            caches.synced(kind, "a", &metrics);
        }
        let why = caches.not_ready().unwrap_or_default();
        assert!(why.contains("namespace b"), "{why}");
        for kind in KINDS {
            caches.synced(kind, "b", &metrics);
        }
        assert_eq!(caches.not_ready(), None);
        assert!(
            metrics
                .encode()
                .contains("operationrun_cache_synced{kind=\"BackupSet\"} 1")
        );

        caches.listing("BackupSet", "b", &metrics);
        assert!(
            metrics
                .encode()
                .contains("operationrun_cache_synced{kind=\"BackupSet\"} 0")
        );
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(caches.not_ready(), None, "a short re-list is tolerated");
        tokio::time::advance(Duration::from_secs(31)).await;
        let why = caches.not_ready().unwrap_or_default();
        assert!(
            why.contains("BackupSet cache (namespace b) unsynced for 61 s"),
            "{why}"
        );
        caches.synced("BackupSet", "b", &metrics);
        assert_eq!(caches.not_ready(), None);

        caches.stop(&metrics);
        assert_eq!(caches.not_ready(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn watch_errors_are_all_counted() {
        let metrics = Metrics::default();
        let caches = Caches::new(Duration::from_secs(60));
        for _ in 0..5 {
            caches.watch_error("BackupSet", &"403 Forbidden", &metrics);
        }
        assert!(
            metrics
                .encode()
                .contains("operationrun_watch_errors_total{kind=\"BackupSet\"} 5")
        );
    }
}
