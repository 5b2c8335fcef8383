//! Closing what stays unproven: `Abandoned` after abandonAfter (docs/concepts.md#abandonment).

use super::*;

#[test]
fn abandonment_rows() {
    let abandoned = |name: &'static str, run: Run, rule: u8, adapter: Option<&'static str>| {
        row(name, run)
            .now(ABANDONED)
            .decided("Abandoned", rule)
            .adapter(adapter)
            .stale("True", "HeartbeatExpired")
            .recheck_after(None)
    };
    check(vec![
        backup(
            "exactly at staleSince + abandonAfter",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .now(ABANDON_DUE)
        .recheck_after(Some(ts(ABANDON_DUE))),
        abandoned("one second after", Run::backup(), 10, Some(BACKUP))
            .previous("Running")
            .related(&[])
            .events(&[
                ("Stale", "HeartbeatExpired", true, None),
                ("Reconciled", "Abandoned", true, None),
            ]),
        backup(
            "a fraction of a second after (times compare in whole seconds)",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .now_ts(ts(ABANDON_DUE) + SignedDuration::from_millis(999))
        .recheck_after(Some(ts(ABANDON_DUE))),
        backup(
            "abandon-after 0 disables abandonment",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .now("2036-01-01T00:00:00Z")
        .config(Config {
            abandon_after: 0,
            ..Config::default()
        })
        .recheck_after(None),
        abandoned(
            "an unsupported family",
            Run::of("backup_set.update"),
            1,
            None,
        )
        .sets(vec![complete_set("set-a")])
        .related(&[]),
        abandoned("an unknown family", Run::of("foo.bar"), 1, None).related(&[]),
        abandoned(
            "an invalid run",
            Run::backup().no_schedule(),
            2,
            Some(BACKUP),
        ),
        abandoned(
            "ambiguous evidence keeps both artifacts",
            Run::backup(),
            3,
            Some(BACKUP),
        )
        .sets(vec![complete_set("set-b"), complete_set("set-a")])
        .related(&["set-a", "set-b"])
        .events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "Abandoned", true, Some("set-a")),
        ]),
        abandoned("scope mismatch", Run::backup(), 8, Some(BACKUP))
            .sets(vec![Set::named("set-b").run_ref(RUN, Some("other")).ok()])
            .related(&[]),
        abandoned(
            "malformed evidence keeps the artifact",
            Run::backup(),
            9,
            Some(BACKUP),
        )
        .sets(vec![Set::named("set-a").counts(1, 2, 0, 0).ok()])
        .related(&["set-a"]),
        abandoned(
            "an unfinished set keeps the artifact",
            Run::backup(),
            10,
            Some(BACKUP),
        )
        .sets(vec![Set::named("set-a").state("InProgress").ok()])
        .related(&["set-a"]),
        abandoned("capture, no snapshot", Run::capture(), 10, Some(CAPTURE)),
        abandoned(
            "inventory, no coverage",
            Run::inventory(&["a"]),
            10,
            Some(INVENTORY),
        )
        .related(&[]),
        abandoned(
            "queued run",
            Run::backup().phase("Queued"),
            10,
            Some(BACKUP),
        )
        .now("2026-11-27T10:30:01Z")
        .previous("Queued")
        .stale("True", "QueuedTooLong"),
        backup(
            "a decided run is not abandoned",
            Run::backup(),
            "Succeeded",
            4,
        )
        .now(ABANDONED)
        .sets(vec![complete_set("set-a")]),
        backup(
            "a failed run is not abandoned",
            Run::backup().failures(&["Throttled"]),
            "Failed",
            7,
        )
        .now(ABANDONED),
        backup(
            "configured abandon-after, at it",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .now("2026-11-26T11:11:00Z")
        .config(Config {
            abandon_after: 60,
            ..Config::default()
        })
        .recheck_after(Some(ts("2026-11-26T11:11:00Z"))),
        abandoned(
            "configured abandon-after, past it",
            Run::backup(),
            10,
            Some(BACKUP),
        )
        .now("2026-11-26T11:11:01Z")
        .config(Config {
            abandon_after: 60,
            ..Config::default()
        }),
        abandoned(
            "spec timeouts move staleSince, not abandon-after",
            Run::backup().timeouts(None, Some(60)),
            10,
            Some(BACKUP),
        )
        .now("2026-11-27T11:01:01Z"),
        backup(
            "spec timeouts move staleSince, not abandon-after (at it)",
            Run::backup().timeouts(None, Some(60)),
            "AwaitingEvidence",
            10,
        )
        .now("2026-11-27T11:01:00Z")
        .stale_since(ts("2026-11-26T11:01:00Z"))
        .recheck_after(Some(ts("2026-11-27T11:01:00Z"))),
        abandoned(
            "a stored AwaitingEvidence becomes Abandoned",
            Run::backup(),
            10,
            Some(BACKUP),
        )
        .prior_at("2026-11-26T11:20:00Z")
        .ltt(STALE, "2026-11-26T11:20:00Z")
        .ltt(RECONCILED, ABANDONED)
        .events(&[("Reconciled", "Abandoned", true, None)])
        .changed(true),
        row("Abandoned is final", Run::backup())
            .prior(ABANDONED, Run::backup(), vec![])
            .now("2026-11-28T00:00:00Z")
            .sets(vec![complete_set("set-a")])
            .kept("Abandoned")
            .ltt(RECONCILED, ABANDONED)
            .changed(false)
            .events(&[])
            .recheck_after(None),
    ]);
}

/// A recheck instant past what a timestamp can hold must not turn into "now".
#[test]
fn abandon_after_beyond_the_timestamp_range_schedules_no_recheck_in_the_past() {
    check(vec![
        backup(
            "abandon-after u64::MAX",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .config(Config {
            abandon_after: u64::MAX,
            ..Config::default()
        }),
        backup(
            "abandon-after i64::MAX + 1",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .config(Config {
            abandon_after: i64::MAX as u64 + 1,
            ..Config::default()
        }),
    ]);
}
