//! Structured logs through `tracing`, as text for people or JSON for log pipelines.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; `RUST_LOG`, when set, overrides `level`.
pub fn init(json: bool, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
