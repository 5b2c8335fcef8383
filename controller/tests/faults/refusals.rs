//! Two stalls that are not outages, side by side on one cluster, each with its own
//! controller, namespaces and Lease: status writes refused with 403 in one tenant namespace
//! (a ValidatingAdmissionPolicy), which must back off for a minute and more instead of
//! retrying as for a transient error; and an artifact kind the controller may not list, so
//! its cache never syncs: `/readyz` fails, `/healthz` stays up, every run that needs no
//! BackupSet is decided, the backups wait without spinning, and are decided once the kind
//! syncs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::rbac::v1::Role;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

use crate::fleet::{self, Case, Fleet, Member, Plan, Role as RunRole, TENANTS};
use crate::harness::{Pod, Stage, metric, user};
use crate::report::{Ending, finish};
use crate::verdicts::{self, Key};
use crate::{SERIAL, sleep_until};

/// Where the refusing controller's status writes are refused.
const REFUSED_NS: &str = "tenant-d";
/// The namespaces of the controller that may not list BackupSets.
const UNSYNCED_NS: [&str; 2] = ["tenant-e", "tenant-f"];
/// `--unsynced-timeout` of that controller.
const UNSYNCED_TIMEOUT: Duration = Duration::from_secs(3);
/// A first refusal (4xx other than 409 and 429) is asked once more after this, to confirm it.
const REFUSAL_RECHECK: Duration = Duration::from_secs(5);
/// The backoff after a confirmed refusal; it doubles from there, with 0 to 25 % added,
/// never less.
const PERMANENT_BACKOFF: Duration = Duration::from_secs(60);
/// How long the waiting controller is watched for spinning.
const FLAT: Duration = Duration::from_secs(10);
/// The most LISTs of BackupSets one namespace's watch may retry in [`FLAT`], a few seconds
/// after it first failed: a watch whose list is refused backs off (kube's default doubles
/// from 0.8 s up to 30 s), it does not retry at a steady pace.
const RETRIES_WITHIN_FLAT: usize = 3;
const POLICY: &str = "faults-refuse-status";

fn admission(admin: &kube::Client, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind);
    Api::all_with(admin.clone(), &ApiResource::from_gvk(&gvk))
}

/// A policy refusing every status write of `controller` to runs in [`REFUSED_NS`] (and,
/// so that the test can see it act, every dry-run status write there) with 403 Forbidden.
async fn refuse_status_writes(admin: &kube::Client, controller: &str) {
    let policy: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": POLICY},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["ops.tenantatlas.io"], "apiVersions": ["*"],
                "operations": ["UPDATE"], "resources": ["operationruns/status"]}]},
            "matchConditions": [{"name": "the-controller-or-a-dry-run",
                "expression": format!("request.userInfo.username == '{controller}' || request.dryRun == true")}],
            "validations": [{"expression": "false", "reason": "Forbidden",
                "message": "status writes are refused in this namespace"}],
        },
    }))
    .expect("policy");
    let binding: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": POLICY},
        "spec": {"policyName": POLICY, "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": REFUSED_NS}}}},
    }))
    .expect("binding");
    admission(admin, "ValidatingAdmissionPolicy")
        .create(&PostParams::default(), &policy)
        .await
        .unwrap_or_else(|e| panic!("creating the policy: {e}"));
    admission(admin, "ValidatingAdmissionPolicyBinding")
        .create(&PostParams::default(), &binding)
        .await
        .unwrap_or_else(|e| panic!("creating the binding: {e}"));
}

async fn allow_status_writes(admin: &kube::Client) {
    for kind in [
        "ValidatingAdmissionPolicyBinding",
        "ValidatingAdmissionPolicy",
    ] {
        admission(admin, kind)
            .delete(POLICY, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("deleting the {kind}: {e}"));
    }
}

