//! Table tests of the decision core against docs/concepts.md (when a run is stale, the
//! decision table, abandonment, the two conditions): one row per situation, each
//! asserting what an operator would notice — the `Stale` and `Reconciled` conditions, the
//! rule that decided, the Events (transitions), whether a write is needed and when the run
//! is looked at again.
//!
//! Rows decide with [`decide_seen`], without history unless a row says when the controller
//! saw the heartbeat change.
//!
//! Every row is also checked against the invariants that hold for all rows: conditions are
//! listed Stale first and only the controller's own; `lastTransitionTime` moves exactly when
//! a status moves; Event severity follows the reason; a stored `Reconciled=True` is never
//! rewritten; the re-check instant follows docs/concepts.md#rechecks; and deciding the
//! result again at the same instant changes nothing.
//!
//! The fixtures below, the [`builders`], the [`rows`] and the [`harness`] are shared: every
//! module of tests starts with `use super::*`. One module per family of the decision table,
//! then one per topic.

mod builders;
mod harness;
mod rows;

mod abandonment;
mod backup;
mod capture;
mod inventory;
mod lifecycle;
mod messages;
mod opt_out_and_severity;
mod staleness;
mod unsupported;

use builders::*;
use harness::*;
use rows::*;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use operationrun_core::decide::{
    ConditionType, Config, Decision, Evidence, HeartbeatSeen, Staleness, decide, decide_seen,
};

use operationrun_crds::{
    BackupSet, BackupSetSpec, BackupSetStatus, BackupSummary, BaselineSnapshot,
    BaselineSnapshotSpec, BaselineSnapshotStatus, CoverageEntry, Failure, GapCount, InventorySpec,
    InventoryStatus, LocalRef, OperationRun, OperationRunSpec, OperationRunStatus, Parsed,
    RECONCILE_ANNOTATION, RunCondition, RunRef, SnapshotSummary, Timeouts,
};

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

/// Creation of every run.
const CREATED: &str = "2026-11-26T10:00:00Z";
/// The default run is Running with this last heartbeat.
const HEARTBEAT: &str = "2026-11-26T11:00:00Z";
/// HEARTBEAT + the default heartbeat timeout (600 s).
const STALE_SINCE: &str = "2026-11-26T11:10:00Z";
/// The default decision time.
const NOW: &str = "2026-11-26T12:00:00Z";
/// STALE_SINCE + the default abandon-after (86400 s).
const ABANDON_DUE: &str = "2026-11-27T11:10:00Z";
/// One second after ABANDON_DUE.
const ABANDONED: &str = "2026-11-27T11:10:01Z";

fn ts(s: &str) -> Timestamp {
    s.parse()
        .unwrap_or_else(|e| panic!("bad timestamp {s:?} in a test row: {e}"))
}
