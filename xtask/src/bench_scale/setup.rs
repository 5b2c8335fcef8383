// The runs, artifacts and namespaces bench-scale creates, included into bench_scale.rs.
/// The three families the controller decides, in the order runs are dealt to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Backup,
    Capture,
    Inventory,
}

impl Family {
    fn of(index: usize) -> Self {
        match index % 3 {
            0 => Family::Backup,
            1 => Family::Capture,
            _ => Family::Inventory,
        }
    }

    /// `spec.type` of the family's runs.
    fn type_name(self) -> &'static str {
        match self {
            Family::Backup => "backup.schedule.execute",
            Family::Capture => "baseline.capture",
            Family::Inventory => "inventory.sync",
        }
    }

    fn run_name(self, index: usize) -> String {
        match self {
            Family::Backup => format!("nightly-{index:06}"),
            Family::Capture => format!("capture-{index:06}"),
            Family::Inventory => format!("inventory-{index:06}"),
        }
    }

    /// The artifact kind proving the family, if any.
    fn artifact(self) -> Option<&'static ApiResource> {
        match self {
            Family::Backup => Some(&RESOURCES.backup_sets),
            Family::Capture => Some(&RESOURCES.snapshots),
            Family::Inventory => None,
        }
    }
}

struct Resources {
    runs: ApiResource,
    backup_sets: ApiResource,
    snapshots: ApiResource,
}

static RESOURCES: std::sync::LazyLock<Resources> = std::sync::LazyLock::new(|| Resources {
    runs: ApiResource::erase::<OperationRun>(&()),
    backup_sets: ApiResource::erase::<BackupSet>(&()),
    snapshots: ApiResource::erase::<BaselineSnapshot>(&()),
});

fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn ago(now: Timestamp, minutes: i64) -> String {
    rfc3339(
        now.checked_sub(SignedDuration::from_mins(minutes))
            .unwrap_or(now),
    )
}

fn run_object(family: Family, namespace: &str, name: &str) -> Value {
    let spec = match family {
        Family::Backup => {
            json!({"type": "backup.schedule.execute", "backupScheduleRef": {"name": "nightly"}})
        }
        Family::Capture => {
            json!({"type": "baseline.capture", "baselineProfileRef": {"name": "win11-security-baseline"}})
        }
        Family::Inventory => json!({"type": "inventory.sync", "inventory": {"policyTypes": [
            "deviceConfiguration", "compliancePolicy", "appProtectionPolicy"]}}),
    };
    json!({
        "apiVersion": API_VERSION, "kind": "OperationRun",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    })
}

/// The worker's status: Running, started two hours ago, silent for an hour (stale under the
/// default 600 s heartbeat timeout, far from the one-day abandonment).
fn run_status(family: Family, now: Timestamp) -> Value {
    let mut status =
        json!({"phase": "Running", "startedAt": ago(now, 120), "heartbeatTime": ago(now, 60)});
    if family == Family::Inventory {
        status["inventory"] = json!({"coverage": [
            {"policyType": "deviceConfiguration", "state": "Succeeded", "itemCount": 120},
            {"policyType": "compliancePolicy", "state": "Succeeded", "itemCount": 64},
            {"policyType": "appProtectionPolicy", "state": "Succeeded", "itemCount": 17},
        ]});
    }
    status
}

/// An artifact of `family` named `name` claiming run `run`/`run_uid`: (object, status).
fn artifact(
    family: Family,
    namespace: &str,
    name: &str,
    run: &str,
    run_uid: &str,
) -> (Value, Value) {
    let reference = json!({"name": run, "uid": run_uid});
    match family {
        Family::Backup => (
            json!({"apiVersion": API_VERSION, "kind": "BackupSet",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"backupScheduleRef": {"name": "nightly"}, "operationRunRef": reference}}),
            json!({"state": "Finalized",
                "summary": {"itemsTotal": 412, "succeeded": 398, "failed": 0, "skipped": 14},
                "failures": []}),
        ),
        _ => (
            json!({"apiVersion": API_VERSION, "kind": "BaselineSnapshot",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"baselineProfileRef": {"name": "win11-security-baseline"}, "operationRunRef": reference}}),
            json!({"state": "Finalized",
                "summary": {"subjectsTotal": 40, "captured": 40, "gaps": []},
                "fallbackUsed": false, "failures": []}),
        ),
    }
}

