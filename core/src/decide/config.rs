//! The controller's timeouts: the only configuration a decision depends on.

/// Timeouts and abandonment, from the controller's flags; a run's `spec.timeouts`
/// overrides the first two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Seconds a run may stay Queued before it is stale.
    pub queued_timeout: u64,
    /// Seconds a Running run may go without a heartbeat before it is stale.
    pub heartbeat_timeout: u64,
    /// Seconds after a run became stale at which an undecided run is closed as Abandoned;
    /// 0 disables abandonment.
    pub abandon_after: u64,
}

impl Config {
    /// Default queued timeout, seconds.
    pub const QUEUED_TIMEOUT: u64 = 1800;
    /// Default heartbeat timeout, seconds.
    pub const HEARTBEAT_TIMEOUT: u64 = 600;
    /// Default abandon-after period, seconds.
    pub const ABANDON_AFTER: u64 = 86_400;
}

impl Default for Config {
    fn default() -> Self {
        Config {
            queued_timeout: Config::QUEUED_TIMEOUT,
            heartbeat_timeout: Config::HEARTBEAT_TIMEOUT,
            abandon_after: Config::ABANDON_AFTER,
        }
    }
}
