//! The consistent read before a final verdict. A watch cache can lag: a second claim written
//! a moment ago may not be in it yet, and the answer would be `Succeeded` where the truth is
//! `AmbiguousEvidence`. So before a final verdict is written, the run's claims are listed
//! again from the API server without a resourceVersion (served as a quorum read), narrowed
//! to the run by the selectable field `spec.operationRunRef.name`.

use std::sync::Arc;

use kube::api::{Api, ListParams};
use kube::{Client, Resource};
use operationrun_crds::{BackupSet, BaselineSnapshot, Parsed, Salvage};

use super::lenient::Lenient;
use crate::metrics::Metrics;
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

async fn list<K>(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Vec<Parsed<K>>, kube::Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Salvage
        + Default
        + Clone
        + std::fmt::Debug,
{
    let api: Api<Lenient<K>> = Api::namespaced(client.clone(), namespace);
    // no resourceVersion: the API server answers from a consistent (quorum) read
    let params = ListParams::default().fields(&selector(name));
    let list = api.list(&params).await?;
    Ok(list.items.into_iter().map(|l| l.0).collect())
}

/// Reads the claims of run `namespace/name` of `family` from the API server; `None` when
/// the family is not proven by artifacts (its evidence is the run itself, or nothing).
pub async fn claims(
    client: &Client,
    namespace: &str,
    name: &str,
    family: &str,
    metrics: &Arc<Metrics>,
) -> Result<Option<Claims>, kube::Error> {
    let Some(kind) = claim_kind(family) else {
        return Ok(None);
    };
    metrics.confirmation_reads.inc();
    let mut claims = Claims::default();
    match kind {
        ArtifactKind::BackupSet => claims.backup_sets = list(client, namespace, name).await?,
        ArtifactKind::BaselineSnapshot => {
            claims.baseline_snapshots = list(client, namespace, name).await?
        }
    }
    Ok(Some(claims))
}
