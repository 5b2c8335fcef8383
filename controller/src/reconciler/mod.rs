//! The in-cluster controller: watch (runs, artifacts) → stores → decide (pure) → write
//! conditions + events. One watch per kind feeds both the artifact store and the trigger, so
//! a trigger never arrives before the store has the change. A final verdict is confirmed
//! on a consistent read of the run's claims before it is written (see [`confirm`]).

pub mod confirm;
pub mod events;
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

use crate::metrics::Metrics;
use events::{EventLimits, EventQueue};
use index::ArtifactIndex;
use lenient::Lenient;
use operationrun_core::decide::{Config, Decision, Evidence, Staleness, decide};

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
}

/// Why a reconcile failed; the run is looked at again after a backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or could not be reached.
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
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
    if !ctx.index.is_synced() {
        // an empty store must never read as "no evidence"
        return Ok(Action::requeue(Duration::from_millis(500)));
    }
    let started = Instant::now();
    let result = reconcile_object(&object, &ctx).await;
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    if result.is_err() {
        ctx.metrics.reconcile_errors.inc();
    }
    result
}

async fn reconcile_object(object: &Run, ctx: &Context) -> Result<Action, Error> {
    let (Some(namespace), Some(name)) = (object.namespace(), object.meta().name.clone()) else {
        tracing::warn!(problem = ?object.0.problem, "run cannot be named; skipped");
        return Ok(Action::await_change());
    };
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
        let mut decision = decide(run, &evidence, now, &ctx.settings.config);
        let family = run.object.spec.type_.clone();
        if decision.takes_final_verdict() {
            if let Some(hook) = &ctx.hooks.before_confirmation {
                hook(namespace.clone(), name.clone()).await;
            }
            // a final verdict is never taken from a cache that may lag: read the claims
            // again with a consistent read, decide again, and write what that says
            let claims =
                confirm::claims(&ctx.client, &namespace, &name, &family, &ctx.metrics).await?;
            if let Some(claims) = claims {
                decision = decide(run, &claims.evidence(), now, &ctx.settings.config);
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
        let resource_version = current.resource_version().unwrap_or_default();
        ctx.metrics.status_writes.inc();
        match writer::write_conditions(
            &api,
            &name,
            &namespace,
            &resource_version,
            &decision.conditions,
        )
        .await
        {
            Ok(()) => {
                let reference = current.object_ref(&());
                for transition in decision.transitions {
                    ctx.events.send(reference.clone(), transition);
                }
                return Ok(next);
            }
            Err(e) if writer::is_conflict(&e) && attempt == 0 => {
                ctx.metrics.write_conflicts.inc();
                tracing::info!(%namespace, %name, "the run changed since it was observed; looking again");
                // a GET of the run carries its status (the role grants no GET on status)
                let runs: Api<Run> = Api::namespaced(ctx.client.clone(), &namespace);
                match runs.get(&name).await {
                    Ok(fresh) => fetched = Some(fresh),
                    Err(kube::Error::Api(s)) if s.code == 404 => return Ok(Action::await_change()),
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) if writer::is_conflict(&e) => {
                ctx.metrics.write_conflicts.inc();
                return Ok(Action::requeue(Duration::from_secs(1)));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Action::requeue(Duration::from_secs(1)))
}

fn error_policy(_object: Arc<Run>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %error, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
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

/// The artifact watch of one kind: updates the store, then yields the runs to look at again.
fn artifact_triggers<K>(
    api: Api<Lenient<K>>,
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
    watcher(api, watch_config())
        .default_backoff()
        .filter_map(move |event| {
            let refs = match event {
                Ok(event) => store(&event)
                    .into_iter()
                    .map(|(ns, name)| ObjectRef::<Run>::new(&name).within(&ns))
                    .collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "artifact watch error; retrying");
                    Vec::new()
                }
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

/// Runs the controller for one scope (a namespace, or all) until `shutdown` resolves.
async fn run_scope(
    client: Client,
    namespace: Option<String>,
    settings: Settings,
    metrics: Arc<Metrics>,
    hooks: Hooks,
    may_write: Option<WriteGuard>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let runs = ApiResource::erase::<OperationRun>(&());
    let index = Arc::new(ArtifactIndex::default());
    let ns = namespace.as_deref();

    let writer = reflector::store::Writer::<Run>::new(());
    let reader = writer.as_reader();
    let mut forget = ForgetDeleted {
        metrics: metrics.clone(),
        scope: namespace.clone(),
        listed: None,
    };
    let run_stream = reflector(
        writer,
        watcher(api_for::<Run>(&client, ns), watch_config())
            .default_backoff()
            .inspect_ok(move |event| forget.observe(event)),
    )
    .applied_objects();

    let bk_index = index.clone();
    let backup_triggers = artifact_triggers(api_for::<Lenient<BackupSet>>(&client, ns), move |e| {
        bk_index.backup_sets.handle(e)
    });
    let sn_index = index.clone();
    let snapshot_triggers = artifact_triggers(
        api_for::<Lenient<BaselineSnapshot>>(&client, ns),
        move |e| sn_index.baseline_snapshots.handle(e),
    );

    let reporter = Reporter {
        controller: writer::FIELD_MANAGER.to_string(),
        instance: Some(settings.instance.clone()),
    };
    let events = EventQueue::start(
        Recorder::new(client.clone(), reporter),
        metrics.clone(),
        settings.events,
    );
    let ctx = Arc::new(Context {
        may_write,
        events,
        client,
        resource: runs,
        index,
        settings: settings.clone(),
        metrics,
        hooks,
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

/// [`run`], checking `may_write` right before every write.
async fn run_guarded(
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    hooks: Hooks,
    may_write: Option<WriteGuard>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let stop = tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let scopes: Vec<Option<String>> = if settings.namespaces.is_empty() {
        vec![None]
    } else {
        let mut namespaces = settings.namespaces.clone();
        namespaces.sort();
        namespaces.dedup();
        namespaces.into_iter().map(Some).collect()
    };
    let tasks = scopes.into_iter().map(|scope| {
        let mut rx = rx.clone();
        let signal = async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        run_scope(
            client.clone(),
            scope,
            settings.clone(),
            metrics.clone(),
            hooks.clone(),
            may_write.clone(),
            signal,
        )
    });
    futures::future::join_all(tasks).await;
    stop.abort();
}

/// Runs the controller only while holding the leader Lease (when `elector` is given): waits
/// for leadership, runs until `shutdown` (then releases the Lease) or until the Lease is lost
/// (an error: the process should exit so that it restarts as a candidate).
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
    let elector = elector.map(Arc::new);
    if let Some(elector) = &elector {
        tokio::select! {
            _ = elector.acquire() => {}
            _ = shutdown.clone() => return Ok(()),
        }
        metrics.leader.set(1);
    }
    let may_write = elector
        .clone()
        .map(|e| Arc::new(move || e.is_current()) as WriteGuard);
    let controller = run_guarded(
        client,
        settings,
        metrics.clone(),
        hooks,
        may_write,
        shutdown.clone(),
    );
    let result = match &elector {
        Some(elector) => tokio::select! {
            _ = controller => Ok(()),
            lost = elector.hold() => Err(lost),
        },
        None => {
            controller.await;
            Ok(())
        }
    };
    if let Some(elector) = &elector {
        if result.is_ok() {
            elector.release().await;
        }
        metrics.leader.set(0);
    }
    result
}
