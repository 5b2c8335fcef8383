// ---------------------------------------------------------------------------------------
// The proof, from the raw JSON alone

type Proof = Result<(), String>;

fn at<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

/// An optional field: `None` when absent or null.
fn opt<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
    at(value, path).filter(|v| !v.is_null())
}

fn string<'v>(value: &'v Value, path: &[&str]) -> Option<&'v str> {
    at(value, path).and_then(Value::as_str)
}

/// A non-empty string field, or why the proof fails.
fn named<'v>(value: &'v Value, path: &[&str]) -> Result<&'v str, String> {
    string(value, path)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("{} is not a non-empty string", path.join(".")))
}

/// The namespace an object is in, as the reader places it (`default` is what `load` gives
/// an object without one; objects read directly have none).
fn namespace<'v>(object: &'v Value, default: Option<&'v str>) -> Option<&'v str> {
    match at(object, &["metadata", "namespace"]) {
        None | Some(Value::Null) => default,
        Some(v) => Some(v.as_str().unwrap_or("\u{0}not a namespace")),
    }
}

/// Whether a field may be read as an optional string / integer / bool / list of objects.
fn optional_string(v: Option<&Value>) -> bool {
    v.is_none_or(|v| v.is_null() || v.is_string())
}

fn optional_count(v: Option<&Value>) -> bool {
    v.is_none_or(|v| v.is_null() || v.is_i64())
}

fn count_of(object: &Value, path: &[&str]) -> i64 {
    opt(object, path).and_then(Value::as_i64).unwrap_or(0)
}

/// An optional object whose fields all pass `fields`.
fn optional_object(v: Option<&Value>, fields: impl Fn(&Map<String, Value>) -> bool) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(map)) => fields(map),
        Some(_) => false,
    }
}

fn optional_list(v: Option<&Value>, item: impl Fn(&Map<String, Value>) -> bool) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(items)) => items.iter().all(|i| i.as_object().is_some_and(&item)),
        Some(_) => false,
    }
}

/// A `{name}` reference: the name, when present, is a string (null is not).
fn reference(v: Option<&Value>, optional: &[&str]) -> bool {
    optional_object(v, |m| {
        m.get("name").is_none_or(Value::is_string)
            && optional.iter().all(|f| optional_string(m.get(*f)))
    })
}

fn failure_list(v: Option<&Value>) -> bool {
    optional_list(v, |f| {
        optional_string(f.get("category")) && optional_string(f.get("message"))
    })
}

/// Whether an artifact can be read as a whole: its spec is an object and every field the
/// decision reads has its type.
fn readable(
    artifact: &Value,
    owner_field: &str,
    status: impl Fn(&Map<String, Value>) -> bool,
) -> bool {
    let Some(spec) = artifact.get("spec").and_then(Value::as_object) else {
        return false;
    };
    reference(spec.get(owner_field), &[])
        && reference(spec.get("operationRunRef"), &["uid"])
        && optional_object(artifact.get("status"), status)
}

fn readable_backup_set(set: &Value) -> bool {
    readable(set, "backupScheduleRef", |s| {
        optional_string(s.get("state"))
            && failure_list(s.get("failures"))
            && optional_object(s.get("summary"), |c| {
                ["itemsTotal", "succeeded", "failed", "skipped"]
                    .iter()
                    .all(|f| optional_count(c.get(*f)))
            })
    })
}

fn readable_snapshot(snapshot: &Value) -> bool {
    readable(snapshot, "baselineProfileRef", |s| {
        optional_string(s.get("state"))
            && failure_list(s.get("failures"))
            && s.get("fallbackUsed")
                .is_none_or(|f| f.is_null() || f.is_boolean())
            && optional_object(s.get("summary"), |c| {
                optional_count(c.get("subjectsTotal"))
                    && optional_count(c.get("captured"))
                    && optional_list(c.get("gaps"), |g| {
                        optional_string(g.get("reason")) && optional_count(g.get("count"))
                    })
            })
    })
}

/// The one claim that may prove the run: of the artifacts in the run's namespace naming
/// the run, exactly one may be in scope (the run's uid and owner) or unreadable (which
/// also counts as in scope), and that one must be readable.
fn the_claim<'a>(
    run: &Value,
    artifacts: &[&'a Value],
    owner_field: &str,
    default_ns: Option<&str>,
    is_readable: fn(&Value) -> bool,
) -> Result<&'a Value, String> {
    let name = named(run, &["metadata", "name"])?;
    let uid = named(run, &["metadata", "uid"])?;
    let owner = named(run, &["spec", owner_field, "name"])?;
    let run_ns = namespace(run, default_ns);
    let claims: Vec<&Value> = artifacts
        .iter()
        .copied()
        .filter(|a| namespace(a, default_ns) == run_ns)
        .filter(|a| string(a, &["spec", "operationRunRef", "name"]) == Some(name))
        .collect();
    let in_scope: Vec<&Value> = claims
        .iter()
        .copied()
        .filter(|a| {
            !is_readable(a)
                || (string(a, &["spec", "operationRunRef", "uid"]) == Some(uid)
                    && string(a, &["spec", owner_field, "name"]) == Some(owner))
        })
        .collect();
    match in_scope.as_slice() {
        [only] if is_readable(only) => Ok(only),
        [_] => Err("the only in-scope claim is unreadable".into()),
        other => Err(format!("{} in-scope claims", other.len())),
    }
}

