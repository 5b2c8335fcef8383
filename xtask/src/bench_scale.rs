//! `cargo xtask bench-scale --runs N --concurrency C`: the controller at scale, on the local
//! control plane, against the floor the API server sets.
//!
//! Setup (not timed): the Helm chart is installed, then N stale runs, split evenly across
//! the three decided families (backups with one complete BackupSet each, captures with one
//! complete BaselineSnapshot each, inventory syncs with full coverage), are created over 50
//! namespaces as workers create them: the run, then its status (Running, a heartbeat an hour
//! old), then its artifact naming the run's uid, then the artifact's status. Each run with an
//! artifact also has `--history` finalized artifacts of earlier runs that no longer exist
//! (kept by retention), so that the caches hold about two artifacts per run.
//!
//! Measured: the release controller binary, run with the chart's arguments as the chart's
//! ServiceAccount: start to first and to last decision (from the API server's audit log),
//! requests by verb and resource (same log), peak and idle RSS (`/proc`), and the RSS of
//! the same controller over an empty cluster. Then a raw loop on a fresh copy of the runs
//! sends the controller's own status write for every run at the same concurrency, as the
//! same identity, through the same admission. One markdown table row sums it up.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use kube::Resource;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::runtime::events::{Recorder, Reporter};
use operationrun_controller::metrics::Metrics;
use operationrun_controller::reconciler::confirm;
use operationrun_controller::reconciler::lenient::Lenient;
use operationrun_controller::reconciler::writer;
use operationrun_core::decide::{Config, Evidence, Transition, decide};
use operationrun_crds::{API_VERSION, BackupSet, BaselineSnapshot, OperationRun, RunCondition};
use serde_json::{Value, json};
use testenv::ControlPlane;
use testenv::controller::Launch;

use crate::{RELEASE_NS, checked, root};

/// The ServiceAccount the chart creates for the controller (its release name).
const CONTROLLER_SA: &str = "operationrun-controller";
/// The user the API server sees for that ServiceAccount.
const CONTROLLER_USER: &str = "system:serviceaccount:operationrun-system:operationrun-controller";
/// Namespaces the runs are spread over (each set: the controller's and the raw loop's).
const NAMESPACES: usize = 50;
/// Setup requests in flight.
const SETUP_IN_FLIGHT: usize = 32;
/// How often the controller's /metrics and /proc are read while it works.
const POLL: Duration = Duration::from_millis(100);
/// How long the controller stays idle after its last decision before its RSS is read.
const IDLE: Duration = Duration::from_secs(5);
/// The controller is given up on when neither its writes nor its reconciles move for this long.
const STALL: Duration = Duration::from_secs(120);
/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;
/// What the test control plane's audit policy records (testenv fixes it).
const AUDIT_LEVEL: &str = "RequestResponse for writes, Metadata for reads (testenv's fixed policy; no lighter level can be chosen)";

const USAGE: &str =
    "usage: cargo xtask bench-scale --runs N --concurrency C [--history H] [--controller BIN]
       [--nice N] [--breakdown] [--perf DIR]

Measures the release controller over N stale runs (split evenly across backups,
captures and inventory syncs; 50 namespaces) on a local control plane, and a raw
loop of the same status writes at the same concurrency; prints one markdown table row.

  --runs N          stale runs to decide (at least 3)
  --concurrency C   the controller's --concurrency and the raw loop's requests in flight (1-64)
  --history H       finalized artifacts of earlier, deleted runs per backup and capture
                    run (default 2: about two cached artifacts per run)
  --controller BIN  measure this controller executable instead of building the release
                    binary of this checkout (e.g. a copy kept to compare several runs)
  --nice N          run etcd, kube-apiserver, the controller and this program's own
                    threads at niceness N (e.g. -10, as root), so that other load on a
                    shared machine takes less of the measured processes' CPU
  --breakdown       then send, alone and at the same concurrency, the confirmation LISTs
                    and the Events the decisions need, and report their API server CPU
  --perf DIR        record the controller with `perf record` (DWARF call graphs) while it
                    works, and write the reports into DIR (kube-apiserver is built
                    stripped: its CPU is measured by --breakdown instead)";

