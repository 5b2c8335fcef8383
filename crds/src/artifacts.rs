//! The artifacts a run produces: BackupSets and BaselineSnapshots. The controller only
//! reads them; they are the proof of what a run achieved.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::run::{Failure, LocalRef, RunRef};

/// The identity of a BackupSet: which schedule and which run produced it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ops.tenantatlas.io",
    version = "v1alpha1",
    kind = "BackupSet",
    namespaced,
    status = "BackupSetStatus",
    shortname = "bkset",
    category = "tenantatlas",
    derive = "Default",
    derive = "PartialEq",
    selectable = ".spec.operationRunRef.name",
    doc = "BackupSet holds the items one scheduled backup stored for the tenant of its namespace. It is evidence for the OperationRun it names in spec.operationRunRef.",
    printcolumn(
        name = "Schedule",
        type_ = "string",
        json_path = ".spec.backupScheduleRef.name",
        description = "The backup schedule."
    ),
    printcolumn(
        name = "Run",
        type_ = "string",
        json_path = ".spec.operationRunRef.name",
        description = "The run that produced this set."
    ),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.state",
        description = "InProgress or Finalized."
    ),
    printcolumn(
        name = "Succeeded",
        type_ = "integer",
        json_path = ".status.summary.succeeded",
        description = "Items stored."
    ),
    printcolumn(
        name = "Failed",
        type_ = "integer",
        json_path = ".status.summary.failed",
        description = "Items that could not be stored."
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct BackupSetSpec {
    /// The backup schedule this set belongs to; it must equal the run's backupScheduleRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_schedule_ref: Option<LocalRef>,

    /// The OperationRun that produced this set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_run_ref: Option<RunRef>,
}

/// What the backup stored so far.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct BackupSetStatus {
    /// InProgress while items are being stored, Finalized once the set is closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["InProgress", "Finalized"]))]
    pub state: Option<String>,

    /// Item counts of the set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<BackupSummary>,

    /// Failures the backup recorded, by category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub failures: Option<Vec<Failure>>,
}

/// Item counts of a BackupSet; succeeded + failed + skipped never exceeds itemsTotal.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "(has(self.succeeded) ? self.succeeded : 0) + (has(self.failed) ? self.failed : 0) + (has(self.skipped) ? self.skipped : 0) <= (has(self.itemsTotal) ? self.itemsTotal : 0)",
     "message": "succeeded + failed + skipped must not exceed itemsTotal"}
]))]
pub struct BackupSummary {
    /// Items the backup set out to store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub items_total: Option<i64>,

    /// Items stored; stored items are restorable even from an unfinished set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub succeeded: Option<i64>,

    /// Items that could not be stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub failed: Option<i64>,

    /// Items deliberately not stored (e.g. unsupported by the provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub skipped: Option<i64>,
}

/// The identity of a BaselineSnapshot: which profile and which run produced it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ops.tenantatlas.io",
    version = "v1alpha1",
    kind = "BaselineSnapshot",
    namespaced,
    status = "BaselineSnapshotStatus",
    shortname = "blsnap",
    category = "tenantatlas",
    derive = "Default",
    derive = "PartialEq",
    selectable = ".spec.operationRunRef.name",
    doc = "BaselineSnapshot is the captured state of a baseline profile's subjects for the tenant of its namespace. It is evidence for the OperationRun it names in spec.operationRunRef.",
    printcolumn(
        name = "Profile",
        type_ = "string",
        json_path = ".spec.baselineProfileRef.name",
        description = "The baseline profile."
    ),
    printcolumn(
        name = "Run",
        type_ = "string",
        json_path = ".spec.operationRunRef.name",
        description = "The run that produced this snapshot."
    ),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.state",
        description = "Building or Finalized."
    ),
    printcolumn(
        name = "Captured",
        type_ = "integer",
        json_path = ".status.summary.captured",
        description = "Subjects captured."
    ),
    printcolumn(
        name = "Total",
        type_ = "integer",
        json_path = ".status.summary.subjectsTotal",
        description = "Subjects in the profile."
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct BaselineSnapshotSpec {
    /// The baseline profile this snapshot captures; it must equal the run's baselineProfileRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_profile_ref: Option<LocalRef>,

    /// The OperationRun that produced this snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_run_ref: Option<RunRef>,
}

/// What the capture recorded so far.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaselineSnapshotStatus {
    /// Building while subjects are captured, Finalized once the snapshot is closed. An
    /// unfinished snapshot is not a baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["Building", "Finalized"]))]
    pub state: Option<String>,

    /// Subject counts of the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<SnapshotSummary>,

    /// True when subjects were captured from cached inventory instead of a live fetch;
    /// such a snapshot is usable but never complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_used: Option<bool>,

    /// Failures the capture recorded, by category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub failures: Option<Vec<Failure>>,
}

/// Subject counts of a BaselineSnapshot; captured never exceeds subjectsTotal.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "(has(self.captured) ? self.captured : 0) <= (has(self.subjectsTotal) ? self.subjectsTotal : 0)",
     "message": "captured must not exceed subjectsTotal"}
]))]
pub struct SnapshotSummary {
    /// Subjects the profile covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub subjects_total: Option<i64>,

    /// Subjects captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub captured: Option<i64>,

    /// Subjects not captured, counted by reason. Gaps are not failures, but a snapshot
    /// with gaps is not complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub gaps: Option<Vec<GapCount>>,
}

/// Subjects not captured for one reason.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct GapCount {
    /// AmbiguousMatch, MissingPermission, FetchFailed or UnsupportedType.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["AmbiguousMatch", "MissingPermission", "FetchFailed", "UnsupportedType"]))]
    pub reason: Option<String>,

    /// How many subjects were not captured for this reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub count: Option<i64>,
}
