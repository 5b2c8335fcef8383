//! The consistent read before a final verdict. A watch cache can lag: a second claim written
//! a moment ago may not be in it yet, and the answer would be `Succeeded` where the truth is
//! `AmbiguousEvidence`. So before a final verdict is written, the run's claims are listed
//! again from the API server without a resourceVersion (served as a quorum read), narrowed
//! to the run by the selectable field `spec.operationRunRef.name`.
//!
//! CRDs installed before they declared that selectable field (Helm never upgrades a chart's
//! `crds/`) refuse the field selector with 400. Then the claims are confirmed with a
//! consistent LIST of the kind in the run's namespace, filtered here on the same field: the
//! same consistency, at the cost of reading the namespace's artifacts of that kind. The mode
//! in use is found at start, logged, and exported as `operationrun_confirmation_mode`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::{Client, Resource};
use operationrun_crds::{BackupSet, BaselineSnapshot, Parsed, Salvage};

use super::lenient::Lenient;
use crate::metrics::Metrics;
use crate::request::{RequestError, within};
use operationrun_core::decide::{ArtifactKind, Evidence, claim_kind};

/// The claims read on a consistent read, owned.
#[derive(Default)]
pub struct Claims {
    backup_sets: Vec<Parsed<BackupSet>>,
    baseline_snapshots: Vec<Parsed<BaselineSnapshot>>,
}

impl Claims {
    /// The evidence view over these claims.
    pub fn evidence(&self) -> Evidence<'_> {
        Evidence {
            backup_sets: self.backup_sets.iter().collect(),
            baseline_snapshots: self.baseline_snapshots.iter().collect(),
        }
    }
}

/// The field selector that narrows a LIST to the artifacts naming run `name`.
pub fn selector(name: &str) -> String {
    format!("spec.operationRunRef.name={name}")
}

/// How the claims of one artifact kind are confirmed.
#[derive(Debug, Default)]
pub struct Modes {
    /// BackupSets are read with a namespace LIST (no selectable field).
    backup_sets: AtomicBool,
    /// BaselineSnapshots are read with a namespace LIST (no selectable field).
    baseline_snapshots: AtomicBool,
}

fn kind_name(kind: ArtifactKind) -> &'static str {
    match kind {
        ArtifactKind::BackupSet => "BackupSet",
        ArtifactKind::BaselineSnapshot => "BaselineSnapshot",
    }
}

impl Modes {
    fn flag(&self, kind: ArtifactKind) -> &AtomicBool {
        match kind {
            ArtifactKind::BackupSet => &self.backup_sets,
            ArtifactKind::BaselineSnapshot => &self.baseline_snapshots,
        }
    }

    /// Whether `kind` is confirmed with a namespace LIST filtered here.
    pub fn namespace_list(&self, kind: ArtifactKind) -> bool {
        self.flag(kind).load(Ordering::Acquire)
    }

    fn fall_back(&self, kind: ArtifactKind, metrics: &Metrics, why: &str) {
        if !self.flag(kind).swap(true, Ordering::AcqRel) {
            tracing::warn!(
                kind = kind_name(kind),
                mode = "namespaceList",
                why,
                "the API server refuses the field selector on spec.operationRunRef.name (a CRD without selectableFields): final verdicts are confirmed with a consistent LIST of the namespace's objects of this kind"
            );
        }
        metrics.set_confirmation_mode(kind_name(kind), "namespaceList");
    }

