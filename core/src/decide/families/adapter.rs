//! The adapter interface: what a family's adapter reports to the decision table, and the
//! failure vocabulary every adapter shares.

use operationrun_crds::{ArtifactRef, Failure, OperationRun};

use super::report::{ClaimReport, Coverage};
use crate::decide::evidence::{ArtifactKind, Evidence};

/// A family adapter: turns a run and its evidence into findings.
pub trait Adapter: Sync {
    /// The family (`spec.type`) this adapter decides.
    fn family(&self) -> &'static str;
    /// Examines the run's evidence. Must not panic on any input.
    fn examine(&self, run: &OperationRun, evidence: &Evidence<'_>) -> Findings;
    /// The kind of artifact whose claims prove this family, if any: the controller reads
    /// these claims again from the API server before it writes a final verdict.
    fn artifact_kind(&self) -> Option<ArtifactKind> {
        None
    }

    /// Every artifact of the kind this adapter reads that is in the run's namespace and
    /// names the run, with where it stands, judged as `examine` judges it; for tools that
    /// show the evidence. Families proven by the run itself have none.
    fn claim_reports(&self, _run: &OperationRun, _evidence: &Evidence<'_>) -> Vec<ClaimReport> {
        Vec::new()
    }

    /// For a family proven by the run's own coverage: that coverage as `examine` reads it,
    /// for tools that show the evidence. `None` for families proven by claims.
    fn coverage<'r>(&self, _run: &'r OperationRun) -> Option<Coverage<'r>> {
        None
    }
}

/// What an adapter found; each field feeds one row of the outcome table, and each message
/// is the proof sentence shown when that row decides.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Findings {
    /// Rule 2: what the run lacks that its family requires.
    pub invalid_run: Option<String>,
    /// Every in-scope claim considered, sorted by name.
    pub related: Vec<ArtifactRef>,
    /// Rule 3: why the evidence is ambiguous.
    pub ambiguous: Option<String>,
    /// Rule 4: the proof of completeness.
    pub complete: Option<String>,
    /// Rule 5: the proof of usable output.
    pub usable: Option<String>,
    /// Failure categories recorded by the evidence (the run's own `status.failures` are
    /// added by the table).
    pub failures: Vec<String>,
    /// Whether any in-scope evidence (a claim, or a coverage entry) exists.
    pub has_in_scope: bool,
    /// Rule 8: out-of-scope claims or coverage entries seen, and why they are out of scope.
    pub out_of_scope: Option<String>,
    /// Rule 9: why the only in-scope claim is malformed.
    pub malformed: Option<String>,
    /// Rule 10: what the run is still waiting for.
    pub pending: String,
}

/// Categories an operator must act on before a retry can work.
pub const PRECONDITION_CATEGORIES: &[&str] = &[
    "PermissionDenied",
    "ConsentMissing",
    "ConnectionMissing",
    "LicenseMissing",
];

/// The category recorded for a failure that names none: an execution failure.
pub const NO_CATEGORY: &str = "Unspecified";

/// Whether a failure category is a precondition failure.
pub fn is_precondition(category: &str) -> bool {
    PRECONDITION_CATEGORIES.contains(&category)
}

/// The categories of recorded failures; a failure without a category is an execution failure.
pub fn categories(failures: Option<&Vec<Failure>>) -> Vec<String> {
    failures
        .into_iter()
        .flatten()
        .map(|f| match f.category.as_deref().map(str::trim) {
            Some(c) if !c.is_empty() => c.to_string(),
            _ => NO_CATEGORY.to_string(),
        })
        .collect()
}

/// Sorted, de-duplicated categories joined for a message: "Throttled, ProviderError".
pub fn category_list(categories: &[String]) -> String {
    let mut sorted: Vec<&str> = categories.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.join(", ")
}

/// "1 item" / "2 items".
pub fn plural(n: i64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}
