//! The `evaluate` command as a user meets it: inputs, output formats and bad input.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const NOW: &str = "2026-11-26T12:00:00Z";

fn evaluate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_operationrun-controller"))
        .arg("evaluate")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.to_string_lossy().into_owned()
}

const RUN: &str = r#"apiVersion: ops.tenantatlas.io/v1alpha1
kind: OperationRun
metadata: {name: nightly, namespace: tenant-a, uid: u-1, creationTimestamp: "2026-11-26T10:00:00Z"}
spec: {type: backup.schedule.execute, backupScheduleRef: {name: nightly}}
status: {phase: Running, heartbeatTime: "2026-11-26T11:00:00Z"}
"#;

const SET: &str = r#"apiVersion: ops.tenantatlas.io/v1alpha1
kind: BackupSet
metadata: {name: nightly, namespace: tenant-a, uid: b-1}
spec: {backupScheduleRef: {name: nightly}, operationRunRef: {name: nightly, uid: u-1}}
status: {state: Finalized, summary: {itemsTotal: 10, succeeded: 7, failed: 3}}
"#;

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn invalid_yaml_names_file_and_document_and_prints_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = write(dir.path(), "good.yaml", RUN);
    let bad = write(
        dir.path(),
        "bad.yaml",
        &format!("{SET}---\nkind: [unclosed\n"),
    );
    let out = evaluate(&["-f", &good, "-f", &bad, "--now", NOW, "-o", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing may be half-printed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml") && err.contains("document 2"),
        "stderr: {err}"
    );
}

#[test]
fn invalid_json_is_an_error_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write(dir.path(), "dump.json", "{\"apiVersion\": ");
    let out = evaluate(&["-f", &bad, "--now", NOW]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dump.json") && err.contains("document 1"),
        "stderr: {err}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let out = evaluate(&["-f", "/nonexistent/runs.yaml", "--now", NOW]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/runs.yaml"));
}

#[test]
fn the_same_object_twice_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = write(dir.path(), "a.yaml", RUN);
    let b = write(dir.path(), "b.yaml", RUN);
    let out = evaluate(&["-f", &a, "-f", &b, "--now", NOW]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("given twice") && err.contains("tenant-a/nightly"),
        "stderr: {err}"
    );
}

#[test]
fn a_kubectl_list_dump_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run: Value = serde_norway::from_str(RUN).expect("yaml");
    let set: Value = serde_norway::from_str(SET).expect("yaml");
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [run, set]});
    let dump = write(dir.path(), "dump.json", &list.to_string());
    let out = json(&evaluate(&["-f", &dump, "--now", NOW, "-o", "json"]));
    assert_eq!(out[0]["rule"], 5);
    assert_eq!(out[0]["conditions"][1]["reason"], "PartiallySucceeded");
    assert_eq!(out[0]["conditions"][1]["relatedArtifacts"][0]["uid"], "b-1");
}

#[test]
fn odd_fields_get_a_reason_not_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = write(dir.path(), "runs.yaml", RUN);
    let odd = SET.replace("succeeded: 7", "succeeded: seven");
    let sets = write(dir.path(), "sets.yaml", &odd);
    let out = json(&evaluate(&[
        "-f", &runs, "-f", &sets, "--now", NOW, "-o", "json",
    ]));
    assert_eq!(out[0]["conditions"][1]["reason"], "InvalidEvidence");
    assert_eq!(out[0]["rule"], 9);

    let odd_run = RUN.replace(
        "heartbeatTime: \"2026-11-26T11:00:00Z\"",
        "heartbeatTime: \"2026-11-26T11:00:00Z\", failures: 3",
    );
    let runs = write(dir.path(), "runs.yaml", &odd_run);
    let out = json(&evaluate(&["-f", &runs, "--now", NOW, "-o", "json"]));
    assert_eq!(out[0]["conditions"][1]["reason"], "InvalidRun");
}

