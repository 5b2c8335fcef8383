//! Hostile manifest files, shared by the tests of `operationrun-controller evaluate` and
//! `kubectl oprun -f`: both read files with the same reader, and both must refuse these
//! with exit code 2, an error naming the file (and the document, where one is at fault),
//! nothing on stdout, and in time linear in the file's size (docs/concepts.md, "Offline
//! evaluation").
//!
//! Small files are kept in this directory; each starts with a comment saying what the
//! refusal must say (`# refused: document 2: not an object`). Large ones (1 MiB of each
//! kind, and a file over the size limit) are generated.

// each including test uses its own part of the corpus
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// One MiB: the size of the generated files.
pub const MIB: usize = 1 << 20;

/// A refusal must come well within this, even in a debug build; release builds take a
/// small fraction of it (the measured times are printed).
pub const BOUND: Duration = Duration::from_secs(5);

/// The `--now` given to every command.
pub const NOW: &str = "2026-11-26T12:00:00Z";

/// A well-formed run, the base of several hostile files.
pub const RUN: &str = r#"apiVersion: ops.tenantatlas.io/v1alpha1
kind: OperationRun
metadata: {name: nightly, namespace: tenant-a, uid: u-1, creationTimestamp: "2026-11-26T10:00:00Z"}
spec: {type: backup.schedule.execute, backupScheduleRef: {name: nightly}}
status: {phase: Running, heartbeatTime: "2026-11-26T11:00:00Z"}
"#;

/// Another well-formed run, given before each hostile file so that a half-printed
/// result would show.
pub fn good() -> String {
    RUN.replace("{name: nightly, namespace", "{name: weekly, namespace")
}

/// A file that must be refused, and what the refusal must say.
pub struct Hostile {
    /// The file name; its extension chooses YAML or JSON.
    pub name: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The 1-based document the error must name, if the fault is in one.
    pub document: Option<usize>,
    /// A part of the error message.
    pub reason: String,
}

fn hostile(
    name: &str,
    bytes: impl Into<Vec<u8>>,
    document: Option<usize>,
    reason: &str,
) -> Hostile {
    Hostile {
        name: name.to_string(),
        bytes: bytes.into(),
        document,
        reason: reason.to_string(),
    }
}

/// `unit` repeated to about `size` bytes.
fn repeat_to(unit: &str, size: usize) -> String {
    unit.repeat(size / unit.len())
}

/// The generated files, 1 MiB each, of every kind of hostile input.
pub fn generated() -> Vec<Hostile> {
    let deep = "nested more than 127 levels deep";
    let scalar = "a scalar of";
    let not_object = "not an object";
    let block_map = {
        let mut text = String::new();
        let mut indent = 0;
        while text.len() < MIB {
            text.push_str(&format!("{}a:\n", " ".repeat(indent)));
            indent += 1;
        }
        text
    };
    let run_json = serde_json::to_string(
        &serde_norway::from_str::<serde_json::Value>(RUN).expect("the run is YAML"),
    )
    .expect("JSON");
    let ones = vec!["1"; 100_000].join(",");
    vec![
        hostile("flow-sequences.yaml", repeat_to("[", MIB), Some(1), deep),
        hostile("flow-mappings.yaml", repeat_to("{a: ", MIB), Some(1), deep),
        hostile("flow-braces.yaml", repeat_to("{", MIB), Some(1), deep),
        hostile("block-sequences.yaml", repeat_to("- ", MIB), Some(1), deep),
        hostile("block-mappings.yaml", block_map, Some(1), deep),
        hostile(
            "third-document.yaml",
            format!("{RUN}---\nkind: ConfigMap\n---\nx: {}", repeat_to("[", MIB)),
            Some(3),
            deep,
        ),
        hostile("flow-sequences.json", repeat_to("[", MIB), Some(1), deep),
        hostile(
            "flow-mappings.json",
            repeat_to("{\"a\":", MIB),
            Some(1),
            deep,
        ),
        hostile(
            "second-document.json",
            format!("{run_json}\n{}", repeat_to("[", MIB)),
            Some(2),
            deep,
        ),
        hostile(
            "wide-alias.yaml",
            format!(
                "x: &x [{ones}]\ny: [{}]\n",
                vec!["*x"; (MIB - ones.len()) / 3].join(",")
            ),
            Some(1),
            "expands the file beyond what aliases may add to it",
        ),
        hostile(
            "huge-string.yaml",
            RUN.replace(
                "metadata: {",
                &format!(
                    "metadata: {{annotations: {{big: \"{}\"}}, ",
                    "x".repeat(MIB)
                ),
            ),
            Some(1),
            scalar,
        ),
        hostile(
            "huge-block-scalar.yaml",
            format!(
                "{RUN}---\ndata: |\n{}",
                repeat_to("  0123456789abcd\n", MIB)
            ),
            Some(2),
            scalar,
        ),
        hostile(
            "huge-number.yaml",
            format!("{RUN}spare: {}\n", "9".repeat(MIB)),
            Some(1),
            scalar,
        ),
        hostile(
            "huge-key.yaml",
            // a key this long must be explicit: a simple key has at most 1024 characters
            format!("{RUN}? {}\n: 1\n", "k".repeat(MIB)),
            Some(1),
            scalar,
        ),
        hostile(
            "huge-string.json",
            run_json.replacen('{', &format!("{{\"big\": \"{}\", ", "x".repeat(MIB)), 1),
            Some(1),
            scalar,
        ),
        hostile(
            "huge-number.json",
            run_json.replacen('{', &format!("{{\"spare\": 0.{}, ", "1".repeat(MIB)), 1),
            Some(1),
            scalar,
        ),
        hostile(
            "out-of-range-number.json",
            run_json.replacen('{', &format!("{{\"spare\": {}, ", "9".repeat(MIB)), 1),
            Some(1),
            "number out of range",
        ),
        hostile(
            "invalid-utf8.yaml",
            [
                format!("{RUN}# {}\n", "x".repeat(MIB)).as_bytes(),
                b"bad: \"\xff\"\n",
            ]
            .concat(),
            None,
            "not UTF-8 text: an invalid byte at line 7 column 7",
        ),
        hostile(
            "nul.yaml",
            [
                format!("{RUN}# {}\n", "x".repeat(MIB)).as_bytes(),
                b"bad: \"\0\"\n",
            ]
            .concat(),
            None,
            "a NUL byte at line 7 column 7",
        ),
        hostile(
            "nul.json",
            run_json.replacen('{', &format!("{{\"pad\": \"{}\0\", ", "x".repeat(1000)), 1)
                + &" ".repeat(MIB),
            None,
            "a NUL byte at line 1 column 1010",
        ),
        hostile(
            "sequence-document.yaml",
            format!("{RUN}---\n{}", repeat_to("- 1\n", MIB)),
            Some(2),
            not_object,
        ),
        hostile(
            "sequence-document.json",
            format!("{run_json}\n[{}1]", repeat_to("1,", MIB)),
            Some(2),
            not_object,
        ),
        hostile(
            "scalar-document.yaml",
            format!("{RUN}--- {}\n", "word ".repeat(1000)),
            Some(2),
            not_object,
        ),
    ]
}