/// The command line of `bench-scale`.
#[derive(Debug)]
struct Options {
    runs: usize,
    concurrency: u16,
    history: usize,
    perf: Option<PathBuf>,
    controller: Option<PathBuf>,
    nice: Option<i32>,
    breakdown: bool,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut runs = None;
    let mut concurrency = None;
    let mut history = 2;
    let mut perf = None;
    let mut controller = None;
    let mut nice = None;
    let mut breakdown = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        if matches!(flag, "-h" | "--help") {
            return Ok(None);
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| iter.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let number = |v: String| {
            v.replace([',', '_'], "")
                .parse::<usize>()
                .map_err(|e| format!("{flag} {v}: {e}"))
        };
        match flag {
            "--runs" => runs = Some(number(value()?)?),
            "--concurrency" => concurrency = Some(number(value()?)?),
            "--history" => history = number(value()?)?,
            "--perf" => perf = Some(PathBuf::from(value()?)),
            "--controller" => controller = Some(PathBuf::from(value()?)),
            "--breakdown" => breakdown = true,
            "--nice" => {
                let v = value()?;
                nice = Some(
                    v.parse::<i32>()
                        .ok()
                        .filter(|n| (-20..=19).contains(n))
                        .ok_or_else(|| format!("--nice {v}: not a niceness (-20 to 19)"))?,
                );
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let runs = runs.ok_or("--runs is required")?;
    if runs < 3 {
        return Err("--runs must be at least 3 (one run of each family)".into());
    }
    let concurrency = concurrency.ok_or("--concurrency is required")?;
    let concurrency = u16::try_from(concurrency)
        .ok()
        .filter(|c| (1..=64).contains(c))
        .ok_or("--concurrency must be between 1 and 64 (the controller's range)")?;
    Ok(Some(Options {
        runs,
        concurrency,
        history,
        perf,
        controller,
        nice,
        breakdown,
    }))
}

/// Entry point of `cargo xtask bench-scale`; `args` are the ones after `bench-scale`.
pub(crate) fn main(args: &[String]) -> ExitCode {
    let options = match parse(args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------
// The workload

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

/// VmRSS and VmHWM of a process, in KiB.
fn memory(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// User + system CPU time of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // fields after the command name (which may hold spaces) start at field 3
    let Some((_, rest)) = text.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / USER_HZ
}

/// The sum of every sample of metric `name` (its `_total` counter name too) in a
/// Prometheus text exposition.
fn metric(text: &str, name: &str) -> f64 {
    let total = format!("{name}_total");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == name || metric == total)
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// The samples of metric `name` with their labels, for the report.
fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(name))
        .collect()
}

fn machine() -> (usize, f64) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0);
    (cores, mem_kib / 1024.0 / 1024.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Sets the niceness of every thread of process `pid` (threads it starts later inherit it
/// from the thread that starts them).
fn renice(pid: u32, nice: i32) -> Result<(), String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map_err(|e| format!("threads of {pid}: {e}"))?;
    let tids: Vec<String> = tasks
        .filter_map(|t| t.ok().map(|t| t.file_name().to_string_lossy().into_owned()))
        .collect();
    let status = Command::new("renice")
        .args(["-n", &nice.to_string(), "-p"])
        .args(&tids)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("renice: {e}"))?;
    if !status.success() {
        return Err(format!(
            "renice -n {nice} of process {pid} failed ({status})"
        ));
    }
    Ok(())
}

/// `perf record` attached to a process, stopped with SIGINT.
struct Perf {
    child: std::process::Child,
    data: PathBuf,
}

impl Perf {
    fn attach(dir: &Path, what: &str, pid: u32) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let data = dir.join(format!("{what}.perf.data"));
        let child = Command::new("perf")
            // DWARF unwinding: the release build keeps no frame pointers
            .args(["record", "-F", "499", "--call-graph", "dwarf,16384", "-o"])
            .arg(&data)
            .args(["-p", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting perf (apt-get install linux-perf): {e}"))?;
        Ok(Perf { child, data })
    }

    /// Stops recording and writes two reports beside the data: self time by symbol, and
    /// time including callees.
    fn finish(mut self) -> Result<Vec<PathBuf>, String> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let mut reports = Vec::new();
        // self time by function, then time including callees (where the CPU goes, and why)
        for (suffix, children) in [("self", "--no-children"), ("children", "--children")] {
            let report = self.data.with_extension(format!("{suffix}.txt"));
            let out = Command::new("perf")
                .args(["report", children, "--sort", "dso,symbol", "--stdio"])
                .args(["-g", "none", "--percent-limit", "0.3", "-i"])
                .arg(&self.data)
                .stderr(Stdio::null())
                .output()
                .map_err(|e| format!("perf report: {e}"))?;
            std::fs::write(&report, &out.stdout)
                .map_err(|e| format!("{}: {e}", report.display()))?;
            reports.push(report);
        }
        Ok(reports)
    }
}

// ---------------------------------------------------------------------------------------
// The audit log

/// What one identity asked of the API server within a stretch of time, from the audit log.
#[derive(Debug, Default)]
struct Requests {
    /// Requests by "verb resource[/subresource]" (a confirmation LIST: with "?fieldSelector").
    by_kind: BTreeMap<String, u64>,
    /// Completed requests by the same key: how many, and the sum of their time in the API
    /// server (received to response complete), in seconds.
    latency: BTreeMap<String, (u64, f64)>,
    /// Unfiltered LISTs (the watches' initial pages) by resource: pages, the first one's
    /// arrival and the last one's completion.
    initial_lists: BTreeMap<String, (u64, Timestamp, Timestamp)>,
    /// Successful status writes of runs.
    status_writes: u64,
    /// Status writes refused with 409.
    conflicts: u64,
    /// When the first and the last successful status write completed.
    first_write: Option<Timestamp>,
    last_write: Option<Timestamp>,
}

impl Requests {
    fn count(&self, key: &str) -> u64 {
        self.by_kind.get(key).copied().unwrap_or(0)
    }

    fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }

    fn confirmations(&self) -> u64 {
        self.by_kind
            .iter()
            .filter(|(k, _)| k.starts_with("list ") && k.ends_with("?fieldSelector"))
            .map(|(_, n)| n)
            .sum()
    }

    fn events(&self) -> u64 {
        self.by_kind
            .iter()
            .filter(|(k, _)| k.ends_with(" events"))
            .map(|(_, n)| n)
            .sum()
    }
}

/// The audit log and the files the API server rotated it into (`audit-<time>.log`, beside it,
/// once it reaches 100 MB), oldest first.
fn audit_files(log: &Path) -> Vec<PathBuf> {
    let Some(dir) = log.parent() else {
        return vec![log.to_path_buf()];
    };
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("audit-") && n.ends_with(".log"))
        })
        .collect();
    rotated.sort();
    rotated.push(log.to_path_buf());
    rotated
}

/// The total size of the audit log and its rotated files, in MiB.
fn audit_mib(log: &Path) -> u64 {
    audit_files(log)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum::<u64>()
        / (1 << 20)
}

