//! Plays the worker: applies example manifests to a real API server the way a platform's
//! workers would — runs first, then artifacts naming the runs' real UIDs, then status
//! through the status subresource — with every timestamp shifted by (now − the examples'
//! reference time), so the examples go stale on a real clock as they do offline.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

use crate::{Error, Result};

/// The time the bundled examples are written against.
pub const EXAMPLES_REFERENCE: &str = "2026-11-26T12:00:00Z";

/// The identity conditions an example says the controller wrote earlier are written as: the
/// chart's ServiceAccount with default values in `operationrun-system`, since the chart's
/// admission policy lets no one else write them (the admin impersonates it).
pub const CONTROLLER_USER: &str =
    "system:serviceaccount:operationrun-system:operationrun-controller";

const GROUP: &str = "ops.tenantatlas.io";
const VERSION: &str = "v1alpha1";
const TIME_FIELDS: &[&str] = &[
    "startedAt",
    "heartbeatTime",
    "completedAt",
    "lastTransitionTime",
];

/// What was applied: the runs by (namespace, name), and example uid → real uid.
#[derive(Debug, Default)]
pub struct Applied {
    /// Every OperationRun applied.
    pub runs: Vec<(String, String)>,
    /// The example's run uids, by namespace, mapped to the UIDs the API server assigned.
    pub uids: HashMap<(String, String), String>,
    /// Status writes the API server refused as invalid (422), as (kind, namespace, name,
    /// message): objects impossible on their face, which admission keeps out of a cluster.
    pub rejected_status: Vec<(String, String, String, String)>,
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::Invalid(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads every object of the project's group under `path` (a file or a directory).
pub fn read_objects(path: &Path) -> Result<Vec<Value>> {
    let mut list = Vec::new();
    if path.is_dir() {
        files(path, &mut list)?;
    } else {
        list.push(path.to_path_buf());
    }
    let mut objects = Vec::new();
    for file in list {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| Error::Invalid(format!("{}: {e}", file.display())))?;
        for doc in serde_norway::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(doc)
                .map_err(|e| Error::Invalid(format!("{}: {e}", file.display())))?;
            if value["apiVersion"].as_str() == Some(&format!("{GROUP}/{VERSION}")) {
                objects.push(value);
            }
        }
    }
    Ok(objects)
}

fn shift_times(value: &mut Value, by: SignedDuration) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if TIME_FIELDS.contains(&key.as_str()) {
                    if let Some(t) = v.as_str().and_then(|s| s.parse::<Timestamp>().ok())
                        && let Ok(shifted) = t.checked_add(by)
                    {
                        *v = Value::String(shifted.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
                    }
                } else {
                    shift_times(v, by);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| shift_times(v, by)),
        _ => {}
    }
}

fn api(client: &Client, kind: &str, namespace: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(GROUP, VERSION, kind));
    Api::namespaced_with(client.clone(), namespace, &ar)
}

/// Applies the objects under `path` as workers would; `now` is the cluster's present.
pub async fn apply(client: &Client, path: &Path, now: Timestamp) -> Result<Applied> {
    let reference: Timestamp = EXAMPLES_REFERENCE
        .parse()
        .map_err(|e| Error::Invalid(format!("reference time: {e}")))?;
    let shift = now.duration_since(reference);
    let objects = read_objects(path)?;
    let namespaces: BTreeSet<String> = objects
        .iter()
        .filter_map(|o| o["metadata"]["namespace"].as_str().map(String::from))
        .collect();
    let ns_api: Api<Namespace> = Api::all(client.clone());
    for ns in &namespaces {
        if ns_api.get_opt(ns).await?.is_none() {
            let object: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))
                .map_err(|e| Error::Invalid(e.to_string()))?;
            ns_api.create(&PostParams::default(), &object).await?;
        }
    }
    let mut applied = Applied::default();
    let ordered = ["OperationRun", "BackupSet", "BaselineSnapshot"];
    // creation: runs first, then artifacts naming the runs' real UIDs
    for kind in ordered {
        for object in objects.iter().filter(|o| o["kind"] == kind) {
            let ns = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default");
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            let mut spec = object["spec"].clone();
            if let Some(uid) = spec["operationRunRef"]["uid"].as_str()
                && let Some(real) = applied.uids.get(&(ns.to_string(), uid.to_string()))
            {
                spec["operationRunRef"]["uid"] = Value::String(real.clone());
            }
            let mut metadata = json!({"name": name, "namespace": ns});
            for field in ["labels", "annotations"] {
                if let Some(v) = object["metadata"].get(field) {
                    metadata[field] = v.clone();
                }
            }
            let body: DynamicObject = serde_json::from_value(json!({
                "apiVersion": format!("{GROUP}/{VERSION}"), "kind": kind, "metadata": metadata, "spec": spec,
            }))
            .map_err(|e| Error::Invalid(e.to_string()))?;
            let created = api(client, kind, ns)
                .create(&PostParams::default(), &body)
                .await?;
            if kind == "OperationRun" {
                applied.runs.push((ns.to_string(), name.to_string()));
                if let (Some(example), Some(real)) =
                    (object["metadata"]["uid"].as_str(), created.metadata.uid)
                {
                    applied
                        .uids
                        .insert((ns.to_string(), example.to_string()), real);
                }
            }
        }
    }
    // status, through the status subresource: the worker's fields by merge patch; conditions
    // an example says the controller wrote earlier, by the controller's own apply, as the
    // controller's ServiceAccount
    for kind in ordered {
        for object in objects.iter().filter(|o| o["kind"] == kind) {
            let ns = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default");
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            let Some(mut status) = object.get("status").cloned() else {
                continue;
            };
            shift_times(&mut status, shift);
            let conditions = status.as_object_mut().and_then(|s| s.remove("conditions"));
            let api = api(client, kind, ns);
            match api
                .patch_status(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": status})),
                )
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 422 => {
                    let refused = (
                        kind.to_string(),
                        ns.to_string(),
                        name.to_string(),
                        s.message,
                    );
                    applied.rejected_status.push(refused);
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            if let Some(conditions) = conditions {
                let body = json!({
                    "apiVersion": format!("{GROUP}/{VERSION}"), "kind": kind,
                    "metadata": {"name": name, "namespace": ns},
                    "status": {"conditions": conditions},
                });
                let mut request = kube::core::Request::new(api.resource_url())
                    .patch_subresource(
                        "status",
                        name,
                        &PatchParams::apply("operationrun-controller").force(),
                        &Patch::Apply(&body),
                    )
                    .map_err(|e| Error::Invalid(format!("status apply of {ns}/{name}: {e}")))?;
                request.headers_mut().insert(
                    "Impersonate-User",
                    http::HeaderValue::from_static(CONTROLLER_USER),
                );
                client.request::<DynamicObject>(request).await?;
            }
        }
    }
    Ok(applied)
}
