//! The chart's Deployment and the controller binary it runs, tested where Cargo builds
//! that binary: the Deployment's args parsed by the controller's own parser and by the
//! binary, and the binary running with exactly those args under the chart's RBAC on a real
//! API server (docs/operating.md#rbac).
//!
//! The chart's other tests (rendering, RBAC, lint, install) are in `tests/testenv/tests/chart/`.
//! Needs the binaries of `tests/controlplane/build.sh`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use clap::{ArgAction, CommandFactory, Parser};
use operationrun_controller::cli::{Cli, Command as Subcommand, LogFormat, RunArgs};
use operationrun_core::args::DecisionArgs;
use serde_json::Value;
use testenv::ControlPlane;
use testenv::chart::{deployment_args, documents};
use testenv::controller::{Controller, Launch};

const BIN: &str = env!("CARGO_BIN_EXE_operationrun-controller");
const RELEASE: &str = "operationrun-controller";
const NS: &str = "operationrun-system";
const OPRUNS: &str = "operationruns.ops.tenantatlas.io";

/// Values that switch every optional part on, for tests that want to see it.
const HA_VALUES: &[&str] = &[
    "--set",
    "replicaCount=2",
    "--set",
    "watchNamespaces={tenant-a,tenant-b}",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The chart rendered by the pinned helm as `release` in `namespace`.
fn render(release: &str, namespace: &str, values: &[&str]) -> String {
    testenv::chart::render(release, namespace, values).unwrap_or_else(|e| panic!("{e}"))
}

/// `args` as the controller's own parser reads them; they must be `run`'s.
fn parse_run(args: &[String]) -> RunArgs {
    let argv = std::iter::once("operationrun-controller").chain(args.iter().map(String::as_str));
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Subcommand::Run(run),
        }) => run,
        Ok(other) => panic!("{args:?} is not `run`: {other:?}"),
        Err(e) => panic!("the controller refuses {args:?}:\n{e}"),
    }
}

/// The Deployment's args of the chart rendered with `values`, parsed.
fn run_args(values: &[&str]) -> RunArgs {
    let rendered = render(RELEASE, NS, values);
    parse_run(&deployment_args(&rendered).unwrap_or_else(|e| panic!("{values:?}: {e}")))
}

/// The one document of `kind` in a rendered chart.
fn one(docs: &[Value], kind: &str) -> Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    match found.as_slice() {
        [d] => (*d).clone(),
        other => panic!("expected one {kind}, found {}", other.len()),
    }
}

