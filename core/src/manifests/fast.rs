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
