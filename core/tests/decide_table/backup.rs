//! `backup.schedule.execute`: every rule of the decision table (docs/concepts.md#decision-table).

use super::*;

#[test]
fn backup_schedule_execute_rows() {
    let out_of_scope = || {
        Set::named("set-b")
            .counts(120, 120, 0, 0)
            .run_ref(RUN, Some("other-uid"))
    };
    check(vec![
        // Rule 2.
        backup(
            "no schedule ref",
            Run::backup().no_schedule(),
            "InvalidRun",
            2,
        )
        .sets(vec![complete_set("set-a")])
        .related(&[]),
        backup(
            "schedule ref with an empty name",
            Run::backup().schedule(""),
            "InvalidRun",
            2,
        )
        .sets(vec![complete_set("set-a")])
        .related(&[]),
        backup(
            "run fields cannot be interpreted",
            Run::backup(),
            "InvalidRun",
            2,
        )
        .problem("status.failures: invalid type: string, expected a sequence")
        .sets(vec![complete_set("set-a")]),
        // Rule 3.
        backup("two in-scope sets", Run::backup(), "AmbiguousEvidence", 3)
            .sets(vec![complete_set("set-b"), complete_set("set-a")])
            .related(&["set-a", "set-b"])
            .events(&[
                ("Stale", "HeartbeatExpired", true, None),
                ("Reconciled", "AmbiguousEvidence", true, Some("set-a")),
            ]),
        backup(
            "a malformed and a well-formed set",
            Run::backup(),
            "AmbiguousEvidence",
            3,
        )
        .sets(vec![
            complete_set("set-a"),
            Set::named("set-b").counts(10, -1, 0, 0).ok(),
        ])
        .related(&["set-a", "set-b"]),
        // Rule 4.
        backup("finalized, all stored", Run::backup(), "Succeeded", 4)
            .sets(vec![complete_set("set-a")])
            .related(&["set-a"])
            .events(&[
                ("Stale", "HeartbeatExpired", true, None),
                ("Reconciled", "Succeeded", false, Some("set-a")),
            ])
            .recheck_after(None)
            .changed(true),
        backup(
            "finalized, rest skipped by design",
            Run::backup(),
            "Succeeded",
            4,
        )
        .sets(vec![Set::named("set-a").counts(120, 100, 0, 20).ok()])
        .related(&["set-a"]),
        backup(
            "finalized with nothing to back up",
            Run::backup(),
            "Succeeded",
            4,
        )
        .sets(vec![Set::named("set-a").counts(0, 0, 0, 0).ok()])
        .related(&["set-a"]),
        backup(
            "complete beside an out-of-scope set",
            Run::backup(),
            "Succeeded",
            4,
        )
        .sets(vec![out_of_scope().ok(), complete_set("set-a")])
        .related(&["set-a"]),
        backup(
            "complete although the run recorded a failure",
            Run::backup().failures(&["PermissionDenied"]),
            "Succeeded",
            4,
        )
        .sets(vec![complete_set("set-a")]),
        // Rule 5.
        backup(
            "finalized, some failed",
            Run::backup(),
            "PartiallySucceeded",
            5,
        )
        .sets(vec![
            Set::named("set-a")
                .counts(120, 100, 20, 0)
                .failures(&["Throttled"])
                .ok(),
        ])
        .related(&["set-a"])
        .events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "PartiallySucceeded", false, Some("set-a")),
        ]),
        backup(
            "unfinished set with stored items",
            Run::backup(),
            "PartiallySucceeded",
            5,
        )
        .sets(vec![
            Set::named("set-a")
                .state("InProgress")
                .counts(120, 10, 0, 0)
                .ok(),
        ]),
        backup(
            "finalized with unaccounted items",
            Run::backup(),
            "PartiallySucceeded",
            5,
        )
        .sets(vec![Set::named("set-a").counts(120, 100, 0, 0).ok()]),
        backup(
            "usable output outranks a precondition failure",
            Run::backup().failures(&["PermissionDenied"]),
            "PartiallySucceeded",
            5,
        )
        .sets(vec![
            Set::named("set-a")
                .state("InProgress")
                .counts(10, 5, 0, 0)
                .failures(&["ConsentMissing"])
                .ok(),
        ]),
        // Rule 6.
        backup(
            "set records a precondition failure",
            Run::backup(),
            "Blocked",
            6,
        )
        .sets(vec![
            Set::named("set-a")
                .state("InProgress")
                .counts(10, 0, 0, 0)
                .failures(&["PermissionDenied"])
                .ok(),
        ])
        .related(&["set-a"])
        .events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "Blocked", true, Some("set-a")),
        ])
        .recheck_after(None),
        backup(
            "run records ConsentMissing, no set",
            Run::backup().failures(&["ConsentMissing"]),
            "Blocked",
            6,
        )
        .related(&[]),
        backup(
            "run records ConnectionMissing",
            Run::backup().failures(&["ConnectionMissing"]),
            "Blocked",
            6,
        ),
        backup(
            "run records LicenseMissing",
            Run::backup().failures(&["LicenseMissing"]),
            "Blocked",
            6,
        ),
        backup(
            "a precondition beside execution failures",
            Run::backup().failures(&["Throttled", "LicenseMissing", ""]),
            "Blocked",
            6,
        ),
        backup(
            "precondition failure beside out-of-scope sets",
            Run::backup().failures(&["PermissionDenied"]),
            "Blocked",
            6,
        )
        .sets(vec![out_of_scope().ok()])
        .related(&[]),
        // Rule 7.
        backup(
            "failed items without a category",
            Run::backup(),
            "Failed",
            7,
        )
        .sets(vec![Set::named("set-a").counts(20, 0, 20, 0).ok()])
        .related(&["set-a"])
        .events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "Failed", true, Some("set-a")),
        ]),
        backup(
            "run records Throttled",
            Run::backup().failures(&["Throttled"]),
            "Failed",
            7,
        ),
        backup(
            "run failure without a category",
            Run::backup().failures(&[""]),
            "Failed",
            7,
        ),
        backup(
            "a category this list does not know",
            Run::backup().failures(&["QuotaExceeded"]),
            "Failed",
            7,
        ),
        backup(
            "set failures on an unfinished empty set",
            Run::backup(),
            "Failed",
            7,
        )
        .sets(vec![
            Set::named("set-a")
                .state("InProgress")
                .failures(&["ProviderError"])
                .ok(),
        ]),
        backup(
            "execution failure beside out-of-scope sets",
            Run::backup().failures(&["Timeout"]),
            "Failed",
            7,
        )
        .sets(vec![out_of_scope().ok()])
        .related(&[]),
        // Rule 8.
        backup(
            "set names another run uid",
            Run::backup(),
            "ScopeMismatch",
            8,
        )
        .sets(vec![out_of_scope().ok()])
        .related(&[])
        .events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "ScopeMismatch", true, None),
        ]),
        backup("set has no run uid", Run::backup(), "ScopeMismatch", 8)
            .sets(vec![
                Set::named("set-b")
                    .counts(120, 120, 0, 0)
                    .run_ref(RUN, None)
                    .ok(),
            ])
            .related(&[]),
        backup(
            "set has an empty run uid",
            Run::backup(),
            "ScopeMismatch",
            8,
        )
        .sets(vec![
            Set::named("set-b")
                .counts(120, 120, 0, 0)
                .run_ref(RUN, Some(""))
                .ok(),
        ]),
        backup(
            "run has no uid",
            Run::backup().uid(None),
            "ScopeMismatch",
            8,
        )
        .sets(vec![complete_set("set-a")])
        .related(&[]),
        backup(
            "both uids empty",
            Run::backup().uid(Some("")),
            "ScopeMismatch",
            8,
        )
        .sets(vec![
            Set::named("set-a")
                .counts(120, 120, 0, 0)
                .run_ref(RUN, Some(""))
                .ok(),
        ]),
        backup(
            "set names another schedule",
            Run::backup(),
            "ScopeMismatch",
            8,
        )
        .sets(vec![
            Set::named("set-a")
                .counts(120, 120, 0, 0)
                .schedule(Some("weekly"))
                .ok(),
        ])
        .related(&[]),
        backup("set names no schedule", Run::backup(), "ScopeMismatch", 8).sets(vec![
            Set::named("set-a")
                .counts(120, 120, 0, 0)
                .schedule(None)
                .ok(),
        ]),
        backup(
            "out-of-scope set records a precondition failure",
            Run::backup(),
            "ScopeMismatch",
            8,
        )
        .sets(vec![
            out_of_scope()
                .counts(10, 0, 10, 0)
                .failures(&["PermissionDenied"])
                .ok(),
        ]),
        // Rule 9.
        backup("negative count", Run::backup(), "InvalidEvidence", 9)
            .sets(vec![Set::named("set-a").counts(10, -1, 0, 0).ok()])
            .related(&["set-a"])
            .events(&[
                ("Stale", "HeartbeatExpired", true, None),
                ("Reconciled", "InvalidEvidence", true, Some("set-a")),
            ]),
        backup("negative itemsTotal", Run::backup(), "InvalidEvidence", 9)
            .sets(vec![Set::named("set-a").counts(-5, 0, 0, 0).ok()]),
        backup(
            "counts exceed itemsTotal",
            Run::backup(),
            "InvalidEvidence",
            9,
        )
        .sets(vec![Set::named("set-a").counts(10, 8, 3, 0).ok()]),
        backup("counts overflow i64", Run::backup(), "InvalidEvidence", 9).sets(vec![
            Set::named("set-a")
                .counts(i64::MAX, i64::MAX, i64::MAX, 0)
                .ok(),
        ]),
        backup("fields cannot be read", Run::backup(), "InvalidEvidence", 9)
            .sets(vec![
                Set::named("set-a")
                    .counts(120, 120, 0, 0)
                    .unreadable("status.summary.succeeded: invalid type"),
            ])
            .related(&["set-a"]),
        backup(
            "a malformed set contributes no failures",
            Run::backup(),
            "InvalidEvidence",
            9,
        )
        .sets(vec![
            Set::named("set-a")
                .counts(10, 0, 20, 0)
                .failures(&["PermissionDenied"])
                .ok(),
        ]),
        backup(
            "malformed beside an out-of-scope set",
            Run::backup(),
            "InvalidEvidence",
            9,
        )
        .sets(vec![
            out_of_scope().ok(),
            Set::named("set-a").counts(10, 0, -2, 0).ok(),
        ])
        .related(&["set-a"]),
        // Rule 10.
        backup("no set yet", Run::backup(), "AwaitingEvidence", 10)
            .related(&[])
            .events(&[
                ("Stale", "HeartbeatExpired", true, None),
                ("Reconciled", "AwaitingEvidence", false, None),
            ])
            .recheck_after(Some(ts(ABANDON_DUE)))
            .changed(true)
            .ltt(STALE, NOW)
            .ltt(RECONCILED, NOW),
        backup(
            "unfinished set stores nothing",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .sets(vec![
            Set::named("set-a")
                .state("InProgress")
                .counts(10, 0, 0, 0)
                .ok(),
        ])
        .related(&["set-a"])
        .events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "AwaitingEvidence", false, Some("set-a")),
        ]),
        backup("set without status", Run::backup(), "AwaitingEvidence", 10)
            .sets(vec![Set::named("set-a").no_status().ok()])
            .related(&["set-a"]),
        backup(
            "finalized set stores nothing and records nothing",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .sets(vec![Set::named("set-a").counts(10, 0, 0, 0).ok()]),
        backup(
            "a set in another namespace is invisible",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .sets(vec![
            Set::named("set-a")
                .counts(120, 120, 0, 0)
                .namespace("tenant-fabrikam")
                .ok(),
        ])
        .related(&[]),
        backup(
            "an out-of-scope set in another namespace is not even out of scope",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .sets(vec![out_of_scope().namespace("tenant-fabrikam").ok()]),
        backup(
            "a set naming another run is no claim",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .sets(vec![
            Set::named("set-a")
                .counts(120, 120, 0, 0)
                .run_ref("other-run", Some(RUN_UID))
                .ok(),
        ])
        .related(&[]),
        backup(
            "a BaselineSnapshot is the wrong kind",
            Run::backup(),
            "AwaitingEvidence",
            10,
        )
        .snaps(vec![complete_snap("snap-a")])
        .related(&[]),
        backup(
            "an outcome without Completed is ignored",
            Run::backup().outcome("Succeeded"),
            "AwaitingEvidence",
            10,
        ),
    ]);
}
