//! Leader election on a `coordination.k8s.io` Lease, so that several replicas can run and
//! only one decides. Every write of the Lease carries the resourceVersion it read, so of
//! two candidates only one takes it; the holder stops acting at its renew deadline, before
//! its Lease can expire. Status writes stay correct even with two leaders for a moment,
//! because each carries the observed resourceVersion.
//!
//! No wall clock is compared with another's, as in client-go: a standby times a Lease's
//! expiry from the instant it itself last saw the Lease record change, on its own monotonic
//! clock, and the holder times its renew deadline on its monotonic clock from the start of
//! its last accepted renewal. The `renewTime` written is for people; replicas whose clocks
//! differ by minutes behave as if they agreed. Every Lease request has a deadline within the
//! retry period, so a hung connection delays a renewal, never the deadline.
//!
//! Why not kube-lease-manager (0.13, for kube 5): it writes the Lease only with PATCH
//! (server-side apply and strategic merge), so it needs `patch` where the chart grants
//! `update`; it clears an expired holder with an unconditional patch, so two standbys can
//! both believe they lead until their next renewal; it has no renew deadline (a holder acts
//! until it sees another holder); and a standby sleeps until the holder's lease would end,
//! so it misses a release on SIGTERM.

use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::time::Instant;

use crate::request::{RequestError, within};

/// Timings of the election, as client-go's defaults scaled for a small controller.
#[derive(Clone, Copy, Debug)]
pub struct Timings {
    /// How long a lease is valid without renewal.
    pub lease_duration: Duration,
    /// How often the holder renews, and how often a candidate retries.
    pub retry_period: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(2),
        }
    }
}

impl Timings {
    /// How long after the start of its last accepted renewal the holder still acts: two
    /// thirds of the lease (client-go's 10 s of 15 s), so it stops well before a standby,
    /// which counts from a later instant, may take over.
    pub fn renew_deadline(&self) -> Duration {
        self.lease_duration * 2 / 3
    }
}

/// The parts of a Lease record whose change proves its holder alive.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    holder: String,
    renew_time: Option<Timestamp>,
    acquire_time: Option<Timestamp>,
    transitions: Option<i32>,
    duration: Option<i32>,
}

impl Record {
    fn of(lease: &Lease) -> Record {
        let spec = lease.spec.clone().unwrap_or_default();
        Record {
            holder: spec.holder_identity.unwrap_or_default(),
            renew_time: spec.renew_time.map(|t| t.0),
            acquire_time: spec.acquire_time.map(|t| t.0),
            transitions: spec.lease_transitions,
            duration: spec.lease_duration_seconds,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// The last Lease record seen, and when (monotonic) it was first seen so.
    observed: Option<(Record, Instant)>,
    /// The start of this candidate's last accepted write of the Lease, while it holds it.
    renewed: Option<Instant>,
}

/// One candidate for the Lease `namespace/name`.
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timings: Timings,
    call_timeout: Duration,
    state: Mutex<State>,
}

/// Why leadership ended or could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// Another holder renewed or took the Lease.
    #[error("lost the leader Lease {0} to {1}")]
    Lost(String, String),
    /// The API server could not be reached, refused the request or did not answer in time.
    #[error("Lease {0}: {1}")]
    Api(String, RequestError),
    /// No renewal was accepted within the renew deadline: the holder stops before its
    /// Lease can expire and a standby take it.
    #[error("could not renew the leader Lease {0} within {1:?}")]
    Expired(String, Duration),
    /// `hold` was called without holding the Lease.
    #[error("the leader Lease {0} is not held")]
    NotHeld(String),
}

/// The outcome of one try to take or keep the Lease.
enum Attempt {
    /// This candidate holds it.
    Held,
    /// Another candidate holds a Lease that expires, unless renewed, after the duration given.
    HeldBy(String, Duration),
    /// The write lost a race (409): look again.
    Conflict,
}