/// Reads the requests `user` made that the API server received between `since` and
/// `until`. Each request is counted once (a watch logs ResponseStarted and ResponseComplete).
fn audit_requests(
    log: &Path,
    since: Timestamp,
    until: Timestamp,
    user: &str,
) -> Result<Requests, String> {
    let needle = format!("\"username\":\"{user}\"");
    let mut seen = HashSet::new();
    let mut out = Requests::default();
    let time = |event: &Value, field: &str| {
        event[field]
            .as_str()
            .and_then(|t| t.parse::<Timestamp>().ok())
    };
    for path in audit_files(log) {
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        for line in BufReader::with_capacity(1 << 20, file).lines() {
            let line = line.map_err(|e| format!("reading {}: {e}", path.display()))?;
            if !line.contains(&needle) {
                continue;
            }
            let Ok(event) = serde_json::from_str::<Value>(&line) else {
                continue; // a line still being written
            };
            let (Some(received), completed) = (
                time(&event, "requestReceivedTimestamp"),
                time(&event, "stageTimestamp"),
            ) else {
                continue;
            };
            if event["user"]["username"] != user || received < since || received > until {
                continue;
            }
            let verb = event["verb"].as_str().unwrap_or_default();
            let code = event["responseStatus"]["code"].as_i64().unwrap_or(0);
            let object = &event["objectRef"];
            let uri = event["requestURI"].as_str().unwrap_or_default();
            let key = match object["resource"].as_str() {
                Some(resource) => {
                    let mut key = format!("{verb} {resource}");
                    if let Some(sub) = object["subresource"].as_str() {
                        key = format!("{key}/{sub}");
                    }
                    if verb == "list" && uri.contains("fieldSelector=") {
                        key.push_str("?fieldSelector");
                    }
                    key
                }
                None => format!("{verb} {}", uri.split('?').next().unwrap_or_default()),
            };
            let complete = event["stage"] == "ResponseComplete";
            if complete && let Some(done) = completed {
                let entry = out.latency.entry(key.clone()).or_default();
                entry.0 += 1;
                entry.1 += done.duration_since(received).as_secs_f64();
                if verb == "list" && !uri.contains("fieldSelector=") {
                    let resource = object["resource"].as_str().unwrap_or_default();
                    let pages = out
                        .initial_lists
                        .entry(resource.to_string())
                        .or_insert((0, received, done));
                    pages.0 += 1;
                    pages.1 = pages.1.min(received);
                    pages.2 = pages.2.max(done);
                }
                if key == "patch operationruns/status" {
                    if (200..300).contains(&code) {
                        out.status_writes += 1;
                        out.first_write = Some(out.first_write.map_or(done, |f| f.min(done)));
                        out.last_write = Some(out.last_write.map_or(done, |l| l.max(done)));
                    } else if code == 409 {
                        out.conflicts += 1;
                    }
                }
            }
            let id = event["auditID"].as_str().unwrap_or_default().to_string();
            if seen.insert(id) {
                *out.by_kind.entry(key).or_default() += 1;
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The controller

/// How the controller is started: its binary, the chart's arguments, the kubeconfig maker.
struct Setup<'a> {
    cp: &'a ControlPlane,
    binary: &'a Path,
    args: Vec<String>,
    /// The niceness the controller runs at, if set.
    nice: Option<i32>,
}

impl Setup<'_> {
    /// How to start the controller as the chart's ServiceAccount (a fresh token: they last
    /// an hour); minted before the clock starts.
    async fn launch(&self, log: &Path) -> Result<Launch, String> {
        let token = self
            .cp
            .service_account_token(RELEASE_NS, CONTROLLER_SA)
            .await
            .map_err(|e| e.to_string())?;
        let kubeconfig = self
            .cp
            .kubeconfig_for_token(&token)
            .map_err(|e| e.to_string())?;
        Ok(Launch::new(self.binary)
            .args(self.args.iter().cloned())
            .kubeconfig(kubeconfig)
            .env("POD_NAMESPACE", RELEASE_NS)
            .env("POD_NAME", "operationrun-controller-bench")
            .log(log)
            .ready_timeout(Duration::from_secs(60)))
    }
}

/// The chart's Deployment args for this benchmark: without leader election, at `C`.
fn controller_args(chart: Vec<String>, concurrency: u16) -> Vec<String> {
    let mut args: Vec<String> = chart
        .into_iter()
        .filter(|a| {
            !a.starts_with("--concurrency")
                && !a.starts_with("--lease-name")
                && a != "--no-leader-election"
        })
        .collect();
    args.push("--no-leader-election".into());
    args.push(format!("--concurrency={concurrency}"));
    args
}

/// What the controller run measured.
struct ControllerRun {
    ready: Duration,
    /// When the status-writes counter reached N, seen by polling.
    done: Duration,
    peak_kib: u64,
    idle_kib: u64,
    cpu_to_done: f64,
    cpu_total: f64,
    apiserver_cpu: f64,
    etcd_cpu: f64,
    metrics: String,
    started: Timestamp,
    /// When the controller had stopped and its last requests were logged.
    until: Timestamp,
    perf: Vec<PathBuf>,
}

/// The RSS of the controller with nothing to cache, after it settled.
async fn empty_rss(setup: &Setup<'_>, dir: &Path) -> Result<u64, String> {
    let mut controller = setup
        .launch(&dir.join("controller-empty.log"))
        .await?
        .start()
        .await
        .map_err(|e| e.to_string())?;
    tokio::time::sleep(IDLE).await;
    let (rss, _) = memory(controller.id()).ok_or("the controller exited while idle")?;
    controller.terminate().await.map_err(|e| e.to_string())?;
    Ok(rss)
}

async fn measure_controller(
    setup: &Setup<'_>,
    cp: &ControlPlane,
    expected: u64,
    perf_dir: Option<&Path>,
) -> Result<ControllerRun, String> {
    let pids = cp.pids();
    let (etcd, apiserver) = (pids.first().copied(), pids.get(1).copied());
    let api_cpu = || apiserver.map_or(0.0, cpu_seconds);
    let etcd_cpu = || etcd.map_or(0.0, cpu_seconds);
    let log = cp.dir().join("controller.log");
    let launch = setup.launch(&log).await?;
    let mut perfs = Vec::new();
    let (api0, etcd0) = (api_cpu(), etcd_cpu());
    let started = Timestamp::now();
    let t0 = Instant::now();
    let mut controller = launch.start().await.map_err(|e| e.to_string())?;
    let ready = t0.elapsed();
    let pid = controller.id();
    if let Some(nice) = setup.nice {
        renice(pid, nice)?;
    }
    if let Some(dir) = perf_dir {
        // attached once the process answers /readyz, before its watches have listed much
        perfs.push(Perf::attach(dir, "controller", pid)?);
    }
    let mut peak = 0;
    let mut last_progress = (0.0, 0.0, Instant::now());
    let (done, cpu_to_done, api_at_done, etcd_at_done) = loop {
        if let Some((rss, hwm)) = memory(pid) {
            peak = peak.max(rss).max(hwm);
        }
        if let Ok(Some(status)) = controller.try_wait() {
            return Err(format!(
                "the controller exited ({status}); see {}",
                log.display()
            ));
        }
        let (_, text) = controller
            .get("/metrics")
            .await
            .map_err(|e| e.to_string())?;
        let writes = metric(&text, "operationrun_status_writes");
        let reconciles = metric(&text, "operationrun_reconciliations");
        if writes >= expected as f64 {
            break (t0.elapsed(), cpu_seconds(pid), api_cpu(), etcd_cpu());
        }
        if (writes, reconciles) != (last_progress.0, last_progress.1) {
            last_progress = (writes, reconciles, Instant::now());
        } else if last_progress.2.elapsed() > STALL {
            return Err(format!(
                "the controller made {writes} of {expected} status writes and nothing moved for {STALL:?}; see {}",
                log.display()
            ));
        }
        tokio::time::sleep(POLL).await;
    };
    let idle_until = Instant::now() + IDLE;
    while Instant::now() < idle_until {
        if let Some((rss, hwm)) = memory(pid) {
            peak = peak.max(rss).max(hwm);
        }
        tokio::time::sleep(POLL).await;
    }
    let (idle, hwm) = memory(pid).ok_or("the controller exited while idle")?;
    let peak = peak.max(hwm);
    let (_, metrics) = controller
        .get("/metrics")
        .await
        .map_err(|e| e.to_string())?;
    let cpu_total = cpu_seconds(pid);
    let mut reports = Vec::new();
    for perf in perfs {
        reports.extend(perf.finish()?);
    }
    controller.terminate().await.map_err(|e| e.to_string())?;
    // the audit log is written after each response: let the last lines land
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(ControllerRun {
        ready,
        done,
        peak_kib: peak,
        idle_kib: idle,
        cpu_to_done,
        cpu_total,
        apiserver_cpu: api_at_done - api0,
        etcd_cpu: etcd_at_done - etcd0,
        metrics,
        started,
        until: Timestamp::now(),
        perf: reports,
    })
}

/// Lists every run of `namespaces` (paged): their controller-owned conditions by name,
/// and a count of runs by Reconciled reason.
async fn decided(
    client: &kube::Client,
    namespaces: &[String],
) -> Result<(HashMap<String, Vec<RunCondition>>, BTreeMap<String, usize>), String> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &RESOURCES.runs);
    let wanted: HashSet<&str> = namespaces.iter().map(String::as_str).collect();
    let mut conditions = HashMap::new();
    let mut reasons = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = ListParams::default().limit(500);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let page = api
            .list(&params)
            .await
            .map_err(|e| format!("listing runs: {e}"))?;
        for run in page.items {
            if !run
                .metadata
                .namespace
                .as_deref()
                .is_some_and(|ns| wanted.contains(ns))
            {
                continue;
            }
            let owned: Vec<RunCondition> = run.data["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["type"] == "Stale" || c["type"] == "Reconciled")
                .filter_map(|c| serde_json::from_value(c.clone()).ok())
                .collect();
            let reason = owned
                .iter()
                .find(|c| c.type_ == "Reconciled")
                .map_or("(none)".to_string(), |c| {
                    format!("{} {}", c.status, c.reason.as_deref().unwrap_or_default())
                });
            *reasons.entry(reason).or_default() += 1;
            conditions.insert(run.metadata.name.unwrap_or_default(), owned);
        }
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    Ok((conditions, reasons))
}

// ---------------------------------------------------------------------------------------
// The raw loop

/// Sends the controller's status write for every run, `concurrency` in flight, as `client`;
/// returns the wall time.
async fn raw_loop(
    client: &kube::Client,
    writes: Vec<Created>,
    concurrency: usize,
) -> Result<Duration, String> {
    let client = client.clone();
    let t0 = Instant::now();
    pool(writes, concurrency, move |run: Created| {
        let client = client.clone();
        async move {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client, &run.namespace, &RESOURCES.runs);
            writer::write_conditions(
                &api,
                &run.name,
                &run.namespace,
                &run.resource_version,
                &run.conditions,
            )
            .await
            .map_err(|e| format!("raw write of {}/{}: {e}", run.namespace, run.name))
        }
    })
    .await?;
    Ok(t0.elapsed())
}