/// Waits until a dry-run status write to `run` is refused (`refused`) or accepted.
async fn probe(admin: &kube::Client, run: &Member, refused: bool) {
    let runs = fleet::api(admin, "OperationRun", &run.namespace);
    let params = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let patch =
            Patch::Merge(json!({"status": {"heartbeatTime": fleet::rfc3339(Timestamp::now())}}));
        let answer = runs.patch_status(&run.name, &params, &patch).await;
        let is_refused = matches!(&answer, Err(kube::Error::Api(s)) if s.code == 403);
        if is_refused == refused {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the policy did not {} within 20 s: {answer:?}",
            if refused { "act" } else { "go away" }
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether a run of this case needs the BackupSet cache to be decided.
fn needs_backupsets(m: &Member) -> bool {
    matches!(
        m.role,
        RunRole::Stale(
            Case::BackupComplete
                | Case::BackupPartial
                | Case::BackupTwoClaims
                | Case::BackupOtherUid
                | Case::BackupNothing
                | Case::BackupDenied
                | Case::BackupInProgress
                | Case::BackupAbandoned
        )
    )
}

fn key(m: &Member) -> Key {
    (m.namespace.clone(), m.name.clone())
}

fn time(e: &Value, field: &str) -> Option<Timestamp> {
    e[field].as_str()?.parse().ok()
}

/// Completed requests of `who` received in `[from, to)`.
fn requests<'a>(
    events: &'a [Value],
    who: &'a str,
    from: Timestamp,
    to: Timestamp,
) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["stage"] == "ResponseComplete" && e["user"]["username"] == who)
        .filter(|e| time(e, "requestReceivedTimestamp").is_some_and(|t| t >= from && t < to))
        .collect()
}

/// Chart values for a controller of its own: its namespaces and Lease.
fn own(namespaces: &[&str], lease: &str) -> Vec<String> {
    vec![
        format!("watchNamespaces={{{}}}", namespaces.join(",")),
        format!("leaderElection.leaseName={lease}"),
    ]
}

