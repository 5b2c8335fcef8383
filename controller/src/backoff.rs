//! Per-run backoff, as client-go's workqueue gives each item its own: a run whose requests
//! keep failing is looked at less and less often (exponentially, with jitter, from seconds
//! up to minutes), while every other run is decided as usual. A refusal that asking again
//! cannot change (a 4xx other than 409 and 429) holds for that run until the run changes:
//! until then no request is sent for it, whatever else triggers a look. A first refusal is
//! asked once more after a few seconds (an API server that is starting answers 403 until
//! its authorizer has synced, and 404 until it serves the CRDs); from the second on, the run
//! waits a minute, doubling up to 15.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::request::Class;

/// The delays of each kind of failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The first delay after a transient failure (a timeout, a 5xx, a broken connection).
    pub transient_base: Duration,
    /// The longest delay after transient failures.
    pub transient_max: Duration,
    /// The delay after a first refusal (a 4xx other than 409 and 429), to confirm it.
    pub refusal_recheck: Duration,
    /// The delay after a confirmed refusal (the second in a row).
    pub permanent_base: Duration,
    /// The longest delay after refusals.
    pub permanent_max: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            transient_base: Duration::from_secs(1),
            transient_max: Duration::from_secs(120),
            refusal_recheck: Duration::from_secs(5),
            permanent_base: Duration::from_secs(60),
            permanent_max: Duration::from_secs(15 * 60),
        }
    }
}

/// What the next attempt of a failing run waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// How long to wait.
    pub delay: Duration,
    /// How many failures in a row, this one included.
    pub failures: u32,
    /// True when a refusal is confirmed (the second in a row): the one Event a run gets.
    pub confirmed_refusal: bool,
}

#[derive(Debug)]
struct Entry {
    /// Failures in a row, refusals included.
    failures: u32,
    /// Transient failures in a row: the exponent of their delay.
    transient: u32,
    /// Refusals in a row.
    refusals: u32,
    /// A refusal holds for this resourceVersion of the run, until this instant.
    hold: Option<(String, Instant)>,
}

/// The backoff state of every run that is failing, keyed by (namespace, name).
#[derive(Debug, Default)]
pub struct Backoffs {
    policy: Policy,
    entries: Mutex<HashMap<(String, String), Entry>>,
}

/// `base · 2^(failures−1)`, capped, then stretched by a jitter of up to a quarter (never
/// shortened, so a cap is a floor of the rate too).
fn delay(base: Duration, max: Duration, failures: u32, jitter: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    let raw = base.saturating_mul(1u32 << doublings).min(max);
    raw.mul_f64(1.0 + jitter.clamp(0.0, 0.25))
}

