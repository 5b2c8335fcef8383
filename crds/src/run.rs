//! The OperationRun kind: one long operation a worker executes for a tenant.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::condition::RunCondition;

/// What a platform asks a worker to do; the `type` selects the family and thereby which
/// evidence can prove the run's outcome.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ops.tenantatlas.io",
    version = "v1alpha1",
    kind = "OperationRun",
    namespaced,
    status = "OperationRunStatus",
    shortname = "oprun",
    shortname = "opruns",
    category = "tenantatlas",
    derive = "Default",
    derive = "PartialEq",
    doc = "OperationRun records one long operation (an inventory sync, a baseline capture, a scheduled backup) that a worker executes for the tenant of its namespace. When a run goes stale, operationrun-controller decides its outcome from the evidence the run produced and records it in the Stale and Reconciled conditions.",
    printcolumn(
        name = "Type",
        type_ = "string",
        json_path = ".spec.type",
        description = "The operation family."
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "The phase the worker last reported."
    ),
    printcolumn(
        name = "Outcome",
        type_ = "string",
        json_path = ".status.outcome",
        description = "The outcome the worker reported with Completed."
    ),
    printcolumn(
        name = "Stale",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Stale\")].status",
        description = "Whether the run has outlived its timeout without progress."
    ),
    printcolumn(
        name = "Reconciled",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Reconciled\")].reason",
        description = "The outcome the controller decided from evidence."
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::schema::require_type)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.type != 'backup.schedule.execute' || has(self.backupScheduleRef)",
     "message": "backup.schedule.execute runs require spec.backupScheduleRef", "fieldPath": ".backupScheduleRef", "reason": "FieldValueRequired"},
    {"rule": "self.type != 'baseline.capture' || has(self.baselineProfileRef)",
     "message": "baseline.capture runs require spec.baselineProfileRef", "fieldPath": ".baselineProfileRef", "reason": "FieldValueRequired"},
    {"rule": "self.type != 'inventory.sync' || (has(self.inventory) && has(self.inventory.policyTypes) && size(self.inventory.policyTypes) > 0)",
     "message": "inventory.sync runs require a non-empty spec.inventory.policyTypes", "fieldPath": ".inventory", "reason": "FieldValueRequired"}
]))]
pub struct OperationRunSpec {
    /// The operation family, e.g. `inventory.sync`, `baseline.capture` or
    /// `backup.schedule.execute`. It decides which evidence can prove the run's outcome;
    /// families the controller does not know are left undecided (UnsupportedFamily).
    #[serde(rename = "type", default)]
    #[schemars(
        length(min = 1, max = 128),
        regex(pattern = r"^[a-z][a-z0-9_-]*(\.[a-z0-9_*-]+)+$")
    )]
    pub type_: String,

    /// The backup schedule this run executes. Required for `backup.schedule.execute`; a
    /// BackupSet is evidence for the run only if it names the same schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_schedule_ref: Option<LocalRef>,

    /// The baseline profile this run captures. Required for `baseline.capture`; a
    /// BaselineSnapshot is evidence for the run only if it names the same profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_profile_ref: Option<LocalRef>,

    /// What an inventory sync covers. Required for `inventory.sync`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<InventorySpec>,

    /// Per-run overrides of the controller's staleness timeouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
}

/// A reference to an object in the same namespace, by name.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::schema::require_name)]
pub struct LocalRef {
    /// Name of the referenced object in the run's namespace.
    #[serde(default)]
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The scope of an inventory sync.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventorySpec {
    /// The policy types the sync must cover (a set). The sync is complete when every one of
    /// them has a Succeeded coverage entry; coverage for other types is out of scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), extend("x-kubernetes-list-type" = "set"), inner(length(min = 1, max = 128)))]
    pub policy_types: Option<Vec<String>>,
}

/// Staleness timeouts for one run; absent values fall back to the controller's flags.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Timeouts {
    /// Seconds a run may stay Queued (measured from its creation) before it counts as stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 31_536_000))]
    pub queued_seconds: Option<i64>,

    /// Seconds a Running run may go without a heartbeat before it counts as stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 31_536_000))]
    pub heartbeat_seconds: Option<i64>,
}

/// What the worker reports about the run; only `conditions` belongs to the controller.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationRunStatus {
    /// The lifecycle phase the worker reports: Queued, Running or Completed. Absent means
    /// Queued; a Completed run is never stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["Queued", "Running", "Completed"]))]
    pub phase: Option<String>,

    /// The outcome the worker reports together with phase Completed. The controller
    /// never writes it; its own decision is the Reconciled condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["Succeeded", "PartiallySucceeded", "Blocked", "Failed", "Cancelled"]))]
    pub outcome: Option<String>,

    /// When the worker started executing the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub started_at: Option<String>,

    /// The worker's last sign of life. A Running run without a heartbeat within the
    /// heartbeat timeout is stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub heartbeat_time: Option<String>,

    /// When the worker finished the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub completed_at: Option<String>,

    /// Run-level failures the worker recorded (e.g. a missing permission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub failures: Option<Vec<Failure>>,

    /// Progress of an inventory sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<InventoryStatus>,

    /// Conditions of the run. `Stale` and `Reconciled` are owned by operationrun-controller;
    /// others are left untouched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 16),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"])
    )]
    pub conditions: Option<Vec<RunCondition>>,
}

/// One failure a worker recorded, classified by category.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct Failure {
    /// The failure category. PermissionDenied, ConsentMissing, ConnectionMissing and
    /// LicenseMissing are preconditions (an operator must act); anything else, e.g.
    /// Throttled, ProviderError, Timeout or Internal, is an execution failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub category: Option<String>,

    /// A human-readable description of the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub message: Option<String>,
}

/// The coverage an inventory sync recorded so far.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct InventoryStatus {
    /// One entry per policy type, written as the sync finishes that type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub coverage: Option<Vec<CoverageEntry>>,
}

/// How the sync of one policy type ended.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoverageEntry {
    /// The policy type this entry covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub policy_type: Option<String>,

    /// Succeeded or Failed (other values mean the type is still in progress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub state: Option<String>,

    /// Number of items synced for this type; zero is a valid result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub item_count: Option<i64>,

    /// Why the type failed, as a failure category (see `failures.category`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub failure_category: Option<String>,
}

/// A reference from an artifact to the run that produced it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::schema::require_name)]
pub struct RunRef {
    /// Name of the OperationRun in the artifact's namespace.
    #[serde(default)]
    #[schemars(length(min = 1, max = 253))]
    pub name: String,

    /// UID of the OperationRun. The artifact is evidence only if it equals the run's UID:
    /// a reused name is not proof.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub uid: Option<String>,
}
