//! The in-cluster controller: watch (runs, artifacts) → stores → decide (pure) → write
//! conditions + events. One watch per kind feeds both the artifact store and the trigger, so
//! a trigger never arrives before the store has the change. A final verdict is confirmed
//! on a consistent read of the run's claims before it is written (see [`confirm`]).
//!
//! Limits hold for the process: one pool of `--concurrency` reconcile slots and one Event
//! queue serve every watched namespace. Every request has a deadline, a failing run backs
//! off on its own (see [`crate::backoff`]), and a run whose evidence lives in a cache that
//! has not synced waits for it without spinning.

pub mod confirm;
pub mod events;
pub mod heartbeats;
pub mod index;
pub mod lenient;
pub mod writer;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use operationrun_crds::{BackupSet, BaselineSnapshot, OperationRun};

use crate::backoff::{Backoffs, WatchBackoff};
use crate::metrics::Metrics;
use crate::request::{Class, RequestError, within};
use crate::stall::Caches;
use confirm::Modes;
use events::{EventLimits, EventQueue};
use heartbeats::Heartbeats;
use index::ArtifactIndex;
use lenient::Lenient;
use operationrun_core::decide::{
    ConditionType, Config, Decision, Evidence, Staleness, Transition, claim_kind, decide_seen,
};
use tokio::sync::Semaphore;

/// A run as the cache keeps it.
pub type Run = Lenient<OperationRun>;

/// How the controller runs, from the `run` flags.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Timeouts and abandonment.
    pub config: Config,
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    /// Decide, log and count, but write nothing.
    pub dry_run: bool,
    /// Runs reconciled at once.
    pub concurrency: u16,
    /// The reporting instance of Events (the pod name).
    pub instance: String,
    /// How many Events may wait, and how fast they are sent.
    pub events: EventLimits,
    /// The deadline of every API request but a watch.
    pub request_timeout: Duration,
    /// The caches' health, read by `/readyz`.
    pub caches: Arc<Caches>,
}

/// A future run by a hook.
pub type HookFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A test seam: called with the run's (namespace, name).
pub type Hook = Arc<dyn Fn(String, String) -> HookFuture + Send + Sync>;

/// Seams for tests: `before_write` runs between the decision and its write, so a test can
/// make a heartbeat land exactly there; `before_confirmation` runs when the cache gave a
/// final verdict, before the consistent read, so a test can write a claim the cache has
/// not seen yet.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Called just before a status write.
    pub before_write: Option<Hook>,
    /// Called just before the consistent read that confirms a final verdict.
    pub before_confirmation: Option<Hook>,
}

/// Tells whether this process may still write: false once a leader's Lease may have passed
/// to a standby.
pub type WriteGuard = Arc<dyn Fn() -> bool + Send + Sync>;

/// What a reconcile needs.
pub struct Context {
    may_write: Option<WriteGuard>,
    client: Client,
    resource: ApiResource,
    index: Arc<ArtifactIndex>,
    settings: Settings,
    metrics: Arc<Metrics>,
    events: EventQueue,
    hooks: Hooks,
    /// The process's reconcile slots, shared by every namespace.
    slots: Arc<Semaphore>,
    backoffs: Arc<Backoffs>,
    modes: Arc<Modes>,
    heartbeats: Arc<Heartbeats>,
}

/// Why a reconcile failed; the run is looked at again after its own backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused, could not be reached, or did not answer in time.
    #[error("API request failed: {0}")]
    Request(#[from] RequestError),
}

fn time_until(at: Timestamp, now: Timestamp) -> Duration {
    let secs = at.duration_since(now).as_secs_f64();
    Duration::from_secs_f64(secs.max(0.0))
}

/// A short label for what a reconcile concluded, for logs and metrics.
fn outcome_label(decision: &Decision) -> &'static str {
    if decision.disabled {
        return "Disabled";
    }
    if let Some(v) = &decision.verdict {
        return if decision.changed {
            v.reason.as_str()
        } else {
            "Unchanged"
        };
    }
    match decision.staleness {
        Staleness::Completed => "Completed",
        Staleness::Stale { .. } => "Final",
        _ => "Fresh",
    }
}