/// Runs `cmd`, feeding `stdin` if given.
fn output(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Runs `cmd` and returns its stdout; panics with stderr unless it succeeds.
fn run_ok(cmd: Command, stdin: Option<&str>) -> String {
    let debug = format!("{cmd:?}");
    let out = output(cmd, stdin);
    assert!(
        out.status.success(),
        "{debug} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

// --- the Deployment's args are the binary's flags ----------------------------

/// With default values the decision flags, the concurrency and the log level are the
/// binary's own defaults (one definition: `operationrun_core::args::DecisionArgs`); the
/// chart picks JSON logs, serves on the container port it probes and names the Lease its
/// RBAC grants. Every value reaches its flag, and the real parser accepts them all.
#[test]
fn deployment_args_are_flags_of_run() {
    let rendered = render(RELEASE, NS, &[]);
    let docs = documents(&rendered).unwrap_or_else(|e| panic!("{e}"));
    let run = parse_run(&deployment_args(&rendered).unwrap_or_else(|e| panic!("{e}")));
    let defaults = parse_run(&["run".to_string()]);
    assert_eq!(run.flags, DecisionArgs::default());
    assert_eq!(run.flags, defaults.flags);
    assert_eq!(run.concurrency, defaults.concurrency);
    assert_eq!(run.log_level, defaults.log_level);
    assert_eq!(run.event_qps, defaults.event_qps);
    assert_eq!(run.event_queue, defaults.event_queue);
    assert_eq!(run.request_timeout, defaults.request_timeout);
    assert_eq!(run.unsynced_timeout, defaults.unsynced_timeout);
    assert_eq!(run.log_format, LogFormat::Json);
    assert!(run.namespaces.is_empty(), "{:?}", run.namespaces);
    assert!(!run.dry_run);
    assert!(!run.no_leader_election);
    // The Lease's namespace is the pod's (POD_NAMESPACE, from the downward API), not an arg.
    assert_eq!(run.lease_namespace, std::env::var("POD_NAMESPACE").ok());
    let container = &one(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        Some(u64::from(run.http_addr.port())),
        container["ports"][0]["containerPort"].as_u64(),
        "the port probed and scraped is the one served"
    );
    assert!(run.http_addr.ip().is_unspecified(), "{}", run.http_addr);
    let lease_names: Vec<Value> = docs
        .iter()
        .filter(|d| d["kind"] == "Role")
        .flat_map(|r| r["rules"].as_array().cloned().unwrap_or_default())
        .filter(|rule| rule["resources"] == serde_json::json!(["leases"]))
        .filter_map(|rule| rule.get("resourceNames").cloned())
        .collect();
    assert_eq!(
        lease_names,
        [serde_json::json!([run.lease_name])],
        "the Lease the controller takes is the one the chart lets it update"
    );

    let run = run_args(&[
        "--set",
        "watchNamespaces={tenant-a,tenant-b}",
        "--set",
        "leaderElection.enabled=false",
        "--set",
        "dryRun=true",
        "--set",
        "timeouts.queuedSeconds=60",
        "--set",
        "timeouts.heartbeatSeconds=30",
        "--set",
        "timeouts.abandonAfterSeconds=0",
        "--set",
        "metrics.port=9090",
        "--set",
        "logFormat=text",
        "--set",
        "logLevel=debug",
        "--set",
        "concurrency=16",
        "--set",
        "events.qps=50",
        "--set",
        "events.queue=4096",
        "--set",
        "requestTimeoutSeconds=30",
        "--set",
        "unsyncedTimeoutSeconds=600",
    ]);
    assert_eq!(run.namespaces, ["tenant-a", "tenant-b"]);
    assert!(run.no_leader_election);
    assert!(run.dry_run);
    assert_eq!(
        run.flags,
        DecisionArgs {
            queued_timeout: 60,
            heartbeat_timeout: 30,
            abandon_after: 0,
        }
    );
    assert_eq!(run.http_addr.port(), 9090);
    assert_eq!(run.log_format, LogFormat::Text);
    assert_eq!(run.log_level, "debug");
    assert_eq!(run.concurrency, 16);
    assert_eq!(run.event_qps, 50);
    assert_eq!(run.event_queue, 4096);
    assert_eq!(run.request_timeout, 30);
    assert_eq!(run.unsynced_timeout, 600);

    // Large values are not printed in float notation, which the parser would refuse.
    let run = run_args(&[
        "--set",
        "timeouts.abandonAfterSeconds=31536000",
        "--set",
        "leaderElection.leaseName=oprun-leader",
    ]);
    assert_eq!(run.flags.abandon_after, 31_536_000);
    assert_eq!(run.lease_name, "oprun-leader");

    // A log filter, not only a level, reaches --log-level whole.
    let run = run_args(&["--set-string", r"logLevel=info\,kube_runtime=debug"]);
    assert_eq!(run.log_level, "info,kube_runtime=debug");
}

/// A value file of the chart's `ci/` (the matrix scripts/check-manifests.sh lints).
fn ci_values(name: &str) -> String {
    let path = repo_root().join(format!(
        "charts/operationrun-controller/ci/{name}-values.yaml"
    ));
    assert!(path.is_file(), "{}", path.display());
    path.to_str().unwrap().to_string()
}

/// The long flags of `run`, as the parser defines them (`--help` left out).
fn run_flags() -> Vec<String> {
    let mut cli = Cli::command();
    cli.build();
    let run = cli.find_subcommand("run").expect("the run subcommand");
    run.get_arguments()
        .filter(|a| !matches!(a.get_action(), ArgAction::Help | ArgAction::Version))
        .map(|a| format!("--{}", a.get_long().expect("a long flag")))
        .collect()
}

/// Every flag of `run` has a chart value that passes it (the Lease namespace comes from
/// the pod's POD_NAMESPACE instead): a flag added to the controller fails this test until
/// the chart has a value for it.
#[test]
fn every_run_flag_is_set_by_a_value() {
    let by_value: &[(&str, &[&str])] = &[
        ("--namespace", &["--set", "watchNamespaces={tenant-a}"]),
        ("--lease-name", &[]),
        (
            "--no-leader-election",
            &["--set", "leaderElection.enabled=false"],
        ),
        ("--dry-run", &["--set", "dryRun=true"]),
        ("--queued-timeout", &[]),
        ("--heartbeat-timeout", &[]),
        ("--abandon-after", &[]),
        ("--http-addr", &[]),
        ("--log-format", &[]),
        ("--log-level", &[]),
        ("--concurrency", &[]),
        ("--event-qps", &[]),
        ("--event-queue", &[]),
        ("--request-timeout", &[]),
        ("--unsynced-timeout", &[]),
    ];
    let mut expected: Vec<String> = by_value.iter().map(|(f, _)| f.to_string()).collect();
    expected.push("--lease-namespace".to_string());
    expected.sort();
    let mut flags = run_flags();
    flags.sort();
    assert_eq!(
        flags, expected,
        "the flags of `run` and those the chart passes differ: give a new flag a value"
    );
    for (flag, values) in by_value {
        let args = deployment_args(&render(RELEASE, NS, values)).unwrap();
        assert!(
            args.iter()
                .any(|a| a == flag || a.starts_with(&format!("{flag}="))),
            "{values:?} does not pass {flag}: {args:?}"
        );
        parse_run(&args);
    }
    // --lease-namespace: the pod's own namespace, from the downward API.
    let docs = documents(&render(RELEASE, NS, &[])).unwrap();
    let deployment = one(&docs, "Deployment");
    let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
    let pod_namespace = env
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "POD_NAMESPACE")
        .expect("POD_NAMESPACE");
    assert_eq!(
        pod_namespace["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
}

/// extraArgs come last and reach the parser; no extraArgs can repeat a flag the chart
/// passes (the controller would refuse to start) or take the Lease or the namespaces away
/// from the chart's RBAC: the render fails on every flag of `run` but one the chart does
/// not pass with these values.
#[test]
fn extra_args_reach_the_parser() {
    let all = ci_values("all");
    let run = run_args(&["--values", &all]);
    assert!(run.dry_run, "extraArgs' --dry-run");
    assert_eq!(run.event_qps, 50);
    assert_eq!(run.event_queue, 4096);
    assert_eq!(run.request_timeout, 10);
    assert_eq!(run.unsynced_timeout, 300);
    assert_eq!(run.concurrency, 16);
    assert_eq!(run.log_level, "info,kube_runtime=warn");
    assert_eq!(run.http_addr.port(), 9090);

    for flag in run_flags() {
        let extra = format!("extraArgs={{{flag}}}");
        let refused = |values: &[&str]| {
            let mut values = values.to_vec();
            values.extend(["--set", extra.as_str()]);
            testenv::chart::render(RELEASE, NS, &values).is_err()
        };
        assert_eq!(
            refused(&[]),
            flag != "--dry-run",
            "extraArgs {flag} with default values"
        );
        assert!(
            refused(&["--set", "dryRun=true"]),
            "extraArgs {flag} with dryRun"
        );
    }
}

/// The binary itself: `operationrun-controller <args> --help` parses every argument before
/// `--help` (an unknown flag or a bad value exits 2) and then prints help without starting
/// anything.
#[test]
fn deployment_args_parse_with_the_controller_binary() {
    let variants: &[&[&str]] = &[
        &[],
        HA_VALUES,
        &[
            "--set",
            "leaderElection.enabled=false",
            "--set",
            "dryRun=true",
            "--set",
            "logFormat=text",
            "--set",
            "logLevel=debug",
            "--set",
            "concurrency=64",
            "--set",
            "timeouts.abandonAfterSeconds=0",
            "--set",
            "metrics.port=9090",
        ],
    ];
    let ci: Vec<[String; 2]> = [
        "all",
        "openshift",
        "existing-serviceaccount",
        "namespaced",
        "ha",
    ]
    .iter()
    .map(|name| ["--values".to_string(), ci_values(name)])
    .collect();
    let ci: Vec<Vec<&str>> = ci
        .iter()
        .map(|a| a.iter().map(String::as_str).collect())
        .collect();
    for values in variants.iter().copied().chain(ci.iter().map(Vec::as_slice)) {
        let args = deployment_args(&render(RELEASE, NS, values)).unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = Command::new(BIN);
        cmd.args(&args).arg("--help");
        let out = output(cmd, None);
        assert!(
            out.status.success(),
            "{values:?}: the binary refuses {args:?}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The check has teeth: a value the binary refuses fails it.
    let mut cmd = Command::new(BIN);
    cmd.args(["run", "--concurrency=65", "--help"]);
    assert_eq!(output(cmd, None).status.code(), Some(2));
}

// --- the real binary under the chart's RBAC ----------------------------------

/// `GET path` on the controller: the status code, if anything answered.
async fn status(controller: &Controller, path: &str) -> Option<u16> {
    controller.get(path).await.ok().map(|(code, _)| code)
}

fn kubectl_apply(cp: &ControlPlane, manifest: &str) -> String {
    let mut cmd = cp.kubectl();
    cmd.args([
        "apply",
        "--server-side",
        "--field-manager=chart-test",
        "--validate=strict",
        "-f",
        "-",
    ]);
    run_ok(cmd, Some(manifest))
}

async fn get_json(cp: &ControlPlane, args: &[&str]) -> Option<Value> {
    let mut cmd = cp.kubectl();
    cmd.args(["get"])
        .args(args)
        .args(["-o", "json", "--ignore-not-found"]);
    let out = run_ok(cmd, None);
    (!out.trim().is_empty()).then(|| serde_json::from_str(&out).unwrap())
}

/// Polls `check` every 200 ms for up to 60 s.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    controller: &Controller,
    mut check: impl FnMut() -> F,
) -> T {
    for _ in 0..300 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!(
        "timed out waiting for {what}; controller log:\n{}",
        controller.log()
    );
}

/// A run of a family this controller does not decide, stale one second after
/// creation: the controller must mark it Stale and refuse it (rule 1), which
/// takes a watch, a status patch and an Event.
fn stale_run(ns: &str, name: &str) -> String {
    serde_json::json!({
        "apiVersion": "ops.tenantatlas.io/v1alpha1",
        "kind": "OperationRun",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "policy.sync", "timeouts": {"queuedSeconds": 1}},
    })
    .to_string()
}

/// Runs the controller binary with exactly the Deployment's args, as the
/// chart's ServiceAccount (a real token), both cluster-wide and with
/// `watchNamespaces`: it becomes leader on its Lease, serves its probes, marks
/// and decides a stale run, emits an Event, releases the Lease on SIGTERM, and
/// the API server never refuses it anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_runs_with_the_chart_rbac() {
    let cp = ControlPlane::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let scratch = tempfile::tempdir().expect("scratch directory");
    let manifest =
        std::fs::read_to_string(repo_root().join("deploy/operationrun-controller.yaml")).unwrap();
    kubectl_apply(&cp, &manifest);
    let mut cmd = cp.kubectl();
    cmd.args(["wait", "--for=condition=Established", "--timeout=60s"])
        .args(["crd", OPRUNS]);
    run_ok(cmd, None);
    for ns in ["operationrun-ha", "tenant-a", "tenant-b"] {
        let mut cmd = cp.kubectl();
        cmd.args(["create", "namespace", ns]);
        run_ok(cmd, None);
    }
    // Two releases over the same namespaces would refuse each other's condition writes
    // through their admission policies: the second one here has none, and the first one's
    // binding is deleted once its controller has been checked.
    let ha_args = [HA_VALUES, &["--set", "admissionPolicy.enabled=false"]].concat();
    let ha = render("oprun-ha", "operationrun-ha", &ha_args);
    kubectl_apply(&cp, &ha);

    let setups = [
        // (release namespace, ServiceAccount, rendered chart, run namespace)
        (NS, "operationrun-controller", manifest, "tenant-a"),
        (
            "operationrun-ha",
            "oprun-ha-operationrun-controller",
            ha,
            "tenant-b",
        ),
    ];
    for (namespace, sa, rendered, run_ns) in setups {
        let token = cp.service_account_token(namespace, sa).await.unwrap();
        let kubeconfig = cp.kubeconfig_for_token(&token).unwrap();
        let args = deployment_args(&rendered).expect("the Deployment's args");
        let lease_name = parse_run(&args).lease_name;
        // Exactly the Deployment's args (only the port made free for parallel tests), as
        // the ServiceAccount's token, with the downward-API environment the chart gives the
        // pod; ready once /readyz, the readiness probe, answers 200.
        let mut controller = Launch::new(BIN)
            .args(args)
            .kubeconfig(&kubeconfig)
            .env("POD_NAMESPACE", namespace)
            .env("POD_NAME", format!("{namespace}-pod-0"))
            .log(scratch.path().join(format!("{namespace}.log")))
            .start()
            .await
            .unwrap_or_else(|e| panic!("the controller starts: {e}"));
        assert_eq!(status(&controller, "/healthz").await, Some(200));
        assert_eq!(status(&controller, "/metrics").await, Some(200));

        // Leader on its Lease, as POD_NAME.
        let holder = format!("{namespace}-pod-0");
        eventually("the Lease", &controller, || async {
            let lease = get_json(&cp, &["lease", &lease_name, "-n", namespace]).await?;
            (lease["spec"]["holderIdentity"] == holder.as_str()).then_some(())
        })
        .await;

        // A stale run is marked and refused (UnsupportedFamily), with an Event.
        let mut cmd = cp.kubectl();
        cmd.args(["create", "-f", "-"]);
        run_ok(cmd, Some(&stale_run(run_ns, "stale-1")));
        let run = eventually("the run's conditions", &controller, || async {
            let run = get_json(&cp, &["operationrun", "stale-1", "-n", run_ns]).await?;
            let conds = run["status"]["conditions"].as_array()?.clone();
            conds
                .iter()
                .any(|c| c["type"] == "Reconciled")
                .then_some(conds)
        })
        .await;
        let reason = |t: &str| {
            run.iter()
                .find(|c| c["type"] == t)
                .map(|c| c["reason"].clone())
        };
        assert_eq!(reason("Stale"), Some("QueuedTooLong".into()), "{run:?}");
        assert_eq!(
            reason("Reconciled"),
            Some("UnsupportedFamily".into()),
            "{run:?}"
        );
        eventually("an Event on the run", &controller, || async {
            let events = get_json(&cp, &["events.events.k8s.io", "-n", run_ns]).await?;
            events["items"]
                .as_array()?
                .iter()
                .any(|e| e["regarding"]["name"] == "stale-1")
                .then_some(())
        })
        .await;

        // SIGTERM: a clean exit that releases the Lease.
        let exit = controller
            .terminate()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(exit.success(), "{exit}:\n{}", controller.log());
        let lease = get_json(&cp, &["lease", &lease_name, "-n", namespace])
            .await
            .unwrap();
        assert!(
            lease["spec"]["holderIdentity"].is_null(),
            "Lease not released: {lease}\n{}",
            controller.log()
        );

        // Never refused: the chart grants all it uses.
        let user = format!("system:serviceaccount:{namespace}:{sa}");
        let requests: Vec<Value> = cp
            .audit_events()
            .unwrap()
            .into_iter()
            .filter(|e| e["user"]["username"] == user.as_str())
            .collect();
        assert!(
            requests.iter().any(|e| e["verb"] == "patch"
                && e["objectRef"]["subresource"] == "status"
                && e["responseStatus"]["code"] == 200),
            "no status patch by {user} in the audit log"
        );
        let denied: Vec<String> = requests
            .iter()
            .filter(|e| e["responseStatus"]["code"] == 403)
            .map(|e| format!("{} {}", e["verb"], e["requestURI"]))
            .collect();
        assert!(
            denied.is_empty(),
            "{user} was refused:\n{}",
            denied.join("\n")
        );
        let mut cmd = cp.kubectl();
        cmd.args(["delete", "validatingadmissionpolicybinding", "--all"]);
        run_ok(cmd, None);
        // …and out of force (a moment later) before the next controller writes: a
        // server-side dry run of a write by someone other than the controller (the
        // admin) is no longer refused.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let mut cmd = cp.kubectl();
            cmd.args(["patch", "operationrun", "stale-1", "-n", run_ns])
                .args(["--subresource=status", "--type=merge", "--dry-run=server"])
                .args([
                    "-p",
                    r#"{"status":{"conditions":[{"type":"Stale","status":"Unknown"}]}}"#,
                ]);
            let out = output(cmd, None);
            if out.status.success() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}
