//! Property tests of the decision core: invariants of SPEC §4–§6 that must hold for every
//! input, not only for the situations the table tests spell out.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use operationrun_core::decide::{ConditionType, Config, Decision, Evidence, Reason, decide};

const STALE: &str = ConditionType::Stale.as_str();
const RECONCILED: &str = ConditionType::Reconciled.as_str();
use operationrun_crds::{
    ArtifactRef, BackupSet, BackupSetSpec, BackupSetStatus, BackupSummary, BaselineSnapshot,
    BaselineSnapshotSpec, BaselineSnapshotStatus, CoverageEntry, Failure, GapCount, InventorySpec,
    InventoryStatus, LocalRef, OperationRun, OperationRunSpec, OperationRunStatus, Parsed,
    RECONCILE_ANNOTATION, RunCondition, RunRef, SnapshotSummary, Timeouts,
};
use proptest::collection::vec as pvec;
use proptest::option::of as popt;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

const NS: &str = "tenant-contoso";
const RUN: &str = "nightly-20261126";
const RUN_UID: &str = "5f0c0000-0000-0000-0000-000000000001";
const SCHEDULE: &str = "nightly";
const PROFILE: &str = "win11";

const BACKUP: &str = "backup.schedule.execute";
const CAPTURE: &str = "baseline.capture";
const INVENTORY: &str = "inventory.sync";

const UNSUPPORTED: &[&str] = &[
    "policy.sync",
    "backup_set.update",
    "restore.execute",
    "review.compose",
    "evidence.snapshot",
    "review_pack.generate",
];

/// Seconds of the run's creation, 2026-11-26T10:00:00Z.
fn base() -> Timestamp {
    "2026-11-26T10:00:00Z".parse().unwrap()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        // Failures are reported, not stored beside the sources.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// Strategies: leaves
// ---------------------------------------------------------------------------------------

/// A time within a few days of the run's creation, with sub-second parts.
fn near_time() -> impl Strategy<Value = Timestamp> {
    (-7_200i64..5 * 86_400, 0i64..1_000_000_000)
        .prop_map(|(s, n)| base() + SignedDuration::from_secs(s) + SignedDuration::from_nanos(n))
}

/// Any representable time, extremes included.
fn any_time() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        3 => near_time(),
        2 => (Timestamp::MIN.as_second()..=Timestamp::MAX.as_second(), 0i32..1_000_000_000)
            .prop_map(|(s, n)| Timestamp::new(s, n).unwrap_or(Timestamp::MAX)),
        1 => Just(Timestamp::MIN),
        1 => Just(Timestamp::MAX),
    ]
}

/// A timestamp as a worker writes it: valid, far off, or garbage.
fn time_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => near_time().prop_map(|t| t.to_string()),
        1 => any_time().prop_map(|t| t.to_string()),
        1 => "\\PC{0,24}",
        1 => Just(String::new()),
        1 => Just("2026-13-45T99:99:99Z".to_string()),
    ]
}

/// A count: mostly plausible, sometimes negative or at the i64 extremes.
fn count() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => 0i64..150,
        1 => -3i64..0,
        1 => any::<i64>(),
        1 => Just(i64::MAX),
        1 => Just(i64::MIN),
    ]
}

/// Pick one of a few strings, or (rarely) an arbitrary one.
fn one_of(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::sample::select(pool).prop_map(str::to_string),
        1 => "\\PC{0,12}",
    ]
}

fn category() -> impl Strategy<Value = Option<String>> {
    popt(one_of(&[
        "PermissionDenied",
        "ConsentMissing",
        "ConnectionMissing",
        "LicenseMissing",
        "Throttled",
        "ProviderError",
        "Timeout",
        "Internal",
        "",
    ]))
}

fn failures() -> impl Strategy<Value = Option<Vec<Failure>>> {
    popt(pvec(
        (category(), popt("\\PC{0,12}"))
            .prop_map(|(category, message)| Failure { category, message }),
        0..3,
    ))
}

const POLICY_TYPES: &[&str] = &[
    "deviceConfiguration",
    "compliancePolicy",
    "appProtection",
    "",
];

