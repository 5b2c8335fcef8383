//! Reading the repository's Markdown as the document tests need it: sections, pipe tables,
//! fenced blocks, inline code, and the shell commands written in them.

use std::fs;
use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A file of the repository, by its path from the root.
pub fn read(path: &str) -> String {
    fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Every file under `dir` (a path from the root) whose name ends with `suffix`, as paths
/// from the root, sorted; build output and hidden directories are skipped.
pub fn files(dir: &str, suffix: &str) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, suffix: &str, out: &mut Vec<String>) {
        let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    walk(root, &path, suffix, out);
                }
            } else if name.ends_with(suffix) {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let root = root();
    let mut out = Vec::new();
    walk(&root, &root.join(dir), suffix, &mut out);
    out.sort();
    out.into_iter()
        .map(|p| p.trim_start_matches("./").to_string())
        .collect()
}

/// Every Markdown file of the repository.
pub fn markdown_files() -> Vec<String> {
    files(".", ".md")
}

/// The text under the heading whose text is `heading` (without the `#`s), up to the next
/// heading of the same or a higher level.
pub fn section<'a>(md: &'a str, heading: &str) -> &'a str {
    let mut start = None;
    let mut level = 0;
    let mut offset = 0;
    let mut fenced = false;
    for line in md.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed.starts_with("```") {
            fenced = !fenced;
        }
        let hashes = trimmed.chars().take_while(|&c| c == '#').count();
        if !fenced && hashes > 0 && trimmed[hashes..].starts_with(' ') {
            match start {
                None if trimmed[hashes..].trim() == heading => {
                    start = Some(offset + line.len());
                    level = hashes;
                }
                Some(s) if hashes <= level => return &md[s..offset],
                _ => {}
            }
        }
        offset += line.len();
    }
    match start {
        Some(s) => &md[s..],
        None => panic!("no section headed {heading:?}"),
    }
}

/// A fenced code block.
pub struct Block {
    /// The info string: `sh`, `yaml`, `console`, or empty.
    pub info: String,
    pub text: String,
    /// The line of the opening fence, from 1.
    pub line: usize,
}

/// The fenced code blocks of `md`, in order.
pub fn fenced_blocks(md: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in md.lines().enumerate() {
        let trimmed = line.trim_start();
        match open.take() {
            None if trimmed.starts_with("```") => {
                open = Some(Block {
                    info: trimmed.trim_start_matches('`').trim().to_string(),
                    text: String::new(),
                    line: i + 1,
                });
            }
            None => {}
            Some(block) if trimmed.starts_with("```") => blocks.push(block),
            Some(mut block) => {
                block.text.push_str(line);
                block.text.push('\n');
                open = Some(block);
            }
        }
    }
    blocks
}

/// The inline code spans of `md` outside fenced blocks, with their line (from 1). Spans
/// do not cross lines here, which holds for this repository's documents.
pub fn inline_code(md: &str) -> Vec<(usize, String)> {
    let mut spans = Vec::new();
    let mut fenced = false;
    for (i, line) in md.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            spans.extend(backticked(line).into_iter().map(|s| (i + 1, s)));
        }
    }
    spans
}

/// The contents of the code spans in `text` (single or double backticks).
pub fn backticked(text: &str) -> Vec<String> {
    let mut spans = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('`') {
        let ticks = rest[open..].chars().take_while(|&c| c == '`').count();
        let after = &rest[open + ticks..];
        let fence = "`".repeat(ticks);
        match after.find(&fence) {
            Some(close) => {
                spans.push(after[..close].trim().to_string());
                rest = &after[close + ticks..];
            }
            None => break,
        }
    }
    spans
}

/// A pipe table: its header cells and its rows (with their line in the text, from 1).
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

/// The pipe tables of `text`, in order. Cells are split on unescaped `|`; `\|` is read
/// as `|`.
pub fn tables(text: &str) -> Vec<Table> {
    let mut out = Vec::new();
    let mut current: Option<Table> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if !trimmed.starts_with('|') {
            out.extend(current.take());
            continue;
        }
        let cells = cells(trimmed);
        match current.as_mut() {
            None => {
                current = Some(Table {
                    header: cells,
                    rows: Vec::new(),
                })
            }
            Some(_) if cells.iter().all(|c| c.chars().all(|ch| "-: ".contains(ch))) => {}
            Some(table) => table.rows.push((i + 1, cells)),
        }
    }
    out.extend(current);
    out
}

fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut cells = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                cells.last_mut().into_iter().for_each(|s| s.push('|'));
            }
            '|' => cells.push(String::new()),
            c => cells.last_mut().into_iter().for_each(|s| s.push(c)),
        }
    }
    cells.into_iter().map(|c| c.trim().to_string()).collect()
}

/// The first table of `text` whose first header cell is `first`.
pub fn table<'a>(tables: &'a [Table], first: &str) -> &'a Table {
    tables
        .iter()
        .find(|t| t.header.first().map(String::as_str) == Some(first))
        .unwrap_or_else(|| panic!("no table with a {first:?} column"))
}

/// A shell command written in a document.
#[derive(Clone, Debug)]
pub struct Cmd {
    /// Its line, from 1.
    pub line: usize,
    pub words: Vec<String>,
    /// Whether it is an inline code span in prose rather than a line of a code block.
    pub inline: bool,
}

