//! The evidence of one run as tools show it (`kubectl oprun explain --diagnostics`): every
//! artifact naming the run with where it stands, and a run's own coverage. Each registered
//! adapter reports for the kind it reads, with the functions it decides with, so a new
//! family shows up here without any change to the tools.

use operationrun_crds::OperationRun;

use super::evidence::Evidence;
pub use super::families::report::{ClaimReport, ClaimStanding, Coverage, CoverageLine};
use super::registry::{ADAPTERS, Family, lookup};

/// Every artifact of a kind some adapter reads that is in the run's namespace and names
/// the run, sorted by kind then name; artifacts of a kind that proves another family are
/// reported as [`ClaimStanding::OtherFamily`].
pub fn claim_reports(run: &OperationRun, evidence: &Evidence<'_>) -> Vec<ClaimReport> {
    let mut reports: Vec<ClaimReport> = ADAPTERS
        .iter()
        .flat_map(|adapter| adapter.claim_reports(run, evidence))
        .collect();
    reports.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    reports
}

/// The coverage the run records, when its family is proven by the run's own coverage.
pub fn coverage(run: &OperationRun) -> Option<Coverage<'_>> {
    match lookup(&run.spec.type_) {
        Family::Decided(adapter) => adapter.coverage(run),
        Family::Unsupported | Family::Unknown => None,
    }
}