fn coverage_entry(types: &'static [&'static str]) -> impl Strategy<Value = CoverageEntry> {
    (
        popt(one_of(types)),
        popt(one_of(&["Succeeded", "Failed", "InProgress", ""])),
        popt(count()),
        category(),
    )
        .prop_map(
            |(policy_type, state, item_count, failure_category)| CoverageEntry {
                policy_type,
                state,
                item_count,
                failure_category,
            },
        )
}

fn condition() -> impl Strategy<Value = RunCondition> {
    (
        one_of(&["Stale", "Reconciled", "Ready"]),
        one_of(&["True", "False", "Unknown"]),
        popt(one_of(&[
            "HeartbeatExpired",
            "QueuedTooLong",
            "Resumed",
            "WorkerCompleted",
            "AwaitingEvidence",
            "Succeeded",
            "Abandoned",
        ])),
        popt("\\PC{0,16}"),
        popt(time_string()),
        popt(any::<i64>()),
        popt(one_of(&[BACKUP, CAPTURE, INVENTORY])),
        popt(one_of(&["Queued", "Running"])),
        popt(pvec(artifact_ref(), 0..3)),
    )
        .prop_map(
            |(type_, status, reason, message, ltt, generation, adapter, previous, related)| {
                RunCondition {
                    type_,
                    status,
                    reason,
                    message,
                    last_transition_time: ltt,
                    observed_generation: generation,
                    adapter,
                    previous_phase: previous,
                    related_artifacts: related,
                }
            },
        )
}

fn artifact_ref() -> impl Strategy<Value = ArtifactRef> {
    (
        one_of(&["BackupSet", "BaselineSnapshot"]),
        "[a-e]{1,3}",
        "\\PC{0,8}",
    )
        .prop_map(|(kind, name, uid)| ArtifactRef { kind, name, uid })
}

/// A stored final decision.
fn final_condition() -> impl Strategy<Value = RunCondition> {
    condition().prop_map(|mut c| {
        c.type_ = RECONCILED.into();
        c.status = "True".into();
        c
    })
}

fn run_config() -> impl Strategy<Value = Config> {
    (
        prop_oneof![3 => 1u64..4_000, 1 => Just(1800u64)],
        prop_oneof![3 => 1u64..4_000, 1 => Just(600u64)],
        prop_oneof![1 => Just(0u64), 3 => 1u64..200_000, 1 => Just(86_400u64)],
    )
        .prop_map(
            |(queued_timeout, heartbeat_timeout, abandon_after)| Config {
                queued_timeout,
                heartbeat_timeout,
                abandon_after,
            },
        )
}

fn any_config() -> impl Strategy<Value = Config> {
    prop_oneof![
        3 => run_config(),
        1 => (extreme_u64(), extreme_u64(), extreme_u64()).prop_map(|(q, h, a)| Config {
            queued_timeout: q,
            heartbeat_timeout: h,
            abandon_after: a,
        }),
    ]
}

/// Any u64, with its extremes and the values around the i64 boundary weighted up.
fn extreme_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => any::<u64>(),
        1 => Just(0u64),
        1 => Just(u64::MAX),
        1 => (u64::MAX - 1_000_000)..=u64::MAX,
        1 => (i64::MAX as u64 - 1_000)..=(i64::MAX as u64 + 1_000),
    ]
}

// ---------------------------------------------------------------------------------------
// Strategies: runs
// ---------------------------------------------------------------------------------------

/// What the generators of runs may vary.
#[derive(Clone, Copy)]
struct RunShape {
    /// Stored conditions beside the worker's fields.
    conditions: bool,
    /// Timestamps anywhere in the representable range.
    extreme_times: bool,
    /// Metadata other than the usual name, namespace and uid.
    odd_identity: bool,
}

