//! `kubectl oprun -f` refuses hostile files as `operationrun-controller evaluate` does (it
//! reads them with the same reader): exit code 2, an error naming the file and the
//! document, nothing on stdout, in time linear in the file's size. The corpus is shared
//! with the controller's tests.

#[path = "../../controller/tests/hostile/corpus.rs"]
mod corpus;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use corpus::{Hostile, NOW};

fn oprun_list(files: &[&Path]) -> (Output, Duration) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-oprun"));
    for file in files {
        command.arg("-f").arg(file);
    }
    command
        .args(["--now", NOW, "list"])
        .env_remove("KUBECONFIG")
        .env("HOME", env!("CARGO_TARGET_TMPDIR"));
    let start = Instant::now();
    let out = command.output().expect("the plugin binary runs");
    (out, start.elapsed())
}

fn refuse_all(dir: &Path, cases: &[Hostile]) {
    let good = dir.join("good.yaml");
    std::fs::write(&good, corpus::good()).expect("write");
    let (out, _) = oprun_list(&[&good]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("weekly"),
        "the good file alone is listed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for case in cases {
        let path = dir.join(&case.name);
        std::fs::write(&path, &case.bytes).expect("write");
        let (out, took) = oprun_list(&[&good, &path]);
        corpus::assert_refused(case, &path, &out, took);
    }
}

#[test]
fn generated_hostile_files_are_refused_quickly() {
    let dir = corpus::scratch("hostile-oprun-generated");
    refuse_all(&dir, &corpus::generated());
}

#[test]
fn the_committed_hostile_files_are_refused() {
    let dir = corpus::scratch("hostile-oprun-committed");
    refuse_all(&dir, &corpus::committed());
}

#[test]
fn a_file_over_the_size_limit_is_refused_unread() {
    let dir = corpus::scratch("hostile-oprun-large");
    let (path, case) = corpus::too_large(&dir);
    let (out, took) = oprun_list(&[&path]);
    corpus::assert_refused(&case, &path, &out, took);
    assert!(
        took < Duration::from_secs(1),
        "read instead of refused: {took:?}"
    );
}