/// A uid of a run that no longer exists, distinct per history artifact.
fn gone_uid(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || s.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Calls `f` until it succeeds, retrying throttling, server errors and broken connections
/// a few times with a growing pause (setup only: the measured paths never retry).
async fn retry<T, F, Fut>(what: &str, mut f: F) -> Result<T, String>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut pause = Duration::from_millis(200);
    for attempt in 1..=6 {
        match f(attempt).await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < 6 && is_transient(&e) => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
    Err(format!("{what}: gave up"))
}

/// Creates an object (a retried create that had in fact succeeded reads it back).
async fn create(api: &Api<DynamicObject>, object: &Value) -> Result<DynamicObject, String> {
    let body: DynamicObject =
        serde_json::from_value(object.clone()).map_err(|e| format!("object: {e}"))?;
    let name = body.metadata.name.clone().unwrap_or_default();
    retry(&format!("creating {name}"), |attempt| {
        let (api, body, name) = (api.clone(), body.clone(), name.clone());
        async move {
            match api.create(&PostParams::default(), &body).await {
                Err(kube::Error::Api(s)) if s.code == 409 && attempt > 1 => api.get(&name).await,
                other => other,
            }
        }
    })
    .await
}

/// Merges `status` into the status subresource, as a worker does; returns the new object.
async fn patch_status(
    api: &Api<DynamicObject>,
    name: &str,
    status: &Value,
) -> Result<DynamicObject, String> {
    let patch = json!({"status": status});
    retry(&format!("status of {name}"), |_| {
        let (api, patch) = (api.clone(), patch.clone());
        async move {
            api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
        }
    })
    .await
}

/// Runs `f` over `items` with at most `limit` in flight; results in the items' order.
async fn pool<T, R, F, Fut>(items: Vec<T>, limit: usize, f: F) -> Result<Vec<R>, String>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, String>> + Send,
{
    let total = items.len();
    let queue = Arc::new(Mutex::new(items.into_iter().enumerate()));
    let f = Arc::new(f);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..limit.max(1) {
        let (queue, f) = (queue.clone(), f.clone());
        workers.spawn(async move {
            let mut done = Vec::new();
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some((i, item)) = next else { break };
                done.push((i, f(item).await?));
            }
            Ok::<_, String>(done)
        });
    }
    let mut results: Vec<Option<R>> = (0..total).map(|_| None).collect();
    while let Some(joined) = workers.join_next().await {
        for (i, r) in joined.map_err(|e| format!("a worker task failed: {e}"))?? {
            results[i] = Some(r);
        }
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| "a work item was lost".to_string()))
        .collect()
}

async fn create_namespaces(client: &kube::Client, names: &[String]) -> Result<(), String> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "Namespace"));
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    for name in names {
        let ns: DynamicObject = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        )
        .map_err(|e| e.to_string())?;
        api.create(&PostParams::default(), &ns)
            .await
            .map_err(|e| format!("creating namespace {name}: {e}"))?;
    }
    Ok(())
}

/// One run to create: its index, family and namespace.
#[derive(Clone)]
struct Planned {
    index: usize,
    family: Family,
    namespace: String,
    name: String,
}

fn plan(runs: usize, prefix: &str) -> (Vec<String>, Vec<Planned>) {
    let namespaces: Vec<String> = (0..NAMESPACES)
        .map(|k| format!("{prefix}-{k:02}"))
        .collect();
    let planned = (0..runs)
        .map(|index| {
            let family = Family::of(index);
            Planned {
                index,
                family,
                namespace: namespaces[index % NAMESPACES].clone(),
                name: family.run_name(index),
            }
        })
        .collect();
    (namespaces, planned)
}

/// A created run: where it is, the resourceVersion its status write left, and (for the
/// controller's set) the conditions the controller's decision gives it.
struct Created {
    namespace: String,
    name: String,
    family: Family,
    resource_version: String,
    conditions: Vec<RunCondition>,
    /// The condition changes of that decision, one Event each.
    transitions: Vec<Transition>,
}

/// The decision flags among the controller's arguments (the chart's timeouts), as the
/// controller reads them; defaults for the ones not given.
fn decision_config(args: &[String]) -> Result<Config, String> {
    let mut config = Config::default();
    for arg in args {
        let Some((flag, value)) = arg.split_once('=') else {
            continue;
        };
        let field = match flag {
            "--queued-timeout" => &mut config.queued_timeout,
            "--heartbeat-timeout" => &mut config.heartbeat_timeout,
            "--abandon-after" => &mut config.abandon_after,
            _ => continue,
        };
        *field = value
            .parse()
            .map_err(|e| format!("the chart's {flag}={value}: {e}"))?;
    }
    Ok(config)
}