fn status(
    shape: RunShape,
    types: &'static [&'static str],
) -> impl Strategy<Value = Option<OperationRunStatus>> {
    let time = move || {
        if shape.extreme_times {
            time_string().boxed()
        } else {
            near_time().prop_map(|t| t.to_string()).boxed()
        }
    };
    let conditions = if shape.conditions {
        popt(pvec(condition(), 0..4)).boxed()
    } else {
        Just(None).boxed()
    };
    let status = (
        popt(one_of(&["Queued", "Running", "Completed", "Paused"])),
        popt(one_of(&[
            "Succeeded",
            "PartiallySucceeded",
            "Blocked",
            "Failed",
            "Cancelled",
        ])),
        popt(time()),
        popt(time()),
        popt(time()),
        failures(),
        popt(popt(pvec(coverage_entry(types), 0..5))),
        conditions,
    )
        .prop_map(
            |(
                phase,
                outcome,
                started_at,
                heartbeat_time,
                completed_at,
                failures,
                coverage,
                conditions,
            )| {
                OperationRunStatus {
                    phase,
                    outcome,
                    started_at,
                    heartbeat_time,
                    completed_at,
                    failures,
                    inventory: coverage.map(|coverage| InventoryStatus { coverage }),
                    conditions,
                }
            },
        );
    popt(status)
}

/// A run of `family` with arbitrary refs, timeouts, metadata and status.
fn run(
    family: impl Strategy<Value = String>,
    shape: RunShape,
) -> impl Strategy<Value = Parsed<OperationRun>> {
    let identity = if shape.odd_identity {
        (
            prop_oneof![8 => Just(Some(RUN.to_string())), 1 => Just(None), 1 => popt("\\PC{0,8}")],
            prop_oneof![8 => Just(Some(NS.to_string())), 1 => Just(None), 1 => Just(Some("tenant-other".to_string()))],
            popt(one_of(&[RUN_UID, RUN_UID, "other-uid", ""])),
            popt(any::<i64>()),
            popt(one_of(&["disabled", "Disabled", "enabled", ""])),
            popt("\\PC{0,20}"),
        )
            .boxed()
    } else {
        (
            Just(Some(RUN.to_string())),
            Just(Some(NS.to_string())),
            Just(Some(RUN_UID.to_string())),
            Just(Some(3i64)),
            Just(None),
            Just(None),
        )
            .boxed()
    };
    let created = if shape.extreme_times {
        popt(any_time()).boxed()
    } else {
        near_time().prop_map(Some).boxed()
    };
    (
        family,
        popt(one_of(&[SCHEDULE, SCHEDULE, "weekly", ""])),
        popt(one_of(&[PROFILE, PROFILE, "mac14", ""])),
        popt(popt(pvec(one_of(POLICY_TYPES), 0..4))),
        popt((popt(count()), popt(count()))),
        identity,
        created,
        status(shape, POLICY_TYPES),
    )
        .prop_map(
            |(family, schedule, profile, types, timeouts, identity, created, status)| {
                let (name, namespace, uid, generation, annotation, problem) = identity;
                let mut run = OperationRun::new(
                    name.as_deref().unwrap_or_default(),
                    OperationRunSpec {
                        type_: family,
                        backup_schedule_ref: schedule.map(|name| LocalRef { name }),
                        baseline_profile_ref: profile.map(|name| LocalRef { name }),
                        inventory: types.map(|policy_types| InventorySpec { policy_types }),
                        timeouts: timeouts.map(|(queued_seconds, heartbeat_seconds)| Timeouts {
                            queued_seconds,
                            heartbeat_seconds,
                        }),
                    },
                );
                run.metadata.name = name;
                run.metadata.namespace = namespace;
                run.metadata.uid = uid;
                run.metadata.generation = generation;
                run.metadata.creation_timestamp = created.map(Time);
                if let Some(value) = annotation {
                    run.metadata.annotations =
                        Some([(RECONCILE_ANNOTATION.to_string(), value)].into());
                }
                run.status = status;
                Parsed {
                    object: run,
                    problem,
                }
            },
        )
}

fn any_family() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(&[BACKUP, CAPTURE, INVENTORY][..]).prop_map(str::to_string),
        1 => proptest::sample::select(UNSUPPORTED).prop_map(str::to_string),
        1 => "[a-z][a-z0-9_.*-]{0,20}",
        1 => "\\PC{0,20}",
    ]
}

