//! Snapshot tests over every example: `explain` (plain and `--diagnostics`) of each run and
//! one `list -A` over all of them, read offline with `-f --reconcile` at the examples'
//! fixed time. Outputs are compared byte for byte with `tests/snapshots/`;
//! `UPDATE_SNAPSHOTS=1 cargo test -p kubectl-oprun --test examples` rewrites them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use operationrun_core::manifests;

const NOW: &str = "2026-11-26T12:00:00Z";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate sits in the workspace")
        .to_path_buf()
}

fn snapshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots")
}

/// Runs the plugin from the workspace root, so paths in its output are relative.
fn oprun(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-oprun"))
        .args(args)
        .current_dir(workspace())
        .env_remove("KUBECONFIG")
        .output()
        .expect("the plugin binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = oprun(args);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "kubectl-oprun {args:?} failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("output is UTF-8")
}

/// Example folders, each with its runs as (namespace, name).
fn examples() -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(workspace().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let m = manifests::load(std::slice::from_ref(&dir)).unwrap();
        let mut runs: Vec<(String, String)> = m
            .runs
            .iter()
            .map(|r| {
                (
                    r.object.metadata.namespace.clone().unwrap(),
                    r.object.metadata.name.clone().unwrap(),
                )
            })
            .collect();
        runs.sort();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        out.push((name, runs));
    }
    assert!(out.len() >= 10, "examples not found");
    out
}

/// Every snapshot this test produces: relative path -> output.
fn produce() -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    for (example, runs) in examples() {
        let dir = format!("examples/{example}/");
        for (namespace, name) in runs {
            let base = [
                "-f",
                &dir,
                "--now",
                NOW,
                "--reconcile",
                "explain",
                &name,
                "-n",
            ];
            let mut args = base.to_vec();
            args.push(&namespace);
            out.insert(
                PathBuf::from(&example).join(format!("explain-{name}.txt")),
                ok(&args),
            );
            args.push("--diagnostics");
            out.insert(
                PathBuf::from(&example).join(format!("explain-{name}--diagnostics.txt")),
                ok(&args),
            );
        }
    }
    out.insert(
        PathBuf::from("list-all.txt"),
        ok(&["-f", "examples/", "--now", NOW, "--reconcile", "list", "-A"]),
    );
    out
}

fn stored_snapshots(dir: &Path, prefix: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let path = e.unwrap().path();
        let rel = prefix.join(path.file_name().unwrap());
        if path.is_dir() {
            stored_snapshots(&path, &rel, out);
        } else {
            out.push(rel);
        }
    }
}

#[test]
fn snapshots_of_every_example() {
    let produced = produce();
    let root = snapshots_dir();
    let mut stored = Vec::new();
    stored_snapshots(&root, Path::new(""), &mut stored);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        for path in &stored {
            if !produced.contains_key(path) {
                std::fs::remove_file(root.join(path)).unwrap();
            }
        }
        for (path, text) in &produced {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, text).unwrap();
        }
        return;
    }
    let mut problems = Vec::new();
    for (path, text) in &produced {
        match std::fs::read_to_string(root.join(path)) {
            Ok(expected) if &expected == text => {}
            Ok(expected) => problems.push(format!(
                "{} differs.\n--- expected\n{expected}--- actual\n{text}",
                path.display()
            )),
            Err(_) => problems.push(format!("{} is missing", path.display())),
        }
    }
    for path in &stored {
        if !produced.contains_key(path) {
            problems.push(format!("{} is not produced any more", path.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n\nRun `UPDATE_SNAPSHOTS=1 cargo test -p kubectl-oprun --test examples` to accept.",
        problems.join("\n\n")
    );
}

/// 8-4-4-4-12 hex digits: a raw uid.
fn has_uuid(text: &str) -> bool {
    let groups = [8usize, 4, 4, 4, 12];
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .any(|word| {
            let parts: Vec<&str> = word.split('-').collect();
            parts.len() == 5
                && parts
                    .iter()
                    .zip(groups)
                    .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
        })
}

#[test]
fn explain_is_calm_one_next_action_and_evidence_only_on_request() {
    let headers = [
        "Related artifacts:",
        "Coverage:",
        "Conditions:",
        "Recorded failures:",
        "Timestamps:",
        "Decision:",
    ];
    for (example, runs) in examples() {
        let dir = format!("examples/{example}/");
        for (namespace, name) in runs {
            for reconcile in [true, false] {
                let mut args = vec!["-f", &dir, "--now", NOW, "explain", &name, "-n", &namespace];
                if reconcile {
                    args.push("--reconcile");
                }
                let plain = ok(&args);
                args.push("--diagnostics");
                let diagnostics = ok(&args);
                for text in [&plain, &diagnostics] {
                    let next: Vec<&str> =
                        text.lines().filter(|l| l.starts_with("Next: ")).collect();
                    assert_eq!(next.len(), 1, "{example}/{name}:\n{text}");
                    assert!(next[0].chars().count() < 80 + 6, "{}", next[0]);
                }
                assert!(
                    plain.lines().count() <= 7,
                    "{example}/{name}: not calm:\n{plain}"
                );
                assert!(!plain.contains("relatedArtifacts"), "{plain}");
                assert!(!has_uuid(&plain), "{example}/{name}: a raw uid:\n{plain}");
                for h in headers {
                    assert!(
                        !plain.contains(h),
                        "{example}/{name}: {h} without --diagnostics"
                    );
                }
                // "uid" may appear only in the controller's proof sentence or the action
                for line in plain.lines() {
                    if line.contains("uid") {
                        assert!(
                            line.starts_with("Undecided:")
                                || line.starts_with("Outcome:")
                                || line.starts_with("Next: "),
                            "{example}/{name}: {line}"
                        );
                    }
                }
                for h in [
                    "Conditions:",
                    "Timestamps:",
                    "Decision:",
                    "Recorded failures:",
                ] {
                    assert!(
                        diagnostics.contains(h),
                        "{example}/{name}: no {h}:\n{diagnostics}"
                    );
                }
                // the plain lines come first, unchanged
                let head: Vec<&str> = plain.lines().take_while(|l| !l.is_empty()).collect();
                assert!(
                    diagnostics.starts_with(&(head.join("\n") + "\n")),
                    "{example}/{name}:\n{diagnostics}"
                );
            }
        }
    }
}

#[test]
fn diagnostics_name_the_deciding_rule_of_the_expected_decisions() {
    let cases = [
        (
            "partial-backup",
            "tenant-tailspin",
            "nightly-20261126",
            "rule 5 (usable output exists)",
        ),
        (
            "complete-backup",
            "tenant-contoso",
            "nightly-20261126",
            "rule 4 (",
        ),
        (
            "failed-backup",
            "tenant-fabrikam",
            "nightly-20261126",
            "rule 7 (",
        ),
        (
            "blocked-capture",
            "tenant-fabrikam",
            "capture-win11-20261126",
            "rule 6 (",
        ),
        (
            "wrong-scope-evidence",
            "tenant-woodgrove",
            "nightly-20261126",
            "rule 8 (",
        ),
        (
            "abandoned-run",
            "tenant-contoso",
            "nightly-20261124",
            "then closed as Abandoned",
        ),
    ];
    for (example, ns, name, expected) in cases {
        let dir = format!("examples/{example}/");
        let text = ok(&[
            "-f",
            &dir,
            "--now",
            NOW,
            "--reconcile",
            "explain",
            name,
            "-n",
            ns,
            "--diagnostics",
        ]);
        assert!(text.contains(expected), "{example}: {expected}\n{text}");
    }
}
