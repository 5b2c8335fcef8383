//! Prometheus metrics of the controller, served on `/metrics`.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use operationrun_core::decide::{Family as RegistryFamily, lookup};

/// Labels of per-family, per-reason series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FamilyReason {
    /// The run's family, or `other` for families the controller does not know (bounded cardinality).
    pub family: String,
    /// The decided reason, or what the reconcile concluded when it decided nothing.
    pub reason: String,
}

/// Labels of per-family series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FamilyLabel {
    /// As in [`FamilyReason::family`].
    pub family: String,
}

/// Labels of the events counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabel {
    /// Normal or Warning.
    pub r#type: String,
}

/// Labels of per-kind series (OperationRun, BackupSet, BaselineSnapshot).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// The watched kind.
    pub kind: String,
}

/// Labels of the confirmation mode gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModeLabel {
    /// The artifact kind confirmed.
    pub kind: String,
    /// `fieldSelector` or `namespaceList`.
    pub mode: String,
}

/// Labels of the API error counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    /// The HTTP status code, `timeout` or `transport`.
    pub code: String,
}

/// Every metric the controller exports.
pub struct Metrics {
    registry: Registry,
    /// Reconciles by family and outcome.
    pub reconciliations: Family<FamilyReason, Counter>,
    /// Stale runs without a final decision, by family.
    pub stale_undecided: Family<FamilyLabel, Gauge>,
    /// Time spent in one reconcile.
    pub reconcile_duration: Histogram,
    /// Status writes sent.
    pub status_writes: Counter,
    /// Status writes refused because the run changed in between.
    pub write_conflicts: Counter,
    /// Reconciles that failed.
    pub reconcile_errors: Counter,
    /// Events published.
    pub events: Family<EventLabel, Counter>,
    /// Events dropped because the queue was full (a burst beyond the rate limit).
    pub events_dropped: Counter,
    /// Events the API server refused or that could not be sent.
    pub event_errors: Counter,
    /// Consistent reads of a run's claims before a final verdict.
    pub confirmation_reads: Counter,
    /// 1 while this process holds the leader Lease.
    pub leader: Gauge,
    /// Failed requests of reconciles, by status code (or `timeout`, `transport`).
    pub api_errors: Family<CodeLabel, Counter>,
    /// Watch errors, by kind.
    pub watch_errors: Family<KindLabel, Counter>,
    /// 1 while the cache of a kind is synced.
    pub cache_synced_gauge: Family<KindLabel, Gauge>,
    /// When the last watch event of a kind came (Unix seconds).
    pub last_watch_event: Family<KindLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// How final verdicts are confirmed, per artifact kind.
    pub confirmation_mode: Family<ModeLabel, Gauge>,
    /// Objects skipped because their name or namespace could not be read.
    pub unnamed_objects: Family<KindLabel, Counter>,
    /// Times this process lost the leader Lease and stopped deciding.
    pub leader_losses: Counter,
    undecided: Mutex<HashMap<(String, String), String>>,
}

/// The metric label for a family: known families by name, everything else as `other`.
pub fn family_label(family: &str) -> String {
    match lookup(family) {
        RegistryFamily::Unknown => "other".to_string(),
        _ => family.to_string(),
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let reconciliations = Family::<FamilyReason, Counter>::default();
        registry.register(
            "operationrun_reconciliations",
            "Reconciles of OperationRuns by family and the reason decided (or Fresh, Completed, Final, Disabled, Unchanged)",
            reconciliations.clone(),
        );
        let stale_undecided = Family::<FamilyLabel, Gauge>::default();
        registry.register(
            "operationrun_stale_undecided",
            "Stale OperationRuns without a final decision, by family",
            stale_undecided.clone(),
        );
        // from 0.1 ms to about 105 s: a reconcile is bounded by its requests' deadlines
        let reconcile_duration = Histogram::new(exponential_buckets(0.0001, 4.0, 11));
        registry.register(
            "operationrun_reconcile_duration_seconds",
            "Time spent reconciling one OperationRun",
            reconcile_duration.clone(),
        );
        let status_writes = Counter::default();
        registry.register(
            "operationrun_status_writes",
            "Status condition writes sent",
            status_writes.clone(),
        );
        let write_conflicts = Counter::default();
        registry.register(
            "operationrun_write_conflicts",
            "Status writes refused because the run changed since it was observed",
            write_conflicts.clone(),
        );
        let reconcile_errors = Counter::default();
        registry.register(
            "operationrun_reconcile_errors",
            "Reconciles that failed",
            reconcile_errors.clone(),
        );
        let events = Family::<EventLabel, Counter>::default();
        registry.register(
            "operationrun_events",
            "Kubernetes Events published, by type",
            events.clone(),
        );
        let events_dropped = Counter::default();
        registry.register(
            "operationrun_events_dropped",
            "Kubernetes Events dropped because more transitions happened than the event rate limit lets through",
            events_dropped.clone(),
        );
        let event_errors = Counter::default();
        registry.register(
            "operationrun_event_errors",
            "Kubernetes Events that could not be published",
            event_errors.clone(),
        );
        let confirmation_reads = Counter::default();
        registry.register(
            "operationrun_confirmation_reads",
            "Consistent LISTs of a run's claims made before writing a final verdict",
            confirmation_reads.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "operationrun_leader",
            "1 while this process holds the leader Lease",
            leader.clone(),
        );
        let api_errors = Family::<CodeLabel, Counter>::default();
        registry.register(
            "operationrun_api_errors",
            "Failed API requests of reconciles, by HTTP status code (timeout: no answer within --request-timeout; transport: no answer at all)",
            api_errors.clone(),
        );
        let watch_errors = Family::<KindLabel, Counter>::default();
        registry.register(
            "operationrun_watch_errors",
            "Watch errors, by kind (each is retried with backoff)",
            watch_errors.clone(),
        );
        let cache_synced_gauge = Family::<KindLabel, Gauge>::default();
        registry.register(
            "operationrun_cache_synced",
            "1 while the cache of a kind has completed its list in every watched namespace",
            cache_synced_gauge.clone(),
        );
        let last_watch_event =
            Family::<KindLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "operationrun_last_watch_event_timestamp_seconds",
            "When the last watch event of a kind arrived (Unix time)",
            last_watch_event.clone(),
        );
        let confirmation_mode = Family::<ModeLabel, Gauge>::default();
        registry.register(
            "operationrun_confirmation_mode",
            "1 for the way final verdicts are confirmed per artifact kind: fieldSelector, or namespaceList where the CRD declares no selectable field",
            confirmation_mode.clone(),
        );
        let unnamed_objects = Family::<KindLabel, Counter>::default();
        registry.register(
            "operationrun_unnamed_objects",
            "Watched objects skipped because their name or namespace could not be read",
            unnamed_objects.clone(),
        );
        let leader_losses = Counter::default();
        registry.register(
            "operationrun_leader_losses",
            "Times this process lost the leader Lease, stopped deciding and campaigned again",
            leader_losses.clone(),
        );
        Metrics {
            registry,
            api_errors,
            watch_errors,
            cache_synced_gauge,
            last_watch_event,
            confirmation_mode,
            unnamed_objects,
            leader_losses,
            reconciliations,
            stale_undecided,
            reconcile_duration,
            status_writes,
            write_conflicts,
            reconcile_errors,
            events,
            events_dropped,
            event_errors,
            confirmation_reads,
            leader,
            undecided: Mutex::new(HashMap::new()),
        }
    }
}

