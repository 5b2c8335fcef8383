//! Deciding a row and checking it: its own expectations, then the invariants of every decision.

use super::*;

pub fn parsed(run: OperationRun, problem: Option<&str>) -> Parsed<OperationRun> {
    Parsed {
        object: run,
        problem: problem.map(str::to_string),
    }
}

pub fn evidence<'a>(
    sets: &'a [Parsed<BackupSet>],
    snaps: &'a [Parsed<BaselineSnapshot>],
) -> Evidence<'a> {
    Evidence {
        backup_sets: sets.iter().collect(),
        baseline_snapshots: snaps.iter().collect(),
    }
}

pub fn owned(run: &OperationRun) -> Vec<RunCondition> {
    run.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.type_ == STALE || c.type_ == RECONCILED)
        .cloned()
        .collect()
}

/// The run with its controller-owned conditions replaced by `conditions` (others kept).
pub fn with_stored(mut run: OperationRun, conditions: &[RunCondition]) -> OperationRun {
    let status = run.status.get_or_insert_with(Default::default);
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

pub fn find<'a>(conditions: &'a [RunCondition], type_: &str) -> Option<&'a RunCondition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Kubernetes timestamps have whole seconds.
pub fn whole_seconds(t: Timestamp) -> Timestamp {
    let s = t.as_second();
    let s = if t.subsec_nanosecond() < 0 { s - 1 } else { s };
    Timestamp::from_second(s).unwrap()
}

pub fn parse_ltt(c: &RunCondition) -> Option<Timestamp> {
    c.last_transition_time
        .as_deref()
        .and_then(|t| t.parse().ok())
}

/// Decides a row; returns the decision, the run as decided and every mismatch.
pub fn run_row(r: &Row) -> (Decision, Vec<String>) {
    let mut errors = Vec::new();
    let mut run = r.run.0.clone();
    if let Some(prior) = &r.prior {
        let prior_run = prior
            .run
            .as_ref()
            .map_or_else(|| run.clone(), |p| p.0.clone());
        let prior_sets = prior.sets.as_ref().unwrap_or(&r.sets);
        let before = decide(
            &parsed(prior_run, r.problem),
            &evidence(prior_sets, &r.snaps),
            ts(prior.at),
            &r.config,
        );
        run = with_stored(run, &before.conditions);
    }
    let input = parsed(run.clone(), r.problem);
    let d = decide_seen(
        &input,
        &evidence(&r.sets, &r.snaps),
        r.now,
        &r.config,
        r.seen,
    );
    let mut err = |m: String| errors.push(format!("[{}] {m}", r.name));

    // --- this row's expectations ---
    let stale = find(&d.conditions, STALE);
    let reconciled = find(&d.conditions, RECONCILED);
    if let Some(expected) = r.stale {
        let actual = stale.map(|c| (c.status.as_str(), c.reason.as_deref().unwrap_or("")));
        if actual != expected {
            err(format!("Stale is {actual:?}, expected {expected:?}"));
        }
    }
    if let Some(expected) = r.reconciled {
        let actual = reconciled.map(|c| (c.status.as_str(), c.reason.as_deref().unwrap_or("")));
        if actual != expected {
            err(format!("Reconciled is {actual:?}, expected {expected:?}"));
        }
    }
    if let Some(expected) = r.rule {
        let actual = d.verdict.as_ref().map(|v| v.rule.number());
        if actual != expected {
            err(format!("rule is {actual:?}, expected {expected:?}"));
        }
    }
    if let Some(expected) = r.adapter {
        match reconciled {
            Some(c) if c.adapter.as_deref() == expected => {}
            Some(c) => err(format!("adapter is {:?}, expected {expected:?}", c.adapter)),
            None => err("no Reconciled condition to carry the adapter".into()),
        }
    }
    if let Some(expected) = r.previous_phase {
        let actual = reconciled.and_then(|c| c.previous_phase.as_deref());
        if actual != Some(expected) {
            err(format!("previousPhase is {actual:?}, expected {expected}"));
        }
    }
    if let Some(expected) = &r.related {
        match reconciled.map(|c| &c.related_artifacts) {
            Some(Some(list)) => {
                let names: Vec<&str> = list.iter().map(|a| a.name.as_str()).collect();
                if names != *expected {
                    err(format!("relatedArtifacts {names:?}, expected {expected:?}"));
                }
                let uids_ok = list.iter().all(|a| a.uid == format!("uid-{}", a.name));
                let kinds_ok = list
                    .iter()
                    .all(|a| a.kind == "BackupSet" || a.kind == "BaselineSnapshot");
                if !uids_ok || !kinds_ok {
                    err(format!("relatedArtifacts carry wrong kind/uid: {list:?}"));
                }
            }
            other => err(format!(
                "relatedArtifacts is {other:?}, expected {expected:?}"
            )),
        }
    }
    if let Some(expected) = &r.events {
        let actual: Vec<(String, String, bool, Option<String>)> = d
            .transitions
            .iter()
            .map(|t| {
                (
                    t.condition.to_string(),
                    t.reason.clone(),
                    t.warning,
                    t.related.as_ref().map(|a| a.name.clone()),
                )
            })
            .collect();
        let expected: Vec<(String, String, bool, Option<String>)> = expected
            .iter()
            .map(|(c, reason, w, rel)| {
                (
                    c.to_string(),
                    reason.to_string(),
                    *w,
                    rel.map(str::to_string),
                )
            })
            .collect();
        if actual != expected {
            err(format!("events {actual:?}, expected {expected:?}"));
        }
    }
    if let Some(expected) = r.recheck_after {
        match (d.recheck_at, expected) {
            (None, None) => {}
            (Some(at), Some(instant))
                if at > instant && at <= instant + SignedDuration::from_secs(1) => {}
            (actual, _) => err(format!(
                "recheck_at {actual:?}, expected just after {expected:?}"
            )),
        }
    }
    if let Some(expected) = r.changed
        && d.changed != expected
    {
        err(format!("changed is {}, expected {expected}", d.changed));
    }
    if let Some(expected) = r.stale_since {
        match &d.staleness {
            Staleness::Stale { since, .. } if *since == expected => {}
            Staleness::Fresh { stale_at } if *stale_at == expected => {}
            other => err(format!(
                "staleness {other:?}, expected staleSince {expected}"
            )),
        }
    }
    for (type_, at) in &r.ltt {
        let actual = find(&d.conditions, type_).and_then(parse_ltt);
        if actual != Some(ts(at)) {
            err(format!(
                "{type_} lastTransitionTime {actual:?}, expected {at}"
            ));
        }
    }

    // --- invariants of every decision ---
    invariants(&input, &d, r.now, &r.config, &mut err);
    (d, errors)
}

