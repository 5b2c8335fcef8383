//! `baseline.capture`: every rule of the decision table (docs/concepts.md#decision-table).

use super::*;

#[test]
fn baseline_capture_rows() {
    let out_of_scope = || {
        Snap::named("snap-b")
            .counts(40, 40)
            .run_ref(RUN, Some("other-uid"))
    };
    check(vec![
        // Rule 2.
        capture(
            "no profile ref",
            Run::capture().no_profile(),
            "InvalidRun",
            2,
        )
        .snaps(vec![complete_snap("snap-a")])
        .related(&[]),
        capture(
            "profile ref with an empty name",
            Run::capture().profile(""),
            "InvalidRun",
            2,
        ),
        // Rule 3.
        capture(
            "two in-scope snapshots",
            Run::capture(),
            "AmbiguousEvidence",
            3,
        )
        .snaps(vec![complete_snap("snap-b"), complete_snap("snap-a")])
        .related(&["snap-a", "snap-b"])
        .events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "AmbiguousEvidence", true, Some("snap-a")),
        ]),
        capture(
            "a malformed and a building snapshot",
            Run::capture(),
            "AmbiguousEvidence",
            3,
        )
        .snaps(vec![
            Snap::named("snap-a").counts(1, 5).ok(),
            Snap::named("snap-b").state("Building").ok(),
        ])
        .related(&["snap-a", "snap-b"]),
        // Rule 4.
        capture("finalized, all captured", Run::capture(), "Succeeded", 4)
            .snaps(vec![complete_snap("snap-a")])
            .related(&["snap-a"])
            .events(&[
                ("Stale", "HeartbeatExpired", true, None),
                ("Reconciled", "Succeeded", false, Some("snap-a")),
            ]),
        capture("finalized empty profile", Run::capture(), "Succeeded", 4)
            .snaps(vec![Snap::named("snap-a").counts(0, 0).ok()]),
        capture("gaps listed with count 0", Run::capture(), "Succeeded", 4).snaps(vec![
            Snap::named("snap-a")
                .counts(40, 40)
                .gaps(&[("AmbiguousMatch", 0)])
                .ok(),
        ]),
        // Rule 5.
        capture(
            "finalized with gaps",
            Run::capture(),
            "PartiallySucceeded",
            5,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(40, 37)
                .gaps(&[("AmbiguousMatch", 3)])
                .ok(),
        ])
        .related(&["snap-a"]),
        capture(
            "fallback used is never complete",
            Run::capture(),
            "PartiallySucceeded",
            5,
        )
        .snaps(vec![Snap::named("snap-a").counts(40, 40).fallback().ok()]),
        capture(
            "finalized, some not captured",
            Run::capture(),
            "PartiallySucceeded",
            5,
        )
        .snaps(vec![Snap::named("snap-a").counts(40, 30).ok()]),
        capture(
            "usable output outranks a precondition failure",
            Run::capture().failures(&["PermissionDenied"]),
            "PartiallySucceeded",
            5,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(40, 20)
                .gaps(&[("MissingPermission", 20)])
                .ok(),
        ]),
        // Rule 6.
        capture(
            "snapshot records a precondition failure",
            Run::capture(),
            "Blocked",
            6,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .state("Building")
                .counts(40, 0)
                .failures(&["PermissionDenied"])
                .ok(),
        ])
        .related(&["snap-a"]),
        capture(
            "an unfinished snapshot is not usable",
            Run::capture().failures(&["LicenseMissing"]),
            "Blocked",
            6,
        )
        .snaps(vec![
            Snap::named("snap-a").state("Building").counts(40, 30).ok(),
        ]),
        // Rule 7.
        capture(
            "snapshot records an execution failure",
            Run::capture(),
            "Failed",
            7,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(40, 0)
                .failures(&["ProviderError"])
                .ok(),
        ])
        .related(&["snap-a"]),
        capture(
            "run records a failure without a category",
            Run::capture().failures(&[""]),
            "Failed",
            7,
        ),
        // Rule 8.
        capture(
            "snapshot names another profile",
            Run::capture(),
            "ScopeMismatch",
            8,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(40, 40)
                .profile(Some("mac14"))
                .ok(),
        ])
        .related(&[]),
        capture(
            "snapshot names another run uid",
            Run::capture(),
            "ScopeMismatch",
            8,
        )
        .snaps(vec![out_of_scope().ok()]),
        capture(
            "snapshot has no run uid",
            Run::capture(),
            "ScopeMismatch",
            8,
        )
        .snaps(vec![
            Snap::named("snap-a").counts(40, 40).run_ref(RUN, None).ok(),
        ]),
        capture(
            "run has no uid",
            Run::capture().uid(None),
            "ScopeMismatch",
            8,
        )
        .snaps(vec![complete_snap("snap-a")]),
        // Rule 9.
        capture(
            "captured exceeds subjectsTotal",
            Run::capture(),
            "InvalidEvidence",
            9,
        )
        .snaps(vec![Snap::named("snap-a").counts(40, 41).ok()])
        .related(&["snap-a"]),
        capture(
            "captured + gaps exceed subjectsTotal",
            Run::capture(),
            "InvalidEvidence",
            9,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(40, 38)
                .gaps(&[("FetchFailed", 3)])
                .ok(),
        ]),
        capture("negative gap count", Run::capture(), "InvalidEvidence", 9).snaps(vec![
            Snap::named("snap-a")
                .counts(40, 40)
                .gaps(&[("FetchFailed", -1)])
                .ok(),
        ]),
        capture("negative captured", Run::capture(), "InvalidEvidence", 9)
            .snaps(vec![Snap::named("snap-a").counts(40, -1).ok()]),
        capture(
            "gap counts overflow i64",
            Run::capture(),
            "InvalidEvidence",
            9,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(i64::MAX, 1)
                .gaps(&[("FetchFailed", i64::MAX), ("AmbiguousMatch", i64::MAX)])
                .ok(),
        ]),
        capture(
            "fields cannot be read",
            Run::capture(),
            "InvalidEvidence",
            9,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(40, 40)
                .unreadable("status.fallbackUsed: invalid type"),
        ]),
        capture(
            "a malformed snapshot contributes no failures",
            Run::capture(),
            "InvalidEvidence",
            9,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(1, 2)
                .failures(&["PermissionDenied"])
                .ok(),
        ]),
        // Rule 10.
        capture("no snapshot yet", Run::capture(), "AwaitingEvidence", 10)
            .related(&[])
            .recheck_after(Some(ts(ABANDON_DUE))),
        capture(
            "a building snapshot is not a baseline",
            Run::capture(),
            "AwaitingEvidence",
            10,
        )
        .snaps(vec![
            Snap::named("snap-a").state("Building").counts(40, 39).ok(),
        ])
        .related(&["snap-a"]),
        capture(
            "gap reasons are not failures",
            Run::capture(),
            "AwaitingEvidence",
            10,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(40, 0)
                .gaps(&[("MissingPermission", 40)])
                .ok(),
        ]),
        capture(
            "a snapshot in another namespace is invisible",
            Run::capture(),
            "AwaitingEvidence",
            10,
        )
        .snaps(vec![
            Snap::named("snap-a")
                .counts(40, 40)
                .namespace("tenant-fabrikam")
                .ok(),
        ]),
        capture(
            "a BackupSet is the wrong kind, its failures too",
            Run::capture(),
            "AwaitingEvidence",
            10,
        )
        .sets(vec![
            Set::named("set-a")
                .counts(10, 0, 10, 0)
                .failures(&["PermissionDenied"])
                .ok(),
        ])
        .related(&[]),
    ]);
}
