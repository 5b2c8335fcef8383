//! The decision flags, defined once: the controller's `run` and `evaluate` and
//! `kubectl oprun` take them with the same names, defaults and limits.

use clap::Args;

use crate::decide::Config;

/// Timeouts and abandonment, as command-line flags.
#[derive(Args, Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecisionArgs {
    /// Seconds a run may stay Queued before it is stale (a run's spec.timeouts overrides it).
    #[arg(long, default_value_t = Config::QUEUED_TIMEOUT, value_parser = clap::value_parser!(u64).range(1..))]
    pub queued_timeout: u64,
    /// Seconds a Running run may go without a heartbeat before it is stale.
    #[arg(long, default_value_t = Config::HEARTBEAT_TIMEOUT, value_parser = clap::value_parser!(u64).range(1..))]
    pub heartbeat_timeout: u64,
    /// Seconds after becoming stale at which an undecided run is closed as Abandoned; 0 disables.
    #[arg(long, default_value_t = Config::ABANDON_AFTER)]
    pub abandon_after: u64,
}

impl From<DecisionArgs> for Config {
    fn from(f: DecisionArgs) -> Self {
        Config {
            queued_timeout: f.queued_timeout,
            heartbeat_timeout: f.heartbeat_timeout,
            abandon_after: f.abandon_after,
        }
    }
}

impl Default for DecisionArgs {
    fn default() -> Self {
        let c = Config::default();
        DecisionArgs {
            queued_timeout: c.queued_timeout,
            heartbeat_timeout: c.heartbeat_timeout,
            abandon_after: c.abandon_after,
        }
    }
}
