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
