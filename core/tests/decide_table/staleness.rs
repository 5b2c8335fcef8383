//! When a run is stale, and when it is looked at again (docs/concepts.md#staleness).

use super::*;

/// A stale backup run without evidence.
fn awaiting(name: &'static str, run: Run, previous: &'static str, reason: &'static str) -> Row {
    row(name, run)
        .decided("AwaitingEvidence", 10)
        .adapter(Some(BACKUP))
        .previous(previous)
        .stale("True", reason)
}

#[test]
fn staleness_rows() {
    let queued = || Run::backup().phase("Queued");
    let running = || Run::backup();
    let config = |queued: u64, heartbeat: u64| Config {
        queued_timeout: queued,
        heartbeat_timeout: heartbeat,
        ..Config::default()
    };
    check(vec![
        // Queued: reference creationTimestamp, limit 1800 s.
        row("queued, exactly at the limit", queued())
            .now("2026-11-26T10:30:00Z")
            .fresh(ts("2026-11-26T10:30:00Z")),
        awaiting(
            "queued, one second over",
            queued(),
            "Queued",
            "QueuedTooLong",
        )
        .now("2026-11-26T10:30:01Z")
        .stale_since(ts("2026-11-26T10:30:00Z"))
        .recheck_after(Some(ts("2026-11-27T10:30:00Z"))),
        row(
            "queued, sub-second at the limit",
            queued().created("2026-11-26T10:00:00.25Z"),
        )
        .now("2026-11-26T10:30:00.25Z")
        .fresh(ts("2026-11-26T10:30:00.25Z")),
        // Whole seconds: the fractional part of now is dropped before comparing.
        row(
            "queued, a millisecond over a sub-second limit, same whole second",
            queued().created("2026-11-26T10:00:00.25Z"),
        )
        .now("2026-11-26T10:30:00.251Z")
        .fresh(ts("2026-11-26T10:30:00.25Z")),
        awaiting(
            "queued, the next whole second over a sub-second limit",
            queued().created("2026-11-26T10:00:00.25Z"),
            "Queued",
            "QueuedTooLong",
        )
        .now("2026-11-26T10:30:01Z")
        .stale_since(ts("2026-11-26T10:30:00.25Z")),
        awaiting(
            "no status is Queued",
            Run::backup().no_status(),
            "Queued",
            "QueuedTooLong",
        )
        .now("2026-11-26T10:30:01Z"),
        awaiting(
            "no phase is Queued, heartbeat ignored",
            Run::backup().no_phase().heartbeat("2026-11-26T10:29:00Z"),
            "Queued",
            "QueuedTooLong",
        )
        .now("2026-11-26T10:30:01Z"),
        awaiting(
            "Queued ignores a heartbeat",
            queued()
                .heartbeat("2026-11-26T10:30:00Z")
                .started("2026-11-26T10:30:00Z"),
            "Queued",
            "QueuedTooLong",
        )
        .now("2026-11-26T10:30:01Z")
        .stale_since(ts("2026-11-26T10:30:00Z")),
        // Running: reference heartbeatTime, limit 600 s.
        row("running, exactly at the limit", running())
            .now(STALE_SINCE)
            .fresh(ts(STALE_SINCE)),
        awaiting(
            "running, one second over",
            running(),
            "Running",
            "HeartbeatExpired",
        )
        .now("2026-11-26T11:10:01Z")
        .stale_since(ts(STALE_SINCE)),
        row(
            "running, sub-second heartbeat at the limit",
            running().heartbeat("2026-11-26T11:00:00.5Z"),
        )
        .now("2026-11-26T11:10:00.5Z")
        .fresh(ts("2026-11-26T11:10:00.5Z")),
        row(
            "running, a nanosecond over a sub-second limit, same whole second",
            running().heartbeat("2026-11-26T11:00:00.5Z"),
        )
        .now("2026-11-26T11:10:00.500000001Z")
        .fresh(ts("2026-11-26T11:10:00.5Z")),
        awaiting(
            "running, the next whole second over a sub-second limit",
            running().heartbeat("2026-11-26T11:00:00.5Z"),
            "Running",
            "HeartbeatExpired",
        )
        .now("2026-11-26T11:10:01Z")
        .stale_since(ts("2026-11-26T11:10:00.5Z")),
        row("running, a fraction past the limit is not stale", running())
            .now("2026-11-26T11:10:00.999999999Z")
            .fresh(ts(STALE_SINCE)),
        awaiting(
            "running, a whole second and a fraction past the limit",
            running(),
            "Running",
            "HeartbeatExpired",
        )
        .now("2026-11-26T11:10:01.5Z")
        .stale_since(ts(STALE_SINCE)),
        row("queued, a fraction past the limit is not stale", queued())
            .now("2026-11-26T10:30:00.75Z")
            .fresh(ts("2026-11-26T10:30:00Z")),
        row(
            "heartbeat beats an older startedAt",
            running()
                .heartbeat("2026-11-26T11:55:00Z")
                .started("2026-11-26T10:00:00Z"),
        )
        .fresh(ts("2026-11-26T12:05:00Z")),
        row(
            "no heartbeat: startedAt",
            running().no_heartbeat().started("2026-11-26T11:55:00Z"),
        )
        .fresh(ts("2026-11-26T12:05:00Z")),
        awaiting(
            "no heartbeat: startedAt, stale",
            running().no_heartbeat().started("2026-11-26T11:00:00Z"),
            "Running",
            "HeartbeatExpired",
        )
        .stale_since(ts(STALE_SINCE)),
        awaiting(
            "no heartbeat, no startedAt: creation",
            running().no_heartbeat(),
            "Running",
            "HeartbeatExpired",
        )
        .stale_since(ts("2026-11-26T10:10:00Z"))
        .recheck_after(Some(ts("2026-11-27T10:10:00Z"))),
        row(
            "no heartbeat, no startedAt, fresh by creation",
            running().no_heartbeat().created("2026-11-26T11:55:00Z"),
        )
        .fresh(ts("2026-11-26T12:05:00Z")),
        // Limits: spec.timeouts over the configuration.
        row(
            "spec heartbeat timeout longer than the config",
            running().timeouts(None, Some(7200)),
        )
        .fresh(ts("2026-11-26T13:00:00Z")),
        awaiting(
            "spec heartbeat timeout shorter than the config",
            running()
                .heartbeat("2026-11-26T11:58:00Z")
                .timeouts(None, Some(60)),
            "Running",
            "HeartbeatExpired",
        )
        .config(config(1800, 7200))
        .stale_since(ts("2026-11-26T11:59:00Z")),
        awaiting(
            "spec queued timeout",
            queued().timeouts(Some(60), None),
            "Queued",
            "QueuedTooLong",
        )
        .now("2026-11-26T10:01:01Z")
        .stale_since(ts("2026-11-26T10:01:00Z")),
        row(
            "spec queued timeout does not apply to Running",
            running()
                .heartbeat("2026-11-26T11:55:00Z")
                .timeouts(Some(60), None),
        )
        .fresh(ts("2026-11-26T12:05:00Z")),
        row("config heartbeat timeout", running())
            .config(config(1800, 7200))
            .fresh(ts("2026-11-26T13:00:00Z")),
        awaiting("config queued timeout", queued(), "Queued", "QueuedTooLong")
            .config(config(60, 600))
            .now("2026-11-26T10:01:01Z")
            .stale_since(ts("2026-11-26T10:01:00Z")),
        row(
            "spec overrides config even when the config is longer",
            running().timeouts(None, Some(3600)),
        )
        .config(config(1800, 86_400))
        .now("2026-11-26T12:00:00Z")
        .fresh(ts("2026-11-26T12:00:00Z")),
        // Unknown phases count as Running.
        awaiting(
            "unknown phase",
            running().phase("Paused"),
            "Running",
            "HeartbeatExpired",
        )
        .stale_since(ts(STALE_SINCE)),
        awaiting(
            "lower-case phase is not a known one",
            running().phase("queued"),
            "Running",
            "HeartbeatExpired",
        )
        .stale_since(ts(STALE_SINCE)),
        awaiting(
            "empty phase",
            running().phase(""),
            "Running",
            "HeartbeatExpired",
        ),
        // Completed is never stale.
        row(
            "completed long ago",
            running()
                .phase("Completed")
                .outcome("Failed")
                .heartbeat("2020-01-01T00:00:00Z"),
        )
        .now("2030-01-01T00:00:00Z")
        .no_stale()
        .no_reconciled()
        .changed(false)
        .events(&[])
        .recheck_after(None),
        row(
            "completed without timestamps",
            Run::backup().no_heartbeat().phase("Completed"),
        )
        .now("2030-01-01T00:00:00Z")
        .no_stale()
        .no_reconciled()
        .recheck_after(None),
    ]);
}