/// The shell commands of `md`: from fenced blocks of shell (`sh`, `bash`, `shell`, or no
/// info string), the prompted lines of `console` blocks, and inline code spans.
pub fn commands(md: &str) -> Vec<Cmd> {
    let mut out = Vec::new();
    for block in fenced_blocks(md) {
        let text = match block.info.as_str() {
            "" | "sh" | "bash" | "shell" => block.text.clone(),
            "console" => prompted(&block.text),
            _ => continue,
        };
        for (line, words) in shell_words(&text) {
            out.push(Cmd {
                line: block.line + 1 + line,
                words,
                inline: false,
            });
        }
    }
    for (line, span) in inline_code(md) {
        for (_, words) in shell_words(&span) {
            out.push(Cmd {
                line,
                words,
                inline: true,
            });
        }
    }
    out
}

/// The lines of a console transcript that follow a `$ ` prompt, with their continuation
/// lines; output is left out (as blank lines, so line numbers hold).
fn prompted(text: &str) -> String {
    let mut out = String::new();
    let mut continued = false;
    for line in text.lines() {
        if let Some(cmd) = line.strip_prefix("$ ") {
            out.push_str(cmd);
            continued = cmd.ends_with('\\');
        } else if continued {
            out.push_str(line);
            continued = line.ends_with('\\');
        }
        out.push('\n');
    }
    out
}

/// Splits shell text into simple commands (at newlines, `;`, `|`, `&&`, `$(`, `(` and
/// `)`), each as its words with its line (from 0): quotes are removed, a backslash before
/// a newline continues the line, comments and redirections with their targets are dropped,
/// and leading variable assignments are skipped.
pub fn shell_words(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut redirect = false;
    let mut line = 0;
    let mut start = 0;
    let mut chars = text.chars().peekable();

    let end_word =
        |word: &mut String, in_word: &mut bool, words: &mut Vec<String>, redirect: &mut bool| {
            if *in_word {
                if !*redirect {
                    words.push(std::mem::take(word));
                }
                word.clear();
                *redirect = false;
            }
            *in_word = false;
        };
    let end_command =
        |words: &mut Vec<String>, out: &mut Vec<(usize, Vec<String>)>, start: usize| {
            let skip = words.iter().take_while(|w| is_assignment(w)).count();
            let cmd: Vec<String> = words.drain(..).skip(skip).collect();
            if !cmd.is_empty() {
                out.push((start, cmd));
            }
        };

    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') => line += 1,
                Some(n) => {
                    word.push(n);
                    in_word = true;
                }
                None => {}
            },
            '\'' => {
                in_word = true;
                for n in chars.by_ref() {
                    if n == '\'' {
                        break;
                    }
                    line += usize::from(n == '\n');
                    word.push(n);
                }
            }
            '"' => {
                in_word = true;
                while let Some(n) = chars.next() {
                    match n {
                        '"' => break,
                        '\\' => {
                            if let Some(e) = chars.next() {
                                if !matches!(e, '"' | '\\' | '$' | '`') {
                                    word.push('\\');
                                }
                                word.push(e);
                            }
                        }
                        n => {
                            line += usize::from(n == '\n');
                            word.push(n);
                        }
                    }
                }
            }
            '#' if !in_word => {
                while chars.peek().is_some_and(|&n| n != '\n') {
                    chars.next();
                }
            }
            ' ' | '\t' => end_word(&mut word, &mut in_word, &mut words, &mut redirect),
            '\n' | ';' | '|' | '&' | '(' | ')' => {
                end_word(&mut word, &mut in_word, &mut words, &mut redirect);
                end_command(&mut words, &mut out, start);
                if c == '\n' {
                    line += 1;
                }
                start = line;
            }
            '$' if chars.peek() == Some(&'(') => {
                chars.next();
                end_word(&mut word, &mut in_word, &mut words, &mut redirect);
                end_command(&mut words, &mut out, start);
                start = line;
            }
            '>' | '<' => {
                end_word(&mut word, &mut in_word, &mut words, &mut redirect);
                while chars.peek().is_some_and(|&n| n == '>' || n == '&') {
                    chars.next();
                }
                redirect = true;
                if chars.peek().is_some_and(|n| n.is_ascii_digit()) {
                    chars.next();
                    redirect = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    end_word(&mut word, &mut in_word, &mut words, &mut redirect);
    end_command(&mut words, &mut out, start);
    out
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

#[test]
fn shell_words_split_like_a_shell() {
    let text = "i=$(kubectl get oprun \"$run\" -n x -o json \\\n  | jq '.a b')\nkubectl get a,b > /tmp/x.yaml # note\n";
    let cmds: Vec<Vec<String>> = shell_words(text).into_iter().map(|(_, w)| w).collect();
    assert_eq!(
        cmds,
        vec![
            vec!["kubectl", "get", "oprun", "$run", "-n", "x", "-o", "json"],
            vec!["jq", ".a b"],
            vec!["kubectl", "get", "a,b"],
        ]
    );
}

#[test]
fn tables_split_on_unescaped_pipes() {
    let t = tables("| a | b |\n|---|---|\n| `x\\|y` | z |\n");
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].header, vec!["a", "b"]);
    assert_eq!(t[0].rows[0].1, vec!["`x|y`", "z"]);
}
