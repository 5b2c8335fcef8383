//! The two conditions over time: transitions, lastTransitionTime, Events and idempotence
//! (docs/concepts.md#conditions).

use super::*;

#[test]
fn condition_lifecycle_rows() {
    const EARLIER: &str = "2026-11-26T11:20:00Z";
    let fresh = || Run::backup().heartbeat("2026-11-26T11:59:00Z");
    check(vec![
        backup("first time stale", Run::backup(), "AwaitingEvidence", 10)
            .ltt(STALE, NOW)
            .ltt(RECONCILED, NOW)
            .changed(true)
            .events(&[
                ("Stale", "HeartbeatExpired", true, None),
                ("Reconciled", "AwaitingEvidence", false, None),
            ]),
        backup(
            "unchanged run decided later: no write",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .prior_at(EARLIER)
        .ltt(STALE, EARLIER)
        .ltt(RECONCILED, EARLIER)
        .changed(false)
        .events(&[]),
        backup(
            "unchanged ambiguous decision later: no write",
            Run::backup(),
            "AmbiguousEvidence",
            3,
        )
        .sets(vec![complete_set("set-b"), complete_set("set-a")])
        .prior_at(EARLIER)
        .changed(false)
        .events(&[]),
        backup(
            "AwaitingEvidence becomes Succeeded",
            Run::backup(),
            "Succeeded",
            4,
        )
        .prior(EARLIER, Run::backup(), vec![])
        .sets(vec![complete_set("set-a")])
        .ltt(STALE, EARLIER)
        .ltt(RECONCILED, NOW)
        .changed(true)
        .events(&[("Reconciled", "Succeeded", false, Some("set-a"))]),
        backup(
            "a False decision changes reason, keeps its transition time",
            Run::backup(),
            "ScopeMismatch",
            8,
        )
        .prior(EARLIER, Run::backup(), vec![])
        .sets(vec![Set::named("set-b").run_ref(RUN, Some("other")).ok()])
        .ltt(RECONCILED, EARLIER)
        .changed(true)
        .events(&[("Reconciled", "ScopeMismatch", true, None)]),
        row(
            "worker completed after stale",
            Run::backup().phase("Completed").outcome("Succeeded"),
        )
        .prior(EARLIER, Run::backup(), vec![])
        .stale("False", "WorkerCompleted")
        .no_reconciled()
        .ltt(STALE, NOW)
        .changed(true)
        .events(&[("Stale", "WorkerCompleted", false, None)])
        .recheck_after(None),
        row("resumed after stale", fresh())
            .prior(EARLIER, Run::backup(), vec![])
            .stale("False", "Resumed")
            .no_reconciled()
            .ltt(STALE, NOW)
            .changed(true)
            .events(&[("Stale", "Resumed", false, None)])
            .recheck_after(Some(ts("2026-11-26T12:09:00Z"))),
        row("resumed keeps a final decision", fresh())
            .prior(EARLIER, Run::backup(), vec![complete_set("set-a")])
            .stale("False", "Resumed")
            .kept("Succeeded")
            .adapter(Some(BACKUP))
            .related(&["set-a"])
            .ltt(RECONCILED, EARLIER)
            .events(&[("Stale", "Resumed", false, None)]),
        row(
            "completed keeps a final decision",
            Run::backup().phase("Completed").outcome("Failed"),
        )
        .prior(EARLIER, Run::backup(), vec![complete_set("set-a")])
        .stale("False", "WorkerCompleted")
        .kept("Succeeded")
        .events(&[("Stale", "WorkerCompleted", false, None)]),
        row(
            "a final decision is not rewritten when the evidence changes",
            Run::backup(),
        )
        .prior(EARLIER, Run::backup(), vec![complete_set("set-a")])
        .sets(vec![complete_set("set-a"), complete_set("set-b")])
        .stale("True", "HeartbeatExpired")
        .kept("Succeeded")
        .related(&["set-a"])
        .changed(false)
        .events(&[])
        .recheck_after(None),
        row(
            "a final decision is not rewritten when stale again",
            Run::backup().conditions(vec![
                cond(STALE, "False", "Resumed", "2026-11-26T11:30:00Z"),
                final_decision("Blocked", Some(BACKUP)),
            ]),
        )
        .sets(vec![complete_set("set-a")])
        .stale("True", "HeartbeatExpired")
        .kept("Blocked")
        .ltt(STALE, NOW)
        .events(&[("Stale", "HeartbeatExpired", true, None)])
        .recheck_after(None),
        row(
            "a stored final decision without Stale gets Stale, nothing else",
            Run::backup().conditions(vec![final_decision("Failed", None)]),
        )
        .stale("True", "HeartbeatExpired")
        .kept("Failed")
        .adapter(None)
        .events(&[("Stale", "HeartbeatExpired", true, None)]),
        backup(
            "stale again after resume",
            Run::backup().conditions(vec![cond(
                STALE,
                "False",
                "Resumed",
                "2026-11-26T11:30:00Z",
            )]),
            "AwaitingEvidence",
            10,
        )
        .ltt(STALE, NOW)
        .ltt(RECONCILED, NOW)
        .events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "AwaitingEvidence", false, None),
        ]),
        row(
            "a stored Stale=False on a fresh run is kept",
            fresh().conditions(vec![cond(
                STALE,
                "False",
                "Resumed",
                "2026-11-26T11:30:00Z",
            )]),
        )
        .stale("False", "Resumed")
        .no_reconciled()
        .ltt(STALE, "2026-11-26T11:30:00Z")
        .changed(false)
        .events(&[]),
        row("a run that was never stale gets nothing", fresh()).fresh(ts("2026-11-26T12:09:00Z")),
        row(
            "a stale Reconciled=False alone is removed when fresh",
            fresh().conditions(vec![cond(RECONCILED, "False", "AwaitingEvidence", EARLIER)]),
        )
        .no_stale()
        .no_reconciled()
        .changed(true)
        .events(&[]),
        row("Stale follows the phase: Queued to Running", Run::backup())
            .prior(
                "2026-11-26T10:40:00Z",
                Run::backup().phase("Queued"),
                vec![],
            )
            .stale("True", "HeartbeatExpired")
            .decided("AwaitingEvidence", 10)
            .previous("Running")
            .ltt(STALE, "2026-11-26T10:40:00Z")
            .ltt(RECONCILED, "2026-11-26T10:40:00Z")
            .events(&[("Stale", "HeartbeatExpired", true, None)]),
        row(
            "foreign conditions are not the controller's",
            fresh().conditions(vec![cond("Ready", "True", "Working", EARLIER)]),
        )
        .fresh(ts("2026-11-26T12:09:00Z")),
        backup(
            "foreign conditions are left out of the owned list",
            Run::backup().conditions(vec![
                cond("Ready", "False", "Stuck", EARLIER),
                cond("Progressing", "True", "X", EARLIER),
            ]),
            "AwaitingEvidence",
            10,
        )
        .changed(true),
        backup(
            "a garbage stored Reconciled status is not final",
            Run::backup().conditions(vec![cond(RECONCILED, "Unknown", "Whatever", EARLIER)]),
            "AwaitingEvidence",
            10,
        )
        .ltt(RECONCILED, NOW),
    ]);
}

