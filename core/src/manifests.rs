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

/// Files larger than this are refused unread: a manifest file, even a `kubectl get -o yaml`
/// dump of a busy cluster, is far smaller, and reading more would only cost memory.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The deepest nesting of sequences and mappings a document may have (the top-level mapping
/// is level 1): the JSON parser's own limit, and YAML is held to the same. YAML is checked
/// before it is parsed, because the YAML parser's time grows with the square of the depth.
pub const MAX_DEPTH: usize = 127;

/// The longest single scalar (string, number or key) in bytes: 256 KiB, the most a
/// Kubernetes object's annotations may hold together.
pub const MAX_SCALAR_BYTES: usize = 256 * 1024;

/// The most nodes YAML aliases may add to one file, so that an alias bomb ("billion laughs")
/// is refused instead of expanded.
pub const MAX_ALIAS_NODES: u64 = 100_000;

/// The most scalar text, in bytes, YAML aliases may add to one file.
pub const MAX_ALIAS_BYTES: u64 = 1024 * 1024;

/// Reads a manifest file as text, refusing a file larger than [`MAX_FILE_BYTES`] unread and
/// bytes that are not UTF-8.
pub fn read(file: &Path) -> Result<String, LoadError> {
    use std::io::Read;
    let fail = |message: String| LoadError {
        file: file.to_path_buf(),
        document: None,
        message,
    };
    let handle = std::fs::File::open(file).map_err(|e| fail(e.to_string()))?;
    let len = handle.metadata().map_err(|e| fail(e.to_string()))?.len();
    if len > MAX_FILE_BYTES {
        return Err(fail(too_large()));
    }
    let mut bytes = Vec::new();
    // `take` also bounds what is read from a device or a pipe, whose length is not known
    handle
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(too_large()));
    }
    String::from_utf8(bytes).map_err(|e| {
        // the bytes before the first invalid one are UTF-8, so the place can be named
        let valid = e.utf8_error().valid_up_to();
        let prefix = std::str::from_utf8(&e.as_bytes()[..valid]).unwrap_or_default();
        let (line, column) = position(prefix, valid);
        fail(format!(
            "not UTF-8 text: an invalid byte at line {line} column {column}"
        ))
    })
}

fn too_large() -> String {
    format!(
        "larger than {} MiB, the most a manifest file may have",
        MAX_FILE_BYTES >> 20
    )
}

/// Splits a file's text into documents as JSON values (empty documents dropped, but
/// counted so that document numbers match the file). Text beyond the limits above
/// ([`MAX_FILE_BYTES`], [`MAX_DEPTH`], [`MAX_SCALAR_BYTES`], [`MAX_ALIAS_NODES`],
/// [`MAX_ALIAS_BYTES`]) or holding a NUL byte is refused, in time linear in its size.
pub fn documents(file: &Path, text: &str) -> Result<Vec<(usize, Value)>, LoadError> {
    let fail = |document: Option<usize>, message: String| LoadError {
        file: file.to_path_buf(),
        document,
        message,
    };
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(None, too_large()));
    }
    check_nul(text).map_err(|m| fail(None, m))?;
    let is_json = file.extension().and_then(|e| e.to_str()) == Some("json");
    if is_json {
        let mut out = Vec::new();
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        let mut start = 0;
        let mut number = 0;
        while let Some(doc) = stream.next() {
            number += 1;
            let doc = doc.map_err(|e| fail(Some(number), json_error(&e)))?;
            let end = stream.byte_offset();
            if let Some((offset, len)) = long_json_token(text.get(start..end).unwrap_or_default()) {
                let (line, column) = position(text, start + offset);
                return Err(fail(Some(number), too_long(len, line, column)));
            }
            start = end;
            out.push((number, doc));
        }
        return Ok(out);
    }
    yaml_limits::check(text).map_err(|(document, message)| fail(Some(document), message))?;
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

fn json_error(e: &serde_json::Error) -> String {
    if e.to_string().starts_with("recursion limit exceeded") {
        format!(
            "nested more than {MAX_DEPTH} levels deep at line {} column {}",
            e.line(),
            e.column()
        )
    } else {
        format!("invalid JSON: {e}")
    }
}

fn too_long(len: usize, line: usize, column: usize) -> String {
    format!(
        "a scalar of {len} bytes at line {line} column {column}: a scalar may have at most {} KiB",
        MAX_SCALAR_BYTES >> 10
    )
}

fn check_nul(text: &str) -> Result<(), String> {
    match text.bytes().position(|b| b == 0) {
        None => Ok(()),
        Some(offset) => {
            let (line, column) = position(text, offset);
            Err(format!(
                "a NUL byte at line {line} column {column}: a manifest is UTF-8 text"
            ))
        }
    }
}

/// The 1-based line and column (in characters) of a byte offset of `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

/// The offset and length of the first string or number longer than [`MAX_SCALAR_BYTES`] in
/// a span of text that has just been read as one JSON value (so its tokens are well formed).
fn long_json_token(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let len = match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                (i - start).saturating_sub(2)
            }
            b'-' | b'0'..=b'9' => {
                while i < bytes.len()
                    && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                i - start
            }
            _ => {
                i += 1;
                0
            }
        };
        if len > MAX_SCALAR_BYTES {
            return Some((start, len));
        }
    }
    None
}

/// Checks YAML text against the limits before it is parsed into values.
///
/// It walks the events of the very parser `serde_norway` uses (libyaml, as translated by
/// `unsafe-libyaml-norway`), so it sees the text exactly as the real parse will, and stops
/// at the first event beyond a limit: the parser's work, quadratic in the nesting depth,
/// stays bounded by [`MAX_DEPTH`], and an alias bomb is refused by arithmetic on the sizes
/// of anchored nodes, never expanded. Text the parser rejects is left for the real parse,
/// which reports the same error at the same place.
mod yaml_limits;

