//! The decision table (docs/concepts.md#the-decision-table): the first matching row decides.

use jiff::{SignedDuration, Timestamp};
use operationrun_crds::{ArtifactRef, OperationRun, Parsed};

use super::config::Config;
use super::evidence::Evidence;
use super::families::adapter::{Findings, categories, category_list, is_precondition};
use super::message::cap_message;
use super::registry::{Family, lookup};
use super::time::{format_time, whole_seconds};
use super::vocabulary::{Reason, Rule};

/// The table's decision for a stale run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The row that decided; kept when abandonment replaces the decision.
    pub rule: Rule,
    /// `Reconciled=True` (final) or `False` (undecided).
    pub reconciled: bool,
    /// The condition reason.
    pub reason: Reason,
    /// The proof, in one sentence, capped at [`MAX_MESSAGE_BYTES`](super::MAX_MESSAGE_BYTES).
    pub message: String,
    /// The family adapter; `None` for unsupported and unknown families.
    pub adapter: Option<&'static str>,
    /// In-scope claims considered, sorted by name.
    pub related: Vec<ArtifactRef>,
}

/// The most `relatedArtifacts` a condition carries: the CRD's `maxItems`, so that a run
/// claimed by very many artifacts still gets a write the API server accepts.
pub const MAX_RELATED: usize = 32;

fn verdict(
    rule: Rule,
    message: String,
    adapter: Option<&'static str>,
    mut related: Vec<ArtifactRef>,
) -> Verdict {
    related.truncate(MAX_RELATED);
    Verdict {
        rule,
        reconciled: rule.is_final(),
        reason: rule.reason(),
        message: cap_message(&message),
        adapter,
        related,
    }
}

/// Applies rows 1–10 to a run, whatever its phase: the verdict the evidence gives now.
/// `decide` calls it for stale, undecided runs; tools call it to show what the table says.
pub fn judge(run: &Parsed<OperationRun>, evidence: &Evidence<'_>) -> Verdict {
    let family = run.object.spec.type_.as_str();
    if family.trim().is_empty() {
        return verdict(
            Rule::InvalidRun,
            "The run has no spec.type, so its family cannot be known.".into(),
            None,
            Vec::new(),
        );
    }
    let adapter = match lookup(family) {
        Family::Unsupported => {
            return verdict(
                Rule::UnsupportedFamily,
                format!(
                    "{family} runs are not decided from evidence: their proof is too weak, so the outcome is left to the worker or an operator."
                ),
                None,
                Vec::new(),
            );
        }
        Family::Unknown => {
            return verdict(
                Rule::UnsupportedFamily,
                format!(
                    "{family} is not a family this controller knows, so it decides nothing about the run."
                ),
                None,
                Vec::new(),
            );
        }
        Family::Decided(adapter) => adapter,
    };
    let name = Some(adapter.family());
    if let Some(problem) = &run.problem {
        return verdict(
            Rule::InvalidRun,
            format!("The run's fields cannot be interpreted ({problem})."),
            name,
            Vec::new(),
        );
    }
    let findings = adapter.examine(&run.object, evidence);
    table(run, findings, name)
}

fn table(run: &Parsed<OperationRun>, f: Findings, adapter: Option<&'static str>) -> Verdict {
    let Findings {
        invalid_run,
        related,
        ambiguous,
        complete,
        usable,
        failures,
        has_in_scope,
        out_of_scope,
        malformed,
        pending,
    } = f;
    if let Some(message) = invalid_run {
        return verdict(Rule::InvalidRun, message, adapter, related);
    }
    if let Some(message) = ambiguous {
        return verdict(Rule::AmbiguousEvidence, message, adapter, related);
    }
    if let Some(message) = complete {
        return verdict(Rule::Complete, message, adapter, related);
    }
    if let Some(message) = usable {
        return verdict(Rule::UsableOutput, message, adapter, related);
    }
    let mut recorded = categories(run.object.status.as_ref().and_then(|s| s.failures.as_ref()));
    recorded.extend(failures);
    let preconditions: Vec<String> = recorded
        .iter()
        .filter(|c| is_precondition(c))
        .cloned()
        .collect();
    if !preconditions.is_empty() {
        return verdict(
            Rule::PreconditionFailure,
            format!(
                "No usable output, and a precondition failure is recorded ({}): an operator must act before a retry can work.",
                category_list(&preconditions)
            ),
            adapter,
            related,
        );
    }
    if !recorded.is_empty() {
        return verdict(
            Rule::Failure,
            format!(
                "No usable output, and failures are recorded ({}).",
                category_list(&recorded)
            ),
            adapter,
            related,
        );
    }
    if let (Some(message), false) = (out_of_scope, has_in_scope) {
        return verdict(Rule::OutOfScope, message, adapter, related);
    }
    if let Some(message) = malformed {
        return verdict(Rule::MalformedClaim, message, adapter, related);
    }
    verdict(Rule::NoEvidence, pending, adapter, related)
}

/// The instant after which an undecided run, stale since `stale_since`, is closed as
/// Abandoned; `None` when abandonment is disabled (`abandon_after` 0) or out of range.
pub fn abandon_due(stale_since: Timestamp, config: &Config) -> Option<Timestamp> {
    if config.abandon_after == 0 {
        return None;
    }
    let after = i64::try_from(config.abandon_after).ok()?;
    stale_since
        .checked_add(SignedDuration::from_secs(after))
        .ok()
}

/// Replaces an undecided verdict by `Abandoned` once `now > stale_since + abandon_after`,
/// compared in whole seconds (the fraction of `now` dropped) like staleness.
pub fn abandon_if_due(
    v: Verdict,
    stale_since: Timestamp,
    now: Timestamp,
    config: &Config,
) -> Verdict {
    if v.reconciled {
        return v;
    }
    match abandon_due(stale_since, config) {
        Some(due) if whole_seconds(now) > due => {}
        _ => return v,
    }
    Verdict {
        rule: v.rule,
        reconciled: true,
        reason: Reason::Abandoned,
        message: cap_message(&format!(
            "Stale since {} and still not proven after {} s ({}), so the run is closed as not proven; treat it as failed.",
            format_time(stale_since),
            config.abandon_after,
            v.reason.as_str()
        )),
        adapter: v.adapter,
        related: v.related,
    }
}
