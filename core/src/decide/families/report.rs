//! What adapters report to tools that show the evidence (`kubectl oprun explain
//! --diagnostics`): every claim with where it stands, and the coverage a run records. The
//! adapters fill these with the same functions they decide with, so what a tool shows
//! cannot drift from what the table judged.

use operationrun_crds::{CoverageEntry, Failure};

/// Where an artifact naming a run stands with respect to that run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimStanding {
    /// Same run uid and same schedule/profile: evidence.
    InScope,
    /// The run uid differs, or is missing on either side: not evidence.
    OtherRunUid {
        /// The uid the artifact names (`spec.operationRunRef.uid`), when not empty.
        claimed_uid: Option<String>,
        /// The run's own uid, when not empty.
        run_uid: Option<String>,
    },
    /// Same run uid, but another schedule/profile: not evidence.
    OtherOwner {
        /// What ties an artifact to the run besides its uid, e.g. "backup schedule".
        owner_field: &'static str,
        /// The owner the artifact names.
        claimed_owner: Option<String>,
        /// The owner the run names (`None` when it names none, or an empty one).
        run_owner: Option<String>,
    },
    /// The artifact is of a kind that proves another family than the run's.
    OtherFamily {
        /// The family this kind of artifact proves.
        family: &'static str,
    },
}

/// One artifact in the run's namespace naming the run, as the adapter of its kind sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimReport {
    /// The artifact kind, e.g. "BackupSet".
    pub kind: &'static str,
    /// The artifact's name.
    pub name: String,
    /// The artifact's uid (empty when it has none, e.g. in a hand-written manifest).
    pub uid: String,
    /// Where it stands for the run.
    pub standing: ClaimStanding,
    /// Its state and counts as written, e.g. "Finalized: 100 succeeded, 20 failed, 0
    /// skipped of 120 total"; an absent value shows as `?`.
    pub counts: String,
    /// Why its counts contradict themselves, as the adapter judges it (such a claim is
    /// malformed and never evidence).
    pub contradiction: Option<String>,
    /// Why some of its fields cannot be read (such a claim is malformed too).
    pub unreadable: Option<String>,
    /// The failures the artifact records, as written.
    pub failures: Vec<Failure>,
}

/// A run's own coverage (for families proven by the run itself), as its adapter reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct Coverage<'r> {
    /// Why no artifact is evidence for such a run, e.g. "an inventory sync's evidence is
    /// its own coverage".
    pub note: &'static str,
    /// Every coverage entry, in the order the run lists them.
    pub entries: Vec<CoverageLine<'r>>,
    /// The requested subjects without any entry, sorted.
    pub missing: Vec<&'r str>,
}

/// One coverage entry and where it stands.
#[derive(Clone, Debug, PartialEq)]
pub struct CoverageLine<'r> {
    /// The entry as written.
    pub entry: &'r CoverageEntry,
    /// Whether it covers a subject the run was asked for; other entries are not evidence.
    pub in_scope: bool,
    /// Whether another in-scope entry covers the same subject: the evidence is ambiguous.
    pub duplicate: bool,
}
