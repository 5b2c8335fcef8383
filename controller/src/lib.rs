//! operationrun-controller: finds stale OperationRuns and decides their true outcome from
//! the evidence they produced. The decision core ([`decide`]) is pure and shared by the
//! in-cluster controller and the offline `evaluate` command.

pub mod decide;
pub mod evaluate;
pub mod http;
pub mod leader;
pub mod manifests;
pub mod metrics;
pub mod reconciler;
pub mod telemetry;
