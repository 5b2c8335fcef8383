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
            unsafe_libyaml::yaml_parser_set_encoding(parser, unsafe_libyaml::YAML_UTF8_ENCODING);
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
                (!ptr.is_null()).then(|| CStr::from_ptr(ptr.cast::<c_char>()).to_bytes().to_vec())
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