async fn reconcile(object: Arc<Run>, ctx: Arc<Context>) -> Result<Action, Error> {
    let (Some(namespace), Some(name)) = (object.namespace(), object.meta().name.clone()) else {
        tracing::warn!(problem = ?object.0.problem, "run cannot be named; skipped");
        return Ok(Action::await_change());
    };
    // an empty store must never read as "no evidence": a run proven by artifacts waits
    // for their cache (and is looked at again when it syncs); other families go on
    if let Some(kind) = claim_kind(&object.0.object.spec.type_)
        && ctx.index.wait_for(kind, &namespace, &name)
    {
        return Ok(Action::await_change());
    }
    // a refused run is not asked about again until it changes or its backoff ends
    if let Some(version) = object.resource_version()
        && let Some(left) = ctx.backoffs.held(&namespace, &name, &version)
    {
        return Ok(Action::requeue(left));
    }
    // one pool of slots for the whole process, however many namespaces it watches
    let _slot = ctx.slots.acquire().await.ok();
    let started = Instant::now();
    let result = reconcile_object(&object, &namespace, &name, &ctx).await;
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    match &result {
        Ok(_) => ctx.backoffs.succeeded(&namespace, &name),
        Err(_) => {
            ctx.metrics.reconcile_errors.inc();
        }
    }
    result
}

