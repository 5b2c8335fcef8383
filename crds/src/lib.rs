//! API types of operationrun-controller (`ops.tenantatlas.io/v1alpha1`).
//!
//! Worker-written fields are deliberately lenient in Rust (every field optional, counts as
//! `i64`, phases and states as strings): one odd object must never break the watch of a
//! whole kind, so oddness is classified by the decision core instead of by serde. The CRD
//! schemas generated from these types are strict, so the API server still refuses what is
//! impossible on its face.

// kube-derive takes repeated `printcolumn` and `shortname` attributes by design.
#![allow(clippy::duplicated_attributes)]

mod artifacts;
mod condition;
mod generate;
mod run;
mod salvage;
mod schema;

pub use artifacts::{
    BackupSet, BackupSetSpec, BackupSetStatus, BackupSummary, BaselineSnapshot,
    BaselineSnapshotSpec, BaselineSnapshotStatus, GapCount, SnapshotSummary,
};
pub use condition::{ArtifactRef, RunCondition};
pub use generate::{crd_files, crds, crds_yaml};
pub use run::{
    CoverageEntry, Failure, InventorySpec, InventoryStatus, LocalRef, OperationRun,
    OperationRunSpec, OperationRunStatus, RunRef, Timeouts,
};
pub use salvage::{Parsed, Salvage};

/// The API group of every kind this project defines.
pub const GROUP: &str = "ops.tenantatlas.io";
/// The API version of every kind this project defines.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as it appears in manifests.
pub const API_VERSION: &str = "ops.tenantatlas.io/v1alpha1";
/// Annotation an operator sets to `disabled` to make the controller leave a run alone.
pub const RECONCILE_ANNOTATION: &str = "ops.tenantatlas.io/reconcile";
/// The field path a BackupSet or BaselineSnapshot can be selected by (`selectableFields` in
/// their CRDs), so a run's claims can be listed from the API server without reading every artifact.
pub const RUN_REF_FIELD: &str = "spec.operationRunRef.name";
