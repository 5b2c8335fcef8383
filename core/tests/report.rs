//! What `claim_reports` and `coverage` show agrees with what `judge` decides, on every
//! example and every specification case: the claims reported in scope are exactly the
//! related artifacts of the verdict, a malformed claim is never usable, and an artifact
//! reported as proving another family is never the run's own kind.

use std::path::{Path, PathBuf};

use operationrun_core::decide::{
    ClaimStanding, Family, Rule, claim_kind, claim_reports, coverage, judge, lookup,
};
use operationrun_core::evaluate::ClaimIndex;
use operationrun_core::manifests::{self, Manifests};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate sits in the workspace")
        .to_path_buf()
}

/// Every example folder and every specification case, each read as one set of manifests.
fn manifest_sets() -> Vec<(String, Manifests)> {
    let mut sets = Vec::new();
    for parent in ["examples", "controller/tests/spec-cases"] {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(workspace().join(parent))
            .expect("folder exists")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for dir in dirs {
            let files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .expect("case folder")
                .map(|e| e.expect("entry").path())
                .filter(|p| is_manifest(p))
                .collect();
            let m = manifests::load(&files).expect("the manifests load");
            sets.push((format!("{}", dir.display()), m));
        }
    }
    assert!(sets.len() >= 50, "examples and cases not found");
    sets
}

#[test]
fn reported_claims_agree_with_the_verdict() {
    let mut problems = Vec::new();
    let mut runs = 0;
    for (set, manifests) in manifest_sets() {
        let index = ClaimIndex::new(&manifests);
        for run in &manifests.runs {
            runs += 1;
            let meta = &run.object.metadata;
            let who = format!(
                "{set}: {}/{}",
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default()
            );
            let evidence = index.evidence(
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default(),
            );
            let reports = claim_reports(&run.object, &evidence);
            let verdict = judge(run, &evidence);
            let in_scope: Vec<_> = reports
                .iter()
                .filter(|r| r.standing == ClaimStanding::InScope)
                .collect();
            let decided_from_evidence =
                !matches!(verdict.rule, Rule::UnsupportedFamily | Rule::InvalidRun);
            let related: Vec<(&str, &str, &str)> = verdict
                .related
                .iter()
                .map(|r| (r.kind.as_str(), r.name.as_str(), r.uid.as_str()))
                .collect();
            let reported: Vec<(&str, &str, &str)> = in_scope
                .iter()
                .map(|r| (r.kind, r.name.as_str(), r.uid.as_str()))
                .collect();
            if decided_from_evidence && reported != related {
                problems.push(format!(
                    "{who}: in scope {reported:?}, the verdict relates {related:?}"
                ));
            }
            if let [only] = in_scope.as_slice()
                && (only.contradiction.is_some() || only.unreadable.is_some())
                && matches!(verdict.rule, Rule::Complete | Rule::UsableOutput)
            {
                problems.push(format!(
                    "{who}: {} is malformed, yet rule {} decided",
                    only.name, verdict.rule
                ));
            }
            let own_kind = claim_kind(&run.object.spec.type_).map(|k| k.as_str());
            for r in &reports {
                let other = matches!(r.standing, ClaimStanding::OtherFamily { .. });
                if other == (Some(r.kind) == own_kind) {
                    problems.push(format!(
                        "{who}: {} {} reported as {:?} for a run whose kind is {own_kind:?}",
                        r.kind, r.name, r.standing
                    ));
                }
            }
            let has_coverage = coverage(&run.object).is_some();
            let by_coverage =
                matches!(lookup(&run.object.spec.type_), Family::Decided(_)) && own_kind.is_none();
            if has_coverage != by_coverage {
                problems.push(format!("{who}: coverage shown: {has_coverage}"));
            }
        }
    }
    assert!(runs >= 100, "only {runs} runs");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn coverage_marks_what_the_inventory_adapter_ignores_or_finds_ambiguous() {
    let mut seen_out_of_scope = false;
    let mut seen_duplicate = false;
    for (set, manifests) in manifest_sets() {
        for run in &manifests.runs {
            let Some(c) = coverage(&run.object) else {
                continue;
            };
            let verdict = judge(run, &Default::default());
            let duplicate = c.entries.iter().any(|l| l.duplicate);
            seen_duplicate |= duplicate;
            seen_out_of_scope |= c.entries.iter().any(|l| !l.in_scope);
            if verdict.rule != Rule::InvalidRun {
                assert_eq!(
                    duplicate,
                    verdict.rule == Rule::AmbiguousEvidence,
                    "{set}: duplicates {duplicate}, rule {}",
                    verdict.rule
                );
            }
            assert!(
                c.entries.iter().all(|l| l.in_scope || !l.duplicate),
                "{set}: an out-of-scope entry marked duplicate"
            );
        }
    }
    assert!(seen_out_of_scope && seen_duplicate, "cases not covered");
}

/// A manifest file of a case: YAML or JSON, but not the case's expectation.
fn is_manifest(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name != "expected.json"
        && [".yaml", ".yml", ".json"]
            .iter()
            .any(|ext| name.ends_with(ext))
}
