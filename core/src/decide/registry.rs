//! The family registry: which families an adapter can decide, which are explicitly
//! unsupported. Adding a family is adding one adapter file and one row here.

use super::families::adapter::Adapter;
use super::families::{backup, baseline, inventory};

/// What the controller knows about a family.
#[derive(Clone, Copy)]
pub enum Family {
    /// Decided from evidence by this adapter.
    Decided(&'static dyn Adapter),
    /// Known, but its proof is too weak to decide.
    Unsupported,
    /// Not known at all.
    Unknown,
}

/// Families decided from evidence, one row per adapter.
pub static ADAPTERS: &[&dyn Adapter] = &[
    &inventory::InventorySync,
    &baseline::BaselineCapture,
    &backup::BackupScheduleExecute,
];

/// Families whose proof is too weak to decide; a trailing `*` matches a prefix.
pub static UNSUPPORTED: &[&str] = &[
    "policy.sync",
    "backup_set.update",
    "restore.execute",
    "review.compose",
    "evidence.snapshot",
    "review_pack.generate",
    "report.*",
];

/// Looks a family up by its `spec.type`.
pub fn lookup(family: &str) -> Family {
    if let Some(adapter) = ADAPTERS.iter().find(|a| a.family() == family) {
        return Family::Decided(*adapter);
    }
    let unsupported = UNSUPPORTED
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => family.starts_with(prefix) && family.len() > prefix.len(),
            None => family == *pattern,
        });
    if unsupported {
        Family::Unsupported
    } else {
        Family::Unknown
    }
}

/// The artifact kind whose claims prove `family`; `None` for families proven by the run
/// itself, unsupported and unknown families.
pub fn claim_kind(family: &str) -> Option<super::evidence::ArtifactKind> {
    match lookup(family) {
        Family::Decided(adapter) => adapter.artifact_kind(),
        Family::Unsupported | Family::Unknown => None,
    }
}