/// The controller saw the heartbeat change `age` seconds ago: a worker whose clock runs
/// behind is alive (docs/concepts.md#worker-clock).
#[test]
fn heartbeat_seen_rows() {
    let running = || Run::backup();
    check(vec![
        // The heartbeat's timestamp (11:00:00Z) is an hour old at NOW, but the controller saw
        // it change 30 s ago: fresh until NOW + (600 − 30) s.
        row("alive despite an old timestamp", running())
            .seen(30)
            .fresh(ts("2026-11-26T12:09:30Z"))
            .stale_since(ts("2026-11-26T12:09:30Z")),
        row("seen just now", running())
            .seen(0)
            .fresh(ts("2026-11-26T12:10:00Z")),
        row("seen a second before the limit", running())
            .seen(599)
            .fresh(ts("2026-11-26T12:00:01Z")),
        row("the recheck follows from whole seconds of now", running())
            .seen(30)
            .now("2026-11-26T12:00:00.75Z")
            .fresh(ts("2026-11-26T12:09:30Z")),
        row(
            "a timestamp that keeps the run fresh longer wins",
            running().heartbeat("2026-11-26T11:59:00Z"),
        )
        .seen(590)
        .fresh(ts("2026-11-26T12:09:00Z")),
        row(
            "the run's own heartbeat limit applies",
            running().timeouts(None, Some(60)),
        )
        .seen(59)
        .fresh(ts("2026-11-26T12:00:01Z")),
        row("no heartbeat timestamp at all", running().no_heartbeat())
            .seen(10)
            .fresh(ts("2026-11-26T12:09:50Z")),
        // Seen long ago: the timestamp rule holds unchanged.
        awaiting(
            "seen exactly the limit ago",
            running(),
            "Running",
            "HeartbeatExpired",
        )
        .seen(600)
        .stale_since(ts(STALE_SINCE)),
        awaiting("seen long ago", running(), "Running", "HeartbeatExpired")
            .seen(86_400)
            .stale_since(ts(STALE_SINCE)),
        awaiting(
            "seen longer ago than the run's own limit",
            running()
                .heartbeat("2026-11-26T11:58:00Z")
                .timeouts(None, Some(60)),
            "Running",
            "HeartbeatExpired",
        )
        .seen(60)
        .stale_since(ts("2026-11-26T11:59:00Z")),
        // Only Running counts heartbeats.
        awaiting(
            "Queued ignores a seen heartbeat",
            running().phase("Queued"),
            "Queued",
            "QueuedTooLong",
        )
        .seen(0)
        .stale_since(ts("2026-11-26T10:30:00Z")),
        row(
            "Completed ignores a seen heartbeat",
            running().phase("Completed"),
        )
        .seen(0)
        .no_stale()
        .no_reconciled()
        .recheck_after(None),
        // A run decided stale without history, then seen heartbeating: Resumed.
        row("a stale run seen heartbeating resumes", running())
            .prior_at(NOW)
            .seen(5)
            .stale("False", "Resumed")
            .no_reconciled()
            .changed(true)
            .events(&[(STALE, "Resumed", false, None)])
            .recheck_after(Some(ts("2026-11-26T12:09:55Z"))),
    ]);
}