impl Backoffs {
    /// Backoffs with the given delays.
    pub fn new(policy: Policy) -> Self {
        Backoffs {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long a refused run must still wait, if it has not changed (same
    /// `resource_version`) since it was refused; `None` when it may be looked at now.
    pub fn held(&self, ns: &str, name: &str, resource_version: &str) -> Option<Duration> {
        let entries = self.lock();
        let entry = entries.get(&(ns.to_string(), name.to_string()))?;
        let (version, until) = entry.hold.as_ref()?;
        let now = Instant::now();
        (version == resource_version && *until > now).then(|| *until - now)
    }

    /// Records a failure of run `ns/name` (at `resource_version`) and returns the wait before
    /// its next attempt; `jitter` in [0, 1) spreads runs that failed together.
    pub fn failed(
        &self,
        ns: &str,
        name: &str,
        resource_version: &str,
        class: Class,
        jitter: f64,
    ) -> Step {
        let mut entries = self.lock();
        let entry = entries
            .entry((ns.to_string(), name.to_string()))
            .or_insert(Entry {
                failures: 0,
                transient: 0,
                refusals: 0,
                hold: None,
            });
        entry.failures = entry.failures.saturating_add(1);
        let p = self.policy;
        let jitter = jitter * 0.25;
        let mut confirmed_refusal = false;
        let delay = match class {
            Class::Permanent(_) => {
                entry.refusals = entry.refusals.saturating_add(1);
                confirmed_refusal = entry.refusals == 2;
                let d = if entry.refusals == 1 {
                    delay(p.refusal_recheck, p.refusal_recheck, 1, jitter)
                } else {
                    delay(
                        p.permanent_base,
                        p.permanent_max,
                        entry.refusals - 1,
                        jitter,
                    )
                };
                entry.hold = Some((resource_version.to_string(), Instant::now() + d));
                d
            }
            Class::Throttled(after) => {
                entry.transient = entry.transient.saturating_add(1);
                let d = delay(p.transient_base, p.transient_max, entry.transient, jitter);
                after.map_or(d, |a| a.max(d))
            }
            Class::Transient | Class::Conflict => {
                entry.transient = entry.transient.saturating_add(1);
                delay(p.transient_base, p.transient_max, entry.transient, jitter)
            }
        };
        Step {
            delay,
            failures: entry.failures,
            confirmed_refusal,
        }
    }

    /// Forgets run `ns/name`'s failures: it succeeded, or it is gone.
    pub fn succeeded(&self, ns: &str, name: &str) {
        let mut entries = self.lock();
        if !entries.is_empty() {
            entries.remove(&(ns.to_string(), name.to_string()));
        }
    }

    /// How many runs are backing off.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no run is backing off.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// The backoff of one watch: from 0.8 s doubling up to 30 s, with jitter (client-go's
/// reflector). kube-runtime's stream backoff resets on every item that is not an error,
/// and a watcher announces each (re-)list attempt with one, so a list refused forever
/// (RBAC, a missing CRD) would be retried about every second; this one resets only when
/// the watch made progress: a list completed, or an object arrived.
#[derive(Debug)]
pub struct WatchBackoff {
    next: Duration,
    progress: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl WatchBackoff {
    const FIRST: Duration = Duration::from_millis(800);
    const MAX: Duration = Duration::from_secs(30);

    /// A backoff, and the flag that tells it the watch made progress.
    pub fn new() -> (Self, std::sync::Arc<std::sync::atomic::AtomicBool>) {
        let progress = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        (
            WatchBackoff {
                next: Self::FIRST,
                progress: progress.clone(),
            },
            progress,
        )
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self
            .progress
            .swap(false, std::sync::atomic::Ordering::AcqRel)
        {
            self.next = Self::FIRST;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        Some(delay.mul_f64(1.0 + fastrand::f64()))
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    /// Called on every item that is not an error, including a list attempt's start: not
    /// progress, so nothing is reset here.
    fn reset(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn transient_failures_double_from_a_second_up_to_two_minutes() {
        let b = Backoffs::default();
        let delays: Vec<_> = (0..10)
            .map(|_| b.failed("ns", "r", "1", Class::Transient, 0.0).delay)
            .collect();
        assert_eq!(
            delays,
            [1, 2, 4, 8, 16, 32, 64, 120, 120, 120].map(S).to_vec()
        );
    }

    #[test]
    fn jitter_only_stretches_a_delay_by_up_to_a_quarter() {
        let b = Backoffs::default();
        let d = b.failed("ns", "r", "1", Class::Transient, 0.999).delay;
        assert!(d >= S(1) && d < Duration::from_millis(1250), "{d:?}");
        b.failed("ns", "x", "1", Class::Permanent(403), 0.5);
        let d = b.failed("ns", "x", "1", Class::Permanent(403), 0.5).delay;
        assert!(d >= S(60) && d <= S(75), "{d:?}");
    }

    #[test]
    fn a_refusal_is_confirmed_then_waits_a_minute_then_longer_and_is_reported_once() {
        let b = Backoffs::default();
        let first = b.failed("ns", "r", "7", Class::Permanent(403), 0.0);
        assert_eq!(first.delay, S(5), "asked once more, soon");
        assert!(!first.confirmed_refusal);
        let second = b.failed("ns", "r", "7", Class::Permanent(403), 0.0);
        assert_eq!(second.delay, S(60));
        assert!(second.confirmed_refusal, "the one Event");
        let third = b.failed("ns", "r", "7", Class::Permanent(403), 0.0);
        assert_eq!(third.delay, S(120));
        assert!(!third.confirmed_refusal, "one Event per run");
        for _ in 0..10 {
            b.failed("ns", "r", "7", Class::Permanent(422), 0.0);
        }
        assert_eq!(
            b.failed("ns", "r", "7", Class::Permanent(422), 0.0).delay,
            S(900)
        );
    }

    #[test]
    fn transient_failures_before_a_refusal_do_not_lengthen_it() {
        let b = Backoffs::default();
        for _ in 0..3 {
            b.failed("ns", "r", "7", Class::Transient, 0.0);
        }
        assert_eq!(
            b.failed("ns", "r", "7", Class::Permanent(403), 0.0).delay,
            S(5)
        );
        assert_eq!(
            b.failed("ns", "r", "7", Class::Permanent(403), 0.0).delay,
            S(60)
        );
        assert_eq!(
            b.failed("ns", "r", "7", Class::Transient, 0.0).delay,
            S(8),
            "a transient failure after refusals keeps its own count"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_holds_until_the_run_changes_or_its_time_is_up() {
        let b = Backoffs::default();
        b.failed("ns", "r", "7", Class::Permanent(403), 0.0);
        assert_eq!(b.held("ns", "r", "7"), Some(S(5)));
        tokio::time::advance(S(6)).await;
        assert_eq!(b.held("ns", "r", "7"), None);
        b.failed("ns", "r", "7", Class::Permanent(403), 0.0);
        assert_eq!(b.held("ns", "r", "7"), Some(S(60)));
        assert_eq!(b.held("ns", "r", "8"), None, "a changed run is looked at");
        assert_eq!(b.held("ns", "other", "7"), None);
        tokio::time::advance(S(61)).await;
        assert_eq!(b.held("ns", "r", "7"), None);
    }

    #[test]
    fn throttling_waits_at_least_what_the_server_asks() {
        let b = Backoffs::default();
        let d = b
            .failed("ns", "r", "1", Class::Throttled(Some(S(30))), 0.0)
            .delay;
        assert_eq!(d, S(30));
        let d = b.failed("ns", "q", "1", Class::Throttled(None), 0.0).delay;
        assert_eq!(d, S(1));
    }

    #[test]
    fn a_watch_backs_off_until_it_makes_progress() {
        let (mut backoff, progress) = WatchBackoff::new();
        kube::runtime::utils::Backoff::reset(&mut backoff);
        let delays: Vec<Duration> = (0..8).filter_map(|_| backoff.next()).collect();
        let floors = [800, 1600, 3200, 6400, 12800, 25600, 30000, 30000];
        for (d, floor) in delays.iter().zip(floors) {
            let floor = Duration::from_millis(floor);
            assert!(*d >= floor && *d <= floor * 2, "{d:?} for {floor:?}");
        }
        progress.store(true, std::sync::atomic::Ordering::Release);
        let d = backoff.next().unwrap_or_default();
        assert!(d < Duration::from_millis(1600), "{d:?}");
    }

    #[test]
    fn success_forgets_a_run() {
        let b = Backoffs::default();
        b.failed("ns", "r", "1", Class::Permanent(403), 0.0);
        b.failed("ns", "r", "1", Class::Transient, 0.0);
        assert_eq!(b.len(), 1);
        b.succeeded("ns", "r");
        assert!(b.is_empty());
        let again = b.failed("ns", "r", "1", Class::Permanent(403), 0.0);
        assert_eq!(again.delay, S(5));
    }
}