async fn reconcile_object(
    object: &Run,
    namespace: &str,
    name: &str,
    ctx: &Context,
) -> Result<Action, Error> {
    let (namespace, name) = (namespace.to_string(), name.to_string());
    let timeout = ctx.settings.request_timeout;
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &namespace, &ctx.resource);
    let mut fetched: Option<Run> = None;
    // one look, and one more after a conflict: a conflict means "look again", not "retry"
    for attempt in 0..2 {
        let current = fetched.as_ref().unwrap_or(object);
        let run = &current.0;
        let backups = ctx.index.backup_sets.claims(&namespace, &name);
        let snapshots = ctx.index.baseline_snapshots.claims(&namespace, &name);
        let evidence = Evidence {
            backup_sets: backups.iter().map(Arc::as_ref).collect(),
            baseline_snapshots: snapshots.iter().map(Arc::as_ref).collect(),
        };
        let now = Timestamp::now();
        let seen = ctx.heartbeats.seen(&namespace, &name);
        let config = &ctx.settings.config;
        let mut decision = decide_seen(run, &evidence, now, config, seen);
        let family = run.object.spec.type_.clone();
        if decision.takes_final_verdict() {
            if let Some(hook) = &ctx.hooks.before_confirmation {
                hook(namespace.clone(), name.clone()).await;
            }
            // a final verdict is never taken from a cache that may lag: read the claims
            // again with a consistent read, decide again, and write what that says
            let claims = confirm::claims(
                &ctx.client,
                &namespace,
                &name,
                &family,
                &ctx.modes,
                timeout,
                &ctx.metrics,
            )
            .await?;
            if let Some(claims) = claims {
                decision = decide_seen(run, &claims.evidence(), now, config, seen);
            }
        }
        let label = outcome_label(&decision);
        ctx.metrics.reconciled(&family, label);
        let undecided =
            matches!(decision.staleness, Staleness::Stale { .. }) && !decision.is_final();
        ctx.metrics
            .set_undecided(&namespace, &name, &family, undecided && !decision.disabled);
        let next = match decision.recheck_at {
            Some(at) => Action::requeue(time_until(at, now)),
            None => Action::await_change(),
        };
        if !decision.changed {
            tracing::debug!(%namespace, %name, outcome = label, "nothing to write");
            return Ok(next);
        }
        tracing::info!(
            %namespace, %name, %family, outcome = label,
            rule = decision.verdict.as_ref().map(|v| v.rule.number()),
            dry_run = ctx.settings.dry_run,
            "conditions change"
        );
        if ctx.settings.dry_run {
            return Ok(next);
        }
        if let Some(hook) = &ctx.hooks.before_write {
            hook(namespace.clone(), name.clone()).await;
        }
        if ctx.may_write.as_ref().is_some_and(|may| !may()) {
            // a frozen or cut-off leader: the Lease may be another's now
            tracing::warn!(%namespace, %name, "not writing: leadership is no longer certain");
            return Ok(Action::requeue(Duration::from_secs(1)));
        }
        // the precondition is the one safeguard a final verdict relies on: an empty
        // resourceVersion would be read as "no precondition", so nothing is written then
        let Some(resource_version) = precondition(current) else {
            tracing::warn!(%namespace, %name, "not writing: the run has no resourceVersion to precondition the write on");
            return Ok(Action::await_change());
        };
        ctx.metrics.status_writes.inc();
        let write = writer::write_conditions(
            &api,
            &name,
            &namespace,
            &resource_version,
            &decision.conditions,
        );
        match within("status write", timeout, write).await {
            Ok(()) => {
                let reference = current.object_ref(&());
                for transition in decision.transitions {
                    ctx.events.send(reference.clone(), transition);
                }
                return Ok(next);
            }
            Err(e) if e.class() == Class::Conflict && attempt == 0 => {
                ctx.metrics.write_conflicts.inc();
                tracing::info!(%namespace, %name, "the run changed since it was observed; looking again");
                // a GET of the run carries its status (the role grants no GET on status)
                let runs: Api<Run> = Api::namespaced(ctx.client.clone(), &namespace);
                match within("run read", timeout, runs.get(&name)).await {
                    Ok(fresh) if fresh.meta().name.is_some() => fetched = Some(fresh),
                    Ok(_) => return Ok(Action::await_change()),
                    Err(e) if e.code() == Some(404) => return Ok(Action::await_change()),
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) if e.class() == Class::Conflict => {
                ctx.metrics.write_conflicts.inc();
                return Ok(Action::requeue(Duration::from_secs(1)));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Action::requeue(Duration::from_secs(1)))
}

/// The resourceVersion a write of `run` is preconditioned on; `None` when there is none
/// (an empty one would be read by the API server as "no precondition").
fn precondition(run: &Run) -> Option<String> {
    run.resource_version().filter(|v| !v.trim().is_empty())
}

/// Each failing run backs off on its own: exponentially with jitter, longer for a refusal
/// (a 4xx other than 409 and 429, asked once more before it counts), which is also logged
/// and, once confirmed, reported in one Event per run.
fn error_policy(object: Arc<Run>, error: &Error, ctx: Arc<Context>) -> Action {
    let Error::Request(e) = error;
    ctx.metrics.api_error(&e.label());
    let namespace = object.namespace().unwrap_or_default();
    let name = object.meta().name.clone().unwrap_or_default();
    let version = object.resource_version().unwrap_or_default();
    let class = e.class();
    let step = ctx
        .backoffs
        .failed(&namespace, &name, &version, class, fastrand::f64());
    let retry_in = step.delay.as_secs_f64();
    match class {
        Class::Permanent(code) => {
            tracing::warn!(%namespace, %name, code, error = %e, failures = step.failures, retry_in,
                "the API server refused a request for this run; not asking again until the run changes or the backoff ends");
            if step.confirmed_refusal && !ctx.settings.dry_run {
                ctx.events.send(
                    object.object_ref(&()),
                    Transition {
                        condition: ConditionType::Reconciled,
                        reason: "RequestRefused".to_string(),
                        message: format!(
                            "The API server refused a request for this run ({code}): {e}. The controller asks again when the run changes, or after {} s.",
                            step.delay.as_secs()
                        ),
                        warning: true,
                        related: None,
                    },
                );
            }
        }
        _ => tracing::warn!(%namespace, %name, error = %e, failures = step.failures, retry_in,
            "reconcile failed; retrying after a backoff"),
    }
    Action::requeue(step.delay)
}

fn api_for<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// How every watch lists: pages of this many objects.
fn watch_config() -> watcher::Config {
    watcher::Config::default().page_size(LIST_PAGE)
}

/// Objects per page of a watch's initial list (and of every re-list).
const LIST_PAGE: u32 = 500;

/// What every watch shares: the metrics and cache health it reports to, and its scope
/// ("" for all namespaces).
#[derive(Clone)]
struct WatchReport {
    metrics: Arc<Metrics>,
    caches: Arc<Caches>,
    scope: String,
}

impl WatchReport {
    /// Reports one item of a watch of `kind`: its errors, its events, its (re-)lists; and
    /// tells the watch's backoff when it made progress (a list completed, an object came).
    fn item<K>(
        &self,
        kind: &'static str,
        item: &Result<watcher::Event<K>, watcher::Error>,
        progress: &std::sync::atomic::AtomicBool,
    ) {
        match item {
            Ok(event) => {
                self.metrics.watch_event(kind);
                match event {
                    watcher::Event::Init => self.caches.listing(kind, &self.scope, &self.metrics),
                    watcher::Event::InitDone => {
                        progress.store(true, std::sync::atomic::Ordering::Release);
                        self.caches.synced(kind, &self.scope, &self.metrics)
                    }
                    watcher::Event::Apply(_) | watcher::Event::Delete(_) => {
                        progress.store(true, std::sync::atomic::Ordering::Release)
                    }
                    watcher::Event::InitApply(_) => {}
                }
            }
            Err(e) => self.caches.watch_error(kind, e, &self.metrics),
        }
    }
}

/// Whether a watch event may reach a cache: an object without a name or namespace (its
/// metadata could not be read) is skipped and counted, never handed to a store that needs a
/// name.
fn named<K: Resource>(
    kind: &'static str,
    metrics: &Metrics,
    item: &Result<watcher::Event<K>, watcher::Error>,
) -> bool {
    let object = match item {
        Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o) | watcher::Event::Delete(o)) => {
            o
        }
        _ => return true,
    };
    let meta = object.meta();
    let ok = meta.name.as_deref().is_some_and(|n| !n.is_empty())
        && meta.namespace.as_deref().is_some_and(|n| !n.is_empty());
    if !ok {
        metrics.unnamed(kind);
        tracing::warn!(
            kind,
            "skipped an object whose name or namespace cannot be read"
        );
    }
    ok
}