fn backup_proof(run: &Value, sets: &[&Value], ns: Option<&str>, complete: bool) -> Proof {
    let set = the_claim(run, sets, "backupScheduleRef", ns, readable_backup_set)?;
    let c = |f| count_of(set, &["status", "summary", f]);
    let (total, succeeded, failed, skipped) =
        (c("itemsTotal"), c("succeeded"), c("failed"), c("skipped"));
    if total < 0 || succeeded < 0 || failed < 0 || skipped < 0 {
        return Err("a negative count".into());
    }
    if succeeded as i128 + failed as i128 + skipped as i128 > total as i128 {
        return Err("counts exceed itemsTotal".into());
    }
    let finalized = string(set, &["status", "state"]) == Some("Finalized");
    let ok = if complete {
        finalized && failed == 0 && succeeded as i128 + skipped as i128 == total as i128
    } else {
        succeeded > 0
    };
    ok.then_some(()).ok_or_else(|| format!("{set}"))
}

fn baseline_proof(run: &Value, snapshots: &[&Value], ns: Option<&str>, complete: bool) -> Proof {
    let snapshot = the_claim(run, snapshots, "baselineProfileRef", ns, readable_snapshot)?;
    let total = count_of(snapshot, &["status", "summary", "subjectsTotal"]);
    let captured = count_of(snapshot, &["status", "summary", "captured"]);
    let gaps: Vec<i64> = opt(snapshot, &["status", "summary", "gaps"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|g| count_of(g, &["count"]))
        .collect();
    if total < 0 || captured < 0 || gaps.iter().any(|g| *g < 0) {
        return Err("a negative count".into());
    }
    if captured as i128 + gaps.iter().map(|g| *g as i128).sum::<i128>() > total as i128 {
        return Err("counts exceed subjectsTotal".into());
    }
    let finalized = string(snapshot, &["status", "state"]) == Some("Finalized");
    let fallback = opt(snapshot, &["status", "fallbackUsed"]) == Some(&Value::Bool(true));
    let ok = if complete {
        finalized && captured == total && gaps.iter().all(|g| *g == 0) && !fallback
    } else {
        finalized && captured > 0
    };
    ok.then_some(()).ok_or_else(|| format!("{snapshot}"))
}

fn inventory_proof(run: &Value, complete: bool) -> Proof {
    let types = at(run, &["spec", "inventory", "policyTypes"])
        .and_then(Value::as_array)
        .ok_or("no policyTypes list")?;
    let mut wanted = BTreeSet::new();
    for t in types {
        let t = t
            .as_str()
            .ok_or("a policy type that is not a string")?
            .trim();
        if !t.is_empty() {
            wanted.insert(t);
        }
    }
    if wanted.is_empty() {
        return Err("no policy types".into());
    }
    let entries = at(run, &["status", "inventory", "coverage"])
        .and_then(Value::as_array)
        .ok_or("no coverage list")?;
    let mut seen = BTreeSet::new();
    let mut succeeded = BTreeSet::new();
    for entry in entries {
        // an entry without a type covers nothing that was asked for
        let policy_type = match opt(entry, &["policyType"]) {
            None => "",
            Some(t) => t
                .as_str()
                .ok_or("a policy type that is not a string")?
                .trim(),
        };
        if !wanted.contains(policy_type) {
            continue;
        }
        if !seen.insert(policy_type) {
            return Err(format!("two entries for {policy_type}"));
        }
        if string(entry, &["state"]) == Some("Succeeded") {
            succeeded.insert(policy_type);
        }
    }
    let ok = if complete {
        succeeded == wanted
    } else {
        !succeeded.is_empty()
    };
    ok.then_some(())
        .ok_or_else(|| format!("covered {succeeded:?} of {wanted:?}"))
}

/// Whether the raw JSON proves `reason` for the run.
fn proof(
    run: &Value,
    sets: &[&Value],
    snapshots: &[&Value],
    ns: Option<&str>,
    reason: Reason,
) -> Proof {
    let complete = reason == Reason::Succeeded;
    match string(run, &["spec", "type"]) {
        Some(BACKUP) => backup_proof(run, sets, ns, complete),
        Some(CAPTURE) => baseline_proof(run, snapshots, ns, complete),
        Some(INVENTORY) => inventory_proof(run, complete),
        other => Err(format!("no family proves anything for {other:?}")),
    }
}

fn claims_success(reason: &str) -> Option<Reason> {
    [Reason::Succeeded, Reason::PartiallySucceeded]
        .into_iter()
        .find(|r| r.as_str() == reason)
}

/// Every success in the decision is proven by the raw JSON, or was stored in the run as it
/// is (a final decision is never taken again).
fn check(
    decision: &Decision,
    run: &Value,
    sets: &[&Value],
    snapshots: &[&Value],
    ns: Option<&str>,
) -> Result<(), TestCaseError> {
    let fail = |what: String, why: String| {
        TestCaseError::fail(format!(
            "{what} without proof: {why}\nrun: {run}\nbackup sets: {sets:?}\nsnapshots: {snapshots:?}"
        ))
    };
    if let Some(verdict) = &decision.verdict
        && matches!(
            verdict.reason,
            Reason::Succeeded | Reason::PartiallySucceeded
        )
    {
        proof(run, sets, snapshots, ns, verdict.reason).map_err(|why| {
            fail(
                format!("verdict {:?} ({})", verdict.reason, verdict.message),
                why,
            )
        })?;
    }
    let stored: Vec<&Value> = opt(run, &["status", "conditions"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    for condition in &decision.conditions {
        let Some(reason) = condition.reason.as_deref().and_then(claims_success) else {
            continue;
        };
        if condition.type_ != "Reconciled" {
            continue;
        }
        let kept = stored.iter().any(|s| {
            string(s, &["type"]) == Some("Reconciled")
                && string(s, &["status"]) == Some(condition.status.as_str())
                && string(s, &["reason"]) == Some(reason.as_str())
        });
        if !kept {
            proof(run, sets, snapshots, ns, reason)
                .map_err(|why| fail(format!("condition {condition:?}"), why))?;
        }
    }
    Ok(())
}
