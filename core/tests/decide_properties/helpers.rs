//! What the properties share: evidence lists, stored conditions, orderings, assertions.

use super::*;

pub fn evidence<'a>(
    sets: &'a [Parsed<BackupSet>],
    snaps: &'a [Parsed<BaselineSnapshot>],
) -> Evidence<'a> {
    Evidence {
        backup_sets: sets.iter().collect(),
        baseline_snapshots: snaps.iter().collect(),
    }
}

pub fn find<'a>(conditions: &'a [RunCondition], type_: &str) -> Option<&'a RunCondition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// The run with its controller-owned conditions replaced by `conditions`, others kept.
pub fn with_stored(
    run: &Parsed<OperationRun>,
    conditions: &[RunCondition],
) -> Parsed<OperationRun> {
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
pub fn without_final(mut run: Parsed<OperationRun>) -> Parsed<OperationRun> {
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
pub fn make_stale(mut run: Parsed<OperationRun>) -> Parsed<OperationRun> {
    run.object.metadata.creation_timestamp = Some(Time(base()));
    let status = run.object.status.get_or_insert_with(Default::default);
    status.heartbeat_time = None;
    status.started_at = None;
    if status.phase.as_deref() == Some("Completed") {
        status.phase = Some("Running".into());
    }
    run
}

pub fn is_success(reason: &str) -> bool {
    reason == "Succeeded" || reason == "PartiallySucceeded"
}

/// Renames artifacts so names are unique (the API server guarantees it per kind).
pub fn unique<K: kube::Resource>(mut list: Vec<Parsed<K>>) -> Vec<Parsed<K>> {
    for (i, a) in list.iter_mut().enumerate() {
        let name = format!("{}-{i}", a.object.meta().name.clone().unwrap_or_default());
        a.object.meta_mut().name = Some(name.clone());
        a.object.meta_mut().uid = Some(format!("uid-{name}"));
    }
    list
}

pub fn permute<T: Clone>(list: &[T], order: &[usize]) -> Vec<T> {
    order.iter().map(|i| list[*i].clone()).collect()
}

pub fn shuffled<T: Clone + std::fmt::Debug>(
    list: impl Strategy<Value = Vec<T>>,
) -> impl Strategy<Value = (Vec<T>, Vec<usize>)> {
    list.prop_flat_map(|list| {
        let order: Vec<usize> = (0..list.len()).collect();
        (Just(list), Just(order).prop_shuffle())
    })
}

pub fn perfect_backup_set() -> Parsed<BackupSet> {
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

pub fn perfect_baseline_snapshot() -> Parsed<BaselineSnapshot> {
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

pub fn assert_no_success(d: &Decision) -> Result<(), TestCaseError> {
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