/// What one raw loop measured.
struct RawRun {
    time: Duration,
    apiserver_cpu: f64,
    etcd_cpu: f64,
    /// CPU of this program's client while it sent the writes.
    client_cpu: f64,
    requests: Requests,
    load: String,
}

/// Copies the controller's runs (`source`, with their decided conditions) into namespaces
/// `<prefix>-NN` (untimed), then times the raw loop of their status writes as the
/// controller's ServiceAccount.
async fn raw_copy(
    cp: &ControlPlane,
    prefix: &str,
    source: &[Created],
    concurrency: u16,
    now: Timestamp,
) -> Result<(RawRun, Vec<String>), String> {
    let admin = cp.client();
    let (namespaces, planned) = plan(source.len(), prefix);
    say(&format!(
        "raw loop: copying the {} runs into {prefix}-NN",
        source.len()
    ));
    create_namespaces(&admin, &namespaces).await?;
    let (mut copies, _) = populate(&admin, planned, None, now).await?;
    for (copy, original) in copies.iter_mut().zip(source) {
        copy.conditions = original.conditions.clone();
    }
    let token = cp
        .service_account_token(RELEASE_NS, CONTROLLER_SA)
        .await
        .map_err(|e| e.to_string())?;
    let client = cp
        .client_for_token(&token)
        .await
        .map_err(|e| e.to_string())?;
    let pids = cp.pids();
    let api_cpu = || pids.get(1).copied().map_or(0.0, cpu_seconds);
    let etcd_cpu = || pids.first().copied().map_or(0.0, cpu_seconds);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let load = load_average();
    say(&format!(
        "raw loop: the controller's status write for {} runs, {concurrency} in flight, as its ServiceAccount; load average {load}",
        copies.len()
    ));
    let since = Timestamp::now();
    let me = std::process::id();
    let (api0, etcd0, client0) = (api_cpu(), etcd_cpu(), cpu_seconds(me));
    let n = copies.len() as u64;
    let time = raw_loop(&client, copies, usize::from(concurrency)).await?;
    let (apiserver_cpu, etcd_cpu) = (api_cpu() - api0, etcd_cpu() - etcd0);
    let client_cpu = cpu_seconds(me) - client0;
    say(&format!("raw loop: {}", seconds(time)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let requests = audit_requests(
        cp.audit_log_path(),
        since,
        Timestamp::now(),
        CONTROLLER_USER,
    )?;
    if requests.status_writes != n {
        return Err(format!(
            "the raw loop's status writes in the audit log: {} of {n}",
            requests.status_writes
        ));
    }
    Ok((
        RawRun {
            time,
            apiserver_cpu,
            etcd_cpu,
            client_cpu,
            requests,
            load,
        },
        namespaces,
    ))
}

/// The kube-apiserver CPU and wall time of one kind of request, sent at the benchmark's
/// concurrency as the controller's ServiceAccount.
struct Cost {
    what: &'static str,
    requests: usize,
    time: Duration,
    apiserver_cpu: f64,
}

/// Measures alone, one kind at a time, the requests a decision adds to its status write:
/// the confirmation LIST (the controller's own read) for every run proven by an artifact,
/// and the Event (the controller's own publish) for every transition.
async fn breakdown(
    cp: &ControlPlane,
    runs: &[Created],
    concurrency: u16,
) -> Result<Vec<Cost>, String> {
    let token = cp
        .service_account_token(RELEASE_NS, CONTROLLER_SA)
        .await
        .map_err(|e| e.to_string())?;
    let client = cp
        .client_for_token(&token)
        .await
        .map_err(|e| e.to_string())?;
    let apiserver = cp.pids().get(1).copied();
    let api_cpu = move || apiserver.map_or(0.0, cpu_seconds);
    let limit = usize::from(concurrency);
    let mut costs = Vec::new();

    let reads: Vec<(String, String, &'static str)> = runs
        .iter()
        .filter(|r| r.family.artifact().is_some())
        .map(|r| (r.namespace.clone(), r.name.clone(), r.family.type_name()))
        .collect();
    let requests = reads.len();
    say(&format!(
        "breakdown: {requests} confirmation LISTs, {concurrency} in flight"
    ));
    let metrics = Arc::new(Metrics::default());
    let (c0, t0) = (api_cpu(), Instant::now());
    let reader = client.clone();
    pool(reads, limit, move |(ns, name, family)| {
        let (client, metrics) = (reader.clone(), metrics.clone());
        async move {
            confirm::claims(&client, &ns, &name, family, &metrics)
                .await
                .map(|_| ())
                .map_err(|e| format!("confirmation LIST for {ns}/{name}: {e}"))
        }
    })
    .await?;
    costs.push(Cost {
        what: "confirmation LIST",
        requests,
        time: t0.elapsed(),
        apiserver_cpu: api_cpu() - c0,
    });

    let events: Vec<(String, String, Transition)> = runs
        .iter()
        .flat_map(|r| {
            r.transitions
                .iter()
                .map(|t| (r.namespace.clone(), r.name.clone(), t.clone()))
        })
        .collect();
    let requests = events.len();
    say(&format!(
        "breakdown: {requests} Events, {concurrency} in flight"
    ));
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: writer::FIELD_MANAGER.to_string(),
            instance: Some("operationrun-controller-bench".into()),
        },
    );
    let (c0, t0) = (api_cpu(), Instant::now());
    pool(events, limit, move |(ns, name, transition)| {
        let recorder = recorder.clone();
        async move {
            let run = DynamicObject::new(&name, &RESOURCES.runs).within(&ns);
            let reference = run.object_ref(&RESOURCES.runs);
            writer::publish(&recorder, &reference, &transition)
                .await
                .map_err(|e| format!("Event for {ns}/{name}: {e}"))
        }
    })
    .await?;
    costs.push(Cost {
        what: "Event",
        requests,
        time: t0.elapsed(),
        apiserver_cpu: api_cpu() - c0,
    });
    Ok(costs)
}

/// Whether two condition lists are the same apart from `lastTransitionTime`.
fn same_conditions(a: &[RunCondition], b: &[RunCondition]) -> bool {
    let strip = |c: &[RunCondition]| {
        c.iter()
            .cloned()
            .map(|mut c| {
                c.last_transition_time = None;
                c
            })
            .collect::<Vec<_>>()
    };
    strip(a) == strip(b)
}

// ---------------------------------------------------------------------------------------
// The benchmark

/// When the benchmark began, for the progress lines.
static BEGAN: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

/// A progress line on stderr, with the time since the benchmark began.
fn say(text: &str) {
    eprintln!("==> [{:6.1} s] {text}", BEGAN.elapsed().as_secs_f64());
}

fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Builds the test control plane if missing and points testenv at it.
fn build_controlplane() -> Result<(), String> {
    say("building the test control plane (kube-apiserver, etcd, kubectl, helm) if missing");
    let out = checked(
        Command::new(root().join("tests/controlplane/build.sh")),
        "tests/controlplane/build.sh",
    )?;
    let dir = out.lines().last().unwrap_or_default().trim().to_string();
    // SAFETY: no other thread of this process reads the environment at this point (the
    // runtime's workers only run the benchmark's futures, which have not started testenv)
    unsafe { std::env::set_var("OPRUN_CONTROLPLANE_BIN", dir) };
    Ok(())
}

/// Builds what is missing; returns the release controller executable.
fn build() -> Result<PathBuf, String> {
    if std::env::var_os("OPRUN_CONTROLPLANE_BIN").is_none_or(|d| d.is_empty()) {
        build_controlplane()?;
    }
    say("building operationrun-controller (release)");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let messages = checked(
        {
            let mut c = Command::new(cargo);
            c.args([
                "build",
                "--quiet",
                "--release",
                "--bin",
                "operationrun-controller",
                "--message-format=json",
            ])
            .current_dir(root());
            c
        },
        "cargo build --release",
    )?;
    messages
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["target"]["name"] == "operationrun-controller")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo build reported no operationrun-controller executable".into())
}