/// The artifact watch of one kind: updates the store, then yields the runs to look at again.
fn artifact_triggers<K>(
    kind: &'static str,
    api: Api<Lenient<K>>,
    report: WatchReport,
    store: impl Fn(&watcher::Event<Lenient<K>>) -> Vec<(String, String)> + Send + 'static,
) -> impl futures::Stream<Item = ObjectRef<Run>> + Send + 'static
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + operationrun_crds::Salvage
        + Default
        + Clone
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let metrics = report.metrics.clone();
    let (backoff, progress) = WatchBackoff::new();
    watcher(api, watch_config())
        .backoff(backoff)
        .inspect(move |item| report.item(kind, item, &progress))
        .filter(move |item| futures::future::ready(named(kind, &metrics, item)))
        .filter_map(move |event| {
            let refs = match event {
                Ok(event) => store(&event)
                    .into_iter()
                    .map(|(ns, name)| ObjectRef::<Run>::new(&name).within(&ns))
                    .collect(),
                Err(_) => Vec::new(),
            };
            futures::future::ready(Some(futures::stream::iter(refs)))
        })
        .flatten()
}

/// Keeps the undecided gauge true when runs go away: a deleted run is never reconciled, so
/// it is forgotten on its Delete event, and a re-list forgets the runs deleted while the
/// watch was down (those that the re-list no longer returns).
struct ForgetDeleted {
    metrics: Arc<Metrics>,
    scope: Option<String>,
    listed: Option<std::collections::HashSet<(String, String)>>,
}

impl ForgetDeleted {
    fn observe(&mut self, event: &watcher::Event<Run>) {
        let key = |run: &Run| Some((run.namespace()?, run.meta().name.clone()?));
        match event {
            watcher::Event::Delete(run) => {
                if let Some((ns, name)) = key(run) {
                    self.metrics.forget(&ns, &name);
                }
            }
            watcher::Event::Init => self.listed = Some(Default::default()),
            watcher::Event::InitApply(run) => {
                if let (Some(listed), Some(k)) = (self.listed.as_mut(), key(run)) {
                    listed.insert(k);
                }
            }
            watcher::Event::InitDone => {
                if let Some(listed) = self.listed.take() {
                    self.metrics.retain(self.scope.as_deref(), |ns, name| {
                        listed.contains(&(ns.to_string(), name.to_string()))
                    });
                }
            }
            watcher::Event::Apply(_) => {}
        }
    }
}

/// What every scope of one controller shares: the process-wide limits and state.
#[derive(Clone)]
struct Shared {
    events: EventQueue,
    slots: Arc<Semaphore>,
    backoffs: Arc<Backoffs>,
    modes: Arc<Modes>,
}

