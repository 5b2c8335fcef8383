//! Reading manifests from files and directories, as `evaluate` (and `kubectl oprun -f`)
//! take them: YAML or JSON, multi-document streams, and `kind: List`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use operationrun_crds::{API_VERSION, BackupSet, BaselineSnapshot, OperationRun, Parsed, Salvage};
use serde::Deserialize;
use serde_json::Value;

/// Why manifests could not be read; names the file and, where it applies, the 1-based
/// document number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file (or path) at fault.
    pub file: PathBuf,
    /// The 1-based document number within the file, when the fault is in one document.
    pub document: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.document {
            Some(n) => write!(f, "{}: document {n}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for LoadError {}

/// The objects of this project's kinds found in a set of manifests.
#[derive(Debug, Default, Clone)]
pub struct Manifests {
    /// Every OperationRun.
    pub runs: Vec<Parsed<OperationRun>>,
    /// Every BackupSet.
    pub backup_sets: Vec<Parsed<BackupSet>>,
    /// Every BaselineSnapshot.
    pub baseline_snapshots: Vec<Parsed<BaselineSnapshot>>,
}

/// Collects the files under `paths`: files as given, directories recursively (only
/// `.yaml`, `.yml` and `.json` files, in name order).
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| LoadError {
            file: path.clone(),
            document: None,
            message: e.to_string(),
        })?;
        if meta.is_dir() {
            walk(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let err = |e: std::io::Error| LoadError {
        file: dir.to_path_buf(),
        document: None,
        message: e.to_string(),
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

/// Splits a file's text into documents as JSON values (empty documents dropped, but
/// counted so that document numbers match the file).
pub fn documents(file: &Path, text: &str) -> Result<Vec<(usize, Value)>, LoadError> {
    let fail = |document: Option<usize>, message: String| LoadError {
        file: file.to_path_buf(),
        document,
        message,
    };
    let is_json = file.extension().and_then(|e| e.to_str()) == Some("json");
    if is_json {
        let mut out = Vec::new();
        let stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        for (i, doc) in stream.enumerate() {
            let doc = doc.map_err(|e| fail(Some(i + 1), format!("invalid JSON: {e}")))?;
            out.push((i + 1, doc));
        }
        return Ok(out);
    }
    let mut out = Vec::new();
    for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value =
            Value::deserialize(doc).map_err(|e| fail(Some(i + 1), format!("invalid YAML: {e}")))?;
        if !value.is_null() {
            out.push((i + 1, value));
        }
    }
    Ok(out)
}

/// Reads every manifest under `paths`. Objects of other kinds or API groups are ignored;
/// the same object given twice is an error.
pub fn load(paths: &[PathBuf]) -> Result<Manifests, LoadError> {
    let mut manifests = Manifests::default();
    let mut seen: HashMap<(String, String, String), (PathBuf, usize)> = HashMap::new();
    for file in expand(paths)? {
        let text = std::fs::read_to_string(&file).map_err(|e| LoadError {
            file: file.clone(),
            document: None,
            message: e.to_string(),
        })?;
        for (number, doc) in documents(&file, &text)? {
            let fail = |message: String| LoadError {
                file: file.clone(),
                document: Some(number),
                message,
            };
            let Value::Object(map) = &doc else {
                return Err(fail(
                    "not an object (a Kubernetes manifest is a mapping)".into(),
                ));
            };
            let is_list = map.get("kind").and_then(Value::as_str) == Some("List")
                || map.get("items").is_some_and(Value::is_array)
                    && map
                        .get("kind")
                        .and_then(Value::as_str)
                        .is_some_and(|k| k.ends_with("List"));
            let items: Vec<&Value> = if is_list {
                match map.get("items") {
                    Some(Value::Array(items)) => items.iter().collect(),
                    Some(Value::Null) | None => Vec::new(),
                    Some(_) => return Err(fail("items of a List must be a sequence".into())),
                }
            } else {
                vec![&doc]
            };
            for (index, item) in items.into_iter().enumerate() {
                let at = |m: String| {
                    if is_list {
                        fail(format!("item {}: {m}", index + 1))
                    } else {
                        fail(m)
                    }
                };
                let Value::Object(obj) = item else {
                    return Err(at("not an object".into()));
                };
                if obj.get("apiVersion").and_then(Value::as_str) != Some(API_VERSION) {
                    continue;
                }
                let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
                if !matches!(kind, "OperationRun" | "BackupSet" | "BaselineSnapshot") {
                    continue;
                }
                let (namespace, name) = identity(item).map_err(&at)?;
                let key = (kind.to_string(), namespace.clone(), name.clone());
                if let Some((first, first_doc)) = seen.get(&key) {
                    return Err(at(format!(
                        "{kind} {namespace}/{name} is given twice (first in {} document {first_doc})",
                        first.display()
                    )));
                }
                seen.insert(key, (file.clone(), number));
                // objects without a namespace land in `default`, as `kubectl apply` puts them
                let in_namespace = |meta: &mut ObjectMeta| {
                    if meta.namespace.as_deref().is_none_or(str::is_empty) {
                        meta.namespace = Some(namespace.clone());
                    }
                };
                match kind {
                    "OperationRun" => {
                        let mut run = OperationRun::salvage(item).map_err(&at)?;
                        in_namespace(&mut run.object.metadata);
                        manifests.runs.push(run);
                    }
                    "BackupSet" => {
                        let mut set = BackupSet::salvage(item).map_err(&at)?;
                        in_namespace(&mut set.object.metadata);
                        manifests.backup_sets.push(set);
                    }
                    _ => {
                        let mut snapshot = BaselineSnapshot::salvage(item).map_err(&at)?;
                        in_namespace(&mut snapshot.object.metadata);
                        manifests.baseline_snapshots.push(snapshot);
                    }
                }
            }
        }
    }
    Ok(manifests)
}

fn identity(item: &Value) -> Result<(String, String), String> {
    let meta = item.get("metadata").ok_or("metadata is missing")?;
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or("metadata.name is missing")?;
    let namespace = meta
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    Ok((namespace.to_string(), name.to_string()))
}