#[test]
fn other_kinds_and_groups_are_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let other = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\napiVersion: other.example.com/v1\nkind: OperationRun\nmetadata: {name: y}\nspec: {type: inventory.sync}\n";
    let file = write(dir.path(), "mixed.yaml", &format!("{other}---\n{RUN}"));
    let out = json(&evaluate(&["-f", &file, "--now", NOW, "-o", "json"]));
    assert_eq!(out.as_array().map(Vec::len), Some(1));
    assert_eq!(out[0]["name"], "nightly");
}

#[test]
fn output_is_sorted_and_deterministic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = RUN.replace("namespace: tenant-a", "namespace: tenant-b");
    let a2 = RUN.replace("name: nightly,", "name: another,");
    let file = write(dir.path(), "runs.yaml", &format!("{b}---\n{RUN}---\n{a2}"));
    let first = evaluate(&["-f", &file, "--now", NOW, "-o", "json"]);
    let second = evaluate(&["-f", &file, "--now", NOW, "-o", "json"]);
    assert_eq!(first.stdout, second.stdout);
    let out = json(&first);
    let keys: Vec<String> = out
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{}/{}",
                e["namespace"].as_str().unwrap_or(""),
                e["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        keys,
        ["tenant-a/another", "tenant-a/nightly", "tenant-b/nightly"]
    );
    // a decision taken at --now carries it as lastTransitionTime
    assert_eq!(out[0]["conditions"][0]["lastTransitionTime"], NOW);
}

#[test]
fn timeout_flags_change_staleness() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "runs.yaml", RUN);
    // heartbeat one hour ago: stale under the default 600 s, fresh under 7200 s
    let out = json(&evaluate(&[
        "-f",
        &file,
        "--now",
        NOW,
        "-o",
        "json",
        "--heartbeat-timeout",
        "7200",
    ]));
    assert_eq!(out[0]["conditions"], serde_json::json!([]));
    let out = json(&evaluate(&[
        "-f",
        &file,
        "--now",
        "2026-11-28T12:00:00Z",
        "-o",
        "json",
    ]));
    assert_eq!(out[0]["conditions"][1]["reason"], "Abandoned");
    let out = json(&evaluate(&[
        "-f",
        &file,
        "--now",
        "2026-11-28T12:00:00Z",
        "-o",
        "json",
        "--abandon-after",
        "0",
    ]));
    assert_eq!(out[0]["conditions"][1]["reason"], "AwaitingEvidence");
}

#[test]
fn bad_flags_are_refused() {
    let out = evaluate(&["-f", "x.yaml", "--now", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--now"));
    let out = evaluate(&["-f", "x.yaml", "--queued-timeout", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn table_output_is_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = write(dir.path(), "runs.yaml", RUN);
    let sets = write(dir.path(), "sets.yaml", SET);
    let out = evaluate(&["-f", &runs, "-f", &sets, "--now", NOW]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .is_some_and(|h| h.starts_with("NAMESPACE") && h.contains("RECONCILED"))
    );
    let row = lines.next().unwrap_or_default();
    assert!(
        row.contains("True PartiallySucceeded") && row.contains("7 of 10 items stored"),
        "{row}"
    );
}

#[test]
fn very_many_claims_still_fit_the_condition_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::from(RUN);
    for i in 0..40 {
        text.push_str("---\n");
        text.push_str(&SET.replace(
            "name: nightly, namespace",
            &format!("name: nightly-{i:02}, namespace"),
        ));
    }
    let file = write(dir.path(), "many.yaml", &text);
    let out = json(&evaluate(&["-f", &file, "--now", NOW, "-o", "json"]));
    let reconciled = &out[0]["conditions"][1];
    assert_eq!(reconciled["reason"], "AmbiguousEvidence");
    // the CRD allows 32 relatedArtifacts; the message stays short too
    assert_eq!(
        reconciled["relatedArtifacts"].as_array().map(Vec::len),
        Some(32)
    );
    let message = reconciled["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("40 BackupSets claim the run") && message.contains("and 30 more"),
        "{message}"
    );
}
