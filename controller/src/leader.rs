//! Leader election on a `coordination.k8s.io` Lease, so that several replicas can run and
//! only one decides. Every write of the Lease carries the resourceVersion it read, so of
//! two candidates only one takes it; the holder stops acting at its renew deadline, before
//! its Lease can expire. Status writes stay correct even with two leaders for a moment,
//! because each carries the observed resourceVersion.
//!
//! Why not kube-lease-manager (0.13, for kube 5): it writes the Lease only with PATCH
//! (server-side apply and strategic merge), so it needs `patch` where the chart grants
//! `update`; it clears an expired holder with an unconditional patch, so two standbys can
//! both believe they lead until their next renewal; it has no renew deadline (a holder acts
//! until it sees another holder); and a standby sleeps until the holder's lease would end,
//! so it misses a release on SIGTERM.

use std::sync::Mutex;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};

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
    /// How long after its last accepted renewal the holder still acts: two thirds of the
    /// lease (client-go's 10 s of 15 s), so it stops well before a standby may take over.
    pub fn renew_deadline(&self) -> Duration {
        self.lease_duration * 2 / 3
    }
}

/// One candidate for the Lease `namespace/name`.
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timings: Timings,
    /// The `renewTime` of this candidate's last write of the Lease that the API server
    /// accepted, while it holds the Lease.
    renewed: Mutex<Option<Timestamp>>,
}

/// Why leadership ended or could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// Another holder renewed or took the Lease.
    #[error("lost the leader Lease {0} to {1}")]
    Lost(String, String),
    /// The API server could not be reached or refused the request.
    #[error("Lease {0}: {1}")]
    Api(String, kube::Error),
    /// No renewal was accepted within the renew deadline: the holder stops before its
    /// Lease can expire and a standby take it.
    #[error("could not renew the leader Lease {0} within {1:?}")]
    Expired(String, Duration),
    /// `hold` was called without holding the Lease.
    #[error("the leader Lease {0} is not held")]
    NotHeld(String),
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
            renewed: Mutex::new(None),
        }
    }

    fn renewed(&self) -> Option<Timestamp> {
        *self.renewed.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_renewed(&self, at: Option<Timestamp>) {
        *self.renewed.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    fn expired(&self, lease: &Lease) -> bool {
        let Some(spec) = &lease.spec else { return true };
        let holder = spec.holder_identity.as_deref().unwrap_or_default();
        if holder.is_empty() {
            return true;
        }
        let duration = spec
            .lease_duration_seconds
            .map_or(self.timings.lease_duration, |s| {
                Duration::from_secs(s.max(0) as u64)
            });
        let Some(renewed) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
            return true;
        };
        let until = renewed.0 + jiff::SignedDuration::try_from(duration).unwrap_or_default();
        until < Timestamp::now()
    }

    /// Whether this candidate holds the Lease and its last accepted renewal is within the
    /// renew deadline: checked right before every write, so that a leader that was frozen
    /// (or cut off) past its deadline never sends a write when it wakes up.
    pub fn is_current(&self) -> bool {
        let Some(renewed) = self.renewed() else {
            return false;
        };
        let span = SignedDuration::try_from(self.timings.renew_deadline()).unwrap_or_default();
        renewed
            .checked_add(span)
            .is_ok_and(|until| Timestamp::now() < until)
    }

    /// Tries once to take or keep the Lease; true when this candidate holds it.
    pub async fn try_acquire(&self) -> Result<bool, LeaderError> {
        let renewed = self.take().await?;
        if renewed.is_some() {
            self.set_renewed(renewed);
        }
        Ok(renewed.is_some())
    }

    /// One try to take or keep the Lease: the `renewTime` written when it is held.
    async fn take(&self) -> Result<Option<Timestamp>, LeaderError> {
        let err = |e| LeaderError::Api(self.name.clone(), e);
        let now = Timestamp::now();
        let secs = self.timings.lease_duration.as_secs() as i32;
        match self.api.get_opt(&self.name).await.map_err(err)? {
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
                match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(Some(now)),
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
                    Err(e) => Err(err(e)),
                }
            }
            Some(mut lease) => {
                let spec = lease.spec.get_or_insert_with(Default::default);
                let mine = spec.holder_identity.as_deref() == Some(self.identity.as_str());
                if !mine && !self.expired(&lease) {
                    return Ok(None);
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
                match self
                    .api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
                {
                    Ok(_) => Ok(Some(now)),
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
                    Err(e) => Err(err(e)),
                }
            }
        }
    }

    /// Waits until this candidate holds the Lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire().await {
                Ok(true) => {
                    tracing::info!(lease = %self.name, identity = %self.identity, "became leader");
                    return;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "leader election attempt failed"),
            }
            tokio::time::sleep(self.timings.retry_period).await;
        }
    }

    /// Renews the Lease every `retry_period` until it is lost, or until no renewal was
    /// accepted within the renew deadline (counted from the `renewTime` it wrote, which a
    /// standby counts the lease from too); a renewal still in flight then is abandoned.
    pub async fn hold(&self) -> LeaderError {
        let renew_deadline = self.timings.renew_deadline();
        let span = SignedDuration::try_from(renew_deadline).unwrap_or_default();
        loop {
            let Some(renewed) = self.renewed() else {
                return LeaderError::NotHeld(self.name.clone());
            };
            let until = renewed.checked_add(span).unwrap_or(renewed);
            let left =
                Duration::try_from(until.duration_since(Timestamp::now())).unwrap_or_default();
            let renew = async {
                tokio::time::sleep(self.timings.retry_period).await;
                self.try_acquire().await
            };
            tokio::select! {
                _ = tokio::time::sleep(left) => {
                    self.set_renewed(None);
                    return LeaderError::Expired(self.name.clone(), renew_deadline);
                }
                result = renew => match result {
                    Ok(true) => {}
                    Ok(false) => {
                        self.set_renewed(None);
                        return LeaderError::Lost(self.name.clone(), self.holder().await);
                    }
                    Err(e) => tracing::warn!(error = %e, "renewing the leader Lease failed; retrying"),
                },
            }
        }
    }

    /// The Lease's holder as the API server has it now ("" when unknown).
    async fn holder(&self) -> String {
        self.api
            .get_opt(&self.name)
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec.and_then(|s| s.holder_identity))
            .unwrap_or_default()
    }

    /// Gives the Lease up so a standby takes over at once (on SIGTERM).
    pub async fn release(&self) {
        self.set_renewed(None);
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
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
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.name, "released the leader Lease"),
            Err(e) => tracing::warn!(error = %e, "could not release the leader Lease"),
        }
    }
}
