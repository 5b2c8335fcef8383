//! When a run counts as stale (docs/concepts.md#staleness), in whole seconds, and how a
//! heartbeat the controller saw change keeps a run fresh (docs/concepts.md#worker-clock).

use jiff::{SignedDuration, Timestamp};
use operationrun_crds::OperationRun;

use super::config::Config;
use super::time::whole_seconds;
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
        /// `reference + limit`; for a heartbeat the controller saw change `age` seconds ago,
        /// the later of that and `now + (limit − age)`.
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

/// How long ago the controller itself saw the run's `status.heartbeatTime` value change,
/// timed on its monotonic clock. A worker whose wall clock runs behind still proves it is
/// alive by changing its heartbeat; only the controller, which watches, can know this
/// (docs/concepts.md#worker-clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatSeen {
    /// Whole seconds since the controller saw the heartbeat change.
    pub age_secs: u64,
}

/// Computes the staleness of `run` at `now`, in whole seconds (the fractional part of
/// `now` is dropped): stale ⇔ now − reference > limit. What `evaluate` uses: no history.
pub fn staleness(run: &OperationRun, now: Timestamp, config: &Config) -> Staleness {
    staleness_seen(run, now, config, None)
}

/// [`staleness`], tolerating a worker's clock: a Running run whose heartbeat the controller
/// saw change less than the heartbeat limit ago is fresh, whatever the timestamp says.
pub fn staleness_seen(
    run: &OperationRun,
    now: Timestamp,
    config: &Config,
    seen: Option<HeartbeatSeen>,
) -> Staleness {
    let now = whole_seconds(now);
    let by_timestamp = by_timestamp(run, now, config);
    let Some(seen) = seen else {
        return by_timestamp;
    };
    if Phase::of(run) != Phase::Running {
        return by_timestamp;
    }
    let limit = heartbeat_limit(run, config);
    let Some(left) = limit.checked_sub(seen.age_secs).filter(|left| *left > 0) else {
        return by_timestamp;
    };
    let seen_stale_at = i64::try_from(left)
        .ok()
        .and_then(|left| now.checked_add(SignedDuration::from_secs(left)).ok())
        .unwrap_or(Timestamp::MAX);
    // The run becomes stale only once neither the timestamp nor the seen change keeps it
    // fresh: the later of the two instants.
    match by_timestamp {
        Staleness::Fresh { stale_at } if stale_at > seen_stale_at => by_timestamp,
        _ => Staleness::Fresh {
            stale_at: seen_stale_at,
        },
    }
}

fn heartbeat_limit(run: &OperationRun, config: &Config) -> u64 {
    timeout(
        run.spec.timeouts.as_ref().and_then(|t| t.heartbeat_seconds),
        config.heartbeat_timeout,
    )
}

/// The timestamp rule alone, `now` already in whole seconds.
fn by_timestamp(run: &OperationRun, now: Timestamp, config: &Config) -> Staleness {
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
            let limit = heartbeat_limit(run, config);
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
