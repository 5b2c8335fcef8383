//! operationrun-controller: finds stale OperationRuns and decides their true outcome from
//! the evidence they produced. The decision core lives in the
//! `operationrun-core` crate, shared with `evaluate` and `kubectl oprun`; this crate holds
//! what talks to the cluster: watches, stores, the status writer, leader election, metrics
//! and HTTP.

pub mod backoff;
pub mod cli;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod reconciler;
pub mod request;
pub mod stall;
pub mod telemetry;
