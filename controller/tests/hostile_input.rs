//! `evaluate` refuses hostile files (deep nesting, alias bombs, invalid UTF-8, NUL bytes,
//! huge scalars, documents that are not objects, files over the size limit) with exit code
//! 2, an error naming the file and the document, nothing on stdout, and in time linear in
//! the file's size; and reads files at the limits as it always did.

#[path = "hostile/corpus.rs"]
mod corpus;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use corpus::{Hostile, NOW, RUN};

fn evaluate(files: &[&Path]) -> (Output, Duration) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_operationrun-controller"));
    command.arg("evaluate");
    for file in files {
        command.arg("-f").arg(file);
    }
    command.args(["--now", NOW, "-o", "json"]);
    let start = Instant::now();
    let out = command.output().expect("the binary runs");
    (out, start.elapsed())
}

fn refuse_all(dir: &Path, cases: &[Hostile]) {
    let good = dir.join("good.yaml");
    std::fs::write(&good, corpus::good()).expect("write");
    for case in cases {
        let path = dir.join(&case.name);
        std::fs::write(&path, &case.bytes).expect("write");
        let (out, took) = evaluate(&[&good, &path]);
        corpus::assert_refused(case, &path, &out, took);
    }
}

#[test]
fn generated_hostile_files_are_refused_quickly() {
    let dir = corpus::scratch("hostile-evaluate-generated");
    let cases = corpus::generated();
    for case in &cases {
        assert!(case.bytes.len() >= 1000, "{}", case.name);
    }
    refuse_all(&dir, &cases);
}

#[test]
fn the_committed_hostile_files_are_refused() {
    let dir = corpus::scratch("hostile-evaluate-committed");
    refuse_all(&dir, &corpus::committed());
}

#[test]
fn a_file_over_the_size_limit_is_refused_unread() {
    let dir = corpus::scratch("hostile-evaluate-large");
    let (path, case) = corpus::too_large(&dir);
    let (out, took) = evaluate(&[&path]);
    corpus::assert_refused(&case, &path, &out, took);
    assert!(
        took < Duration::from_secs(1),
        "read instead of refused: {took:?}"
    );
}

/// A run decided as usual, from a file whose other document sits at every limit: the
/// deepest nesting, the longest scalar, the most aliases.
#[test]
fn files_at_the_limits_are_read() {
    let dir = corpus::scratch("hostile-evaluate-limits");
    let nested = |levels: usize| format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
    // 127 levels in all: the document, `data`, and 125 sequences; JSON has no `data`
    let deepest = nested(125);
    let longest = "x".repeat(256 * 1024);
    let anchored = vec!["1"; 999].join(",");
    let aliases = vec!["*x"; 100].join(",");
    let yaml = format!(
        "{RUN}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: limits}}\n\
         data: {{deep: {deepest}, long: {longest}, anchored: &x [{anchored}], aliases: [{aliases}]}}\n"
    );
    let json = format!(
        "{{\"kind\": \"ConfigMap\", \"deep\": {}, \"long\": \"{longest}\"}}",
        nested(126)
    );
    let yaml_file = dir.join("limits.yaml");
    let json_file = dir.join("limits.json");
    std::fs::write(&yaml_file, yaml).expect("write");
    std::fs::write(&json_file, json).expect("write");
    let (out, took) = evaluate(&[&yaml_file, &json_file]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {err}");
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(entries[0]["name"], "nightly");
    assert_eq!(entries[0]["conditions"][0]["type"], "Stale");
    println!("files at the limits read in {:.3} s", took.as_secs_f64());

    // one step past any of them is refused
    for (name, text, reason) in [
        (
            "deeper.yaml",
            format!("x: {}\n", nested(127)),
            "nested more than 127",
        ),
        (
            "longer.yaml",
            format!("x: {longest}x\n"),
            "a scalar of 262145 bytes",
        ),
        (
            "more-aliases.yaml",
            format!("x: &x [{anchored}]\ny: [{aliases},*x]\n"),
            "expands the file beyond",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        let (out, _) = evaluate(&[&path]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(reason), "{name}: {err}");
    }
}
