//! The only writes the controller makes: one server-side apply of the run's own status
//! conditions, preconditioned on the observed resourceVersion, and one Event per transition.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use operationrun_crds::{API_VERSION, ArtifactRef, RunCondition};
use serde_json::json;

use operationrun_core::decide::{ConditionType, Transition};

/// Field manager of every status write.
pub const FIELD_MANAGER: &str = "operationrun-controller";

/// The minimal apply body: identity, the observed resourceVersion, and the controller's
/// conditions — never the cached object.
pub fn apply_body(
    name: &str,
    namespace: &str,
    resource_version: &str,
    conditions: &[RunCondition],
) -> serde_json::Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "OperationRun",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": resource_version},
        "status": {"conditions": conditions},
    })
}

/// Applies the conditions; a 409 means the run changed since it was observed.
pub async fn write_conditions(
    api: &Api<DynamicObject>,
    name: &str,
    namespace: &str,
    resource_version: &str,
    conditions: &[RunCondition],
) -> Result<(), kube::Error> {
    let body = apply_body(name, namespace, resource_version, conditions);
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(|_| ())
}

/// Whether an API error is a conflict (the precondition failed).
pub fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.code == 409)
}

fn artifact_reference(namespace: &str, artifact: &ArtifactRef) -> ObjectReference {
    ObjectReference {
        api_version: Some(API_VERSION.to_string()),
        kind: Some(artifact.kind.clone()),
        name: Some(artifact.name.clone()),
        namespace: Some(namespace.to_string()),
        uid: Some(artifact.uid.clone()).filter(|u| !u.is_empty()),
        ..Default::default()
    }
}

/// Publishes one Event for a transition, with the first related artifact as `related`.
pub async fn publish(
    recorder: &Recorder,
    run: &ObjectReference,
    transition: &Transition,
) -> Result<(), kube::Error> {
    let namespace = run.namespace.clone().unwrap_or_default();
    let event = Event {
        type_: if transition.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: transition.reason.clone(),
        note: Some(operationrun_core::decide::cap_bytes(
            &transition.message,
            1024,
        )),
        action: match transition.condition {
            ConditionType::Stale => "MarkStale",
            ConditionType::Reconciled => "Decide",
        }
        .to_string(),
        secondary: transition
            .related
            .as_ref()
            .map(|a| artifact_reference(&namespace, a)),
    };
    recorder.publish(&event, run).await
}
