//! Runs the `evaluate` binary over the bundled examples and the specification cases and compares
//! its JSON output with the expectations written beside them (messages aside).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_operationrun-controller")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn run_evaluate(files: &[PathBuf], now: &str, args: &[String]) -> Value {
    let mut cmd = Command::new(bin());
    cmd.arg("evaluate")
        .arg("-o")
        .arg("json")
        .arg("--now")
        .arg(now);
    for f in files {
        cmd.arg("-f").arg(f);
    }
    cmd.args(args);
    let out = cmd.output().expect("evaluate runs");
    assert!(
        out.status.success(),
        "evaluate failed for {files:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("evaluate prints JSON")
}

/// Compares the fields an expectation gives; returns a description of every mismatch.
fn compare(case: &str, expected: &Value, actual: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let expect = expected["expect"].as_array().cloned().unwrap_or_default();
    let actual = actual.as_array().cloned().unwrap_or_default();
    let key = |v: &Value| {
        format!(
            "{}/{}",
            v["namespace"].as_str().unwrap_or("?"),
            v["name"].as_str().unwrap_or("?")
        )
    };
    let names_e: Vec<String> = expect.iter().map(key).collect();
    let names_a: Vec<String> = actual.iter().map(key).collect();
    if names_e != names_a {
        errors.push(format!("{case}: runs {names_a:?}, expected {names_e:?}"));
        return errors;
    }
    for (e, a) in expect.iter().zip(&actual) {
        let who = format!("{case}: {}", key(e));
        if e.get("rule").cloned().unwrap_or(Value::Null)
            != a.get("rule").cloned().unwrap_or(Value::Null)
        {
            errors.push(format!(
                "{who}: rule {:?}, expected {:?}",
                a.get("rule"),
                e.get("rule")
            ));
        }
        let ec = e["conditions"].as_array().cloned().unwrap_or_default();
        let ac = a["conditions"].as_array().cloned().unwrap_or_default();
        let short = |c: &[Value]| {
            c.iter()
                .map(|c| format!("{}={} {}", c["type"], c["status"], c["reason"]))
                .collect::<Vec<_>>()
        };
        if ec.len() != ac.len() {
            errors.push(format!(
                "{who}: conditions {:?}, expected {:?}",
                short(&ac),
                short(&ec)
            ));
            continue;
        }
        for (ecd, acd) in ec.iter().zip(&ac) {
            for (field, want) in ecd.as_object().into_iter().flatten() {
                if field == "message" || field == "observedGeneration" {
                    continue;
                }
                let got = acd.get(field).cloned().unwrap_or(Value::Null);
                if &got != want {
                    errors.push(format!(
                        "{who}: {} {field} = {got}, expected {want}",
                        ecd["type"]
                    ));
                }
            }
        }
    }
    errors
}

fn read_expected(path: &Path) -> (Value, String, Vec<String>) {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("expected file"))
            .expect("expected JSON");
    let now = expected["now"]
        .as_str()
        .unwrap_or("2026-11-26T12:00:00Z")
        .to_string();
    let args = expected["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    (expected, now, args)
}

#[test]
fn every_example_decides_as_its_readme_says() {
    let dir = root().join("tests/examples-expected");
    let mut errors = Vec::new();
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("examples-expected") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_string();
        let (expected, now, args) = read_expected(&path);
        let actual = run_evaluate(&[root().join("../examples").join(&name)], &now, &args);
        errors.extend(compare(&name, &expected, &actual));
        count += 1;
    }
    assert!(count >= 8, "expected at least 8 examples, found {count}");
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn the_whole_examples_folder_evaluates_at_once() {
    let dir = root().join("tests/examples-expected");
    let mut all = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("examples-expected") {
        let (expected, _, _) = read_expected(&entry.expect("entry").path());
        all.extend(expected["expect"].as_array().cloned().unwrap_or_default());
    }
    all.sort_by_key(|v| {
        (
            v["namespace"].as_str().unwrap_or_default().to_string(),
            v["name"].as_str().unwrap_or_default().to_string(),
        )
    });
    let expected = serde_json::json!({ "expect": all });
    let actual = run_evaluate(&[root().join("../examples")], "2026-11-26T12:00:00Z", &[]);
    let errors = compare("examples/", &expected, &actual);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn every_spec_case_gets_the_answer_spec_gives() {
    let dir = root().join("tests/spec-cases");
    let mut errors = Vec::new();
    let mut count = 0;
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("spec-cases")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    for case in cases {
        let name = case
            .file_name()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_string();
        let (expected, now, args) = read_expected(&case.join("expected.json"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(&case)
            .expect("case dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()) != Some("expected.json"))
            .collect();
        files.sort();
        let actual = run_evaluate(&files, &now, &args);
        errors.extend(compare(&name, &expected, &actual));
        count += 1;
    }
    assert!(count >= 40, "expected at least 40 cases, found {count}");
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}
