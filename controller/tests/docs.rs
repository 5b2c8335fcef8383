//! Documents that cannot drift from the code: the tables, examples and names of the
//! documents checked against what the controller, the CRDs, the chart and the static
//! manifest really are. No cluster; each test reads files and the crate's own types.
//!
//! ```sh
//! cargo test -p operationrun-controller --test docs
//! ```

#[path = "docs/chart_values.rs"]
mod chart_values;
#[path = "docs/facts.rs"]
mod facts;
#[path = "docs/flags.rs"]
mod flags;
#[path = "docs/kustomize.rs"]
mod kustomize;
#[path = "docs/markdown.rs"]
mod markdown;
#[path = "docs/metrics.rs"]
mod metrics;
#[path = "docs/names.rs"]
mod names;
