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
mod yaml_limits {
    use std::collections::HashMap;
    use std::ffi::{CStr, c_char};
    use std::marker::PhantomData;
    use std::mem::MaybeUninit;

    use unsafe_libyaml_norway as unsafe_libyaml;

    use super::{MAX_ALIAS_BYTES, MAX_ALIAS_NODES, MAX_DEPTH, MAX_SCALAR_BYTES, too_long};

    /// One parser event, copied out of libyaml.
    enum Event {
        StreamEnd,
        DocumentStart,
        Alias(Vec<u8>),
        Scalar(Option<Vec<u8>>, usize),
        CollectionStart(Option<Vec<u8>>),
        CollectionEnd,
        Other,
    }

    /// A libyaml parser reading a borrowed string.
    struct Parser<'a> {
        // boxed: libyaml keeps a pointer to the parser itself for string input, so it must
        // not move
        raw: Box<MaybeUninit<unsafe_libyaml::yaml_parser_t>>,
        input: PhantomData<&'a [u8]>,
    }

    impl<'a> Parser<'a> {
        fn new(input: &'a [u8]) -> Option<Self> {
            let mut raw = Box::new(MaybeUninit::<unsafe_libyaml::yaml_parser_t>::uninit());
            let parser = raw.as_mut_ptr();
            // SAFETY: `parser` points to memory owned by the box, which outlives every use
            // and never moves; `yaml_parser_initialize` fills it before anything reads it
            // and frees what it allocated when it fails. The input outlives the parser
            // (`'a`).
            unsafe {
                if unsafe_libyaml::yaml_parser_initialize(parser).fail {
                    return None;
                }
                unsafe_libyaml::yaml_parser_set_encoding(
                    parser,
                    unsafe_libyaml::YAML_UTF8_ENCODING,
                );
                unsafe_libyaml::yaml_parser_set_input_string(
                    parser,
                    input.as_ptr(),
                    input.len() as u64,
                );
            }
            Some(Parser {
                raw,
                input: PhantomData,
            })
        }

        /// The next event and its 1-based line and column, or `None` when the text is not
        /// valid YAML.
        fn next(&mut self) -> Option<(Event, usize, usize)> {
            let mut event = MaybeUninit::<unsafe_libyaml::yaml_event_t>::uninit();
            let parser = self.raw.as_mut_ptr();
            // SAFETY: the parser was initialized in `new`. `yaml_parser_parse` fills `event`
            // when it succeeds; the union field read is the one its type names, anchors are
            // NUL-terminated strings owned by the event, and everything is copied out before
            // `yaml_event_delete` frees them.
            unsafe {
                if unsafe_libyaml::yaml_parser_parse(parser, event.as_mut_ptr()).fail {
                    return None;
                }
                let e = &*event.as_ptr();
                let anchor = |ptr: *const u8| {
                    (!ptr.is_null())
                        .then(|| CStr::from_ptr(ptr.cast::<c_char>()).to_bytes().to_vec())
                };
                let converted = match e.type_ {
                    unsafe_libyaml::YAML_STREAM_END_EVENT => Event::StreamEnd,
                    unsafe_libyaml::YAML_DOCUMENT_START_EVENT => Event::DocumentStart,
                    unsafe_libyaml::YAML_ALIAS_EVENT => {
                        Event::Alias(anchor(e.data.alias.anchor).unwrap_or_default())
                    }
                    unsafe_libyaml::YAML_SCALAR_EVENT => Event::Scalar(
                        anchor(e.data.scalar.anchor),
                        usize::try_from(e.data.scalar.length).unwrap_or(usize::MAX),
                    ),
                    unsafe_libyaml::YAML_SEQUENCE_START_EVENT => {
                        Event::CollectionStart(anchor(e.data.sequence_start.anchor))
                    }
                    unsafe_libyaml::YAML_MAPPING_START_EVENT => {
                        Event::CollectionStart(anchor(e.data.mapping_start.anchor))
                    }
                    unsafe_libyaml::YAML_SEQUENCE_END_EVENT
                    | unsafe_libyaml::YAML_MAPPING_END_EVENT => Event::CollectionEnd,
                    _ => Event::Other,
                };
                let line = usize::try_from(e.start_mark.line).unwrap_or(usize::MAX);
                let column = usize::try_from(e.start_mark.column).unwrap_or(usize::MAX);
                unsafe_libyaml::yaml_event_delete(event.as_mut_ptr());
                Some((converted, line.saturating_add(1), column.saturating_add(1)))
            }
        }
    }

    impl Drop for Parser<'_> {
        fn drop(&mut self) {
            // SAFETY: the parser was initialized in `new` and is deleted once, here.
            unsafe { unsafe_libyaml::yaml_parser_delete(self.raw.as_mut_ptr()) }
        }
    }

    /// What a node expands to: nodes, scalar bytes, and nesting height (0 for a scalar).
    #[derive(Clone, Copy, Default)]
    struct Size {
        nodes: u64,
        bytes: u64,
        height: usize,
    }

    impl Size {
        fn add(&mut self, child: Size) {
            self.nodes = self.nodes.saturating_add(child.nodes);
            self.bytes = self.bytes.saturating_add(child.bytes);
            self.height = self.height.max(child.height);
        }
    }

    /// An open sequence or mapping: its anchor (with the number of its definition) and the
    /// size of what it holds so far.
    struct Open {
        anchor: Option<(Vec<u8>, usize)>,
        size: Size,
    }

    /// Checks `text`; on a refusal, the 1-based document number and why.
    pub(super) fn check(text: &str) -> Result<(), (usize, String)> {
        let Some(mut parser) = Parser::new(text.as_bytes()) else {
            return Ok(());
        };
        let mut document = 0;
        // per document, as the parser resolves them: an alias names the anchor defined last,
        // and a node whose anchor is defined again is no longer reachable. The number of the
        // definition tells them apart; the size is `None` while the anchored node is open.
        let mut anchors: HashMap<Vec<u8>, (usize, Option<Size>)> = HashMap::new();
        let mut definitions = 0;
        let mut open: Vec<Open> = Vec::new();
        let (mut alias_nodes, mut alias_bytes) = (0_u64, 0_u64);
        while let Some((event, line, column)) = parser.next() {
            let refuse = |message: String| Err((document.max(1), message));
            let child = match event {
                Event::StreamEnd => return Ok(()),
                Event::DocumentStart => {
                    document += 1;
                    anchors.clear();
                    open.clear();
                    continue;
                }
                Event::Other => continue,
                Event::Scalar(anchor, len) => {
                    if len > MAX_SCALAR_BYTES {
                        return refuse(too_long(len, line, column));
                    }
                    let size = Size {
                        nodes: 1,
                        bytes: len as u64,
                        height: 0,
                    };
                    if let Some(anchor) = anchor {
                        definitions += 1;
                        anchors.insert(anchor, (definitions, Some(size)));
                    }
                    size
                }
                Event::Alias(anchor) => {
                    let name = String::from_utf8_lossy(&anchor).into_owned();
                    let size = match anchors.get(&anchor) {
                        // an unknown anchor: the real parse reports it
                        None => return Ok(()),
                        Some((_, None)) => {
                            return refuse(format!(
                                "the alias *{name} at line {line} column {column} refers to a node that contains it"
                            ));
                        }
                        Some((_, Some(size))) => *size,
                    };
                    alias_nodes = alias_nodes.saturating_add(size.nodes);
                    alias_bytes = alias_bytes.saturating_add(size.bytes);
                    if alias_nodes > MAX_ALIAS_NODES || alias_bytes > MAX_ALIAS_BYTES {
                        return refuse(format!(
                            "the alias *{name} at line {line} column {column} expands the file \
                             beyond what aliases may add to it ({MAX_ALIAS_NODES} nodes, {} MiB)",
                            MAX_ALIAS_BYTES >> 20
                        ));
                    }
                    if open.len() + size.height > MAX_DEPTH {
                        return refuse(format!(
                            "the alias *{name} at line {line} column {column} expands to more than {MAX_DEPTH} levels of nesting"
                        ));
                    }
                    size
                }
                Event::CollectionStart(anchor) => {
                    if open.len() >= MAX_DEPTH {
                        return refuse(format!(
                            "nested more than {MAX_DEPTH} levels deep at line {line} column {column}"
                        ));
                    }
                    let anchor = anchor.map(|anchor| {
                        definitions += 1;
                        anchors.insert(anchor.clone(), (definitions, None));
                        (anchor, definitions)
                    });
                    open.push(Open {
                        anchor,
                        size: Size::default(),
                    });
                    continue;
                }
                Event::CollectionEnd => {
                    let Some(closed) = open.pop() else { continue };
                    let mut size = closed.size;
                    size.nodes = size.nodes.saturating_add(1);
                    size.height += 1;
                    if let Some((anchor, definition)) = closed.anchor
                        && let Some(entry) = anchors.get_mut(&anchor)
                        && entry.0 == definition
                    {
                        entry.1 = Some(size);
                    }
                    size
                }
            };
            if let Some(parent) = open.last_mut() {
                parent.size.add(child);
            }
        }
        // not valid YAML: the real parse reports it
        Ok(())
    }
}

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
mod fast {
    use serde::Deserialize;
    use serde_json::Value;