#[test]
fn written_conditions_carry_the_generation_and_whole_second_times() {
    let run = Run::backup();
    let input = parsed(run.0.clone(), None);
    let now = ts("2026-11-26T12:00:00.75Z");
    let d = decide(&input, &Evidence::default(), now, &Config::default());
    assert_eq!(d.conditions.len(), 2);
    for c in &d.conditions {
        assert_eq!(c.observed_generation, Some(3), "{c:?}");
        assert_eq!(c.last_transition_time.as_deref(), Some(NOW), "{c:?}");
        assert!(c.message.as_deref().is_some_and(|m| !m.is_empty()), "{c:?}");
    }
}

#[test]
fn the_same_decision_later_yields_byte_identical_conditions() {
    // Messages must not change with the clock: decide at several instants, all stale and
    // undecided, starting from the conditions of the first.
    let sets = [Set::named("set-a")
        .state("InProgress")
        .counts(10, 0, 0, 0)
        .ok()];
    let run = Run::backup();
    let first = decide(
        &parsed(run.0.clone(), None),
        &evidence(&sets, &[]),
        ts("2026-11-26T11:10:01Z"),
        &Config::default(),
    );
    let stored = with_stored(run.0.clone(), &first.conditions);
    for later in ["2026-11-26T12:00:00Z", "2026-11-27T00:00:00Z", ABANDON_DUE] {
        let d = decide(
            &parsed(stored.clone(), None),
            &evidence(&sets, &[]),
            ts(later),
            &Config::default(),
        );
        assert!(!d.changed, "at {later}: {:?}", d.conditions);
        assert!(d.transitions.is_empty(), "at {later}");
        assert_eq!(
            serde_json::to_string(&d.conditions).unwrap(),
            serde_json::to_string(&first.conditions).unwrap(),
            "at {later}"
        );
    }
}

#[test]
fn scope_mismatch_message_does_not_depend_on_evidence_order() {
    // The informer's store has no order; two out-of-scope sets listed either way must give
    // the same conditions, or every reconcile may rewrite the run (docs/concepts.md#idempotence).
    let a = Set::named("set-a").run_ref(RUN, Some("other")).ok();
    let b = Set::named("set-b").schedule(Some("weekly")).ok();
    let run = parsed(Run::backup().0, None);
    let one = decide(
        &run,
        &evidence(&[a.clone(), b.clone()], &[]),
        ts(NOW),
        &Config::default(),
    );
    let other = decide(&run, &evidence(&[b, a], &[]), ts(NOW), &Config::default());
    assert_eq!(one.verdict.as_ref().map(|v| v.rule.number()), Some(8));
    assert_eq!(
        serde_json::to_string(&one.conditions).unwrap(),
        serde_json::to_string(&other.conditions).unwrap(),
        "the conditions depend on the order of the evidence list"
    );
}
