//! When a run counts as stale (docs/concepts.md#staleness).

use jiff::{SignedDuration, Timestamp};
use operationrun_crds::OperationRun;

use super::config::Config;
use super::vocabulary::{ReferenceField, StaleReason};

/// The phase a run is treated as being in; any unknown phase counts as Running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No status yet, or `phase: Queued`.
    Queued,
    /// `phase: Running`, or a phase this controller does not know.
    Running,
    /// The worker finished the run.
    Completed,
}

impl Phase {
    /// Reads the worker's phase leniently.
    pub fn of(run: &OperationRun) -> Phase {
        match run.status.as_ref().and_then(|s| s.phase.as_deref()) {
            None | Some("Queued") => Phase::Queued,
            Some("Completed") => Phase::Completed,
            Some(_) => Phase::Running,
        }
    }

    /// The phase's name as shown in conditions.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Queued => "Queued",
            Phase::Running => "Running",
            Phase::Completed => "Completed",
        }
    }
}

/// Where a run stands with respect to staleness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Staleness {
    /// The worker reported Completed: never stale.
    Completed,
    /// Not stale (yet); `stale_at` is the instant it becomes stale without news.
    Fresh {
        /// `reference + limit`.
        stale_at: Timestamp,
    },
    /// No time reference could be read (an object without creationTimestamp, from a
    /// dump): nothing proves the run stale.
    Unknown,
    /// Stale since `since`.
    Stale {
        /// `reference + limit`.
        since: Timestamp,
        /// Why.
        reason: StaleReason,
        /// What the limit was measured from, for the message.
        reference: Timestamp,
        /// Which timestamp the reference is.
        reference_field: ReferenceField,
        /// The limit in seconds.
        limit: u64,
        /// The phase the run is stuck in.
        phase: Phase,
    },
}

fn parse_time(value: Option<&str>) -> Option<Timestamp> {
    value.and_then(|v| v.trim().parse::<Timestamp>().ok())
}

fn timeout(over: Option<i64>, default: u64) -> u64 {
    match over {
        Some(s) if s >= 1 => s as u64,
        _ => default,
    }
}

/// Computes the staleness of `run` at `now`: stale ⇔ now − reference > limit.
pub fn staleness(run: &OperationRun, now: Timestamp, config: &Config) -> Staleness {
    let phase = Phase::of(run);
    let created = run.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let timeouts = run.spec.timeouts.as_ref();
    let status = run.status.as_ref();
    let (reference, field, limit, reason) = match phase {
        Phase::Completed => return Staleness::Completed,
        Phase::Queued => (
            created,
            ReferenceField::CreationTimestamp,
            timeout(
                timeouts.and_then(|t| t.queued_seconds),
                config.queued_timeout,
            ),
            StaleReason::QueuedTooLong,
        ),
        Phase::Running => {
            let heartbeat = parse_time(status.and_then(|s| s.heartbeat_time.as_deref()));
            let started = parse_time(status.and_then(|s| s.started_at.as_deref()));
            let (reference, field) = match (heartbeat, started) {
                (Some(h), _) => (Some(h), ReferenceField::HeartbeatTime),
                (None, Some(s)) => (Some(s), ReferenceField::StartedAt),
                (None, None) => (created, ReferenceField::CreationTimestamp),
            };
            let limit = timeout(
                timeouts.and_then(|t| t.heartbeat_seconds),
                config.heartbeat_timeout,
            );
            (reference, field, limit, StaleReason::HeartbeatExpired)
        }
    };
    let Some(reference) = reference else {
        return Staleness::Unknown;
    };
    let limit_secs = i64::try_from(limit).unwrap_or(i64::MAX);
    let Ok(since) = reference.checked_add(SignedDuration::from_secs(limit_secs)) else {
        return Staleness::Unknown;
    };
    if now > since {
        Staleness::Stale {
            since,
            reason,
            reference,
            reference_field: field,
            limit,
            phase,
        }
    } else {
        Staleness::Fresh { stale_at: since }
    }
}
