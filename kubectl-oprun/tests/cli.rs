//! Behaviour of the plugin on inputs the examples do not cover: stored decisions, a worker
//! that reports after a final decision, disabled runs, foreign conditions, and errors.

use std::path::PathBuf;
use std::process::{Command, Output};

const NOW: &str = "2026-11-26T12:00:00Z";

fn oprun(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-oprun"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env("HOME", env!("CARGO_TARGET_TMPDIR"))
        .output()
        .expect("the plugin binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn fixture(name: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kubectl-oprun-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A backup the controller decided PartiallySucceeded; the worker then reported Completed
/// with outcome Failed.
const DECIDED_THEN_COMPLETED: &str = r#"
apiVersion: ops.tenantatlas.io/v1alpha1
kind: OperationRun
metadata:
  name: nightly-20261126
  namespace: tenant-a
  uid: c00d8b89-f794-5687-a0a3-f893f810163b
  creationTimestamp: '2026-11-26T10:00:00Z'
spec:
  type: backup.schedule.execute
  backupScheduleRef: {name: nightly}
status:
  phase: Completed
  outcome: Failed
  completedAt: '2026-11-26T11:55:00Z'
  conditions:
  - type: Ready
    status: 'False'
    reason: WorkerGaveUp
    message: set by the worker
  - type: Stale
    status: 'False'
    reason: WorkerCompleted
    message: The worker reported Completed; the run is no longer stale.
    lastTransitionTime: '2026-11-26T11:56:00Z'
  - type: Reconciled
    status: 'True'
    reason: PartiallySucceeded
    message: 100 of 120 items stored in BackupSet nightly-20261126; 20 failed (Throttled).
    lastTransitionTime: '2026-11-26T11:00:00Z'
    adapter: backup.schedule.execute
    previousPhase: Running
    relatedArtifacts:
    - {kind: BackupSet, name: nightly-20261126, uid: 781d6cb4-2593-51f5-9833-d476cb76e6f7}
---
apiVersion: ops.tenantatlas.io/v1alpha1
kind: BackupSet
metadata:
  name: nightly-20261126
  namespace: tenant-a
  uid: 781d6cb4-2593-51f5-9833-d476cb76e6f7
spec:
  backupScheduleRef: {name: nightly}
  operationRunRef: {name: nightly-20261126, uid: c00d8b89-f794-5687-a0a3-f893f810163b}
status:
  state: Finalized
  summary: {itemsTotal: 120, succeeded: 100, failed: 20, skipped: 0}
---
apiVersion: ops.tenantatlas.io/v1alpha1
kind: OperationRun
metadata:
  name: paused
  namespace: tenant-b
  uid: 11111111-2222-3333-4444-555555555555
  creationTimestamp: '2026-11-26T08:00:00Z'
  annotations: {ops.tenantatlas.io/reconcile: disabled}
spec:
  type: inventory.sync
  inventory: {policyTypes: [deviceConfiguration]}
status:
  phase: Running
  heartbeatTime: '2026-11-26T09:00:00Z'
---
apiVersion: ops.tenantatlas.io/v1alpha1
kind: OperationRun
metadata:
  name: queued
  namespace: tenant-b
  creationTimestamp: '2026-11-26T11:50:00Z'
spec:
  type: inventory.sync
  inventory: {policyTypes: [deviceConfiguration]}
"#;

#[test]
fn a_final_decision_stands_beside_a_later_worker_report() {
    let f = fixture("decided.yaml", DECIDED_THEN_COMPLETED);
    let f = f.to_str().unwrap();
    let out = oprun(&["-f", f, "--now", NOW, "explain", "nightly-20261126"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Outcome: PartiallySucceeded, decided by the controller. 100 of 120"),
        "{text}"
    );
    assert!(
        text.contains(
            "The worker later reported Completed with outcome Failed; the controller's decision stands."
        ),
        "{text}"
    );
    assert!(
        text.contains("Next: Retry only what is missing; the stored output is usable as it is."),
        "{text}"
    );

    let out = oprun(&[
        "-f",
        f,
        "--now",
        NOW,
        "explain",
        "nightly-20261126",
        "--diagnostics",
    ]);
    let text = stdout(&out);
    // every condition, foreign ones included, and the rule recomputed on the evidence
    assert!(
        text.contains("  Ready=False WorkerGaveUp (not written by the controller)"),
        "{text}"
    );
    assert!(
        text.contains("  Stale=False WorkerCompleted, since 2026-11-26T11:56:00Z"),
        "{text}"
    );
    assert!(
        text.contains("Decided by rule 5 (usable output exists)."),
        "{text}"
    );
    assert!(text.contains("in scope, named by the decision"), "{text}");
    assert!(
        text.contains("Finalized: 100 succeeded, 20 failed, 0 skipped of 120 total"),
        "{text}"
    );

    // --reconcile keeps a final decision as it is
    let out = oprun(&[
        "-f",
        f,
        "--now",
        NOW,
        "--reconcile",
        "explain",
        "nightly-20261126",
    ]);
    assert!(stdout(&out).contains("the controller's decision stands"));
}

#[test]
fn list_puts_stale_undecided_first_and_reads_stored_conditions() {
    let f = fixture("list.yaml", DECIDED_THEN_COMPLETED);
    let out = oprun(&["-f", f.to_str().unwrap(), "--now", NOW, "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "\
NAMESPACE   NAME               TYPE                      PHASE             OUTCOME              AGE    NEXT ACTION
tenant-b    paused             inventory.sync            Running (stale)   -                    4h     check worker
tenant-a    nightly-20261126   backup.schedule.execute   Completed         PartiallySucceeded   120m   retry what is missing
tenant-b    queued             inventory.sync            Queued            -                    10m    none
"
    );
    let out = oprun(&[
        "-f",
        f.to_str().unwrap(),
        "--now",
        NOW,
        "list",
        "-n",
        "tenant-b",
    ]);
    assert!(stdout(&out).starts_with("NAME "), "{}", stdout(&out));
    assert!(!stdout(&out).contains("tenant-a"));

    let out = oprun(&["-f", f.to_str().unwrap(), "--now", NOW, "explain", "paused"]);
    let text = stdout(&out);
    assert!(text.contains("reconcile disabled"), "{text}");
    assert!(
        text.contains("Next: Check the worker pod that ran it"),
        "{text}"
    );
}

#[test]
fn list_prints_json_for_scripts() {
    let f = fixture("json.yaml", DECIDED_THEN_COMPLETED);
    let f = f.to_str().unwrap();
    let out = oprun(&["-f", f, "--now", NOW, "list", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let runs: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let runs = runs.as_array().expect("an array");
    let names: Vec<&str> = runs.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["paused", "nightly-20261126", "queued"],
        "list's order"
    );
    let decided = &runs[1];
    assert_eq!(decided["namespace"], "tenant-a");
    assert_eq!(decided["type"], "backup.schedule.execute");
    assert_eq!(decided["phase"], "Completed");
    assert_eq!(decided["stale"], false);
    assert_eq!(
        decided["reconciled"],
        serde_json::json!({"status": "True", "reason": "PartiallySucceeded"})
    );
    assert_eq!(decided["outcome"], "PartiallySucceeded");
    assert_eq!(
        decided["nextAction"],
        "Retry only what is missing; the stored output is usable as it is."
    );
    assert_eq!(runs[0]["stale"], true);
    assert_eq!(runs[0]["reconciled"], serde_json::Value::Null);
    assert_eq!(runs[2]["outcome"], serde_json::Value::Null);

    // nothing to show: an empty array, and no note on stderr
    let out = oprun(&["-f", f, "--now", NOW, "list", "-n", "nowhere", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "[]\n");
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

#[test]
fn decision_flags_may_follow_the_subcommand() {
    let f = fixture("flags.yaml", DECIDED_THEN_COMPLETED);
    let f = f.to_str().unwrap();
    // queued since 11:50: stale after 60 s, not after the default 1800 s
    for (args, stale) in [
        (vec!["list", "-n", "tenant-b"], false),
        (
            vec!["list", "-n", "tenant-b", "--queued-timeout", "60"],
            true,
        ),
        (
            vec!["--queued-timeout", "60", "list", "-n", "tenant-b"],
            true,
        ),
    ] {
        let mut all = vec!["-f", f, "--now", NOW];
        all.extend(&args);
        all.extend(["-o", "json"]);
        let out = oprun(&all);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let runs: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
        let queued = runs
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "queued")
            .expect("the queued run");
        assert_eq!(queued["stale"], stale, "{args:?}");
    }
    let out = oprun(&["-f", f, "list", "--queued-timeout", "0"]);
    assert_eq!(out.status.code(), Some(2), "a zero timeout is refused");
}

/// A capture with four snapshots naming it (another profile, another run uid, an
/// unreadable one, a complete one) and a BackupSet naming it too; an inventory sync with
/// duplicate, out-of-set and missing coverage.
const STANDINGS: &str = r#"
apiVersion: ops.tenantatlas.io/v1alpha1
kind: OperationRun
metadata:
  name: capture
  namespace: t
  uid: 11111111-0000-4000-8000-000000000001
  creationTimestamp: '2026-11-26T08:00:00Z'
spec:
  type: baseline.capture
  baselineProfileRef: {name: win11}
status: {phase: Running, heartbeatTime: '2026-11-26T09:00:00Z'}
---
apiVersion: ops.tenantatlas.io/v1alpha1
kind: BaselineSnapshot
metadata: {name: a-other-profile, namespace: t, uid: 22222222-0000-4000-8000-000000000001}
spec:
  baselineProfileRef: {name: win10}
  operationRunRef: {name: capture, uid: 11111111-0000-4000-8000-000000000001}
status:
  state: Finalized
  summary: {subjectsTotal: 40, captured: 30, gaps: [{reason: MissingPermission, count: 10}]}
  fallbackUsed: true
---
apiVersion: ops.tenantatlas.io/v1alpha1
kind: BaselineSnapshot
metadata: {name: b-other-run, namespace: t, uid: 22222222-0000-4000-8000-000000000002}
spec:
  baselineProfileRef: {name: win11}
  operationRunRef: {name: capture}
status:
  state: Building
  summary: {subjectsTotal: 40, captured: 30, gaps: [{reason: FetchFailed, count: 20}]}
---
apiVersion: ops.tenantatlas.io/v1alpha1
kind: BaselineSnapshot
metadata: {name: c-unreadable, namespace: t, uid: 22222222-0000-4000-8000-000000000003}
spec:
  baselineProfileRef: {name: win11}
  operationRunRef: {name: capture, uid: 11111111-0000-4000-8000-000000000001}
status:
  state: Finalized
  summary: {subjectsTotal: forty}
---
apiVersion: ops.tenantatlas.io/v1alpha1
kind: BackupSet
metadata: {name: capture, namespace: t, uid: 33333333-0000-4000-8000-000000000001}
spec:
  backupScheduleRef: {name: nightly}
  operationRunRef: {name: capture, uid: 11111111-0000-4000-8000-000000000001}
status:
  state: Finalized
  summary: {itemsTotal: 5, succeeded: 5}
  failures: [{category: Throttled, message: slow}]
---
apiVersion: ops.tenantatlas.io/v1alpha1
kind: OperationRun
metadata:
  name: sync
  namespace: t
  uid: 11111111-0000-4000-8000-000000000002
  creationTimestamp: '2026-11-26T08:00:00Z'
spec:
  type: inventory.sync
  inventory: {policyTypes: [deviceConfiguration, compliancePolicy, appProtectionPolicy]}
status:
  phase: Running
  heartbeatTime: '2026-11-26T09:00:00Z'
  inventory:
    coverage:
    - {policyType: deviceConfiguration, state: Succeeded, itemCount: 3}
    - {policyType: deviceConfiguration, state: Failed}
    - {policyType: windowsUpdateRing, state: Succeeded}
"#;

#[test]
fn diagnostics_show_where_every_claim_and_coverage_entry_stands() {
    let f = fixture("standings.yaml", STANDINGS);
    let f = f.to_str().unwrap();
    let explain = |run: &str| {
        let out = oprun(&[
            "-f",
            f,
            "--now",
            NOW,
            "--reconcile",
            "explain",
            run,
            "--diagnostics",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let text = explain("capture");
    for line in [
        "  BackupSet capture (uid 33333333-0000-4000-8000-000000000001): not evidence: a BackupSet proves only backup.schedule.execute runs",
        "    Finalized: 5 succeeded, ? failed, ? skipped of 5 total",
        "  BaselineSnapshot a-other-profile (uid 22222222-0000-4000-8000-000000000001): out of scope: it names baseline profile win10, the run win11",
        "    Finalized: 30 captured of 40 total; gaps: MissingPermission 10; captured from cached inventory (fallback)",
        "  BaselineSnapshot b-other-run (uid 22222222-0000-4000-8000-000000000002): out of scope: it names no run uid; the run's uid is 11111111-0000-4000-8000-000000000001",
        "    Building: 30 captured of 40 total; gaps: FetchFailed 20 (the counts contradict themselves)",
        "  BaselineSnapshot c-unreadable (uid 22222222-0000-4000-8000-000000000003): in scope, named by the decision",
        "  BackupSet capture: Throttled: slow",
        "  Decided by rule 9 (the only in-scope claim is malformed).",
    ] {
        assert!(
            text.contains(&format!("{line}\n")),
            "no line {line:?} in:\n{text}"
        );
    }
    assert!(
        text.contains(
            "Finalized: ? captured of ? total; no gaps (unreadable fields: status.summary"
        ),
        "{text}"
    );

    let text = explain("sync");
    for line in [
        "  none: an inventory sync's evidence is its own coverage",
        "  deviceConfiguration: Succeeded, 3 items (ambiguous: more than one entry for this policy type)",
        "  deviceConfiguration: Failed (ambiguous: more than one entry for this policy type)",
        "  windowsUpdateRing: Succeeded (out of scope: not in spec.inventory.policyTypes)",
        "  appProtectionPolicy: no entry yet",
        "  compliancePolicy: no entry yet",
        "  coverage deviceConfiguration: (no category)",
        "  Decided by rule 3 (more than one in-scope claim).",
    ] {
        assert!(
            text.contains(&format!("{line}\n")),
            "no line {line:?} in:\n{text}"
        );
    }
}

#[test]
fn an_odd_run_is_explained_not_refused() {
    let f = fixture(
        "odd.yaml",
        "apiVersion: ops.tenantatlas.io/v1alpha1\nkind: OperationRun\nmetadata:\n  name: odd\n  namespace: t\n  creationTimestamp: '2026-11-26T08:00:00Z'\nspec:\n  type: backup.schedule.execute\n  backupScheduleRef: {name: nightly}\n  timeouts: {heartbeatSeconds: soon}\nstatus:\n  phase: Running\n  heartbeatTime: '2026-11-26T09:00:00Z'\n",
    );
    let args = [
        "-f",
        f.to_str().unwrap(),
        "--now",
        NOW,
        "--reconcile",
        "explain",
        "odd",
    ];
    let out = oprun(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Undecided: InvalidRun."),
        "{}",
        stdout(&out)
    );
    let mut args = args.to_vec();
    args.push("--diagnostics");
    let text = stdout(&oprun(&args));
    assert!(
        text.contains("Unreadable fields of the run:\n  spec.timeouts: "),
        "{text}"
    );
    assert!(text.contains("Decided by rule 2 ("), "{text}");
}

#[test]
fn bad_input_exits_2_and_prints_nothing() {
    let cases: Vec<Vec<String>> = vec![
        vec!["-f".into(), "/nonexistent/runs.yaml".into(), "list".into()],
        vec!["--now".into(), NOW.into(), "list".into()],
        vec!["--reconcile".into(), "list".into()],
        vec![
            "-f".into(),
            "x.yaml".into(),
            "--now".into(),
            "yesterday".into(),
            "list".into(),
        ],
        vec!["list".into(), "-A".into(), "-n".into(), "x".into()],
        vec!["explain".into()],
        vec![
            "--kubeconfig".into(),
            "/nonexistent/kubeconfig".into(),
            "list".into(),
        ],
    ];
    for args in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = oprun(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}: {}", stdout(&out));
        assert!(!stderr(&out).is_empty(), "{args:?}");
    }
    let broken = fixture("broken.yaml", "apiVersion: v1\nkind: [\n");
    let out = oprun(&["-f", broken.to_str().unwrap(), "list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("broken.yaml: document 1"),
        "{}",
        stderr(&out)
    );

    let f = fixture("unknown.yaml", DECIDED_THEN_COMPLETED);
    let out = oprun(&["-f", f.to_str().unwrap(), "explain", "missing-run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no OperationRun missing-run"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn an_unreachable_cluster_exits_1_and_prints_nothing() {
    let kubeconfig = fixture(
        "unreachable-kubeconfig",
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\ncontexts:\n- name: c\n  context: {cluster: c, user: u, namespace: team}\nusers:\n- name: u\n  user: {token: t}\n",
    );
    let out = oprun(&["--kubeconfig", kubeconfig.to_str().unwrap(), "list"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).starts_with("error: listing operationruns"),
        "{}",
        stderr(&out)
    );

    let out = oprun(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--context",
        "nope",
        "list",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
