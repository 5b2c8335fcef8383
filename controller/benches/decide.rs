//! Benchmarks of the decision core and of offline evaluation at scale.
//!
//! `cargo bench -p operationrun-controller --bench decide`; figures go to BENCHMARKS.md.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use jiff::Timestamp;
use operationrun_core::decide::{Config, Evidence, decide};
use operationrun_core::{evaluate, manifests};
use operationrun_crds::{BackupSet, OperationRun, Parsed, Salvage};

const NOW: &str = "2026-11-26T12:00:00Z";

fn parse<K: Salvage>(yaml: &str) -> Parsed<K> {
    let value: serde_json::Value = serde_norway::from_str(yaml).expect("yaml");
    K::salvage(&value).expect("object")
}

fn run_yaml(ns: &str, name: &str, family: &str, i: usize) -> String {
    let spec = match family {
        "backup.schedule.execute" => "  backupScheduleRef: {name: nightly}\n".to_string(),
        "baseline.capture" => "  baselineProfileRef: {name: win11}\n".to_string(),
        "inventory.sync" => "  inventory:\n    policyTypes: [deviceConfiguration, compliancePolicy, appProtectionPolicy]\n".to_string(),
        _ => String::new(),
    };
    let coverage = if family == "inventory.sync" {
        "  inventory:\n    coverage:\n    - {policyType: deviceConfiguration, state: Succeeded, itemCount: 120}\n    - {policyType: compliancePolicy, state: Failed, failureCategory: Throttled}\n"
    } else {
        ""
    };
    format!(
        "apiVersion: ops.tenantatlas.io/v1alpha1\nkind: OperationRun\nmetadata:\n  name: {name}\n  namespace: {ns}\n  uid: run-{i:08}\n  generation: 1\n  creationTimestamp: \"2026-11-26T10:00:00Z\"\n  labels: {{app.kubernetes.io/managed-by: platform-worker}}\nspec:\n  type: {family}\n{spec}status:\n  phase: Running\n  startedAt: \"2026-11-26T10:00:03Z\"\n  heartbeatTime: \"2026-11-26T11:{:02}:00Z\"\n  failures:\n  - {{category: Throttled, message: \"Graph returned 429 after 5 retries\"}}\n{coverage}",
        i % 60
    )
}

fn backup_set_yaml(ns: &str, run: &str, i: usize) -> String {
    format!(
        "apiVersion: ops.tenantatlas.io/v1alpha1\nkind: BackupSet\nmetadata:\n  name: {run}\n  namespace: {ns}\n  uid: set-{i:08}\n  creationTimestamp: \"2026-11-26T10:00:08Z\"\nspec:\n  backupScheduleRef: {{name: nightly}}\n  operationRunRef: {{name: {run}, uid: run-{i:08}}}\nstatus:\n  state: Finalized\n  summary: {{itemsTotal: 120, succeeded: {}, failed: {}, skipped: 0}}\n  failures:\n  - {{category: Throttled, message: \"Graph returned 429 for some items after 5 retries\"}}\n",
        100 + i % 20,
        20 - i % 20
    )
}

fn snapshot_yaml(ns: &str, run: &str, i: usize) -> String {
    format!(
        "apiVersion: ops.tenantatlas.io/v1alpha1\nkind: BaselineSnapshot\nmetadata:\n  name: {run}\n  namespace: {ns}\n  uid: snap-{i:08}\n  creationTimestamp: \"2026-11-26T10:00:08Z\"\nspec:\n  baselineProfileRef: {{name: win11}}\n  operationRunRef: {{name: {run}, uid: run-{i:08}}}\nstatus:\n  state: Finalized\n  summary:\n    subjectsTotal: 40\n    captured: 37\n    gaps: [{{reason: AmbiguousMatch, count: 3}}]\n  fallbackUsed: false\n",
    )
}

/// 10,000 runs over 100 namespaces, mixed families, with their artifacts, as one YAML stream.
fn generate(runs: usize) -> String {
    let families = [
        "backup.schedule.execute",
        "baseline.capture",
        "inventory.sync",
        "restore.execute",
    ];
    let mut out = String::new();
    for i in 0..runs {
        let ns = format!("tenant-{:03}", i % 100);
        let name = format!("run-{i:06}");
        let family = families[i % families.len()];
        let _ = write!(out, "---\n{}", run_yaml(&ns, &name, family, i));
        match family {
            "backup.schedule.execute" => {
                let _ = write!(out, "---\n{}", backup_set_yaml(&ns, &name, i));
            }
            "baseline.capture" => {
                let _ = write!(out, "---\n{}", snapshot_yaml(&ns, &name, i));
            }
            _ => {}
        }
    }
    out
}

fn bench_decide(c: &mut Criterion) {
    let run: Parsed<OperationRun> = parse(&run_yaml(
        "tenant-a",
        "nightly",
        "backup.schedule.execute",
        1,
    ));
    let set: Parsed<BackupSet> = parse(&backup_set_yaml("tenant-a", "nightly", 1));
    let now: Timestamp = NOW.parse().expect("now");
    let config = Config::default();
    c.bench_function("decide/one stale backup run with its BackupSet", |b| {
        b.iter(|| {
            let evidence = Evidence {
                backup_sets: vec![&set],
                baseline_snapshots: Vec::new(),
            };
            black_box(decide(black_box(&run), &evidence, now, &config))
        })
    });
    let fresh: Parsed<OperationRun> = parse(
        &run_yaml("tenant-a", "nightly", "backup.schedule.execute", 1)
            .replace("2026-11-26T11:01:00Z", "2026-11-26T11:59:00Z"),
    );
    c.bench_function("decide/one fresh run", |b| {
        b.iter(|| {
            black_box(decide(
                black_box(&fresh),
                &Evidence::default(),
                now,
                &config,
            ))
        })
    });
}

fn bench_evaluate(c: &mut Criterion) {
    let yaml = generate(10_000);
    let dir = std::env::temp_dir().join(format!("oprun-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file: PathBuf = dir.join("runs.yaml");
    std::fs::write(&file, &yaml).expect("write");
    eprintln!("evaluate input: {} bytes", yaml.len());
    let now: Timestamp = NOW.parse().expect("now");
    let mut group = c.benchmark_group("evaluate 10k runs");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("YAML parse alone (floor)", |b| {
        b.iter(|| {
            manifests::documents(&file, black_box(&yaml))
                .expect("parse")
                .len()
        })
    });
    group.bench_function("load + decide + JSON, in process", |b| {
        b.iter(|| {
            let m = manifests::load(std::slice::from_ref(&file)).expect("load");
            let results = evaluate::evaluate(&m, now, &Config::default());
            let entries: Vec<_> = results.into_iter().map(|(e, _)| e).collect();
            evaluate::to_json(&entries).expect("json").len()
        })
    });
    group.bench_function(
        "whole process (operationrun-controller evaluate -o json)",
        |b| {
            b.iter(|| {
                let out = Command::new(env!("CARGO_BIN_EXE_operationrun-controller"))
                    .args(["evaluate", "-o", "json", "--now", NOW, "-f"])
                    .arg(&file)
                    .output()
                    .expect("binary runs");
                assert!(out.status.success());
                out.stdout.len()
            })
        },
    );
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench_decide, bench_evaluate);
criterion_main!(benches);
