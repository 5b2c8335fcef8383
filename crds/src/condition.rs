//! The condition type of OperationRun, with the controller's extra fields.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A status condition. Beside the standard fields, the controller's `Reconciled` condition
/// carries the family adapter, the phase the run was stuck in and the artifacts it considered,
/// so the proof travels with the decision.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::schema::require_type_status)]
pub struct RunCondition {
    /// The condition type, unique within the list (e.g. Stale, Reconciled).
    #[serde(rename = "type", default)]
    #[schemars(length(min = 1, max = 316))]
    pub type_: String,

    /// True, False or Unknown.
    #[serde(default)]
    #[schemars(extend("enum" = ["True", "False", "Unknown"]))]
    pub status: String,

    /// A CamelCase reason for the condition's last change, stable enough for alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reason: Option<String>,

    /// One calm sentence stating the proof behind the condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32768))]
    pub message: Option<String>,

    /// When the condition's status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub last_transition_time: Option<String>,

    /// The metadata.generation the condition was set for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,

    /// Reconciled only: the family adapter that decided (absent for unsupported and
    /// unknown families).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub adapter: Option<String>,

    /// Reconciled only: the phase the run was stuck in (Queued when it had no status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub previous_phase: Option<String>,

    /// Reconciled only: every in-scope artifact considered, sorted by name. Empty for
    /// inventory syncs, whose evidence is the run itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub related_artifacts: Option<Vec<ArtifactRef>>,
}

/// Names an artifact that was considered as evidence.
#[derive(
    Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
#[schemars(transform = crate::schema::require_kind_name)]
pub struct ArtifactRef {
    /// BackupSet or BaselineSnapshot.
    #[serde(default)]
    #[schemars(length(max = 64))]
    pub kind: String,

    /// Name of the artifact in the run's namespace.
    #[serde(default)]
    #[schemars(length(max = 253))]
    pub name: String,

    /// UID of the artifact.
    #[serde(default)]
    #[schemars(length(max = 64))]
    pub uid: String,
}
