//! Strategies for the leaves of the inputs (times, counts, failures, conditions, the
//! configuration) and for whole runs.

use super::*;

/// A time within a few days of the run's creation, with sub-second parts.
pub fn near_time() -> impl Strategy<Value = Timestamp> {
    (-7_200i64..5 * 86_400, 0i64..1_000_000_000)
        .prop_map(|(s, n)| base() + SignedDuration::from_secs(s) + SignedDuration::from_nanos(n))
}

/// Any representable time, extremes included.
pub fn any_time() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        3 => near_time(),
        2 => (Timestamp::MIN.as_second()..=Timestamp::MAX.as_second(), 0i32..1_000_000_000)
            .prop_map(|(s, n)| Timestamp::new(s, n).unwrap_or(Timestamp::MAX)),
        1 => Just(Timestamp::MIN),
        1 => Just(Timestamp::MAX),
    ]
}

/// A timestamp as a worker writes it: valid, far off, or garbage.
pub fn time_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => near_time().prop_map(|t| t.to_string()),
        1 => any_time().prop_map(|t| t.to_string()),
        1 => "\\PC{0,24}",
        1 => Just(String::new()),
        1 => Just("2026-13-45T99:99:99Z".to_string()),
    ]
}

/// A count: mostly plausible, sometimes negative or at the i64 extremes.
pub fn count() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => 0i64..150,
        1 => -3i64..0,
        1 => any::<i64>(),
        1 => Just(i64::MAX),
        1 => Just(i64::MIN),
    ]
}

/// Pick one of a few strings, or (rarely) an arbitrary one.
pub fn one_of(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::sample::select(pool).prop_map(str::to_string),
        1 => "\\PC{0,12}",
    ]
}

pub fn category() -> impl Strategy<Value = Option<String>> {
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

pub fn failures() -> impl Strategy<Value = Option<Vec<Failure>>> {
    popt(pvec(
        (category(), popt("\\PC{0,12}"))
            .prop_map(|(category, message)| Failure { category, message }),
        0..3,
    ))
}

pub const POLICY_TYPES: &[&str] = &[
    "deviceConfiguration",
    "compliancePolicy",
    "appProtection",
    "",
];

pub fn coverage_entry(types: &'static [&'static str]) -> impl Strategy<Value = CoverageEntry> {
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

pub fn condition() -> impl Strategy<Value = RunCondition> {
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

pub fn artifact_ref() -> impl Strategy<Value = ArtifactRef> {
    (
        one_of(&["BackupSet", "BaselineSnapshot"]),
        "[a-e]{1,3}",
        "\\PC{0,8}",
    )
        .prop_map(|(kind, name, uid)| ArtifactRef { kind, name, uid })
}

/// A stored final decision.
pub fn final_condition() -> impl Strategy<Value = RunCondition> {
    condition().prop_map(|mut c| {
        c.type_ = RECONCILED.into();
        c.status = "True".into();
        c
    })
}

pub fn run_config() -> impl Strategy<Value = Config> {
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

pub fn any_config() -> impl Strategy<Value = Config> {
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
pub fn extreme_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => any::<u64>(),
        1 => Just(0u64),
        1 => Just(u64::MAX),
        1 => (u64::MAX - 1_000_000)..=u64::MAX,
        1 => (i64::MAX as u64 - 1_000)..=(i64::MAX as u64 + 1_000),
    ]
}

/// What the generators of runs may vary.
#[derive(Clone, Copy)]
pub struct RunShape {
    /// Stored conditions beside the worker's fields.
    pub conditions: bool,
    /// Timestamps anywhere in the representable range.
    pub extreme_times: bool,
    /// Metadata other than the usual name, namespace and uid.
    pub odd_identity: bool,
}

pub fn status(
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
pub fn run(
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

pub fn any_family() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(&[BACKUP, CAPTURE, INVENTORY][..]).prop_map(str::to_string),
        1 => proptest::sample::select(UNSUPPORTED).prop_map(str::to_string),
        1 => "[a-z][a-z0-9_.*-]{0,20}",
        1 => "\\PC{0,20}",
    ]
}

/// Families that are unsupported or unknown (never one of the three adapters).
pub fn foreign_family() -> impl Strategy<Value = String> {
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