impl Metrics {
    /// Sets whether the cache of `kind` is synced.
    pub fn cache_synced(&self, kind: &str, synced: bool) {
        self.cache_synced_gauge
            .get_or_create(&KindLabel { kind: kind.into() })
            .set(i64::from(synced));
    }

    /// Records that a watch event of `kind` arrived now.
    pub fn watch_event(&self, kind: &str) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        self.last_watch_event
            .get_or_create(&KindLabel { kind: kind.into() })
            .set(now);
    }

    /// Records how final verdicts are confirmed for `kind`.
    pub fn set_confirmation_mode(&self, kind: &str, mode: &str) {
        for m in ["fieldSelector", "namespaceList"] {
            self.confirmation_mode
                .get_or_create(&ModeLabel {
                    kind: kind.into(),
                    mode: m.into(),
                })
                .set(i64::from(m == mode));
        }
    }

    /// Counts an object of `kind` skipped because it cannot be named.
    pub fn unnamed(&self, kind: &str) {
        self.unnamed_objects
            .get_or_create(&KindLabel { kind: kind.into() })
            .inc();
    }

    /// Counts a failed request by its label (status code, `timeout`, `transport`).
    pub fn api_error(&self, code: &str) {
        self.api_errors
            .get_or_create(&CodeLabel { code: code.into() })
            .inc();
    }

    /// Counts one reconcile.
    pub fn reconciled(&self, family: &str, reason: &str) {
        self.reconciliations
            .get_or_create(&FamilyReason {
                family: family_label(family),
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Records whether run `ns/name` is stale and undecided now, and updates the gauge.
    pub fn set_undecided(&self, ns: &str, name: &str, family: &str, undecided: bool) {
        let mut map = self.undecided.lock().unwrap_or_else(|e| e.into_inner());
        let key = (ns.to_string(), name.to_string());
        let family = family_label(family);
        let before = if undecided {
            map.insert(key, family.clone())
        } else {
            map.remove(&key)
        };
        if let Some(f) = before {
            self.stale_undecided
                .get_or_create(&FamilyLabel { family: f })
                .dec();
        }
        if undecided {
            self.stale_undecided
                .get_or_create(&FamilyLabel { family })
                .inc();
        }
    }

    /// Forgets a deleted run: it is no longer stale and undecided.
    pub fn forget(&self, ns: &str, name: &str) {
        let mut map = self.undecided.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(family) = map.remove(&(ns.to_string(), name.to_string())) {
            self.stale_undecided
                .get_or_create(&FamilyLabel { family })
                .dec();
        }
    }

    /// Forgets every run of `namespace` (all namespaces when `None`) that `exists` does not
    /// know any more: after a re-list, runs deleted while the watch was down.
    pub fn retain(&self, namespace: Option<&str>, exists: impl Fn(&str, &str) -> bool) {
        let mut map = self.undecided.lock().unwrap_or_else(|e| e.into_inner());
        let gone: Vec<(String, String)> = map
            .keys()
            .filter(|(ns, name)| namespace.is_none_or(|n| n == ns) && !exists(ns, name))
            .cloned()
            .collect();
        for key in gone {
            if let Some(family) = map.remove(&key) {
                self.stale_undecided
                    .get_or_create(&FamilyLabel { family })
                    .dec();
            }
        }
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