    use super::{DocumentObjects, MAX_DEPTH, MAX_SCALAR_BYTES, objects_of};

    /// Splits a YAML stream before every line that starts with the document marker `---`,
    /// when every chunk is provably within the limits: no anchors or aliases (no `&` or
    /// `*` at all), no chunk longer than the longest scalar allowed, and a nesting bound
    /// under the depth limit. `None` sends the stream down the careful path.
    pub(super) fn split(text: &str) -> Option<Vec<&str>> {
        let bytes = text.as_bytes();
        if bytes
            .iter()
            .any(|b| matches!(b, b'&' | b'*' | b'%' | b'\t'))
        {
            return None;
        }
        let mut chunks = Vec::new();
        let mut start = 0;
        let mut line_start = 0;
        while line_start < bytes.len() {
            let line_end = bytes[line_start..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(bytes.len(), |p| line_start + p + 1);
            let line = &bytes[line_start..line_end];
            let marker = line.starts_with(b"---")
                && line
                    .get(3)
                    .is_none_or(|b| matches!(b, b' ' | b'\n' | b'\r'));
            if marker && line_start > start {
                chunks.push(text.get(start..line_start)?);
                start = line_start;
            }
            line_start = line_end;
        }
        chunks.push(text.get(start..)?);
        // comments and blank lines before the first marker are no document of their own
        let blank = |c: &str| {
            c.lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        };
        if chunks.len() > 1 && chunks.first().is_some_and(|c| blank(c)) {
            chunks.remove(0);
        }
        chunks
            .iter()
            .all(|c| within_limits(c.as_bytes()))
            .then_some(chunks)
    }

    /// A linear, conservative bound: a chunk no longer than the longest scalar allowed holds
    /// no longer scalar, and its nesting is at most two levels per column of indentation
    /// (a block sequence may share its mapping's column), plus one per indicator on the
    /// line, plus every flow bracket of the chunk.
    fn within_limits(chunk: &[u8]) -> bool {
        if chunk.len() > MAX_SCALAR_BYTES {
            return false;
        }
        let brackets = chunk.iter().filter(|b| matches!(b, b'[' | b'{')).count();
        let mut deepest = 0;
        for line in chunk.split(|b| *b == b'\n') {
            let indent = line.iter().take_while(|b| **b == b' ').count();
            let indicators = line
                .iter()
                .filter(|b| matches!(b, b'-' | b':' | b'?'))
                .count();
            deepest = deepest.max(2 * (indent + 1) + indicators);
        }
        deepest.saturating_add(brackets) <= MAX_DEPTH
    }

    /// Parses and reads the chunks on every core, numbering documents across chunks as a
    /// parse of the whole stream does. `None` when any chunk does not parse: the careful
    /// path then reports the error with its place in the whole file.
    pub(super) fn read_in_parallel(chunks: &[&str]) -> Option<Vec<(usize, DocumentObjects)>> {
        let workers = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, 8)
            .min(chunks.len().max(1));
        let total: usize = chunks.iter().map(|c| c.len()).sum();
        let share = total.div_ceil(workers);
        // contiguous groups of about equal size, so that order is kept by concatenation
        let mut groups: Vec<&[&str]> = Vec::new();
        let (mut from, mut size) = (0, 0);
        for (i, c) in chunks.iter().enumerate() {
            size += c.len();
            if size >= share && groups.len() + 1 < workers {
                groups.push(&chunks[from..=i]);
                from = i + 1;
                size = 0;
            }
        }
        groups.push(&chunks[from..]);
        let results: Vec<Option<GroupDocuments>> = std::thread::scope(|scope| {
            let handles: Vec<_> = groups
                .iter()
                .map(|group| scope.spawn(move || read_group(group)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().ok().flatten())
                .collect()
        });
        let mut out = Vec::new();
        let mut offset = 0;
        for group in results {
            let group = group?;
            let count = group.len();
            for (local, doc) in group {
                if let Some(doc) = doc {
                    out.push((offset + local, doc));
                }
            }
            offset += count;
        }
        Some(out)
    }

    /// A group's documents by number from 1; `None` for an empty document.
    type GroupDocuments = Vec<(usize, Option<DocumentObjects>)>;

    /// Every document of the group, or `None` when one does not parse.
    fn read_group(group: &[&str]) -> Option<GroupDocuments> {
        let mut out = Vec::new();
        for chunk in group {
            for doc in serde_norway::Deserializer::from_str(chunk) {
                let value = Value::deserialize(doc).ok()?;
                let number = out.len() + 1;
                if value.is_null() {
                    out.push((number, None));
                } else {
                    out.push((number, Some(objects_of(&value))));
                }
            }
        }
        Some(out)
    }
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;

    /// How files were split into documents before the limits existed: the limits may only
    /// refuse, never change what a document reads as.
    fn unchecked(file: &Path, text: &str) -> Result<Vec<(usize, Value)>, String> {
        if file.extension().and_then(|e| e.to_str()) == Some("json") {
            let stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
            return stream
                .enumerate()
                .map(|(i, doc)| doc.map(|d| (i + 1, d)).map_err(|e| e.to_string()))
                .collect();
        }
        let mut out = Vec::new();
        for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
            let value = Value::deserialize(doc).map_err(|e| e.to_string())?;
            if !value.is_null() {
                out.push((i + 1, value));
            }
        }
        Ok(out)
    }