    /// Finds, with one LIST of at most one object per kind, whether the API server accepts the
    /// field selector, and says which mode is in use (a log line and the metric).
    pub async fn probe(
        &self,
        client: &Client,
        namespace: Option<&str>,
        timeout: Duration,
        metrics: &Metrics,
    ) {
        for kind in [ArtifactKind::BackupSet, ArtifactKind::BaselineSnapshot] {
            let resource = match kind {
                ArtifactKind::BackupSet => ApiResource::erase::<BackupSet>(&()),
                ArtifactKind::BaselineSnapshot => ApiResource::erase::<BaselineSnapshot>(&()),
            };
            let api: Api<DynamicObject> = match namespace {
                Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
                None => Api::all_with(client.clone(), &resource),
            };
            let params = ListParams::default().fields(&selector("")).limit(1);
            match within("confirmation probe", timeout, api.list_metadata(&params)).await {
                Err(e) if e.code() == Some(400) => self.fall_back(kind, metrics, &e.to_string()),
                result => {
                    if let Err(e) = result {
                        tracing::info!(kind = kind_name(kind), error = %e, "could not probe the field selector; assuming it works until refused");
                    }
                    if !self.namespace_list(kind) {
                        tracing::info!(
                            kind = kind_name(kind),
                            mode = "fieldSelector",
                            "final verdicts are confirmed with a consistent LIST narrowed by the field selector spec.operationRunRef.name"
                        );
                        metrics.set_confirmation_mode(kind_name(kind), "fieldSelector");
                    }
                }
            }
        }
    }
}

/// Whether a raw artifact names run `name` in `spec.operationRunRef.name`, as the API
/// server's field selector reads it.
fn names_run(object: &serde_json::Value, name: &str) -> bool {
    object
        .pointer("/spec/operationRunRef/name")
        .and_then(serde_json::Value::as_str)
        == Some(name)
}

async fn list<K>(
    client: &Client,
    namespace: &str,
    name: &str,
    modes: &Modes,
    kind: ArtifactKind,
    timeout: Duration,
    metrics: &Metrics,
) -> Result<Vec<Parsed<K>>, RequestError>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Salvage
        + Default
        + Clone
        + std::fmt::Debug,
{
    if !modes.namespace_list(kind) {
        let api: Api<Lenient<K>> = Api::namespaced(client.clone(), namespace);
        // no resourceVersion: the API server answers from a consistent (quorum) read
        let params = ListParams::default().fields(&selector(name));
        match within("confirmation read", timeout, api.list(&params)).await {
            Ok(list) => return Ok(list.items.into_iter().map(|l| l.0).collect()),
            Err(e) if e.code() == Some(400) => modes.fall_back(kind, metrics, &e.to_string()),
            Err(e) => return Err(e),
        }
    }
    let resource = ApiResource::erase::<K>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    // no resourceVersion: as consistent as the narrowed read, filtered here instead
    let list = within(
        "confirmation read",
        timeout,
        api.list(&ListParams::default()),
    )
    .await?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|object| serde_json::to_value(object).ok())
        .filter(|value| names_run(value, name))
        .map(|value| Lenient::<K>::from_value(value).0)
        .collect())
}

/// Reads the claims of run `namespace/name` of `family` from the API server; `None` when
/// the family is not proven by artifacts (its evidence is the run itself, or nothing).
pub async fn claims(
    client: &Client,
    namespace: &str,
    name: &str,
    family: &str,
    modes: &Modes,
    timeout: Duration,
    metrics: &Arc<Metrics>,
) -> Result<Option<Claims>, RequestError> {
    let Some(kind) = claim_kind(family) else {
        return Ok(None);
    };
    metrics.confirmation_reads.inc();
    let mut claims = Claims::default();
    match kind {
        ArtifactKind::BackupSet => {
            claims.backup_sets =
                list(client, namespace, name, modes, kind, timeout, metrics).await?
        }
        ArtifactKind::BaselineSnapshot => {
            claims.baseline_snapshots =
                list(client, namespace, name, modes, kind, timeout, metrics).await?
        }
    }
    Ok(Some(claims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_namespace_list_is_filtered_on_the_field_the_selector_reads() {
        let claim = json!({"spec": {"operationRunRef": {"name": "nightly", "uid": "u"}}});
        assert!(names_run(&claim, "nightly"));
        assert!(!names_run(&claim, "nightly-2"));
        assert!(!names_run(&json!({"spec": {}}), "nightly"));
        assert!(!names_run(
            &json!({"spec": {"operationRunRef": {"name": 7}}}),
            "7"
        ));
    }
}
