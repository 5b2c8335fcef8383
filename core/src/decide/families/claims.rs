//! Claims and scope (docs/concepts.md#claims-and-scope): which artifacts name a run, which
//! of them are evidence, and the findings shared by families proven by one artifact.

use operationrun_crds::{ArtifactRef, Failure, LocalRef, OperationRun, Parsed, RunRef};

use super::adapter::{Findings, plural};
use super::report::{ClaimReport, ClaimStanding};

/// Where a claim stands with respect to a run's scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimScope {
    /// Same run uid and same schedule/profile: evidence.
    InScope,
    /// The run uid differs, or is missing on either side: a reused name is not proof.
    OtherRunUid,
    /// Same uid, but another schedule/profile.
    OtherOwner,
}

/// Judges the scope of a claim from the run's uid and owner reference and the claim's.
pub fn scope_of(
    run_uid: Option<&str>,
    claimed_uid: Option<&str>,
    run_owner: Option<&LocalRef>,
    claimed_owner: Option<&LocalRef>,
) -> ClaimScope {
    let uid_matches = match (
        run_uid.filter(|u| !u.is_empty()),
        claimed_uid.filter(|u| !u.is_empty()),
    ) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    };
    let owner_matches = match (run_owner, claimed_owner) {
        (Some(a), Some(b)) => a.name == b.name,
        _ => false,
    };
    match (uid_matches, owner_matches) {
        (false, _) => ClaimScope::OtherRunUid,
        (true, false) => ClaimScope::OtherOwner,
        (true, true) => ClaimScope::InScope,
    }
}

/// Claims of one artifact kind, split by scope.
pub(crate) struct Claims<'a, K> {
    /// In scope: same uid and same schedule/profile, sorted by name.
    pub in_scope: Vec<&'a Parsed<K>>,
    /// How many claims by name are out of scope.
    pub out_of_scope: usize,
    /// Why the out-of-scope claim first by name is out of scope.
    pub out_of_scope_reason: Option<String>,
}

/// Splits artifacts into the run's in-scope and out-of-scope claims. Artifacts in
/// another namespace or naming another run are not claims at all.
pub(crate) fn claims<'a, K: kube::Resource>(
    run: &OperationRun,
    artifacts: &[&'a Parsed<K>],
    run_ref: impl Fn(&K) -> Option<&RunRef>,
    owner_ref: impl Fn(&K) -> Option<&LocalRef>,
    run_owner: Option<&LocalRef>,
    owner_field: &str,
) -> Claims<'a, K> {
    let name = run.metadata.name.as_deref().unwrap_or_default();
    let namespace = run.metadata.namespace.as_deref();
    let run_uid = run.metadata.uid.as_deref().filter(|u| !u.is_empty());
    let mut claims = Claims {
        in_scope: Vec::new(),
        out_of_scope: 0,
        out_of_scope_reason: None,
    };
    let mut first_out_of_scope: Option<&str> = None;
    for artifact in artifacts {
        let object = &artifact.object;
        let Some(reference) = naming_run(name, namespace, object, &run_ref) else {
            continue;
        };
        let artifact_name = object.meta().name.as_deref().unwrap_or_default();
        let scope = claim_scope(artifact, reference, run_uid, run_owner, owner_ref(object));
        if scope == ClaimScope::InScope {
            claims.in_scope.push(artifact);
        } else {
            claims.out_of_scope += 1;
            let why = if scope == ClaimScope::OtherRunUid {
                format!("{artifact_name} names another run uid")
            } else {
                format!("{artifact_name} names another {owner_field}")
            };
            // the store has no order: name the first by artifact name, so the message is stable
            if first_out_of_scope.is_none_or(|first| artifact_name < first) {
                first_out_of_scope = Some(artifact_name);
                claims.out_of_scope_reason = Some(why);
            }
        }
    }
    claims
        .in_scope
        .sort_by(|a, b| a.object.meta().name.cmp(&b.object.meta().name));
    claims
}

/// The artifact's reference to the run when it is a claim at all: in the run's namespace,
/// naming the run (a run without a name has no claims).
fn naming_run<'k, K: kube::Resource>(
    name: &str,
    namespace: Option<&str>,
    object: &'k K,
    run_ref: &impl Fn(&K) -> Option<&RunRef>,
) -> Option<&'k RunRef> {
    if object.meta().namespace.as_deref() != namespace || name.is_empty() {
        return None;
    }
    run_ref(object).filter(|reference| reference.name == name)
}

/// The scope of one claim. An unreadable claim fails closed: it is in scope (and
/// malformed); otherwise [`scope_of`] judges its uid and owner.
fn claim_scope<K>(
    artifact: &Parsed<K>,
    reference: &RunRef,
    run_uid: Option<&str>,
    run_owner: Option<&LocalRef>,
    claimed_owner: Option<&LocalRef>,
) -> ClaimScope {
    if artifact.problem.is_some() {
        ClaimScope::InScope
    } else {
        scope_of(run_uid, reference.uid.as_deref(), run_owner, claimed_owner)
    }
}

/// The `relatedArtifacts` entry of an artifact.
pub(crate) fn artifact_ref<K: kube::Resource<DynamicType = ()>>(object: &K) -> ArtifactRef {
    ArtifactRef {
        kind: K::kind(&()).into_owned(),
        name: object.meta().name.clone().unwrap_or_default(),
        uid: object.meta().uid.clone().unwrap_or_default(),
    }
}

