//! The Helm chart (`charts/operationrun-controller`) rendered with the pinned helm, and
//! read: its documents, the Deployment's args, its RBAC. Tests start the controller and
//! grant it permissions exactly as the chart would, instead of keeping copies.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde::Deserialize;
use serde_json::Value;

use crate::{Error, Result, client_bin_dir, io_err};

/// The kinds of the chart's identity and permissions: what a test applies to act as the
/// controller would in a cluster.
pub const RBAC_KINDS: &[&str] = &[
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
];

/// The chart's directory in this repository.
pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/operationrun-controller")
}

/// `helm template RELEASE <chart> --namespace NAMESPACE ARGS…` with the pinned helm of
/// [`client_bin_dir`], its cache, config and data homes in a temporary directory (never `~`).
/// Nothing asks a cluster. Helm's error output is in the error.
pub fn render(release: &str, namespace: &str, args: &[&str]) -> Result<String> {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let home = std::env::temp_dir().join(format!(
        "oprun-helm-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let helm = client_bin_dir()?.join("helm");
    let out = Command::new(&helm)
        .arg("template")
        .arg(release)
        .arg(chart_dir())
        .args(["--namespace", namespace])
        .args(args)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .stdin(Stdio::null())
        .output()
        .map_err(io_err(format!(
            "running {} (build it with tests/controlplane/build.sh)",
            helm.display()
        )));
    let _ = std::fs::remove_dir_all(&home);
    let out = out?;
    if !out.status.success() {
        return Err(Error::Invalid(format!(
            "helm template {release} {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    String::from_utf8(out.stdout)
        .map_err(|e| Error::Invalid(format!("helm template printed non-UTF-8: {e}")))
}

/// The documents of a multi-document YAML stream (a rendered chart), empty ones left out.
pub fn documents(manifest: &str) -> Result<Vec<Value>> {
    let mut docs = Vec::new();
    for doc in serde_norway::Deserializer::from_str(manifest) {
        let value =
            Value::deserialize(doc).map_err(|e| Error::Invalid(format!("rendered chart: {e}")))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// The ServiceAccount and RBAC objects ([`RBAC_KINDS`]) of a rendered chart, in that order.
pub fn rbac(manifest: &str) -> Result<Vec<Value>> {
    let docs = documents(manifest)?;
    Ok(RBAC_KINDS
        .iter()
        .flat_map(|kind| docs.iter().filter(move |d| d["kind"] == *kind))
        .cloned()
        .collect())
}

/// The container args of the one Deployment in a rendered manifest stream.
pub fn deployment_args(manifest: &str) -> Result<Vec<String>> {
    let docs = documents(manifest)?;
    let mut deployments = docs.iter().filter(|d| d["kind"] == "Deployment");
    let deployment = deployments
        .next()
        .ok_or_else(|| Error::Invalid("the rendered chart has no Deployment".into()))?;
    if deployments.next().is_some() {
        return Err(Error::Invalid(
            "the rendered chart has more than one Deployment".into(),
        ));
    }
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .ok_or_else(|| Error::Invalid("the Deployment has no containers".into()))?;
    let [container] = containers.as_slice() else {
        return Err(Error::Invalid(format!(
            "the Deployment has {} containers, not one",
            containers.len()
        )));
    };
    let args = container["args"]
        .as_array()
        .ok_or_else(|| Error::Invalid("the Deployment's container has no args".into()))?;
    args.iter()
        .map(|a| {
            a.as_str()
                .map(String::from)
                .ok_or_else(|| Error::Invalid(format!("a container arg is not a string: {a}")))
        })
        .collect()
}
