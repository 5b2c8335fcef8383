//! Strategies for the evidence: BackupSets and BaselineSnapshots, good, odd and bad.

use super::*;

/// Counts of a BackupSet: (itemsTotal, succeeded, failed, skipped).
pub type SetCounts = (i64, i64, i64, i64);

pub fn backup_set(
    name: String,
    namespace: Option<&str>,
    run_ref: Option<RunRef>,
    schedule: Option<String>,
    state: Option<String>,
    counts: Option<SetCounts>,
    failures: Option<Vec<Failure>>,
) -> BackupSet {
    let mut set = BackupSet::new(
        &name,
        BackupSetSpec {
            backup_schedule_ref: schedule.map(|name| LocalRef { name }),
            operation_run_ref: run_ref,
        },
    );
    set.metadata.namespace = namespace.map(str::to_string);
    set.metadata.uid = Some(format!("uid-{name}"));
    set.status = Some(BackupSetStatus {
        state,
        summary: counts.map(|(t, s, f, k)| BackupSummary {
            items_total: Some(t),
            succeeded: Some(s),
            failed: Some(f),
            skipped: Some(k),
        }),
        failures,
    });
    set
}

#[allow(clippy::too_many_arguments)] // one argument per field a generator varies
pub fn snapshot(
    name: String,
    namespace: Option<&str>,
    run_ref: Option<RunRef>,
    profile: Option<String>,
    state: Option<String>,
    counts: Option<(i64, i64, Vec<i64>)>,
    fallback: Option<bool>,
    failures: Option<Vec<Failure>>,
) -> BaselineSnapshot {
    let mut snap = BaselineSnapshot::new(
        &name,
        BaselineSnapshotSpec {
            baseline_profile_ref: profile.map(|name| LocalRef { name }),
            operation_run_ref: run_ref,
        },
    );
    snap.metadata.namespace = namespace.map(str::to_string);
    snap.metadata.uid = Some(format!("uid-{name}"));
    snap.status = Some(BaselineSnapshotStatus {
        state,
        summary: counts.map(|(total, captured, gaps)| SnapshotSummary {
            subjects_total: Some(total),
            captured: Some(captured),
            gaps: Some(
                gaps.into_iter()
                    .map(|count| GapCount {
                        reason: Some("FetchFailed".into()),
                        count: Some(count),
                    })
                    .collect(),
            ),
        }),
        fallback_used: fallback,
        failures,
    });
    snap
}

pub fn in_scope_ref() -> RunRef {
    RunRef {
        name: RUN.into(),
        uid: Some(RUN_UID.into()),
    }
}

/// Plausible, well-formed counts, often complete.
pub fn good_set_counts() -> impl Strategy<Value = SetCounts> {
    (0i64..200, 0i64..200, 0i64..50, 0i64..50)
        .prop_map(|(extra, s, f, k)| (s + f + k + extra, s, f, k))
}

pub fn good_snap_counts() -> impl Strategy<Value = (i64, i64, Vec<i64>)> {
    (0i64..100, 0i64..100, pvec(0i64..10, 0..3)).prop_map(|(extra, captured, gaps)| {
        let total = captured + gaps.iter().sum::<i64>() + extra;
        (total, captured, gaps)
    })
}

/// Any BackupSet that could be listed for the run, in or out of scope, odd or not.
pub fn any_set() -> impl Strategy<Value = Parsed<BackupSet>> {
    (
        "[a-h]{1,2}",
        prop_oneof![6 => Just(Some(NS)), 1 => Just(Some("tenant-other")), 1 => Just(None)],
        popt((
            prop_oneof![6 => Just(RUN.to_string()), 1 => Just("other-run".to_string()), 1 => Just(String::new())],
            popt(one_of(&[RUN_UID, RUN_UID, "other-uid", ""])),
        )),
        popt(one_of(&[SCHEDULE, SCHEDULE, "weekly", ""])),
        popt(one_of(&["Finalized", "InProgress"])),
        popt(prop_oneof![3 => good_set_counts(), 1 => (count(), count(), count(), count())]),
        failures(),
        prop_oneof![9 => Just(None), 1 => Just(Some("status: invalid type".to_string()))],
    )
        .prop_map(|(name, ns, run_ref, schedule, state, counts, failures, problem)| Parsed {
            object: backup_set(
                name,
                ns,
                run_ref.map(|(name, uid)| RunRef { name, uid }),
                schedule,
                state,
                counts,
                failures,
            ),
            problem,
        })
}