/// Names the in-scope claims for an ambiguity message.
pub(crate) fn names(related: &[ArtifactRef]) -> String {
    const SHOWN: usize = 10;
    let mut text = related
        .iter()
        .take(SHOWN)
        .map(|r| r.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if related.len() > SHOWN {
        text.push_str(&format!(" and {} more", related.len() - SHOWN));
    }
    text
}

/// How the artifacts of one kind claim runs, for families proven by a single artifact.
pub(crate) struct SingleArtifact<'e, K> {
    /// The artifact kind, as named in messages.
    pub kind: &'static str,
    /// What ties an artifact to the run besides its uid, e.g. "backup schedule".
    pub owner: &'static str,
    /// The run's own reference to that owner (required by the family).
    pub run_owner: Option<&'e LocalRef>,
    /// Why the run is invalid when `run_owner` is missing.
    pub missing_owner: &'static str,
    /// The artifacts that may claim the run.
    pub artifacts: &'e [&'e Parsed<K>],
    /// The artifact's reference to its run.
    pub run_ref: fn(&K) -> Option<&RunRef>,
    /// The artifact's reference to its owner.
    pub owner_ref: fn(&K) -> Option<&LocalRef>,
    /// The artifact's counts as written, read by the function the adapter decides with.
    pub written: fn(&K) -> WrittenCounts,
    /// The failures the artifact records.
    pub failures: fn(&K) -> Option<&Vec<Failure>>,
}

/// An artifact's counts as a tool shows them.
pub(crate) struct WrittenCounts {
    /// State and counts as written; an absent value shows as `?`.
    pub summary: String,
    /// Why the counts contradict themselves, if they do.
    pub contradiction: Option<String>,
}

/// Every artifact of one kind that names the run, with where it stands: the report behind
/// [`Adapter::claim_reports`](super::adapter::Adapter::claim_reports) for families proven
/// by one artifact. Scope is judged as [`examine_single_artifact`] judges it.
pub(crate) fn report_single_artifact<K: kube::Resource<DynamicType = ()>>(
    run: &OperationRun,
    family: &'static str,
    c: &SingleArtifact<'_, K>,
) -> Vec<ClaimReport> {
    let name = run.metadata.name.as_deref().unwrap_or_default();
    let namespace = run.metadata.namespace.as_deref();
    let run_uid = run.metadata.uid.as_deref().filter(|u| !u.is_empty());
    let run_owner = c.run_owner.filter(|r| !r.name.is_empty());
    let other_family = run.spec.type_ != family;
    c.artifacts
        .iter()
        .filter_map(|artifact| {
            let object = &artifact.object;
            let reference = naming_run(name, namespace, object, &c.run_ref)?;
            let claimed_uid = reference.uid.as_deref();
            let claimed_owner = (c.owner_ref)(object);
            let standing = if other_family {
                ClaimStanding::OtherFamily { family }
            } else {
                match claim_scope(artifact, reference, run_uid, run_owner, claimed_owner) {
                    ClaimScope::InScope => ClaimStanding::InScope,
                    ClaimScope::OtherRunUid => ClaimStanding::OtherRunUid {
                        claimed_uid: claimed_uid.filter(|u| !u.is_empty()).map(String::from),
                        run_uid: run_uid.map(String::from),
                    },
                    ClaimScope::OtherOwner => ClaimStanding::OtherOwner {
                        owner_field: c.owner,
                        claimed_owner: claimed_owner.map(|o| o.name.clone()),
                        run_owner: run_owner.map(|o| o.name.clone()),
                    },
                }
            };
            let written = (c.written)(object);
            Some(ClaimReport {
                kind: c.kind,
                name: object.meta().name.clone().unwrap_or_default(),
                uid: object.meta().uid.clone().unwrap_or_default(),
                standing,
                counts: written.summary,
                contradiction: written.contradiction,
                unreadable: artifact.problem.clone(),
                failures: (c.failures)(object).cloned().unwrap_or_default(),
            })
        })
        .collect()
}

/// A count as a tool shows it: `?` when absent.
pub(crate) fn shown(count: Option<i64>) -> String {
    count.map_or("?".into(), |n| n.to_string())
}

/// The findings shared by families proven by one artifact: the required owner reference,
/// scope, ambiguity; `examine_one` reads the single in-scope claim.
pub(crate) fn examine_single_artifact<K: kube::Resource<DynamicType = ()>>(
    run: &OperationRun,
    c: SingleArtifact<'_, K>,
    examine_one: fn(&Parsed<K>, &mut Findings),
) -> Findings {
    let mut findings = Findings::default();
    let run_owner = c.run_owner.filter(|r| !r.name.is_empty());
    if run_owner.is_none() {
        findings.invalid_run = Some(c.missing_owner.into());
        return findings;
    }
    let found = claims(run, c.artifacts, c.run_ref, c.owner_ref, run_owner, c.owner);
    findings.related = found
        .in_scope
        .iter()
        .map(|a| artifact_ref(&a.object))
        .collect();
    findings.has_in_scope = !findings.related.is_empty();
    if let Some(reason) = found.out_of_scope_reason {
        findings.out_of_scope = Some(format!(
            "{} claiming the run {} out of scope ({reason}); out-of-scope artifacts are not evidence.",
            plural(found.out_of_scope as i64, c.kind),
            if found.out_of_scope == 1 { "is" } else { "are" },
        ));
    }
    let short_owner = c.owner.rsplit(' ').next().unwrap_or(c.owner);
    findings.pending = format!(
        "No {} with the run's uid and {short_owner} claims it yet.",
        c.kind
    );
    match found.in_scope.as_slice() {
        [] => {}
        [only] => examine_one(only, &mut findings),
        many => {
            findings.ambiguous = Some(format!(
                "{} {}s claim the run ({}); the controller will not pick one.",
                many.len(),
                c.kind,
                names(&findings.related)
            ));
        }
    }
    findings
}
