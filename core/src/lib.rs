//! The pure core of operationrun-controller: everything that decides, and the offline model
//! behind `evaluate`, with no cluster client, no async runtime and no HTTP. The controller,
//! `evaluate` and `kubectl oprun` all call these functions, so they cannot disagree.
//!
//! - [`decide`]: staleness, the family registry and adapters, the decision table, the
//!   condition transitions.
//! - [`manifests`]: reading YAML/JSON manifests leniently and safely.
//! - [`evaluate`]: one reconcile of every run in a set of manifests.
//! - [`args`]: the decision flags every binary takes.

pub mod args;
pub mod decide;
pub mod evaluate;
pub mod manifests;
