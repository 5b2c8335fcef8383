//! Time as conditions and messages show it.

use jiff::Timestamp;

/// Formats a timestamp as Kubernetes does (RFC 3339, whole seconds, UTC), so a message
/// built twice from the same inputs is byte-identical.
pub fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}
