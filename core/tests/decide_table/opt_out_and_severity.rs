//! Opted-out runs are left alone (docs/concepts.md#opting-out); the severity of each
//! reason's Event (docs/concepts.md#events).

use super::*;

#[test]
fn reconcile_disabled_annotation_leaves_the_run_alone() {
    let sets = [complete_set("set-a")];
    let cases = [
        ("stale, never decided", Run::backup()),
        (
            "stale with stored conditions",
            Run::backup().conditions(vec![
                cond(STALE, "True", "QueuedTooLong", "2026-11-26T10:31:00Z"),
                cond(
                    RECONCILED,
                    "False",
                    "AwaitingEvidence",
                    "2026-11-26T10:31:00Z",
                ),
                cond("Ready", "False", "Stuck", "2026-11-26T10:31:00Z"),
            ]),
        ),
        (
            "completed with a stored Stale=True",
            Run::backup().phase("Completed").conditions(vec![cond(
                STALE,
                "True",
                "HeartbeatExpired",
                "2026-11-26T11:11:00Z",
            )]),
        ),
        ("fresh", Run::backup().heartbeat("2026-11-26T11:59:00Z")),
        ("long abandoned", Run::of("foo.bar")),
    ];
    for (name, run) in cases {
        let run = run.annotate(RECONCILE_ANNOTATION, "disabled");
        let stored = owned(&run.0);
        for now in [NOW, "2030-01-01T00:00:00Z"] {
            let d = decide(
                &parsed(run.0.clone(), None),
                &evidence(&sets, &[]),
                ts(now),
                &Config::default(),
            );
            assert!(d.disabled, "{name}");
            assert!(!d.changed, "{name}: changed");
            assert!(d.transitions.is_empty(), "{name}: {:?}", d.transitions);
            assert_eq!(d.verdict, None, "{name}");
            assert_eq!(d.recheck_at, None, "{name}");
            assert_eq!(d.conditions, stored, "{name}");
        }
    }
    // Any other value is no opt-out.
    let run = Run::backup().annotate(RECONCILE_ANNOTATION, "enabled");
    let d = decide(
        &parsed(run.0, None),
        &evidence(&sets, &[]),
        ts(NOW),
        &Config::default(),
    );
    assert!(!d.disabled);
    assert_eq!(d.verdict.map(|v| v.reason.as_str()), Some("Succeeded"));
}

#[test]
fn event_severity_per_reason() {
    // One situation per reason; collect the severity of its Event.
    let mut seen: Vec<(String, bool)> = Vec::new();
    let mut record = |d: &Decision| {
        for t in &d.transitions {
            seen.push((t.reason.clone(), t.warning));
        }
    };
    let decide_now = |run: Run, sets: &[Parsed<BackupSet>], now: &str| {
        decide(
            &parsed(run.0, None),
            &evidence(sets, &[]),
            ts(now),
            &Config::default(),
        )
    };
    record(&decide_now(Run::of("restore.execute"), &[], NOW));
    record(&decide_now(Run::backup().no_schedule(), &[], NOW));
    record(&decide_now(
        Run::backup(),
        &[complete_set("a"), complete_set("b")],
        NOW,
    ));
    record(&decide_now(Run::backup(), &[complete_set("a")], NOW));
    record(&decide_now(
        Run::backup(),
        &[Set::named("a").counts(10, 5, 5, 0).ok()],
        NOW,
    ));
    record(&decide_now(
        Run::backup().failures(&["PermissionDenied"]),
        &[],
        NOW,
    ));
    record(&decide_now(
        Run::backup().failures(&["Throttled"]),
        &[],
        NOW,
    ));
    record(&decide_now(
        Run::backup(),
        &[Set::named("a").run_ref(RUN, None).ok()],
        NOW,
    ));
    record(&decide_now(
        Run::backup(),
        &[Set::named("a").counts(-1, 0, 0, 0).ok()],
        NOW,
    ));
    record(&decide_now(Run::backup(), &[], NOW));
    record(&decide_now(Run::backup(), &[], ABANDONED));
    record(&decide_now(Run::backup().phase("Queued"), &[], NOW));
    let stale = with_stored(
        Run::backup().0,
        &decide_now(Run::backup(), &[], NOW).conditions,
    );
    let resumed = Run(stale.clone()).heartbeat("2026-11-26T12:01:00Z");
    record(&decide_now(resumed, &[], "2026-11-26T12:02:00Z"));
    let completed = Run(stale).phase("Completed");
    record(&decide_now(completed, &[], "2026-11-26T12:02:00Z"));

    let expected = [
        ("UnsupportedFamily", true),
        ("InvalidRun", true),
        ("AmbiguousEvidence", true),
        ("Succeeded", false),
        ("PartiallySucceeded", false),
        ("Blocked", true),
        ("Failed", true),
        ("ScopeMismatch", true),
        ("InvalidEvidence", true),
        ("AwaitingEvidence", false),
        ("Abandoned", true),
        ("HeartbeatExpired", true),
        ("QueuedTooLong", true),
        ("Resumed", false),
        ("WorkerCompleted", false),
    ];
    for (reason, warning) in expected {
        let events: Vec<bool> = seen
            .iter()
            .filter(|(r, _)| r == reason)
            .map(|(_, w)| *w)
            .collect();
        assert!(!events.is_empty(), "no Event for {reason}");
        assert!(
            events.iter().all(|w| *w == warning),
            "Event for {reason} should be {}",
            if warning { "Warning" } else { "Normal" }
        );
    }
}