/// Runs the controller for one scope (a namespace, or all) until `shutdown` resolves.
#[allow(clippy::too_many_arguments)]
async fn run_scope(
    client: Client,
    namespace: Option<String>,
    settings: Settings,
    metrics: Arc<Metrics>,
    hooks: Hooks,
    may_write: Option<WriteGuard>,
    shared: Shared,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let runs = ApiResource::erase::<OperationRun>(&());
    let index = Arc::new(ArtifactIndex::default());
    let ns = namespace.as_deref();
    let report = WatchReport {
        metrics: metrics.clone(),
        caches: settings.caches.clone(),
        scope: namespace.clone().unwrap_or_default(),
    };

    let writer = reflector::store::Writer::<Run>::new(());
    let reader = writer.as_reader();
    let mut forget = ForgetDeleted {
        metrics: metrics.clone(),
        scope: namespace.clone(),
        listed: None,
    };
    let run_report = report.clone();
    let run_metrics = metrics.clone();
    // what this scope's watch saw of each run's heartbeat
    let heartbeats = Arc::new(Heartbeats::default());
    let seen = heartbeats.clone();
    let (run_backoff, run_progress) = WatchBackoff::new();
    let run_stream = reflector(
        writer,
        watcher(api_for::<Run>(&client, ns), watch_config())
            .backoff(run_backoff)
            .inspect(move |item| run_report.item("OperationRun", item, &run_progress))
            .filter(move |item| futures::future::ready(named("OperationRun", &run_metrics, item)))
            .inspect_ok(move |event| {
                forget.observe(event);
                seen.observe(event);
            }),
    )
    .applied_objects();

    let bk_index = index.clone();
    let backup_triggers = artifact_triggers(
        "BackupSet",
        api_for::<Lenient<BackupSet>>(&client, ns),
        report.clone(),
        move |e| bk_index.backup_sets.handle(e),
    );
    let sn_index = index.clone();
    let snapshot_triggers = artifact_triggers(
        "BaselineSnapshot",
        api_for::<Lenient<BaselineSnapshot>>(&client, ns),
        report,
        move |e| sn_index.baseline_snapshots.handle(e),
    );

    let ctx = Arc::new(Context {
        may_write,
        events: shared.events,
        client,
        resource: runs,
        index,
        settings: settings.clone(),
        metrics,
        hooks,
        slots: shared.slots,
        backoffs: shared.backoffs,
        modes: shared.modes,
        heartbeats,
    });
    Controller::for_stream_with(run_stream, reader, ())
        .reconcile_on(backup_triggers)
        .reconcile_on(snapshot_triggers)
        .with_config(ControllerConfig::default().concurrency(settings.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| {
            if let Err(e) = result {
                tracing::debug!(error = %e, "controller event");
            }
            futures::future::ready(())
        })
        .await;
}

/// Runs the controller over every configured scope until `shutdown` resolves.
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    hooks: Hooks,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    run_guarded(client, settings, metrics, hooks, None, shutdown).await
}

/// Marks the caches inactive and forgets the undecided runs when the controller stops,
/// however it stops (a shutdown, or its future dropped when the Lease is lost).
struct Active {
    caches: Arc<Caches>,
    metrics: Arc<Metrics>,
}

impl Drop for Active {
    fn drop(&mut self) {
        self.caches.stop(&self.metrics);
        // a replica that stopped deciding no longer counts undecided runs: the leader does
        self.metrics.retain(None, |_, _| false);
    }
}

/// [`run`], checking `may_write` right before every write.
async fn run_guarded(
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    hooks: Hooks,
    may_write: Option<WriteGuard>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let shutdown =
        futures::FutureExt::shared(Box::pin(shutdown) as Pin<Box<dyn Future<Output = ()> + Send>>);
    let scopes: Vec<Option<String>> = if settings.namespaces.is_empty() {
        vec![None]
    } else {
        let mut namespaces = settings.namespaces.clone();
        namespaces.sort();
        namespaces.dedup();
        namespaces.into_iter().map(Some).collect()
    };
    let labels: Vec<String> = scopes
        .iter()
        .map(|s| s.clone().unwrap_or_default())
        .collect();
    settings.caches.start(&labels, &metrics);
    let _active = Active {
        caches: settings.caches.clone(),
        metrics: metrics.clone(),
    };
    let modes = Arc::new(Modes::default());
    modes
        .probe(
            &client,
            scopes.first().and_then(|s| s.as_deref()),
            settings.request_timeout,
            &metrics,
        )
        .await;
    // one Event queue and one pool of reconcile slots for the whole process
    let reporter = Reporter {
        controller: writer::FIELD_MANAGER.to_string(),
        instance: Some(settings.instance.clone()),
    };
    let shared = Shared {
        events: EventQueue::start(
            Recorder::new(client.clone(), reporter),
            metrics.clone(),
            settings.events,
            settings.request_timeout,
        ),
        slots: Arc::new(Semaphore::new(usize::from(settings.concurrency.max(1)))),
        backoffs: Arc::new(Backoffs::default()),
        modes,
    };
    let tasks = scopes.into_iter().map(|scope| {
        // a `Sync` future for each scope's controller, resolving with the shared shutdown
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let stop = shutdown.clone();
        let relay = async move {
            stop.await;
            let _ = tx.send(());
        };
        let signal = async move {
            let _ = rx.await;
        };
        let controller = run_scope(
            client.clone(),
            scope,
            settings.clone(),
            metrics.clone(),
            hooks.clone(),
            may_write.clone(),
            shared.clone(),
            signal,
        );
        async move {
            tokio::pin!(controller);
            tokio::select! {
                _ = &mut controller => {}
                _ = relay => controller.await,
            }
        }
    });
    futures::future::join_all(tasks).await;
}

