//! Property tests of the decision core: invariants of docs/concepts.md (when a run is
//! stale, the decision table, the two conditions) that must hold for every input, not only
//! for the situations the table tests spell out.
//!
//! The [`strategies`] and [`artifacts`] generate the inputs, the [`helpers`] are shared,
//! and the [`properties`] state what must hold; every module starts with `use super::*`.

mod artifacts;
mod helpers;
mod properties;
mod strategies;

use artifacts::*;
use helpers::*;
use strategies::*;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use operationrun_core::decide::{
    ConditionType, Config, Decision, Evidence, HeartbeatSeen, Phase, Reason, Staleness, decide,
    decide_seen,
};

use operationrun_crds::{
    ArtifactRef, BackupSet, BackupSetSpec, BackupSetStatus, BackupSummary, BaselineSnapshot,
    BaselineSnapshotSpec, BaselineSnapshotStatus, CoverageEntry, Failure, GapCount, InventorySpec,
    InventoryStatus, LocalRef, OperationRun, OperationRunSpec, OperationRunStatus, Parsed,
    RECONCILE_ANNOTATION, RunCondition, RunRef, SnapshotSummary, Timeouts,
};
use proptest::collection::vec as pvec;
use proptest::option::of as popt;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

const STALE: &str = ConditionType::Stale.as_str();
const RECONCILED: &str = ConditionType::Reconciled.as_str();

const NS: &str = "tenant-contoso";
const RUN: &str = "nightly-20261126";
const RUN_UID: &str = "5f0c0000-0000-0000-0000-000000000001";
const SCHEDULE: &str = "nightly";
const PROFILE: &str = "win11";

const BACKUP: &str = "backup.schedule.execute";
const CAPTURE: &str = "baseline.capture";
const INVENTORY: &str = "inventory.sync";

const UNSUPPORTED: &[&str] = &[
    "policy.sync",
    "backup_set.update",
    "restore.execute",
    "review.compose",
    "evidence.snapshot",
    "review_pack.generate",
];

/// Seconds of the run's creation, 2026-11-26T10:00:00Z.
fn base() -> Timestamp {
    "2026-11-26T10:00:00Z".parse().unwrap()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        // Failures are reported, not stored beside the sources.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}