/// The controller-owned conditions one reconcile of `run` with `claim` gives, decided by
/// the controller's own core on the objects as the API server returned them.
fn expected_conditions(
    run: &DynamicObject,
    claim: Option<&DynamicObject>,
    family: Family,
    config: &Config,
) -> Result<(Vec<RunCondition>, Vec<Transition>), String> {
    let value = |o: &DynamicObject| serde_json::to_value(o).map_err(|e| e.to_string());
    let run = Lenient::<OperationRun>::from_value(value(run)?);
    let backup = match (family, claim) {
        (Family::Backup, Some(c)) => Some(Lenient::<BackupSet>::from_value(value(c)?)),
        _ => None,
    };
    let snapshot = match (family, claim) {
        (Family::Capture, Some(c)) => Some(Lenient::<BaselineSnapshot>::from_value(value(c)?)),
        _ => None,
    };
    let evidence = Evidence {
        backup_sets: backup.iter().map(|b| &b.0).collect(),
        baseline_snapshots: snapshot.iter().map(|s| &s.0).collect(),
    };
    let decision = decide(&run.0, &evidence, Timestamp::now(), config);
    if !decision.is_final() {
        return Err(format!(
            "the workload's run {:?} would not get a final verdict: {:?}",
            run.0.object.metadata.name, decision.conditions
        ));
    }
    Ok((decision.conditions, decision.transitions))
}

/// Creates the runs as workers do. With `artifacts` = Some((h, config)), also each run's
/// artifact and h history artifacts, and decides each run's conditions with `config`;
/// returns the runs and the number of artifacts.
async fn populate(
    client: &kube::Client,
    planned: Vec<Planned>,
    artifacts: Option<(usize, Config)>,
    now: Timestamp,
) -> Result<(Vec<Created>, usize), String> {
    let client = client.clone();
    let created = pool(planned, SETUP_IN_FLIGHT, move |p: Planned| {
        let client = client.clone();
        async move {
            let runs = Api::namespaced_with(client.clone(), &p.namespace, &RESOURCES.runs);
            let run = create(&runs, &run_object(p.family, &p.namespace, &p.name)).await?;
            let uid = run.metadata.uid.clone().unwrap_or_default();
            let after = patch_status(&runs, &p.name, &run_status(p.family, now)).await?;
            let mut count = 0;
            let mut conditions = Vec::new();
            let mut transitions = Vec::new();
            if let Some((h, config)) = artifacts {
                let mut claim = None;
                if let Some(resource) = p.family.artifact() {
                    let api = Api::namespaced_with(client.clone(), &p.namespace, resource);
                    let mut claims = vec![(p.name.clone(), p.name.clone(), uid)];
                    for k in 1..=h {
                        let earlier = format!("{}-h{k}", p.name);
                        claims.push((earlier.clone(), earlier, gone_uid(p.index * (h + 1) + k)));
                    }
                    for (name, run_name, run_uid) in claims {
                        let (object, status) =
                            artifact(p.family, &p.namespace, &name, &run_name, &run_uid);
                        create(&api, &object).await?;
                        let written = patch_status(&api, &name, &status).await?;
                        claim.get_or_insert(written);
                        count += 1;
                    }
                }
                (conditions, transitions) =
                    expected_conditions(&after, claim.as_ref(), p.family, &config)?;
            }
            Ok((
                Created {
                    namespace: p.namespace,
                    name: p.name,
                    family: p.family,
                    resource_version: after.metadata.resource_version.unwrap_or_default(),
                    conditions,
                    transitions,
                },
                count,
            ))
        }
    })
    .await?;
    let artifacts = created.iter().map(|(_, a)| a).sum();
    Ok((created.into_iter().map(|(c, _)| c).collect(), artifacts))
}

/// Deletes every run of `namespaces` (a raw loop's copy, before the controller starts).
async fn delete_runs(client: &kube::Client, namespaces: &[String]) -> Result<(), String> {
    for ns in namespaces {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &RESOURCES.runs);
        api.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
            .map_err(|e| format!("deleting the runs of {ns}: {e}"))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Processes: /proc and the controller's /metrics