fn args(namespaces: &[&str], lease: &str) -> Vec<String> {
    let mut out = vec!["--lease-name".to_string(), lease.to_string()];
    for ns in namespaces {
        out.push("--namespace".into());
        out.push((*ns).into());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_writes_back_off_and_an_unsynced_kind_waits_without_spinning() {
    let _serial = SERIAL.lock().await;
    let began = Instant::now();
    let stage = Stage::new("refusals", false).await;
    for ns in UNSYNCED_NS {
        stage.create_namespace(ns).await;
    }
    let admin = stage.admin.clone();
    // the refusing controller's runs, and the waiting one's: every stuck run stale already
    let refusing_fleet = fleet::create(
        &admin,
        Plan {
            copies: 2,
            live: 8,
            completed: 4,
            ..Plan::new("r4", Timestamp::now())
        },
    )
    .await;
    let waiting_fleet = fleet::create(
        &admin,
        Plan {
            copies: 1,
            live: 0,
            completed: 2,
            namespaces: &UNSYNCED_NS,
            ..Plan::new("r5", Timestamp::now())
        },
    )
    .await;
    let workers = fleet::Workers::start(&admin, refusing_fleet.live(), Duration::from_secs(2));

    let refusing = user("ctrl-p");
    let policy_on = Timestamp::now();
    refuse_status_writes(&admin, &refusing).await;
    let canary = refusing_fleet
        .members
        .iter()
        .find(|m| m.namespace == REFUSED_NS)
        .expect("a run in the refused namespace");
    probe(&admin, canary, true).await;

    let p_lease = "operationrun-refusing";
    let kubeconfig = stage
        .identity_with("ctrl-p", None, &own(&TENANTS, p_lease), |_| {})
        .await;
    let p_args = args(&TENANTS, p_lease);
    let mut p = Pod::start_with("ctrl-p-0", &kubeconfig, &stage.logs, |l| l.args(p_args)).await;

    // the waiting controller may get, list and watch runs and snapshots, not BackupSets
    let n_lease = "operationrun-waiting";
    let kubeconfig = stage
        .identity_with("ctrl-n", None, &own(&UNSYNCED_NS, n_lease), |object| {
            if object["kind"] == "Role" {
                for rule in object["rules"].as_array_mut().into_iter().flatten() {
                    if let Some(resources) = rule["resources"].as_array_mut() {
                        resources.retain(|r| r != "backupsets");
                    }
                }
            }
        })
        .await;
    let mut n_args = args(&UNSYNCED_NS, n_lease);
    n_args.extend([
        "--unsynced-timeout".to_string(),
        UNSYNCED_TIMEOUT.as_secs().to_string(),
    ]);
    let n_started = Instant::now();
    let n_started_at = Timestamp::now();
    let mut n = Pod::start_with("ctrl-n-0", &kubeconfig, &stage.logs, |l| {
        l.args(n_args).ready_path("/healthz")
    })
    .await;
    stage
        .wait_holder(n_lease, "ctrl-n-0", Duration::from_secs(30))
        .await;

    // the waiting controller decides everything but the backups
    let (decidable, waiting): (Vec<&Member>, Vec<&Member>) = waiting_fleet
        .members
        .iter()
        .partition(|m| !needs_backupsets(m));
    let deadline = Instant::now() + Duration::from_secs(30);
    let decided_in = loop {
        let dump = verdicts::dump(&admin).await.expect("dump");
        let wrong: Vec<String> = decidable
            .iter()
            .map(|m| key(m))
            .filter(|k| dump.held.get(k) != dump.expected.get(k))
            .map(|k| format!("{}/{}", k.0, k.1))
            .collect();
        let touched: Vec<String> = waiting
            .iter()
            .map(|m| key(m))
            .filter(|k| dump.held.get(k).is_some_and(|c| !c.is_empty()))
            .map(|k| format!("{}/{}", k.0, k.1))
            .collect();
        assert!(
            touched.is_empty(),
            "backups were decided although BackupSets cannot be listed: {touched:?}"
        );
        if wrong.is_empty() {
            break n_started.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "runs that need no BackupSet are not decided while BackupSets cannot be listed: {wrong:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    tokio::time::sleep(
        (UNSYNCED_TIMEOUT + Duration::from_secs(1)).saturating_sub(n_started.elapsed()),
    )
    .await;
    let readyz = n.get("/readyz").await;
    let healthz = n.get("/healthz").await;
    let m = n.metrics().await.unwrap_or_default();
    let synced = |m: &str, kind: &str| {
        crate::harness::samples(m, "operationrun_cache_synced")
            .into_iter()
            .filter(|(l, _)| l.to_lowercase().contains(kind))
            .map(|(_, v)| v)
            .next()
    };
    let gauges = (
        synced(&m, "backupset"),
        synced(&m, "operationrun"),
        synced(&m, "baselinesnapshot"),
    );
    let watch_errors: f64 = crate::harness::samples(&m, "operationrun_watch_errors_total")
        .into_iter()
        .filter(|(l, _)| l.to_lowercase().contains("backupset"))
        .fold(0.0, |sum, (_, v)| sum + v);

    // nothing spins while the backups wait: no reconcile, no request but the Lease's and the
    // BackupSet watch's retries
    let flat_from = Timestamp::now();
    let reconciles_before = metric(&m, "operationrun_reconciliations_total", &[]);
    tokio::time::sleep(FLAT).await;
    let flat_to = Timestamp::now();
    let m = n.metrics().await.unwrap_or_default();
    let reconciles_after = metric(&m, "operationrun_reconciliations_total", &[]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = stage.cp.audit_events().expect("audit log");
    let waiting_user = user("ctrl-n");
    let in_flat = requests(&events, &waiting_user, flat_from, flat_to);
    let by_resource = |r: &str| {
        in_flat
            .iter()
            .filter(|e| e["objectRef"]["resource"] == r)
            .count()
    };
    let lease_requests = by_resource("leases");
    let backupset_requests = by_resource("backupsets");
    let retries_per_namespace: BTreeMap<&str, usize> = in_flat
        .iter()
        .filter(|e| e["objectRef"]["resource"] == "backupsets" && e["verb"] == "list")
        .fold(BTreeMap::new(), |mut acc, e| {
            *acc.entry(e["objectRef"]["namespace"].as_str().unwrap_or(""))
                .or_insert(0) += 1;
            acc
        });
    let other_requests: Vec<String> = in_flat
        .iter()
        .filter(|e| {
            !matches!(
                e["objectRef"]["resource"].as_str(),
                Some("leases" | "backupsets")
            )
        })
        .map(|e| format!("{} {}", e["verb"], e["requestURI"]))
        .collect();

    // the kind is granted: its watch lists, the cache syncs, the backups are decided
    let roles: Api<Role> = Api::namespaced(admin.clone(), UNSYNCED_NS[0]);
    let granted = Timestamp::now();
    for ns in UNSYNCED_NS {
        let roles: Api<Role> = Api::namespaced(admin.clone(), ns);
        let mut role = roles
            .get("ctrl-n")
            .await
            .expect("the waiting controller's Role");
        role.rules.get_or_insert_with(Vec::new).push(
            serde_json::from_value(json!({"apiGroups": ["ops.tenantatlas.io"],
                "resources": ["backupsets"], "verbs": ["get", "list", "watch"]}))
            .expect("rule"),
        );
        roles
            .replace("ctrl-n", &PostParams::default(), &role)
            .await
            .unwrap_or_else(|e| panic!("granting backupsets in {ns}: {e}"));
    }
    drop(roles);

    // the refusing controller: its other namespaces are decided as usual meanwhile
    let writes = crate::audit::status_writes(&events, std::slice::from_ref(&refusing));
    let first_refusal = writes
        .iter()
        .filter(|w| w.code == 403)
        .map(|w| w.received)
        .min()
        .expect("the refusing controller's writes in the refused namespace were refused");
    let dump = verdicts::dump(&admin).await.expect("dump");
    let elsewhere: Vec<String> = refusing_fleet
        .members
        .iter()
        .filter(|m| m.namespace != REFUSED_NS)
        .map(key)
        .filter(|k| dump.held.get(k) != dump.expected.get(k))
        .map(|k| format!("{}/{}", k.0, k.1))
        .collect();
    // the policy goes away before any backoff can end: the refused runs are decided when
    // theirs does, not before
    sleep_until(first_refusal + SignedDuration::from_secs(50)).await;
    allow_status_writes(&admin).await;
    probe(&admin, canary, false).await;
    let policy_off = Timestamp::now();
    let fault_over = Instant::now();

    let mut fleet = Fleet::default();
    fleet.extend(refusing_fleet.clone());
    fleet.extend(waiting_fleet.clone());
    let out = finish(
        &stage,
        &mut [&mut p, &mut n],
        Ending {
            name: "refused writes and an unsynced kind",
            fault: format!(
                "status writes refused (403) in {REFUSED_NS} for {:.0} s; BackupSets not listable \
                 by a second controller for its first {:.0} s",
                policy_off.duration_since(first_refusal).as_secs_f64(),
                granted.duration_since(n_started_at).as_secs_f64()
            ),
            fleet: &fleet,
            dynamic: BTreeSet::new(),
            faults: vec![(policy_on, policy_off + SignedDuration::from_secs(1))],
            api_server_killed: false,
            users: vec![refusing.clone(), waiting_user.clone()],
            fault_over,
            began,
        },
    )
    .await;
    workers.stop().await;

    // the refused runs: every status write of each, in order
    let refused_keys: BTreeSet<Key> = out
        .writes
        .iter()
        .filter(|w| w.code == 403)
        .map(|w| w.key.clone())
        .collect();
    let mut per_run: BTreeMap<&Key, Vec<Timestamp>> = BTreeMap::new();
    for w in out.writes.iter().filter(|w| refused_keys.contains(&w.key)) {
        per_run.entry(&w.key).or_default().push(w.received);
    }
    // per run: the gap that confirms the first refusal, then the gaps after confirmed ones
    let mut rechecks: Vec<f64> = Vec::new();
    let mut gaps: Vec<f64> = Vec::new();
    for times in per_run.values_mut() {
        times.sort();
        let mut between = times
            .windows(2)
            .map(|p| p[1].duration_since(p[0]).as_secs_f64());
        rechecks.extend(between.next());
        gaps.extend(between);
    }
    let refusals = out.writes.iter().filter(|w| w.code == 403).count();
    let min_gap = gaps.iter().copied().fold(f64::INFINITY, f64::min);
    let min_recheck = rechecks.iter().copied().fold(f64::INFINITY, f64::min);
    let max_gap = gaps.iter().copied().fold(0.0, f64::max);
    let refused_events: BTreeMap<String, usize> = out
        .events
        .iter()
        .filter(|e| {
            e["stage"] == "ResponseComplete"
                && e["user"]["username"] == refusing.as_str()
                && e["objectRef"]["resource"] == "events"
                && e["verb"] == "create"
                && e["requestObject"]["reason"] == "RequestRefused"
        })
        .fold(BTreeMap::new(), |mut acc, e| {
            let run = e["requestObject"]["regarding"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            *acc.entry(run).or_insert(0) += 1;
            acc
        });
    let pm = p.metrics().await.unwrap_or_default();
    let counted_403 = metric(&pm, "operationrun_api_errors_total", &["code=\"403\""]);
    let warned = p
        .log()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("403"))
        .count();
    // the waiting backups: decided once BackupSets could be listed
    let waiting_keys: BTreeSet<Key> = waiting.iter().map(|m| key(m)).collect();
    let backups_decided = out
        .writes
        .iter()
        .filter(|w| w.accepted() && waiting_keys.contains(&w.key))
        .map(|w| w.done)
        .max();
    let n_ready = n.get("/readyz").await;
    let nm = n.metrics().await.unwrap_or_default();
    println!(
        "  refused writes: {} runs in {REFUSED_NS} refused {refusals} times; each first refusal \
         asked once more {min_recheck:.1} s or more after it; after a confirmed refusal no run was \
         tried again sooner than {min_gap:.1} s (longest gap {max_gap:.1} s); \
         403s counted: {counted_403}; warn lines naming 403: {warned}; RequestRefused Events per \
         run: {:?}; the other namespaces matched evaluate while {REFUSED_NS} was refused: {}; \
         decided {:.1} s after the policy went away",
        refused_keys.len(),
        refused_events.values().collect::<BTreeSet<_>>(),
        elsewhere.is_empty(),
        out.recovery.as_secs_f64()
    );
    println!(
        "  unsynced BackupSets: {} runs that need no BackupSet decided {:.1} s after the start; \
         {} backups waited; /readyz {:?} and /healthz {:?} {:.0} s after the start (unsynced \
         timeout {} s); cache_synced backupsets/operationruns/baselinesnapshots {gauges:?}; \
         BackupSet watch errors {watch_errors}; over {} s of waiting: reconciles {} -> {}, \
         requests {lease_requests} to the Lease, {backupset_requests} to BackupSets (LISTs per \
         namespace {retries_per_namespace:?}), others {other_requests:?}; the backups decided \
         {:.1} s after the grant; \
         /readyz then {:?}, cache_synced backupsets {:?}",
        decidable.len(),
        decided_in.as_secs_f64(),
        waiting.len(),
        readyz.as_ref().map(|r| r.0),
        healthz.as_ref().map(|r| r.0),
        (UNSYNCED_TIMEOUT + Duration::from_secs(1)).as_secs_f64(),
        UNSYNCED_TIMEOUT.as_secs(),
        FLAT.as_secs(),
        reconciles_before,
        reconciles_after,
        backups_decided.map_or(f64::NAN, |t| t.duration_since(granted).as_secs_f64()),
        n_ready.as_ref().map(|r| r.0),
        synced(&nm, "backupset"),
    );
    out.check();
    // the refused runs
    assert!(!refused_keys.is_empty(), "no status write was refused");
    assert!(
        elsewhere.is_empty(),
        "while {REFUSED_NS} was refused, runs elsewhere did not hold what evaluate gives: {elsewhere:?}"
    );
    assert!(
        rechecks
            .iter()
            .all(|g| *g >= REFUSAL_RECHECK.as_secs_f64() - 0.5
                && *g < PERMANENT_BACKOFF.as_secs_f64()),
        "a first refusal is asked once more after {REFUSAL_RECHECK:?}, before a minute: {rechecks:?}"
    );
    assert!(
        !gaps.is_empty(),
        "the refused runs were refused twice, then decided after their backoff"
    );
    assert!(
        gaps.iter()
            .all(|g| *g >= PERMANENT_BACKOFF.as_secs_f64() - 0.5),
        "a run was tried again sooner than {PERMANENT_BACKOFF:?} after a confirmed 403: gaps {gaps:?}"
    );
    assert!(
        counted_403 > 0.0,
        "403s are counted in operationrun_api_errors_total{{code=\"403\"}}"
    );
    assert!(
        refused_events.values().all(|n| *n <= 1),
        "more than one RequestRefused Event for a run: {refused_events:?}"
    );
    // the unsynced kind
    assert_eq!(
        readyz.as_ref().map(|r| r.0),
        Some(503),
        "/readyz while BackupSets never synced"
    );
    assert_eq!(
        healthz.as_ref().map(|r| r.0),
        Some(200),
        "/healthz while BackupSets never synced"
    );
    assert_eq!(
        gauges.0,
        Some(0.0),
        "operationrun_cache_synced for BackupSet"
    );
    assert!(
        reconciles_after == reconciles_before && other_requests.is_empty(),
        "the waiting controller spun: reconciles {reconciles_before} -> {reconciles_after}, \
         requests {other_requests:?}"
    );
    assert!(watch_errors > 0.0, "the BackupSet watch errors are counted");
    assert!(
        retries_per_namespace
            .values()
            .all(|n| *n <= RETRIES_WITHIN_FLAT),
        "the refused BackupSet watch retried its LIST at a steady pace instead of backing off: \
         {retries_per_namespace:?} in {FLAT:?} (at most {RETRIES_WITHIN_FLAT} per namespace)"
    );
    assert_eq!(
        n_ready.as_ref().map(|r| r.0),
        Some(200),
        "/readyz once every cache synced"
    );
    assert_eq!(
        n.restarts + p.restarts,
        0,
        "a controller exited (ctrl-n {}, ctrl-p {})",
        n.restarts,
        p.restarts
    );
    p.stop().await;
    n.stop().await;
    stage.clean();
}