pub fn any_snapshot() -> impl Strategy<Value = Parsed<BaselineSnapshot>> {
    (
        "[a-h]{1,2}",
        prop_oneof![6 => Just(Some(NS)), 1 => Just(Some("tenant-other")), 1 => Just(None)],
        popt((
            prop_oneof![6 => Just(RUN.to_string()), 1 => Just("other-run".to_string()), 1 => Just(String::new())],
            popt(one_of(&[RUN_UID, RUN_UID, "other-uid", ""])),
        )),
        popt(one_of(&[PROFILE, PROFILE, "mac14", ""])),
        popt(one_of(&["Finalized", "Building"])),
        popt(prop_oneof![3 => good_snap_counts(), 1 => (count(), count(), pvec(count(), 0..3))]),
        popt(any::<bool>()),
        (failures(), prop_oneof![9 => Just(None), 1 => Just(Some("status: invalid type".to_string()))]),
    )
        .prop_map(
            |(name, ns, run_ref, profile, state, counts, fallback, (failures, problem))| Parsed {
                object: snapshot(
                    name,
                    ns,
                    run_ref.map(|(name, uid)| RunRef { name, uid }),
                    profile,
                    state,
                    counts,
                    fallback,
                    failures,
                ),
                problem,
            },
        )
}

/// A complete, in-scope BackupSet (for runs that must not borrow it).
pub fn perfect_set() -> impl Strategy<Value = Parsed<BackupSet>> {
    ("[a-h]{1,2}", 0i64..500).prop_map(|(name, n)| {
        Parsed::ok(backup_set(
            name,
            Some(NS),
            Some(in_scope_ref()),
            Some(SCHEDULE.into()),
            Some("Finalized".into()),
            Some((n, n, 0, 0)),
            None,
        ))
    })
}

pub fn perfect_snapshot() -> impl Strategy<Value = Parsed<BaselineSnapshot>> {
    ("[a-h]{1,2}", 0i64..500).prop_map(|(name, n)| {
        Parsed::ok(snapshot(
            name,
            Some(NS),
            Some(in_scope_ref()),
            Some(PROFILE.into()),
            Some("Finalized".into()),
            Some((n, n, vec![])),
            None,
            None,
        ))
    })
}

/// Why a piece of evidence must not count.
#[derive(Clone, Copy, Debug)]
pub enum Bad {
    UidMismatch,
    UidMissing,
    UidEmpty,
    OwnerMismatch,
    OwnerMissing,
    OtherNamespace,
    MalformedCounts,
    Unreadable,
}

pub fn bad() -> impl Strategy<Value = Bad> {
    proptest::sample::select(
        &[
            Bad::UidMismatch,
            Bad::UidMissing,
            Bad::UidEmpty,
            Bad::OwnerMismatch,
            Bad::OwnerMissing,
            Bad::OtherNamespace,
            Bad::MalformedCounts,
            Bad::Unreadable,
        ][..],
    )
}

