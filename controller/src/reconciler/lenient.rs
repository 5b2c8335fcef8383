//! Objects as the caches keep them: read leniently (one odd object never breaks the watch of
//! its kind) and pruned to what a decision reads, so that 10,000 runs and their artifacts
//! fit in a small memory.

use std::borrow::Cow;
use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use operationrun_crds::{Parsed, RECONCILE_ANNOTATION, Salvage};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An object of kind `K`, read with [`Salvage`] and pruned: metadata keeps only identity,
/// versions, the creation time and the opt-out annotation.
#[derive(Clone, Debug)]
pub struct Lenient<K>(pub Parsed<K>);

/// Drops what no decision reads from an object's metadata, before it is parsed.
fn prune(value: &mut Value) {
    let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    for field in [
        "managedFields",
        "labels",
        "ownerReferences",
        "finalizers",
        "generateName",
        "selfLink",
    ] {
        meta.remove(field);
    }
    let keep = meta
        .get("annotations")
        .and_then(|a| a.get(RECONCILE_ANNOTATION))
        .cloned();
    meta.remove("annotations");
    if let Some(v) = keep {
        let mut annotations = serde_json::Map::new();
        annotations.insert(RECONCILE_ANNOTATION.to_string(), v);
        meta.insert("annotations".into(), Value::Object(annotations));
    }
}

impl<K: Salvage + Default + Resource> Lenient<K> {
    /// Reads a JSON value; never fails: an object whose metadata cannot be read is kept
    /// nameless, with the problem recorded, and is then left alone by the controller.
    pub fn from_value(mut value: Value) -> Self {
        prune(&mut value);
        match K::salvage(&value) {
            Ok(parsed) => Lenient(parsed),
            Err(problem) => Lenient(Parsed {
                object: K::default(),
                problem: Some(problem),
            }),
        }
    }
}

impl<'de, K: Salvage + Default + Resource> Deserialize<'de> for Lenient<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Lenient::from_value)
    }
}

impl<K> Resource for Lenient<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
{
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        self.0.object.meta()
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        self.0.object.meta_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use operationrun_crds::{BackupSet, OperationRun};
    use serde_json::json;

    #[test]
    fn keeps_what_decisions_read_and_drops_the_rest() {
        let run: Lenient<OperationRun> = serde_json::from_value(json!({
            "apiVersion": "ops.tenantatlas.io/v1alpha1", "kind": "OperationRun",
            "metadata": {"name": "r", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                "labels": {"a": "b"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{…}",
                                RECONCILE_ANNOTATION: "disabled"},
                "managedFields": [{"manager": "w"}]},
            "spec": {"type": "inventory.sync"},
            "status": {"phase": "Running", "heartbeatTime": "2026-11-26T10:00:00Z"}
        }))
        .map_err(|e| e.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
        let meta = &run.0.object.metadata;
        assert_eq!(meta.name.as_deref(), Some("r"));
        assert_eq!(meta.resource_version.as_deref(), Some("7"));
        assert!(meta.labels.is_none());
        assert!(meta.managed_fields.is_none());
        let annotations = meta.annotations.clone().unwrap_or_default();
        assert_eq!(annotations.len(), 1);
        assert_eq!(
            annotations.get(RECONCILE_ANNOTATION).map(String::as_str),
            Some("disabled")
        );
        assert!(run.0.problem.is_none());
    }

    #[test]
    fn an_unreadable_artifact_is_kept_with_its_problem_and_its_run() {
        let set: Lenient<BackupSet> = serde_json::from_value(json!({
            "metadata": {"name": "s", "namespace": "ns"},
            "spec": {"operationRunRef": {"name": "r", "uid": 5}},
            "status": {"summary": {"succeeded": "many"}}
        }))
        .map_err(|e| e.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(set.0.problem.is_some());
        let reference = set
            .0
            .object
            .spec
            .operation_run_ref
            .clone()
            .unwrap_or_default();
        assert_eq!(reference.name, "r");
    }
}
