//! Reading objects that may be odd without losing them.
//!
//! Offline dumps and objects written before a schema change bypass admission. Rather than
//! failing (and, in a watch, breaking the whole kind), an object whose spec or status cannot
//! be read is kept with its metadata and the part that could be read, and the problem is
//! recorded for the decision core to classify.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde_json::Value;

use crate::{BackupSet, BaselineSnapshot, OperationRun, RunRef};

/// An object together with what could not be interpreted in it, if anything.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed<K> {
    /// The object, with unreadable parts replaced by their defaults.
    pub object: K,
    /// Why part of the object could not be read; `None` for a well-formed object.
    pub problem: Option<String>,
}

impl<K> Parsed<K> {
    /// Wraps a well-formed object.
    pub fn ok(object: K) -> Self {
        Parsed {
            object,
            problem: None,
        }
    }
}

/// Kinds that can be read leniently from JSON.
pub trait Salvage: Sized {
    /// Reads `value` as this kind, keeping what can be read. Fails only when not even the
    /// metadata can be read, since then the object cannot be named.
    fn salvage(value: &Value) -> Result<Parsed<Self>, String>;
}

/// Reads `field` of `value` as `T`, keeping every sub-field that can be read on its own
/// when the whole cannot, so one odd field does not hide the rest (e.g. a run's phase and
/// heartbeat stay usable for staleness when its failures list is odd).
fn part<T: for<'de> Deserialize<'de> + Default>(
    value: &Value,
    field: &str,
    problems: &mut Vec<String>,
) -> Option<T> {
    let v = match value.get(field) {
        None | Some(Value::Null) => return None,
        Some(v) => v,
    };
    let error = match T::deserialize(v) {
        Ok(t) => return Some(t),
        Err(e) => e,
    };
    let Value::Object(map) = v else {
        problems.push(format!("{field}: {error}"));
        return None;
    };
    let mut kept = serde_json::Map::new();
    for (key, item) in map {
        let single = Value::Object(std::iter::once((key.clone(), item.clone())).collect());
        match T::deserialize(&single) {
            Ok(_) => {
                kept.insert(key.clone(), item.clone());
            }
            Err(e) => problems.push(format!("{field}.{key}: {e}")),
        }
    }
    T::deserialize(&Value::Object(kept)).ok()
}

/// Reads `spec.operationRunRef` of an artifact whose reference cannot be read as a whole
/// (e.g. a uid that is a number): the name alone still says which run the artifact claims,
/// so an unreadable claim is never mistaken for no claim at all.
fn raw_run_ref(value: &Value) -> Option<RunRef> {
    let reference = value.get("spec")?.get("operationRunRef")?;
    let name = reference.get("name")?.as_str()?;
    Some(RunRef {
        name: name.to_string(),
        uid: reference
            .get("uid")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// The first place where `value` holds a sequence and `read` (the object read from it,
/// written back) a mapping. Serde reads a struct from a sequence of its fields in order,
/// so `operationRunRef: [nightly, u-1]` would pass for a well-formed reference; a
/// manifest never means that, and such a field is of the wrong type.
fn positional(value: &Value, read: &Value, path: &str) -> Option<String> {
    match (value, read) {
        (Value::Array(_), Value::Object(_)) => Some(path.to_string()),
        (Value::Object(fields), Value::Object(read)) => fields.iter().find_map(|(key, v)| {
            let at = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            positional(v, read.get(key)?, &at)
        }),
        (Value::Array(items), Value::Array(read)) => items
            .iter()
            .zip(read)
            .enumerate()
            .find_map(|(i, (v, r))| positional(v, r, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Fields of this project's kinds (and of object metadata) that are lists. Their items are
/// mappings or scalars, never sequences.
const LIST_FIELDS: &[&str] = &[
    "failures",
    "coverage",
    "gaps",
    "policyTypes",
    "conditions",
    "relatedArtifacts",
    "managedFields",
    "finalizers",
    "ownerReferences",
];

/// Whether every sequence in `value` is the value of a list field, with no sequence among
/// its items: then nothing can have been read positionally, and the costlier check of
/// [`positional`] is not needed. Linear in the size of `value`.
fn sequences_only_in_lists(value: &Value) -> bool {
    match value {
        Value::Object(fields) => fields.iter().all(|(key, v)| match v {
            Value::Array(items) => {
                LIST_FIELDS.contains(&key.as_str())
                    && items
                        .iter()
                        .all(|i| !i.is_array() && sequences_only_in_lists(i))
            }
            other => sequences_only_in_lists(other),
        }),
        Value::Array(_) => false,
        _ => true,
    }
}

macro_rules! salvage_kind {
    ($kind:ty) => {
        salvage_kind!($kind, |_object: &mut $kind, _value: &Value| {});
    };
    ($kind:ty, $recover:expr) => {
        impl Salvage for $kind {
            fn salvage(value: &Value) -> Result<Parsed<Self>, String> {
                if let Ok(object) = <$kind>::deserialize(value) {
                    // the round trip is needed only where a sequence stands outside a list
                    let problem = if sequences_only_in_lists(value) {
                        None
                    } else {
                        let read = serde_json::to_value(&object).unwrap_or_default();
                        positional(value, &read, "")
                            .map(|path| format!("{path}: a sequence where a mapping belongs"))
                    };
                    return Ok(Parsed { object, problem });
                }
                let metadata = match value.get("metadata") {
                    Some(m) => ObjectMeta::deserialize(m).map_err(|e| format!("metadata: {e}"))?,
                    None => return Err("metadata is missing".to_string()),
                };
                let mut problems = Vec::new();
                let spec = part(value, "spec", &mut problems);
                if value.get("spec").is_none() {
                    problems.push("spec is missing".to_string());
                }
                let status = part(value, "status", &mut problems);
                let mut object = <$kind>::default();
                object.metadata = metadata;
                object.spec = spec.unwrap_or_default();
                object.status = status;
                let recover: fn(&mut $kind, &Value) = $recover;
                recover(&mut object, value);
                Ok(Parsed {
                    object,
                    problem: Some(problems.join("; ")),
                })
            }
        }
    };
}

salvage_kind!(OperationRun);
salvage_kind!(BackupSet, |object: &mut BackupSet, value: &Value| {
    if object.spec.operation_run_ref.is_none() {
        object.spec.operation_run_ref = raw_run_ref(value);
    }
});
salvage_kind!(
    BaselineSnapshot,
    |object: &mut BaselineSnapshot, value: &Value| {
        if object.spec.operation_run_ref.is_none() {
            object.spec.operation_run_ref = raw_run_ref(value);
        }
    }
);