    fn yaml(text: &str) -> Result<Vec<(usize, Value)>, LoadError> {
        documents(Path::new("t.yaml"), text)
    }

    fn refusal(text: &str) -> LoadError {
        match yaml(text) {
            Err(e) => e,
            Ok(docs) => panic!("accepted: {docs:?}"),
        }
    }

    fn nested(open: &str, close: &str, levels: usize) -> String {
        format!("{}1{}", open.repeat(levels), close.repeat(levels))
    }

    #[test]
    fn every_example_and_case_reads_as_before() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let paths = [
            root.join("examples"),
            root.join("controller/tests/spec-cases"),
        ];
        let files = expand(&paths).expect("the examples and cases are there");
        assert!(files.len() > 100, "only {} files", files.len());
        for file in files {
            let text = read(&file).expect("readable");
            let before = unchecked(&file, &text).expect("valid before");
            let now = documents(&file, &text).expect("valid now");
            assert_eq!(now, before, "{}", file.display());
        }
    }

    #[test]
    fn nesting_is_bounded_in_yaml_and_json() {
        for (open, close) in [("[", "]"), ("{a: ", "}"), ("- ", "")] {
            let deepest = nested(open, close, MAX_DEPTH);
            assert!(yaml(&deepest).is_ok(), "{open}: {:?}", yaml(&deepest));
            let e = refusal(&nested(open, close, MAX_DEPTH + 1));
            assert_eq!(e.document, Some(1));
            assert!(
                e.message
                    .starts_with("nested more than 127 levels deep at line 1"),
                "{e}"
            );
        }
        let block: String = (0..=MAX_DEPTH)
            .map(|i| format!("{}a:\n", " ".repeat(i)))
            .collect();
        assert!(refusal(&block).message.starts_with("nested more than"));
        let json = |levels| documents(Path::new("t.json"), &nested("[", "]", levels));
        assert!(json(MAX_DEPTH).is_ok());
        let e = json(MAX_DEPTH + 1).expect_err("too deep");
        assert!(
            e.message.starts_with("nested more than 127 levels deep"),
            "{e}"
        );
    }

    #[test]
    fn the_document_number_is_counted_across_the_file() {
        let text = format!("a: 1\n---\n---\nb: {}\n", nested("[", "]", 200));
        let e = refusal(&text);
        assert_eq!(e.document, Some(3));
        assert!(
            e.to_string()
                .starts_with("t.yaml: document 3: nested more than"),
            "{e}"
        );
        let json = format!("{{}}\n{{\"a\": \"{}\"}}", "x".repeat(MAX_SCALAR_BYTES + 1));
        let e = documents(Path::new("t.json"), &json).expect_err("too long");
        assert_eq!(e.document, Some(2));
        assert!(
            e.message
                .starts_with("a scalar of 262145 bytes at line 2 column 7"),
            "{e}"
        );
    }

    #[test]
    fn scalars_are_bounded() {
        let longest = "x".repeat(MAX_SCALAR_BYTES);
        assert!(yaml(&format!("a: {longest}\n")).is_ok());
        assert!(yaml(&format!("a: \"{longest}\"\n")).is_ok());
        for text in [
            format!("a: {longest}x\n"),
            format!("{longest}x: 1\n"),
            format!("a: |\n  {longest}x\n"),
            format!("a: {}\n", "9".repeat(MAX_SCALAR_BYTES + 1)),
        ] {
            let e = refusal(&text);
            assert!(e.message.starts_with("a scalar of"), "{e}");
        }
        let json = |text: String| documents(Path::new("t.json"), &text);
        assert!(json(format!("{{\"a\": \"{longest}\"}}")).is_ok());
        for text in [
            format!("{{\"a\": \"{longest}x\"}}"),
            format!("{{\"{longest}x\": 1}}"),
            format!("{{\"a\": 0.{}}}", "1".repeat(MAX_SCALAR_BYTES)),
        ] {
            let e = json(text).expect_err("too long");
            assert!(e.message.starts_with("a scalar of"), "{e}");
        }
    }

    #[test]
    fn alias_bombs_are_refused_without_being_expanded() {
        let mut laughs = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (level, name) in ('b'..='i').enumerate() {
            let previous = (b'a' + level as u8) as char;
            let refs = vec![format!("*{previous}"); 9].join(", ");
            laughs.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let e = refusal(&laughs);
        assert!(
            e.message
                .contains("expands the file beyond what aliases may add"),
            "{e}"
        );
        // a cycle: the alias names the node it is in
        let e = refusal("a: &a [1, *a]\n");
        assert!(
            e.message.contains("refers to a node that contains it"),
            "{e}"
        );
        // aliases that add depth
        let deep = format!(
            "a: &a {}\nb: {}\n",
            nested("[", "]", 100),
            nested("[", "]", 30).replace('1', "*a")
        );
        let e = refusal(&deep);
        assert!(e.message.contains("expands to more than 127 levels"), "{e}");
        // the budget is per file, not per document
        let doc = format!(
            "a: &a [{}]\nb: [{}]\n",
            vec!["1"; 100].join(","),
            vec!["*a"; 100].join(",")
        );
        let file = [doc.as_str(); 11].join("---\n");
        let e = refusal(&file);
        assert_eq!(e.document, Some(10), "10 × 100 aliases × 101 nodes");
        assert!(yaml(&[doc.as_str(); 9].join("---\n")).is_ok());
    }

    #[test]
    fn ordinary_anchors_read_as_before() {
        for text in [
            "a: &x {k: v}\nb: *x\nc: [*x, *x]\n",
            // an anchor defined again: aliases name the latest definition
            "a: &x 1\nb: &x [2]\nc: *x\n",
            // an inner definition of the same name, inside the outer one
            "a: &x [&x [1], *x]\nb: *x\n",
            "a: &x 1\n---\nb: *x\n",
            "a: *nowhere\n",
        ] {
            let file = Path::new("t.yaml");
            let before = unchecked(file, text);
            match documents(file, text) {
                Ok(now) => assert_eq!(Ok(now), before, "{text}"),
                Err(e) => {
                    let Err(old) = before else {
                        panic!("{text}: refused: {e}")
                    };
                    assert_eq!(e.message, format!("invalid YAML: {old}"), "{text}");
                }
            }
        }
    }

    #[test]
    fn nul_bytes_and_size_are_refused() {
        let e = refusal("a: 1\nb: \"x\0\"\n");
        assert_eq!(e.document, None);
        assert_eq!(
            e.message,
            "a NUL byte at line 2 column 6: a manifest is UTF-8 text"
        );
        let e = documents(Path::new("t.json"), "{\"a\": \"\0\"}").expect_err("NUL");
        assert!(
            e.message.starts_with("a NUL byte at line 1 column 8"),
            "{e}"
        );
    }

    #[test]
    fn files_are_read_as_bounded_utf8() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, b"a: 1\nb: \"\xc3\x28\"\n").expect("write");
        let e = read(&bad).expect_err("not UTF-8");
        assert_eq!(
            e.message,
            "not UTF-8 text: an invalid byte at line 2 column 5"
        );
        let big = dir.path().join("big.yaml");
        let file = std::fs::File::create(&big).expect("create");
        file.set_len(MAX_FILE_BYTES + 1).expect("a sparse file");
        let e = read(&big).expect_err("too large");
        assert_eq!(
            e.message,
            "larger than 64 MiB, the most a manifest file may have"
        );
        assert_eq!(e.file, big);
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        /// Short texts of YAML's punctuation read exactly as before the limits: the same
        /// documents when they were valid, an error when they were not.
        #[test]
        fn limits_change_nothing_below_them(text in "([\\[\\]{}:,&*!?|>#'\"\\- \n]|a|b|x|1|---\n|\t){0,60}") {
            let file = Path::new("t.yaml");
            match (unchecked(file, &text), documents(file, &text)) {
                (Ok(before), Ok(now)) => prop_assert_eq!(now, before),
                (Err(_), Err(_)) => {}
                (before, now) => prop_assert!(false, "before {:?}, now {:?}", before, now),
            }
        }
    }

    /// The fast path reads every stream it accepts exactly as the careful path does:
    /// same documents, same numbers, same objects, same errors per document.
    #[test]
    fn the_parallel_path_reads_as_the_careful_path() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for dir in ["examples", "controller/tests/spec-cases"] {
            files.extend(expand(&[root.join(dir)]).unwrap_or_default());
        }
        let mut texts: Vec<String> = files
            .iter()
            .filter(|f| f.extension().and_then(|e| e.to_str()) != Some("json"))
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect();
        let all = texts.join("\n---\n");
        texts.push(all);
        texts.push("# only a comment\n---\n---\napiVersion: v1\nkind: X\n---\n".into());
        texts.push("---\n".into());
        texts.push("a: 1\n...\n---\nb: |\n  text\n  more\n---\n- 1\n- 2\n".into());
        texts.push("x: 1\n--- \ny: 2\n----\nz: 3\n".into());
        let mut checked = 0;
        for text in &texts {
            let Some(chunks) = fast::split(text) else {
                continue;
            };
            let fast = fast::read_in_parallel(&chunks);
            let careful: Vec<(usize, DocumentObjects)> = documents(Path::new("t.yaml"), text)
                .map(|docs| docs.into_iter().map(|(n, d)| (n, objects_of(&d))).collect())
                .unwrap_or_default();
            match fast {
                Some(fast) => assert_eq!(fast, careful, "{text}"),
                None => assert!(documents(Path::new("t.yaml"), text).is_err(), "{text}"),
            }
            checked += 1;
        }
        assert!(checked > 50, "the fast path took only {checked} streams");
    }
}