/// One object of this project's kinds, read from a document.
#[derive(Debug, PartialEq)]
enum Object {
    Run(Parsed<OperationRun>),
    BackupSet(Parsed<BackupSet>),
    BaselineSnapshot(Parsed<BaselineSnapshot>),
}

/// An object with what names it, and the context its errors are reported in.
#[derive(Debug, PartialEq)]
struct Found {
    kind: &'static str,
    namespace: String,
    name: String,
    /// The 1-based item number when the object came from a `kind: List`.
    item: Option<usize>,
    object: Object,
}

/// What one document holds: its objects of this project's kinds, or why it cannot be read.
type DocumentObjects = Result<Vec<Found>, String>;

/// Reads the objects of this project's kinds out of one document.
fn objects_of(doc: &Value) -> DocumentObjects {
    let Value::Object(map) = doc else {
        return Err("not an object (a Kubernetes manifest is a mapping)".into());
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
            Some(_) => return Err("items of a List must be a sequence".into()),
        }
    } else {
        vec![doc]
    };
    let mut found = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let item_number = is_list.then_some(index + 1);
        let at = |m: String| match item_number {
            Some(n) => format!("item {n}: {m}"),
            None => m,
        };
        let Value::Object(obj) = item else {
            return Err(at("not an object".into()));
        };
        if obj.get("apiVersion").and_then(Value::as_str) != Some(API_VERSION) {
            continue;
        }
        let kind = match obj.get("kind").and_then(Value::as_str).unwrap_or_default() {
            "OperationRun" => "OperationRun",
            "BackupSet" => "BackupSet",
            "BaselineSnapshot" => "BaselineSnapshot",
            _ => continue,
        };
        let (namespace, name) = identity(item).map_err(&at)?;
        // objects without a namespace land in `default`, as `kubectl apply` puts them
        let in_namespace = |meta: &mut ObjectMeta| {
            if meta.namespace.as_deref().is_none_or(str::is_empty) {
                meta.namespace = Some(namespace.clone());
            }
        };
        let object = match kind {
            "OperationRun" => {
                let mut run = OperationRun::salvage(item).map_err(&at)?;
                in_namespace(&mut run.object.metadata);
                Object::Run(run)
            }
            "BackupSet" => {
                let mut set = BackupSet::salvage(item).map_err(&at)?;
                in_namespace(&mut set.object.metadata);
                Object::BackupSet(set)
            }
            _ => {
                let mut snapshot = BaselineSnapshot::salvage(item).map_err(&at)?;
                in_namespace(&mut snapshot.object.metadata);
                Object::BaselineSnapshot(snapshot)
            }
        };
        found.push(Found {
            kind,
            namespace,
            name,
            item: item_number,
            object,
        });
    }
    Ok(found)
}

/// Reads every manifest under `paths`. Objects of other kinds or API groups are ignored;
/// the same object given twice is an error.
pub fn load(paths: &[PathBuf]) -> Result<Manifests, LoadError> {
    let mut manifests = Manifests::default();
    let mut seen: HashMap<(&'static str, String, String), (PathBuf, usize)> = HashMap::new();
    for file in expand(paths)? {
        let text = read(&file)?;
        for (number, found) in file_objects(&file, &text)? {
            let fail = |message: String| LoadError {
                file: file.clone(),
                document: Some(number),
                message,
            };
            for f in found.map_err(&fail)? {
                let key = (f.kind, f.namespace, f.name);
                if let Some((first, first_doc)) = seen.get(&key) {
                    let (kind, namespace, name) = &key;
                    let message = format!(
                        "{kind} {namespace}/{name} is given twice (first in {} document {first_doc})",
                        first.display()
                    );
                    return Err(fail(match f.item {
                        Some(n) => format!("item {n}: {message}"),
                        None => message,
                    }));
                }
                seen.insert(key, (file.clone(), number));
                match f.object {
                    Object::Run(run) => manifests.runs.push(run),
                    Object::BackupSet(set) => manifests.backup_sets.push(set),
                    Object::BaselineSnapshot(s) => manifests.baseline_snapshots.push(s),
                }
            }
        }
    }
    Ok(manifests)
}

/// The objects of every document of one file, by 1-based document number. A large YAML
/// stream is split into its documents and read on every core; anything unusual (text the
/// fast path cannot prove harmless, or a document that does not parse) is read the careful
/// way, by [`documents`], so errors and limits are exactly the same.
fn file_objects(file: &Path, text: &str) -> Result<Vec<(usize, DocumentObjects)>, LoadError> {
    let is_json = file.extension().and_then(|e| e.to_str()) == Some("json");
    if !is_json
        && text.len() >= PARALLEL_FROM_BYTES
        && let Some(chunks) = fast::split(text)
        && let Some(read) = fast::read_in_parallel(&chunks)
    {
        return Ok(read);
    }
    Ok(documents(file, text)?
        .into_iter()
        .map(|(number, doc)| (number, objects_of(&doc)))
        .collect())
}

/// Streams smaller than this are read on one core: threads would cost more than they save.
const PARALLEL_FROM_BYTES: usize = 256 * 1024;

/// The fast path for large, plain YAML streams: split at document markers, proven free of
/// what the limits guard against by a linear byte scan, parsed and read on every core.
mod fast;

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

#[cfg(test)]
mod tests;