/// Families that are unsupported or unknown (never one of the three adapters).
fn foreign_family() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => proptest::sample::select(UNSUPPORTED).prop_map(str::to_string),
        1 => "report\\.[a-z0-9_.*-]{1,12}",
        2 => "[a-z][a-z0-9_-]{0,10}(\\.[a-z0-9_*-]{1,10}){0,3}",
        1 => proptest::sample::select(&[
            "backup.schedule",
            "backup.schedule.execute.v2",
            "inventory.syncs",
            "baseline.capture.all",
            "report.",
        ][..])
        .prop_map(str::to_string),
    ]
    .prop_filter("not an adapter family", |f| {
        ![BACKUP, CAPTURE, INVENTORY].contains(&f.trim())
    })
}

// ---------------------------------------------------------------------------------------
// Strategies: artifacts
// ---------------------------------------------------------------------------------------

/// Counts of a BackupSet: (itemsTotal, succeeded, failed, skipped).
type SetCounts = (i64, i64, i64, i64);

fn backup_set(
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
fn snapshot(
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

fn in_scope_ref() -> RunRef {
    RunRef {
        name: RUN.into(),
        uid: Some(RUN_UID.into()),
    }
}

/// Plausible, well-formed counts, often complete.
fn good_set_counts() -> impl Strategy<Value = SetCounts> {
    (0i64..200, 0i64..200, 0i64..50, 0i64..50)
        .prop_map(|(extra, s, f, k)| (s + f + k + extra, s, f, k))
}

fn good_snap_counts() -> impl Strategy<Value = (i64, i64, Vec<i64>)> {
    (0i64..100, 0i64..100, pvec(0i64..10, 0..3)).prop_map(|(extra, captured, gaps)| {
        let total = captured + gaps.iter().sum::<i64>() + extra;
        (total, captured, gaps)
    })
}

/// Any BackupSet that could be listed for the run, in or out of scope, odd or not.
fn any_set() -> impl Strategy<Value = Parsed<BackupSet>> {
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

fn any_snapshot() -> impl Strategy<Value = Parsed<BaselineSnapshot>> {
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
fn perfect_set() -> impl Strategy<Value = Parsed<BackupSet>> {
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

fn perfect_snapshot() -> impl Strategy<Value = Parsed<BaselineSnapshot>> {
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
enum Bad {
    UidMismatch,
    UidMissing,
    UidEmpty,
    OwnerMismatch,
    OwnerMissing,
    OtherNamespace,
    MalformedCounts,
    Unreadable,
}

fn bad() -> impl Strategy<Value = Bad> {
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
fn bad_set() -> impl Strategy<Value = Parsed<BackupSet>> {
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

fn bad_snapshot() -> impl Strategy<Value = Parsed<BaselineSnapshot>> {
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

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn evidence<'a>(
    sets: &'a [Parsed<BackupSet>],
    snaps: &'a [Parsed<BaselineSnapshot>],
) -> Evidence<'a> {
    Evidence {
        backup_sets: sets.iter().collect(),
        baseline_snapshots: snaps.iter().collect(),
    }
}

fn find<'a>(conditions: &'a [RunCondition], type_: &str) -> Option<&'a RunCondition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// The run with its controller-owned conditions replaced by `conditions`, others kept.
fn with_stored(run: &Parsed<OperationRun>, conditions: &[RunCondition]) -> Parsed<OperationRun> {
    let mut run = run.clone();
    let status = run.object.status.get_or_insert_with(Default::default);
    let mut list: Vec<RunCondition> = status
        .conditions
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.type_ != STALE && c.type_ != RECONCILED)
        .collect();
    list.extend(conditions.iter().cloned());
    status.conditions = Some(list);
    run
}

/// Removes stored conditions that would be a final decision.
fn without_final(mut run: Parsed<OperationRun>) -> Parsed<OperationRun> {
    if let Some(list) = run
        .object
        .status
        .as_mut()
        .and_then(|s| s.conditions.as_mut())
    {
        list.retain(|c| !(c.type_ == RECONCILED && c.status == "True"));
    }
    run
}

/// Makes a run most likely stale at `later()`: created at `base()`, Running, no heartbeat.
fn make_stale(mut run: Parsed<OperationRun>) -> Parsed<OperationRun> {
    run.object.metadata.creation_timestamp = Some(Time(base()));
    let status = run.object.status.get_or_insert_with(Default::default);
    status.heartbeat_time = None;
    status.started_at = None;
    if status.phase.as_deref() == Some("Completed") {
        status.phase = Some("Running".into());
    }
    run
}

fn is_success(reason: &str) -> bool {
    reason == "Succeeded" || reason == "PartiallySucceeded"
}

/// Renames artifacts so names are unique (the API server guarantees it per kind).
fn unique<K: kube::Resource>(mut list: Vec<Parsed<K>>) -> Vec<Parsed<K>> {
    for (i, a) in list.iter_mut().enumerate() {
        let name = format!("{}-{i}", a.object.meta().name.clone().unwrap_or_default());
        a.object.meta_mut().name = Some(name.clone());
        a.object.meta_mut().uid = Some(format!("uid-{name}"));
    }
    list
}

fn permute<T: Clone>(list: &[T], order: &[usize]) -> Vec<T> {
    order.iter().map(|i| list[*i].clone()).collect()
}

fn shuffled<T: Clone + std::fmt::Debug>(
    list: impl Strategy<Value = Vec<T>>,
) -> impl Strategy<Value = (Vec<T>, Vec<usize>)> {
    list.prop_flat_map(|list| {
        let order: Vec<usize> = (0..list.len()).collect();
        (Just(list), Just(order).prop_shuffle())
    })
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

const REALISTIC: RunShape = RunShape {
    conditions: false,
    extreme_times: false,
    odd_identity: false,
};

const ANYTHING: RunShape = RunShape {
    conditions: true,
    extreme_times: true,
    odd_identity: true,
};

/// Stale most of the time: up to a few days after creation.
fn later() -> impl Strategy<Value = Timestamp> {
    (0i64..4 * 86_400, 0i64..1_000_000_000).prop_map(|(s, n)| {
        base() + SignedDuration::from_secs(3_600 + s) + SignedDuration::from_nanos(n)
    })
}

proptest! {
    #![proptest_config(config())]

    /// (a) Out-of-scope, invisible, malformed and wrong-kind evidence never proves success,
    /// whatever else the run recorded.
    #[test]
    fn bad_evidence_never_proves_success(
        family in proptest::sample::select(&[BACKUP, CAPTURE][..]),
        run in run(Just(String::new()), REALISTIC),
        run_uid in prop_oneof![4 => Just(Some(RUN_UID)), 1 => Just(None), 1 => Just(Some(""))],
        bad_sets in pvec(bad_set(), 0..4),
        bad_snaps in pvec(bad_snapshot(), 0..4),
        perfect_sets in pvec(perfect_set(), 0..2),
        perfect_snaps in pvec(perfect_snapshot(), 0..2),
        now in later(),
        config in run_config(),
    ) {
        let mut run = make_stale(run);
        run.object.spec.type_ = family.to_string();
        run.object.spec.backup_schedule_ref = Some(LocalRef { name: SCHEDULE.into() });
        run.object.spec.baseline_profile_ref = Some(LocalRef { name: PROFILE.into() });
        run.object.metadata.uid = run_uid.map(str::to_string);
        // The other kind may be perfect: it is the wrong kind for this family.
        let (sets, snaps) = if family == BACKUP {
            (bad_sets, [bad_snaps, perfect_snaps].concat())
        } else {
            ([bad_sets, perfect_sets].concat(), bad_snaps)
        };
        // Without the run's uid, even perfect claims are out of scope.
        let d = decide(&run, &evidence(&sets, &snaps), now, &config);
        assert_no_success(&d)?;
        if run_uid != Some(RUN_UID) {
            let sets = [sets.clone(), vec![perfect_backup_set()]].concat();
            let snaps = [snaps.clone(), vec![perfect_baseline_snapshot()]].concat();
            let d = decide(&run, &evidence(&sets, &snaps), now, &config);
            assert_no_success(&d)?;
        }
    }

    /// (a) An inventory sync whose coverage lists only types it was not asked to sync, with
    /// any artifacts claiming it, never succeeds.
    #[test]
    fn out_of_set_coverage_never_proves_success(
        run in run(Just(INVENTORY.to_string()), REALISTIC),
        asked in pvec(proptest::sample::select(&["deviceConfiguration", "compliancePolicy"][..]), 1..3),
        coverage in pvec(coverage_entry(&["appProtection", "windowsUpdate", ""]), 0..5),
        sets in pvec(perfect_set(), 0..2),
        snaps in pvec(perfect_snapshot(), 0..2),
        now in later(),
        config in run_config(),
    ) {
        let mut run = make_stale(run);
        run.object.spec.inventory = Some(InventorySpec {
            policy_types: Some(asked.iter().map(|t| t.to_string()).collect()),
        });
        let coverage: Vec<CoverageEntry> = coverage
            .into_iter()
            .filter(|e| !e.policy_type.as_deref().is_some_and(|t| asked.contains(&t.trim())))
            .collect();
        run.object.status.get_or_insert_with(Default::default).inventory =
            Some(InventoryStatus { coverage: Some(coverage) });
        let d = decide(&run, &evidence(&sets, &snaps), now, &config);
        assert_no_success(&d)?;
    }

    /// (b) A stored Reconciled=True never changes, whatever the evidence, time and phase.
    #[test]
    fn final_decision_is_never_rewritten(
        run in run(any_family(), ANYTHING),
        stored in final_condition(),
        sets in pvec(prop_oneof![any_set(), perfect_set()], 0..4),
        snaps in pvec(prop_oneof![any_snapshot(), perfect_snapshot()], 0..4),
        now in any_time(),
        config in any_config(),
    ) {
        let mut run = without_final(run);
        if let Some(list) = run.object.status.as_mut().and_then(|s| s.conditions.as_mut()) {
            list.retain(|c| c.type_ != RECONCILED);
        }
        let stale = find(
            run.object.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default(),
            STALE,
        ).cloned();
        let run = with_stored(&run, &[stale.into_iter().collect::<Vec<_>>(), vec![stored.clone()]].concat());
        let d = decide(&run, &evidence(&sets, &snaps), now, &config);
        prop_assert_eq!(find(&d.conditions, RECONCILED), Some(&stored));
        prop_assert!(!d.transitions.iter().any(|t| t.condition == ConditionType::Reconciled), "{:?}", d.transitions);
    }

    /// (c) Deciding the result again at the same instant yields byte-identical conditions
    /// and no write.
    #[test]
    fn deciding_twice_changes_nothing(
        run in run(any_family(), ANYTHING),
        sets in pvec(prop_oneof![any_set(), perfect_set()], 0..4),
        snaps in pvec(prop_oneof![any_snapshot(), perfect_snapshot()], 0..4),
        now in prop_oneof![3 => later(), 1 => any_time()],
        config in any_config(),
    ) {
        let ev = evidence(&sets, &snaps);
        let first = decide(&run, &ev, now, &config);
        let again = decide(&with_stored(&run, &first.conditions), &ev, now, &config);
        prop_assert_eq!(
            serde_json::to_string(&again.conditions).unwrap(),
            serde_json::to_string(&first.conditions).unwrap()
        );
        prop_assert!(!again.changed);
        prop_assert!(again.transitions.is_empty(), "{:?}", again.transitions);
        prop_assert_eq!(again.recheck_at, first.recheck_at);
    }

    /// (d) An unsupported or unknown family never reaches an adapter, whatever artifacts
    /// claim the run.
    #[test]
    fn foreign_families_never_reach_an_adapter(
        run in run(foreign_family(), RunShape { conditions: true, ..REALISTIC }),
        sets in pvec(prop_oneof![any_set(), perfect_set()], 0..4),
        snaps in pvec(prop_oneof![any_snapshot(), perfect_snapshot()], 0..4),
        now in later(),
        config in run_config(),
    ) {
        let run = make_stale(without_final(run));
        let d = decide(&run, &evidence(&sets, &snaps), now, &config);
        if let Some(v) = &d.verdict {
            prop_assert!(
                matches!(v.reason, Reason::UnsupportedFamily | Reason::Abandoned),
                "{:?}", v
            );
            prop_assert_eq!(v.rule.number(), 1);
            prop_assert_eq!(v.adapter, None);
            prop_assert!(v.related.is_empty());
        }
        if let Some(c) = find(&d.conditions, RECONCILED) {
            prop_assert!(
                matches!(c.reason.as_deref(), Some("UnsupportedFamily" | "Abandoned")),
                "{:?}", c
            );
            prop_assert_eq!(c.adapter.as_deref(), None);
            prop_assert!(c.related_artifacts.as_deref().unwrap_or_default().is_empty());
        }
    }

    /// (e) No input makes `decide` panic, nor deciding its own result again.
    #[test]
    fn decide_is_total(
        run in run(any_family(), ANYTHING),
        sets in pvec(any_set(), 0..4),
        snaps in pvec(any_snapshot(), 0..4),
        now in any_time(),
        config in any_config(),
    ) {
        let ev = evidence(&sets, &snaps);
        let first = decide(&run, &ev, now, &config);
        let _ = decide(&with_stored(&run, &first.conditions), &ev, now, &config);
    }

    /// The controller re-checks a run just after it becomes stale, or just after
    /// staleSince + abandonAfter (§4): never at or before the decision instant.
    #[test]
    fn recheck_is_always_in_the_future(
        run in run(any_family(), ANYTHING),
        sets in pvec(any_set(), 0..3),
        now in prop_oneof![3 => later(), 1 => any_time()],
        config in any_config(),
    ) {
        let d = decide(&run, &evidence(&sets, &[]), now, &config);
        if let Some(at) = d.recheck_at {
            prop_assert!(at > now, "recheck_at {} is not after now {}", at, now);
        }
    }

    /// (f) The decision does not depend on the order of the evidence lists.
    #[test]
    fn decision_is_independent_of_evidence_order(
        run in run(prop_oneof![3 => proptest::sample::select(&[BACKUP, CAPTURE][..]).prop_map(str::to_string), 1 => any_family()], RunShape { conditions: true, ..REALISTIC }),
        (sets, set_order) in shuffled(pvec(prop_oneof![2 => any_set(), 1 => bad_set(), 1 => perfect_set()], 0..5).prop_map(unique)),
        (snaps, snap_order) in shuffled(pvec(prop_oneof![2 => any_snapshot(), 1 => bad_snapshot(), 1 => perfect_snapshot()], 0..5).prop_map(unique)),
        now in later(),
        config in run_config(),
    ) {
        let one = decide(&run, &evidence(&sets, &snaps), now, &config);
        let (sets2, snaps2) = (permute(&sets, &set_order), permute(&snaps, &snap_order));
        let other = decide(&run, &evidence(&sets2, &snaps2), now, &config);
        prop_assert_eq!(one, other);
    }
}

fn perfect_backup_set() -> Parsed<BackupSet> {
    Parsed::ok(backup_set(
        "perfect".into(),
        Some(NS),
        Some(in_scope_ref()),
        Some(SCHEDULE.into()),
        Some("Finalized".into()),
        Some((10, 10, 0, 0)),
        None,
    ))
}

fn perfect_baseline_snapshot() -> Parsed<BaselineSnapshot> {
    Parsed::ok(snapshot(
        "perfect".into(),
        Some(NS),
        Some(in_scope_ref()),
        Some(PROFILE.into()),
        Some("Finalized".into()),
        Some((10, 10, vec![])),
        None,
        None,
    ))
}

fn assert_no_success(d: &Decision) -> Result<(), TestCaseError> {
    if let Some(v) = &d.verdict {
        prop_assert!(
            !matches!(v.reason, Reason::Succeeded | Reason::PartiallySucceeded),
            "decided {:?} from evidence that proves nothing",
            v
        );
    }
    if let Some(c) = find(&d.conditions, RECONCILED) {
        prop_assert!(
            !is_success(c.reason.as_deref().unwrap_or_default()),
            "{:?}",
            c
        );
    }
    Ok(())
}