pub fn invariants(
    input: &Parsed<OperationRun>,
    d: &Decision,
    now: Timestamp,
    config: &Config,
    err: &mut impl FnMut(String),
) {
    let stored = owned(&input.object);
    let stored_stale = find(&stored, STALE);
    let stored_reconciled = find(&stored, RECONCILED);

    // Only the controller's own conditions, Stale first, each at most once.
    let types: Vec<&str> = d.conditions.iter().map(|c| c.type_.as_str()).collect();
    if !matches!(
        types.as_slice(),
        [] | ["Stale"] | ["Reconciled"] | ["Stale", "Reconciled"]
    ) {
        err(format!("conditions are {types:?}"));
    }
    // changed ⇔ the owned conditions differ from the stored ones.
    if d.changed != (d.conditions != stored) {
        err(format!(
            "changed is {} but conditions {}",
            d.changed,
            if d.conditions == stored {
                "equal the stored ones"
            } else {
                "differ"
            }
        ));
    }
    // Reconciled=True is final.
    if let Some(s) = stored_reconciled.filter(|c| c.status == "True")
        && find(&d.conditions, RECONCILED) != Some(s)
    {
        err("a stored Reconciled=True was rewritten".into());
    }
    // lastTransitionTime moves exactly when status moves.
    for c in &d.conditions {
        let before = find(&stored, &c.type_);
        let Some(ltt) = parse_ltt(c) else {
            err(format!("{} has no readable lastTransitionTime", c.type_));
            continue;
        };
        match before {
            Some(b) if b.status == c.status => {
                if let Some(kept) = parse_ltt(b)
                    && kept != ltt
                {
                    err(format!(
                        "{} kept its status but lastTransitionTime moved from {kept} to {ltt}",
                        c.type_
                    ));
                }
            }
            _ => {
                if ltt != whole_seconds(now) {
                    err(format!(
                        "{} changed status but lastTransitionTime is {ltt}, not now",
                        c.type_
                    ));
                }
            }
        }
    }
    // Events: one per transition, severity per reason, related = first related artifact.
    for t in &d.transitions {
        if t.warning != documented_warning(&t.reason) {
            err(format!(
                "Event for {} {} is {}, docs/concepts.md#events says {}",
                t.condition,
                t.reason,
                if t.warning { "Warning" } else { "Normal" },
                if documented_warning(&t.reason) {
                    "Warning"
                } else {
                    "Normal"
                }
            ));
        }
        let Some(c) = find(&d.conditions, t.condition.as_str()) else {
            err(format!("Event for {} without the condition", t.condition));
            continue;
        };
        if c.reason.as_deref() != Some(t.reason.as_str()) {
            err(format!(
                "Event reason {} differs from the condition's",
                t.reason
            ));
        }
        let first = c
            .related_artifacts
            .as_ref()
            .and_then(|l| l.first())
            .cloned();
        if t.related != first {
            err(format!(
                "Event for {} relates {:?}, expected the first related artifact {first:?}",
                t.condition, t.related
            ));
        }
    }
    let stale_moved = find(&d.conditions, STALE)
        .is_some_and(|c| stored_stale.is_none_or(|s| s.status != c.status || s.reason != c.reason));
    let reconciled_moved = find(&d.conditions, RECONCILED).is_some_and(|c| {
        stored_reconciled.is_none_or(|s| s.status != c.status || s.reason != c.reason)
    });
    let expected_events = usize::from(stale_moved) + usize::from(reconciled_moved);
    if d.transitions.len() != expected_events {
        err(format!(
            "{} Events for {expected_events} condition transitions",
            d.transitions.len()
        ));
    }
    // Stale tells the truth once written; never written for a run that was never stale.
    match (&d.staleness, find(&d.conditions, STALE)) {
        (Staleness::Stale { .. }, Some(c)) if c.status == "True" => {}
        (Staleness::Stale { .. }, c) => err(format!("stale run with Stale {c:?}")),
        (_, Some(c)) if c.status == "True" => err("fresh run with Stale=True".into()),
        (_, None) if stored_stale.is_some() => err("a written Stale disappeared".into()),
        (_, Some(_)) if stored_stale.is_none() => {
            err("Stale written for a run that was never stale".into())
        }
        _ => {}
    }
    // Reconciled=False only while stale.
    if !matches!(d.staleness, Staleness::Stale { .. })
        && find(&d.conditions, RECONCILED).is_some_and(|c| c.status != "True")
    {
        err("Reconciled=False kept on a run that is not stale".into());
    }
    // Re-check just after staleSince (fresh), or staleSince + abandonAfter (stale,
    // undecided, abandonment on); otherwise none.
    let due = match &d.staleness {
        Staleness::Fresh { stale_at } => Some(*stale_at),
        Staleness::Stale { since, .. }
            if config.abandon_after > 0
                && find(&d.conditions, RECONCILED).is_some_and(|c| c.status != "True") =>
        {
            i64::try_from(config.abandon_after)
                .ok()
                .and_then(|s| since.checked_add(SignedDuration::from_secs(s)).ok())
        }
        _ => None,
    };
    match (d.recheck_at, due) {
        (None, None) => {}
        (Some(at), Some(due)) if at > due && at <= due + SignedDuration::from_secs(1) => {}
        (actual, due) => err(format!(
            "recheck_at {actual:?}, expected just after {due:?}"
        )),
    }
    if d.recheck_at.is_some_and(|at| at <= now) {
        err("recheck_at is not in the future".into());
    }
}

/// Runs rows and fails with every mismatch at once.
pub fn check(rows: Vec<Row>) {
    let mut errors = Vec::new();
    for r in &rows {
        let (d, mut e) = run_row(r);
        // Idempotence: decide the output again, same run, evidence and instant.
        let run = with_stored(r.run.0.clone(), &d.conditions);
        let again = decide_seen(
            &parsed(run, r.problem),
            &evidence(&r.sets, &r.snaps),
            r.now,
            &r.config,
            r.seen,
        );
        if again.changed || !again.transitions.is_empty() {
            e.push(format!(
                "[{}] deciding the result again: changed={} transitions={:?}",
                r.name, again.changed, again.transitions
            ));
        }
        if serde_json::to_string(&again.conditions).unwrap()
            != serde_json::to_string(&d.conditions).unwrap()
        {
            e.push(format!(
                "[{}] deciding the result again changed the conditions",
                r.name
            ));
        }
        errors.extend(e);
    }
    assert!(
        errors.is_empty(),
        "{} of {} rows disagree with docs/concepts.md:\n{}",
        errors.len(),
        rows.len(),
        errors.join("\n")
    );
}
