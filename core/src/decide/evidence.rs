//! What a run's decision may be proven by, besides the run itself.

use operationrun_crds::{BackupSet, BaselineSnapshot, Parsed};

/// The artifacts that may claim a run. Callers pass what they index by (namespace, run
/// name); `decide` checks namespace and name again, so extra artifacts are harmless.
#[derive(Clone, Debug, Default)]
pub struct Evidence<'a> {
    /// BackupSets in the run's namespace naming the run.
    pub backup_sets: Vec<&'a Parsed<BackupSet>>,
    /// BaselineSnapshots in the run's namespace naming the run.
    pub baseline_snapshots: Vec<&'a Parsed<BaselineSnapshot>>,
}

/// The kinds of artifact that can claim a run; a family's adapter names the one it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArtifactKind {
    /// A BackupSet: the proof of a scheduled backup.
    BackupSet,
    /// A BaselineSnapshot: the proof of a baseline capture.
    BaselineSnapshot,
}

impl ArtifactKind {
    /// The Kubernetes kind.
    pub const fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::BackupSet => "BackupSet",
            ArtifactKind::BaselineSnapshot => "BaselineSnapshot",
        }
    }
}
