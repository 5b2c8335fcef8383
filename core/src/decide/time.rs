//! Time as conditions and messages show it.

use jiff::Timestamp;

/// Formats a timestamp as Kubernetes does (RFC 3339, whole seconds, UTC), so a message
/// built twice from the same inputs is byte-identical.
pub fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Drops the fractional part of `t` (towards the past), so that times compare in whole
/// seconds as Kubernetes stores them, in the controller and in `evaluate` alike.
pub(crate) fn whole_seconds(t: Timestamp) -> Timestamp {
    if t.subsec_nanosecond() >= 0 {
        return Timestamp::from_second(t.as_second()).unwrap_or(t);
    }
    t.as_second()
        .checked_sub(1)
        .and_then(|s| Timestamp::from_second(s).ok())
        .unwrap_or(t)
}