impl Elector {
    /// A candidate named `identity` (the pod name) for Lease `namespace/name`.
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        timings: Timings,
    ) -> Self {
        Elector {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            timings,
            call_timeout: timings.retry_period,
            state: Mutex::new(State::default()),
        }
    }

    /// Gives each Lease request at most `timeout` (and never more than the retry period).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout.min(self.timings.retry_period);
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_renewed(&self, at: Option<Instant>) {
        self.state().renewed = at;
    }

    /// Notes the record read now; returns when it was first seen as it is.
    fn observe(&self, record: Record) -> Instant {
        let mut state = self.state();
        match &state.observed {
            Some((seen, at)) if *seen == record => *at,
            _ => {
                let now = Instant::now();
                state.observed = Some((record, now));
                now
            }
        }
    }

    /// Whether this candidate holds the Lease and the start of its last accepted renewal is
    /// within the renew deadline, on the monotonic clock: checked right before every write,
    /// so that a leader that was frozen (or cut off) past its deadline never sends a write
    /// when it wakes up, whatever its wall clock says.
    pub fn is_current(&self) -> bool {
        self.state()
            .renewed
            .is_some_and(|at| at.elapsed() < self.timings.renew_deadline())
    }

    /// Tries once to take or keep the Lease; true when this candidate holds it.
    pub async fn try_acquire(&self) -> Result<bool, LeaderError> {
        Ok(matches!(self.attempt().await?, Attempt::Held))
    }

    /// One try to take or keep the Lease.
    async fn attempt(&self) -> Result<Attempt, LeaderError> {
        let err = |e| LeaderError::Api(self.name.clone(), e);
        // counted from before the read: a standby sees the write later than this
        let started = Instant::now();
        let now = Timestamp::now();
        let secs = i32::try_from(self.timings.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let current = within(
            "Lease read",
            self.call_timeout,
            self.api.get_opt(&self.name),
        )
        .await
        .map_err(err)?;
        let written = match current {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..Default::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(self.identity.clone()),
                        lease_duration_seconds: Some(secs),
                        acquire_time: Some(MicroTime(now)),
                        renew_time: Some(MicroTime(now)),
                        lease_transitions: Some(0),
                        ..Default::default()
                    }),
                };
                within(
                    "Lease create",
                    self.call_timeout,
                    self.api.create(&PostParams::default(), &lease),
                )
                .await
            }
            Some(mut lease) => {
                let record = Record::of(&lease);
                let seen_at = self.observe(record.clone());
                let mine = record.holder == self.identity;
                if !mine && !record.holder.is_empty() {
                    let duration = record
                        .duration
                        .and_then(|s| u64::try_from(s).ok())
                        .map_or(self.timings.lease_duration, Duration::from_secs);
                    let seen = seen_at.elapsed();
                    if seen < duration {
                        return Ok(Attempt::HeldBy(record.holder, duration - seen));
                    }
                }
                let spec = lease.spec.get_or_insert_with(Default::default);
                if !mine {
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                    spec.acquire_time = Some(MicroTime(now));
                    spec.holder_identity = Some(self.identity.clone());
                }
                spec.lease_duration_seconds = Some(secs);
                spec.renew_time = Some(MicroTime(now));
                // replace carries the resourceVersion we read: a concurrent candidate loses
                within(
                    "Lease update",
                    self.call_timeout,
                    self.api.replace(&self.name, &PostParams::default(), &lease),
                )
                .await
            }
        };
        match written {
            Ok(lease) => {
                self.observe(Record::of(&lease));
                self.set_renewed(Some(started));
                Ok(Attempt::Held)
            }
            Err(e) if e.code() == Some(409) => Ok(Attempt::Conflict),
            Err(e) => Err(err(e)),
        }
    }

    /// Waits until this candidate holds the Lease.
    pub async fn acquire(&self) {
        loop {
            let mut wait = self.timings.retry_period;
            match self.attempt().await {
                Ok(Attempt::Held) => {
                    tracing::info!(lease = %self.name, identity = %self.identity, "became leader");
                    return;
                }
                // look again right when the Lease would expire, not up to a retry later
                Ok(Attempt::HeldBy(_, expires_in)) => {
                    wait = wait.min(expires_in + Duration::from_millis(10))
                }
                Ok(Attempt::Conflict) => {}
                Err(e) => tracing::warn!(error = %e, "leader election attempt failed"),
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Renews the Lease every `retry_period` until another candidate holds it, or until no
    /// renewal was accepted within the renew deadline (on the monotonic clock, from the start
    /// of the last accepted one); a conflict or an error is retried until then, and a
    /// renewal still in flight at the deadline is abandoned.
    pub async fn hold(&self) -> LeaderError {
        let renew_deadline = self.timings.renew_deadline();
        let mut wait = self.timings.retry_period;
        loop {
            let Some(renewed) = self.state().renewed else {
                return LeaderError::NotHeld(self.name.clone());
            };
            let deadline = renewed + renew_deadline;
            tokio::time::sleep_until((Instant::now() + wait).min(deadline)).await;
            if Instant::now() >= deadline {
                self.set_renewed(None);
                return LeaderError::Expired(self.name.clone(), renew_deadline);
            }
            let attempt = tokio::time::timeout_at(deadline, self.attempt()).await;
            wait = self.timings.retry_period;
            match attempt {
                Err(_) => {
                    self.set_renewed(None);
                    return LeaderError::Expired(self.name.clone(), renew_deadline);
                }
                Ok(Ok(Attempt::Held)) => {}
                Ok(Ok(Attempt::HeldBy(holder, _))) => {
                    self.set_renewed(None);
                    return LeaderError::Lost(self.name.clone(), holder);
                }
                Ok(Ok(Attempt::Conflict)) => {
                    // someone wrote the Lease in between; read it again soon
                    tracing::info!(lease = %self.name, "renewal conflicted; retrying");
                    wait = (self.timings.retry_period / 4).max(Duration::from_millis(100));
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "renewing the leader Lease failed; retrying");
                    wait = (self.timings.retry_period / 2).max(Duration::from_millis(100));
                }
            }
        }
    }

    /// Gives the Lease up so a standby takes over at once (on SIGTERM).
    pub async fn release(&self) {
        self.set_renewed(None);
        let Ok(Some(mut lease)) = within(
            "Lease read",
            self.call_timeout,
            self.api.get_opt(&self.name),
        )
        .await
        else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match within(
            "Lease update",
            self.call_timeout,
            self.api.replace(&self.name, &PostParams::default(), &lease),
        )
        .await
        {
            Ok(_) => tracing::info!(lease = %self.name, "released the leader Lease"),
            Err(e) => tracing::warn!(error = %e, "could not release the leader Lease"),
        }
    }
}
