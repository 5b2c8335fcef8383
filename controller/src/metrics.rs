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
        let reconcile_duration = Histogram::new(exponential_buckets(0.0001, 4.0, 10));
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
        Metrics {
            registry,
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
