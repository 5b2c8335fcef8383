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
