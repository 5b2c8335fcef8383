//! The plugin and `evaluate` agree. For every example and every specification case,
//! `kubectl oprun -f … --reconcile list -o json` shows, for every run, the `Reconciled`
//! status and reason that `evaluate` decides (the library function the controller's
//! `evaluate` subcommand runs), with the same time and flags; and `explain --diagnostics`
//! names the row of the decision table that `evaluate` reports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use jiff::Timestamp;
use operationrun_core::args::DecisionArgs;
use operationrun_core::decide::{ConditionType, Config, Reason, Rule};
use operationrun_core::evaluate::evaluate;
use operationrun_core::manifests;
use serde_json::Value;

/// The decision flags, parsed as every binary parses them.
#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    decision: DecisionArgs,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate sits in the workspace")
        .to_path_buf()
}

/// One set of manifests, read at one time with one set of flags.
struct Case {
    name: String,
    files: Vec<PathBuf>,
    now: String,
    args: Vec<String>,
}

/// `now` and `args` of an expectation file, as the controller's tests read them.
fn now_and_args(expected: &Path) -> (String, Vec<String>) {
    let Ok(text) = std::fs::read_to_string(expected) else {
        return ("2026-11-26T12:00:00Z".into(), Vec::new());
    };
    let value: Value = serde_json::from_str(&text).expect("expectation is JSON");
    let now = value["now"]
        .as_str()
        .unwrap_or("2026-11-26T12:00:00Z")
        .to_string();
    let args = value["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    (now, args)
}

fn dirs(parent: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(parent)
        .expect("folder exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn cases() -> Vec<Case> {
    let root = workspace();
    let mut cases = Vec::new();
    for dir in dirs(&root.join("examples")) {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expected = root
            .join("controller/tests/examples-expected")
            .join(format!("{name}.json"));
        let (now, args) = now_and_args(&expected);
        cases.push(Case {
            name: format!("examples/{name}"),
            files: vec![dir],
            now,
            args,
        });
    }
    let examples = cases.len();
    assert!(examples >= 10, "examples not found");
    for dir in dirs(&root.join("controller/tests/spec-cases")) {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (now, args) = now_and_args(&dir.join("expected.json"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| is_manifest(p))
            .collect();
        files.sort();
        cases.push(Case {
            name: format!("spec-cases/{name}"),
            files,
            now,
            args,
        });
    }
    assert!(
        cases.len() - examples >= 40,
        "specification cases not found"
    );
    cases
}

/// (namespace, name) -> (Reconciled status, reason), or `None` without a Reconciled.
type Reasons = BTreeMap<(String, String), Option<(String, String)>>;

/// What `evaluate` decides, and the rule it reports for each run.
fn evaluated(case: &Case) -> (Reasons, BTreeMap<(String, String), Rule>) {
    let manifests = manifests::load(&case.files).expect("the case loads");
    let now: Timestamp = case.now.parse().expect("now is RFC 3339");
    let flags =
        Flags::try_parse_from(std::iter::once("evaluate".to_string()).chain(case.args.clone()))
            .unwrap_or_else(|e| panic!("{}: flags {:?}: {e}", case.name, case.args));
    let config = Config::from(flags.decision);
    let mut reasons = Reasons::new();
    let mut rules = BTreeMap::new();
    for (entry, _) in evaluate(&manifests, now, &config) {
        let key = (entry.namespace.clone(), entry.name.clone());
        let reconciled = entry
            .conditions
            .iter()
            .find(|c| ConditionType::parse(&c.type_) == Some(ConditionType::Reconciled))
            .map(|c| (c.status.clone(), c.reason.clone().unwrap_or_default()));
        reasons.insert(key.clone(), reconciled);
        if let Some(rule) = entry.rule {
            rules.insert(key, rule);
        }
    }
    (reasons, rules)
}

fn oprun(case: &Case, command: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubectl-oprun"));
    for f in &case.files {
        cmd.arg("-f").arg(f);
    }
    cmd.args(["--now", &case.now, "--reconcile"])
        .args(&case.args)
        .args(command)
        .env_remove("KUBECONFIG");
    let out = cmd.output().expect("the plugin binary runs");
    assert!(
        out.status.success(),
        "{}: kubectl-oprun {command:?} failed: {}",
        case.name,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("output is UTF-8")
}

/// What `kubectl oprun list -o json` shows.
fn listed(case: &Case) -> Reasons {
    let json: Value = serde_json::from_str(&oprun(case, &["list", "-A", "-o", "json"]))
        .unwrap_or_else(|e| panic!("{}: list -o json is not JSON: {e}", case.name));
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    json.as_array()
        .expect("list -o json prints an array")
        .iter()
        .map(|run| {
            let reconciled = match &run["reconciled"] {
                Value::Null => None,
                r => Some((text(&r["status"]), text(&r["reason"]))),
            };
            ((text(&run["namespace"]), text(&run["name"])), reconciled)
        })
        .collect()
}

#[test]
fn list_shows_the_reason_evaluate_decides_for_every_run() {
    let mut problems = Vec::new();
    let mut runs = 0;
    for case in cases() {
        let (expected, _) = evaluated(&case);
        let shown = listed(&case);
        runs += expected.len();
        if shown != expected {
            problems.push(format!(
                "{}:\n  evaluate: {expected:?}\n  plugin:   {shown:?}",
                case.name
            ));
        }
    }
    assert!(runs >= 100, "only {runs} runs compared");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn explain_names_the_rule_evaluate_reports() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for case in cases() {
        let (reasons, rules) = evaluated(&case);
        for ((namespace, name), rule) in &rules {
            let text = oprun(&case, &["explain", name, "-n", namespace, "--diagnostics"]);
            let decision = text
                .split("\nDecision:\n")
                .nth(1)
                .and_then(|t| t.lines().next())
                .unwrap_or_default();
            let row = format!("rule {rule} ({})", rule.describe());
            let abandoned = reasons
                .get(&(namespace.clone(), name.clone()))
                .and_then(|r| r.as_ref())
                .is_some_and(|(_, reason)| Reason::parse(reason) == Some(Reason::Abandoned));
            let expected = if abandoned {
                format!("  Decided by {row}, then closed as Abandoned")
            } else {
                format!("  Decided by {row}.")
            };
            if !decision.starts_with(&expected) {
                problems.push(format!(
                    "{} {namespace}/{name}: evaluate reports {row}; explain says {decision:?}",
                    case.name
                ));
            }
            checked += 1;
        }
    }
    assert!(checked >= 100, "only {checked} runs checked");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A manifest file of a case: YAML or JSON, but not the case's expectation.
fn is_manifest(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name != "expected.json"
        && [".yaml", ".yml", ".json"]
            .iter()
            .any(|ext| name.ends_with(ext))
}