/// The small files kept in this directory, with what their first line says.
pub fn committed() -> Vec<Hostile> {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the hostile corpus directory")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "the committed corpus is in {}",
        dir.display()
    );
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("readable");
            let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
            let first = String::from_utf8_lossy(first).into_owned();
            let said = first
                .strip_prefix("# refused: ")
                .unwrap_or_else(|| panic!("{} must start with `# refused: `", path.display()));
            let (document, reason) = match said.strip_prefix("document ") {
                Some(rest) => {
                    let (n, reason) = rest.split_once(": ").expect("document N: reason");
                    (Some(n.parse().expect("a document number")), reason)
                }
                None => (None, said),
            };
            let name = path.file_name().expect("a name").to_string_lossy();
            hostile(&name, bytes, document, reason)
        })
        .collect()
}

/// Where the committed files are, from either crate's tests.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../controller/tests/hostile")
}

/// A fresh scratch directory under the target directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// A sparse file one byte over the 64 MiB limit: refused before it is read.
pub fn too_large(dir: &Path) -> (PathBuf, Hostile) {
    let path = dir.join("too-large.yaml");
    let file = std::fs::File::create(&path).expect("create");
    file.set_len(64 * MIB as u64 + 1).expect("a sparse file");
    let case = hostile(
        "too-large.yaml",
        Vec::new(),
        None,
        "larger than 64 MiB, the most a manifest file may have",
    );
    (path, case)
}

/// Checks one refusal: exit code 2, nothing on stdout, the error naming the file and the
/// document, the reason, and the time.
pub fn assert_refused(case: &Hostile, path: &Path, out: &Output, took: Duration) {
    let err = String::from_utf8_lossy(&out.stderr);
    println!(
        "{:<28} {:>9} bytes  refused in {:>7.3} s: {}",
        case.name,
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        took.as_secs_f64(),
        err.lines().next().unwrap_or_default()
    );
    assert_eq!(out.status.code(), Some(2), "{}: stderr: {err}", case.name);
    assert!(
        out.stdout.is_empty(),
        "{}: nothing may be half-printed, got {} bytes",
        case.name,
        out.stdout.len()
    );
    let at = match case.document {
        Some(n) => format!("error: {}: document {n}: ", path.display()),
        None => format!("error: {}: ", path.display()),
    };
    assert!(
        err.starts_with(&at),
        "{}: expected `{at}…`, got: {err}",
        case.name
    );
    if case.document.is_none() {
        assert!(!err.contains(": document "), "{}: {err}", case.name);
    }
    assert!(
        err.contains(&case.reason),
        "{}: expected `{}`, got: {err}",
        case.name,
        case.reason
    );
    assert!(
        took < BOUND,
        "{}: refused in {took:?}, more than {BOUND:?}",
        case.name
    );
}