/// A BackupSet that must never prove anything: out of scope, invisible or malformed, with
/// otherwise arbitrary (often complete) contents.
pub fn bad_set() -> impl Strategy<Value = Parsed<BackupSet>> {
    (
        "[a-h]{1,2}",
        bad(),
        prop_oneof![2 => good_set_counts(), 1 => (count(), count(), count(), count())],
        popt(one_of(&["Finalized", "InProgress"])),
        failures(),
        (0u8..4, 1i64..1000),
    )
        .prop_map(|(name, bad, counts, state, failures, (how, by))| {
            let mut run_ref = in_scope_ref();
            let mut schedule = Some(SCHEDULE.to_string());
            let mut namespace = NS;
            let mut counts = counts;
            let mut problem = None;
            match bad {
                Bad::UidMismatch => run_ref.uid = Some("other-uid".into()),
                Bad::UidMissing => run_ref.uid = None,
                Bad::UidEmpty => run_ref.uid = Some(String::new()),
                Bad::OwnerMismatch => schedule = Some("weekly".into()),
                Bad::OwnerMissing => schedule = None,
                Bad::OtherNamespace => namespace = "tenant-other",
                Bad::Unreadable => problem = Some("status.summary: invalid type".to_string()),
                Bad::MalformedCounts => {
                    let (t, s, f, k) = counts;
                    counts = match how {
                        0 => (t, -by, f, k),
                        1 => (-by, s, f, k),
                        2 => (t, s, f.checked_neg().unwrap_or(-1).min(-1), k),
                        _ => (t.clamp(0, 1 << 40), t.clamp(0, 1 << 40) + by, f, k),
                    };
                    let (t, s, f, k) = counts;
                    let malformed = t < 0
                        || s < 0
                        || f < 0
                        || k < 0
                        || (s as i128 + f as i128 + k as i128) > t as i128;
                    if !malformed {
                        counts = (t, -1, f, k);
                    }
                }
            }
            Parsed {
                object: backup_set(
                    name,
                    Some(namespace),
                    Some(run_ref),
                    schedule,
                    state,
                    Some(counts),
                    failures,
                ),
                problem,
            }
        })
}

pub fn bad_snapshot() -> impl Strategy<Value = Parsed<BaselineSnapshot>> {
    (
        "[a-h]{1,2}",
        bad(),
        prop_oneof![2 => good_snap_counts(), 1 => (count(), count(), pvec(count(), 0..3))],
        popt(one_of(&["Finalized", "Building"])),
        popt(any::<bool>()),
        failures(),
        (0u8..3, 1i64..1000),
    )
        .prop_map(
            |(name, bad, counts, state, fallback, failures, (how, by))| {
                let mut run_ref = in_scope_ref();
                let mut profile = Some(PROFILE.to_string());
                let mut namespace = NS;
                let mut counts = counts;
                let mut problem = None;
                match bad {
                    Bad::UidMismatch => run_ref.uid = Some("other-uid".into()),
                    Bad::UidMissing => run_ref.uid = None,
                    Bad::UidEmpty => run_ref.uid = Some(String::new()),
                    Bad::OwnerMismatch => profile = Some("mac14".into()),
                    Bad::OwnerMissing => profile = None,
                    Bad::OtherNamespace => namespace = "tenant-other",
                    Bad::Unreadable => problem = Some("status.summary: invalid type".to_string()),
                    Bad::MalformedCounts => {
                        let (t, c, mut gaps) = counts;
                        counts = match how {
                            0 => (t, -by, gaps),
                            1 => {
                                gaps.push(-by);
                                (t, c, gaps)
                            }
                            _ => (t.clamp(0, 1 << 40), t.clamp(0, 1 << 40) + by, gaps),
                        };
                        let (t, c, gaps) = &counts;
                        let sum: i128 = *c as i128 + gaps.iter().map(|g| *g as i128).sum::<i128>();
                        let malformed =
                            *t < 0 || *c < 0 || gaps.iter().any(|g| *g < 0) || sum > *t as i128;
                        if !malformed {
                            counts.1 = -1;
                        }
                    }
                }
                Parsed {
                    object: snapshot(
                        name,
                        Some(namespace),
                        Some(run_ref),
                        profile,
                        state,
                        Some(counts),
                        fallback,
                        failures,
                    ),
                    problem,
                }
            },
        )
}
