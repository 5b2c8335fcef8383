//! The Helm chart (`charts/operationrun-controller`) and the static install
//! manifest (`deploy/operationrun-controller.yaml`): rendered with the pinned
//! helm, linted, checked against docs/operating.md (RBAC, hardening), and
//! applied to a real kube-apiserver, where RBAC is asked with
//! `kubectl auth can-i` and Pod Security admission judges the pod.
//!
//! The value sets of `charts/operationrun-controller/ci/` are the matrix that
//! scripts/check-manifests.sh lints, validates (kubeconform) and scores (kube-score); here
//! each is rendered and checked for what it does.
//!
//! The chart's Deployment args and the controller binary running under the chart's
//! RBAC are tested where Cargo builds that binary: `controller/tests/chart.rs`.
//!
//! Needs the binaries of `tests/controlplane/build.sh`.

mod cluster;
mod lint;
mod rbac;
mod render;
mod values;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use testenv::ControlPlane;

const RELEASE: &str = "operationrun-controller";
const NS: &str = "operationrun-system";
const SA: &str = "system:serviceaccount:operationrun-system:operationrun-controller";

/// Values that switch every optional part on, for tests that want to see it.
const HA_VALUES: &[&str] = &[
    "--set",
    "replicaCount=2",
    "--set",
    "watchNamespaces={tenant-a,tenant-b}",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn chart_dir() -> PathBuf {
    testenv::chart::chart_dir()
}

/// The value files of `ci/` (`*-values.yaml`), sorted.
fn ci_value_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart_dir().join("ci"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("-values.yaml"))
        .collect();
    files.sort();
    files
}

fn bin(name: &str) -> PathBuf {
    let path = testenv::bin_dir().unwrap().join(name);
    assert!(
        path.is_file(),
        "{} missing: build it with tests/controlplane/build.sh",
        path.display()
    );
    path
}

/// A scratch directory removed on drop (helm's homes, rendered files).
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "oprun-chart-{what}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `helm` with its cache, config and data homes in `scratch` (never `~`).
fn helm(scratch: &Scratch) -> Command {
    let mut cmd = Command::new(bin("helm"));
    cmd.env("HELM_CACHE_HOME", scratch.0.join("cache"))
        .env("HELM_CONFIG_HOME", scratch.0.join("config"))
        .env("HELM_DATA_HOME", scratch.0.join("data"));
    cmd
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

/// `helm template RELEASE chart --namespace NS ARGS…`: Ok(stdout) or Err(helm's message).
fn try_render(release: &str, namespace: &str, args: &[&str]) -> Result<String, String> {
    testenv::chart::render(release, namespace, args).map_err(|e| e.to_string())
}

fn render(args: &[&str]) -> String {
    try_render(RELEASE, NS, args).unwrap_or_else(|e| panic!("helm template {args:?}: {e}"))
}

/// The documents of a multi-document YAML stream, empty ones left out.
fn docs(yaml: &str) -> Vec<Value> {
    testenv::chart::documents(yaml).unwrap_or_else(|e| panic!("{e}"))
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    match of_kind(docs, kind).as_slice() {
        [d] => d,
        other => panic!("expected one {kind}, found {}", other.len()),
    }
}

fn container(docs: &[Value]) -> Value {
    let deploy = one(docs, "Deployment");
    let containers = deploy["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1);
    containers[0].clone()
}