/// The commit the controller is built from, and whether its sources differ from it.
fn revision() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(commit) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown (not a git checkout)".into();
    };
    let changed = git(&[
        "status",
        "--porcelain",
        "--",
        "controller/src",
        "core/src",
        "crds/src",
        "Cargo.lock",
    ])
    .is_some_and(|s| !s.is_empty());
    if changed {
        format!(
            "{commit} with uncommitted changes in controller/src, core/src, crds/src or Cargo.lock"
        )
    } else {
        commit
    }
}

async fn bench(options: Options) -> Result<(), String> {
    let began = *BEGAN;
    let (binary, revision) = match &options.controller {
        Some(given) => {
            if std::env::var_os("OPRUN_CONTROLPLANE_BIN").is_none_or(|d| d.is_empty()) {
                build_controlplane()?;
            }
            (given.clone(), format!("{} (given)", given.display()))
        }
        None => {
            let binary = build()?;
            (binary, revision())
        }
    };
    let (cores, mem_gib) = machine();
    let date = Timestamp::now().strftime("%Y-%m-%d").to_string();
    let n = options.runs;
    let c = options.concurrency;

    say("starting etcd and kube-apiserver on loopback");
    let cp = ControlPlane::start().await.map_err(|e| e.to_string())?;
    say(&format!("audit policy: {AUDIT_LEVEL}"));
    say("installing the Helm chart (CRDs, ServiceAccount, RBAC, admission policy)");
    let rendered = crate::cluster::install_chart(&cp)?;
    checked(
        {
            let mut k = cp.kubectl();
            k.args([
                "wait",
                "--for=condition=Established",
                "crd",
                "--all",
                "--timeout=60s",
            ]);
            k.stdout(Stdio::null());
            k
        },
        "kubectl wait for the CRDs",
    )?;
    let chart_args = testenv::chart::deployment_args(&rendered).map_err(|e| e.to_string())?;
    let setup = Setup {
        cp: &cp,
        binary: &binary,
        args: controller_args(chart_args, c),
        nice: options.nice,
    };
    if let Some(nice) = options.nice {
        for pid in cp.pids().into_iter().chain([std::process::id()]) {
            renice(pid, nice)?;
        }
        say(&format!(
            "etcd, kube-apiserver, the controller and this program run at niceness {nice}"
        ));
    }
    say(&format!(
        "controller: {} {}",
        binary.display(),
        setup.args.join(" ")
    ));

    say("the controller over an empty cluster (baseline RSS)");
    let empty_kib = empty_rss(&setup, cp.dir()).await?;

    let setup_started = Instant::now();
    let (namespaces, planned) = plan(n, "bench");
    say(&format!(
        "setup: {n} stale runs (a third each of backups, captures, inventory syncs) over {NAMESPACES} namespaces, {SETUP_IN_FLIGHT} requests in flight"
    ));
    let admin = cp.client();
    create_namespaces(&admin, &namespaces).await?;
    let now = Timestamp::now();
    let config = decision_config(&setup.args)?;
    let (runs, artifacts) = populate(&admin, planned, Some((options.history, config)), now).await?;
    let setup_time = setup_started.elapsed();
    say(&format!(
        "setup done in {}: {n} runs, {artifacts} artifacts",
        seconds(setup_time)
    ));

    // the raw loop before and after the controller, so that a drift of the machine's other
    // load does not favour either side; the first copy is deleted before the controller
    // starts, so that it never sees it
    let (raw_before, copy_namespaces) = raw_copy(&cp, "bench-raw1", &runs, c, now).await?;
    delete_runs(&admin, &copy_namespaces).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let load_before = load_average();
    say(&format!(
        "measuring the controller (--concurrency={c}); load average {load_before}"
    ));
    let run = measure_controller(&setup, &cp, n as u64, options.perf.as_deref()).await?;
    let ctrl = audit_requests(cp.audit_log_path(), run.started, run.until, CONTROLLER_USER)?;
    let (conditions, reasons) = decided(&admin, &namespaces).await?;
    say(&format!("decided: {reasons:?}"));
    let same = runs
        .iter()
        .filter(|r| {
            conditions
                .get(&r.name)
                .is_some_and(|c| same_conditions(c, &r.conditions))
        })
        .count();
    if same != n {
        return Err(format!(
            "{same} of {n} runs hold the conditions the raw loop writes; the controller decided {reasons:?}"
        ));
    }
    let (first, last) = match (ctrl.first_write, ctrl.last_write) {
        (Some(f), Some(l)) => (f, l),
        _ => return Err("the audit log shows no status write by the controller".into()),
    };
    let since = |t: Timestamp| {
        Duration::from_secs_f64(t.duration_since(run.started).as_secs_f64().max(0.0))
    };
    let (to_first, to_last) = (since(first), since(last));

    let (raw_after, _) = raw_copy(&cp, "bench-raw2", &runs, c, now).await?;
    let costs = if options.breakdown {
        breakdown(&cp, &runs, c).await?
    } else {
        Vec::new()
    };
    let raw_time = (raw_before.time + raw_after.time) / 2;
    let raw_api = (raw_before.apiserver_cpu + raw_after.apiserver_cpu) / 2.0;

    // the table
    let nf = n as f64;
    let decisions_per_s = nf / to_last.as_secs_f64();
    let raw_per_s = nf / raw_time.as_secs_f64();
    let writes = ctrl.count("patch operationruns/status");
    let confirmations = ctrl.confirmations();
    let events = ctrl.events();
    let others = ctrl.total() - writes - confirmations - events;
    let per_run = |k: u64| format!("{:.2}", k as f64 / nf);
    let objects = n + artifacts;
    let bytes_per_object = (run.idle_kib.saturating_sub(empty_kib) * 1024) as f64 / objects as f64;
    println!(
        "\n| date | machine | audit | runs | artifacts | C | start→first decision | start→last decision | decisions/s | raw loop (before / after) | raw patches/s | controller ÷ raw | kube-apiserver CPU/run, controller / raw | status PATCH /run | confirm LIST /run | Event writes /run | other requests /run | peak RSS | idle RSS | empty RSS | bytes / cached object |"
    );
    println!(
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    println!(
        "| {date} | {cores} cores, {mem_gib:.0} GiB | RequestResponse (writes) | {n} | {artifacts} | {c} | {} | {} | {decisions_per_s:.0} | {} ({} / {}) | {raw_per_s:.0} | {:.2} | {:.1} / {:.1} ms | {} | {} | {} | {} | {} | {} | {} | {bytes_per_object:.0} |",
        seconds(to_first),
        seconds(to_last),
        seconds(raw_time),
        seconds(raw_before.time),
        seconds(raw_after.time),
        decisions_per_s / raw_per_s,
        run.apiserver_cpu * 1000.0 / nf,
        raw_api * 1000.0 / nf,
        per_run(writes),
        per_run(confirmations),
        per_run(events),
        per_run(others),
        mib(run.peak_kib),
        mib(run.idle_kib),
        mib(empty_kib),
    );

    // the details behind it
    let m = &run.metrics;
    let reconciles = metric(m, "operationrun_reconciliations");
    let reconcile_sum = metric(m, "operationrun_reconcile_duration_seconds_sum");
    let reconcile_count = metric(m, "operationrun_reconcile_duration_seconds_count");
    println!("\nDetails ({n} runs, {artifacts} artifacts, concurrency {c}):");
    println!("- audit policy: {AUDIT_LEVEL}");
    println!("- controller built from {revision}");
    if cfg!(debug_assertions) {
        println!(
            "- the raw loop's client is a debug build, slower than the release controller: for figures to keep, run `cargo run --release -p xtask -- bench-scale …`"
        );
    } else {
        println!("- the raw loop's client is a release build");
    }
    match options.nice {
        Some(nice) => println!(
            "- etcd, kube-apiserver, the controller and the raw loop ran at niceness {nice}"
        ),
        None => println!("- every process ran at the default niceness"),
    }
    println!(
        "- load average before the controller: {load_before}; after: {}",
        load_average()
    );
    println!(
        "- setup: {} (not timed); controller /readyz after {}; status-writes counter reached {n} after {} (polled every {} ms)",
        seconds(setup_time),
        seconds(run.ready),
        seconds(run.done),
        POLL.as_millis()
    );
    println!(
        "- first→last decision: {} ({:.0} decisions/s)",
        seconds(to_last.saturating_sub(to_first)),
        nf / to_last.saturating_sub(to_first).as_secs_f64().max(1e-3)
    );
    println!(
        "- CPU to the last decision: controller {:.2} s ({:.2} ms/run), kube-apiserver {:.2} s ({:.2} ms/run), etcd {:.2} s; controller CPU including {} idle: {:.2} s",
        run.cpu_to_done,
        run.cpu_to_done * 1000.0 / nf,
        run.apiserver_cpu,
        run.apiserver_cpu * 1000.0 / nf,
        run.etcd_cpu,
        seconds(IDLE),
        run.cpu_total
    );
    for (when, raw) in [("before", &raw_before), ("after", &raw_after)] {
        println!(
            "- raw loop {when} the controller: {} (load average {}); CPU kube-apiserver {:.2} s ({:.2} ms/run), etcd {:.2} s, the loop's client {:.2} s ({:.2} ms/run); requests {:?}, {:.1} ms each in the API server",
            seconds(raw.time),
            raw.load,
            raw.apiserver_cpu,
            raw.apiserver_cpu * 1000.0 / nf,
            raw.etcd_cpu,
            raw.client_cpu,
            raw.client_cpu * 1000.0 / nf,
            raw.requests.by_kind,
            raw.requests
                .latency
                .get("patch operationruns/status")
                .map_or(0.0, |(n, sum)| sum * 1000.0 / (*n).max(1) as f64),
        );
    }
    for cost in &costs {
        println!(
            "- breakdown, {} alone: {} requests in {} ({:.0}/s); kube-apiserver CPU {:.2} s ({:.2} ms each, {:.2} ms per run)",
            cost.what,
            cost.requests,
            seconds(cost.time),
            cost.requests as f64 / cost.time.as_secs_f64().max(1e-3),
            cost.apiserver_cpu,
            cost.apiserver_cpu * 1000.0 / (cost.requests.max(1) as f64),
            cost.apiserver_cpu * 1000.0 / nf,
        );
    }
    println!(
        "- reconciles: {reconciles:.0} ({:.2}/run), mean {:.2} ms each; status writes {} ok, {} conflicts; reconcile errors {:.0}",
        reconciles / nf,
        if reconcile_count > 0.0 {
            reconcile_sum * 1000.0 / reconcile_count
        } else {
            0.0
        },
        ctrl.status_writes,
        ctrl.conflicts,
        metric(m, "operationrun_reconcile_errors"),
    );
    println!(
        "- Events: {:.0} published, {:.0} dropped by the queue, {:.0} failed (until {} after the last decision)",
        metric(m, "operationrun_events"),
        metric(m, "operationrun_events_dropped"),
        metric(m, "operationrun_event_errors"),
        seconds(IDLE)
    );
    println!(
        "- controller requests (audit log, {CONTROLLER_USER}), with their mean time in the API server (received to response complete):"
    );
    for (kind, count) in &ctrl.by_kind {
        match ctrl.latency.get(kind) {
            Some((done, sum)) if *done > 0 => {
                println!("  - {kind}: {count}, {:.1} ms", sum * 1000.0 / *done as f64)
            }
            _ => println!("  - {kind}: {count}"),
        }
    }
    for (resource, (pages, first, last)) in &ctrl.initial_lists {
        println!(
            "- LIST {resource} without a selector: {pages} pages, the first received {} after start, the last complete {} after start",
            seconds(since(*first)),
            seconds(since(*last)),
        );
    }
    println!(
        "- RSS: empty {}, peak {}, idle {}; cached objects {objects} → {bytes_per_object:.0} bytes each",
        mib(empty_kib),
        mib(run.peak_kib),
        mib(run.idle_kib)
    );
    for line in samples(m, "operationrun_reconcile_duration_seconds_bucket") {
        println!("  - {line}");
    }
    for report in &run.perf {
        println!("- perf report: {}", report.display());
    }
    println!(
        "- the whole benchmark took {} (audit log {} MiB)",
        seconds(began.elapsed()),
        audit_mib(cp.audit_log_path())
    );
    say("stopping the control plane");
    drop(cp);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_are_read_and_checked() {
        let o = parse(&args(&["--runs", "10,000", "--concurrency=16"]))
            .unwrap()
            .unwrap();
        assert_eq!((o.runs, o.concurrency, o.history), (10_000, 16, 2));
        assert!(parse(&args(&["--runs", "10"])).is_err());
        assert!(parse(&args(&["--runs", "10", "--concurrency", "65"])).is_err());
        assert!(parse(&args(&["--runs", "2", "--concurrency", "4"])).is_err());
        assert!(parse(&args(&["--help"])).unwrap().is_none());
    }

    #[test]
    fn the_chart_args_lose_leader_election_and_take_the_concurrency() {
        let got = controller_args(
            args(&[
                "run",
                "--lease-name=x",
                "--concurrency=4",
                "--log-format=json",
            ]),
            16,
        );
        assert_eq!(
            got,
            args(&[
                "run",
                "--log-format=json",
                "--no-leader-election",
                "--concurrency=16"
            ])
        );
    }

    #[test]
    fn runs_are_dealt_to_families_and_namespaces_evenly() {
        let (namespaces, planned) = plan(300, "bench");
        assert_eq!(namespaces.len(), NAMESPACES);
        let backups = planned
            .iter()
            .filter(|p| p.family == Family::Backup)
            .count();
        assert_eq!(backups, 100);
        let in_first = planned.iter().filter(|p| p.namespace == "bench-00").count();
        assert_eq!(in_first, 6);
    }

    #[test]
    fn the_decision_flags_are_read_from_the_chart_args() {
        let config = decision_config(&args(&[
            "run",
            "--queued-timeout=60",
            "--heartbeat-timeout=30",
            "--log-level=info",
        ]))
        .unwrap();
        assert_eq!((config.queued_timeout, config.heartbeat_timeout), (60, 30));
        assert_eq!(config.abandon_after, Config::default().abandon_after);
        assert!(decision_config(&args(&["--abandon-after=soon"])).is_err());
    }

    #[test]
    fn conditions_compare_without_their_transition_time() {
        let at = |t: &str| RunCondition {
            type_: "Stale".into(),
            status: "True".into(),
            last_transition_time: Some(t.into()),
            ..Default::default()
        };
        assert!(same_conditions(&[at("a")], &[at("b")]));
        let mut other = at("a");
        other.status = "False".into();
        assert!(!same_conditions(&[at("a")], &[other]));
    }

    #[test]
    fn metrics_are_summed_over_labels() {
        let text = "# HELP x\noperationrun_status_writes_total 7\noperationrun_reconciliations_total{family=\"a\",reason=\"b\"} 2\noperationrun_reconciliations_total{family=\"c\",reason=\"d\"} 3\n";
        assert_eq!(metric(text, "operationrun_status_writes"), 7.0);
        assert_eq!(metric(text, "operationrun_reconciliations"), 5.0);
        assert_eq!(metric(text, "operationrun_missing"), 0.0);
    }
}
