//! The properties themselves.

use super::*;

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
    /// staleSince + abandonAfter (docs/concepts.md#rechecks): never at or before the decision
    /// instant.
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

    /// Without history, `decide_seen` is `decide`; with a heartbeat seen as long ago as the
    /// limit or longer, or a run not Running, history changes nothing; a Running run whose
    /// heartbeat was seen within the limit is fresh and re-checked in the future
    /// (docs/concepts.md#worker-clock).
    #[test]
    fn a_seen_heartbeat_only_keeps_running_runs_fresh(
        run in run(any_family(), ANYTHING),
        sets in pvec(any_set(), 0..3),
        now in prop_oneof![3 => later(), 1 => any_time()],
        config in any_config(),
        age in prop_oneof![2 => 0u64..1_200, 1 => any::<u64>()],
    ) {
        let ev = evidence(&sets, &[]);
        let plain = decide(&run, &ev, now, &config);
        prop_assert_eq!(&decide_seen(&run, &ev, now, &config, None), &plain);
        let seen = decide_seen(&run, &ev, now, &config, Some(HeartbeatSeen { age_secs: age }));
        let limit = match run.object.spec.timeouts.as_ref().and_then(|t| t.heartbeat_seconds) {
            Some(s) if s >= 1 => s as u64,
            _ => config.heartbeat_timeout,
        };
        if Phase::of(&run.object) != Phase::Running || age >= limit {
            prop_assert_eq!(seen, plain);
        } else {
            prop_assert!(matches!(seen.staleness, Staleness::Fresh { .. }), "{:?}", seen.staleness);
            prop_assert!(seen.verdict.is_none());
            if let Some(at) = seen.recheck_at {
                prop_assert!(at > now, "recheck_at {} is not after now {}", at, now);
            }
        }
    }
}