/// Runs the controller only while holding the leader Lease (when `elector` is given): waits
/// for leadership, runs until `shutdown` (then releases the Lease). When the Lease is lost
/// the controller stops in-process (no write is sent past the renew deadline) and the
/// replica campaigns again; the process does not exit.
pub async fn run_elected(
    client: Client,
    elector: Option<crate::leader::Elector>,
    settings: Settings,
    metrics: Arc<Metrics>,
    hooks: Hooks,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), crate::leader::LeaderError> {
    let shutdown =
        futures::FutureExt::shared(Box::pin(shutdown) as Pin<Box<dyn Future<Output = ()> + Send>>);
    let Some(elector) = elector.map(Arc::new) else {
        run_guarded(client, settings, metrics, hooks, None, shutdown).await;
        return Ok(());
    };
    loop {
        tokio::select! {
            _ = elector.acquire() => {}
            _ = shutdown.clone() => return Ok(()),
        }
        metrics.leader.set(1);
        let guard = elector.clone();
        let may_write = Some(Arc::new(move || guard.is_current()) as WriteGuard);
        let controller = run_guarded(
            client.clone(),
            settings.clone(),
            metrics.clone(),
            hooks.clone(),
            may_write,
            shutdown.clone(),
        );
        tokio::select! {
            _ = controller => {
                elector.release().await;
                metrics.leader.set(0);
                return Ok(());
            }
            lost = elector.hold() => {
                // dropping the controller cancels its reconciles and watches here
                metrics.leader.set(0);
                metrics.leader_losses.inc();
                tracing::warn!(error = %lost, "lost the leader Lease: stopped deciding; campaigning again");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(value: serde_json::Value) -> Run {
        Lenient::from_value(value)
    }

    #[test]
    fn an_object_that_cannot_be_named_never_reaches_a_cache() {
        let metrics = Metrics::default();
        let unreadable = run(json!({"metadata": 5, "spec": {"type": "inventory.sync"}}));
        assert!(unreadable.meta().name.is_none());
        for event in [
            watcher::Event::Apply(unreadable.clone()),
            watcher::Event::InitApply(unreadable.clone()),
            watcher::Event::Delete(unreadable),
        ] {
            assert!(!named("OperationRun", &metrics, &Ok(event)));
        }
        let fine = run(json!({"metadata": {"name": "r", "namespace": "ns"}}));
        assert!(named(
            "OperationRun",
            &metrics,
            &Ok(watcher::Event::Apply(fine))
        ));
        assert!(named::<Run>(
            "OperationRun",
            &metrics,
            &Ok(watcher::Event::InitDone)
        ));
        assert!(
            metrics
                .encode()
                .contains("operationrun_unnamed_objects_total{kind=\"OperationRun\"} 3")
        );
    }

    #[test]
    fn no_write_goes_out_without_a_resource_version() {
        let without = run(json!({"metadata": {"name": "r", "namespace": "ns"}}));
        assert_eq!(precondition(&without), None);
        let empty =
            run(json!({"metadata": {"name": "r", "namespace": "ns", "resourceVersion": ""}}));
        assert_eq!(precondition(&empty), None);
        let with =
            run(json!({"metadata": {"name": "r", "namespace": "ns", "resourceVersion": "42"}}));
        assert_eq!(precondition(&with).as_deref(), Some("42"));
    }
}
