//! The lenient readers and the decision core on arbitrary JSON shaped like runs and
//! artifacts: every field absent, null, of the right type, or of a random one (a string
//! where an object belongs, a float where a count belongs), with extra fields here and there.
//!
//! Two things must hold for every input (docs/concepts.md, "The decision table" and
//! "Claims and scope"): nothing panics, whether the objects are read directly (`Salvage`)
//! or from serialized YAML and JSON text (`manifests::documents`, `manifests::load`,
//! `evaluate`); and `Succeeded` or `PartiallySucceeded` is never the answer unless the raw
//! JSON proves it. The proof is checked here from the JSON alone, field by field, without
//! the crate's types: a mistake in reading an object must not be able to hide in both.

use std::collections::BTreeSet;
use std::path::PathBuf;

use jiff::Timestamp;
use operationrun_core::decide::{Config, Decision, Evidence, Reason, decide};
use operationrun_core::{evaluate, manifests};
use operationrun_crds::{API_VERSION, BackupSet, BaselineSnapshot, OperationRun, Salvage};
use proptest::collection::{btree_map, vec as pvec};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Map, Value, json};

const NS: &str = "tenant-a";
const RUN: &str = "nightly";
const RUN_UID: &str = "u-1";
const BACKUP: &str = "backup.schedule.execute";
const CAPTURE: &str = "baseline.capture";
const INVENTORY: &str = "inventory.sync";

fn now() -> Timestamp {
    "2026-11-26T12:00:00Z".parse().expect("a timestamp")
}

fn config() -> ProptestConfig {
    ProptestConfig {
        // failures are reported, not stored beside the sources
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// Generators

/// Any small JSON value.
fn junk() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // quarters: serde_json reads arbitrary floats back to within a unit in the last
        // place only, and the round trip through text is compared exactly
        (-4000i32..4000).prop_map(|q| Value::from(f64::from(q) / 4.0)),
        "[a-zA-Z0-9 ._-]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            pvec(inner.clone(), 0..3).prop_map(Value::from),
            btree_map("[a-z]{1,6}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

fn pick(values: &'static [&'static str]) -> BoxedStrategy<Value> {
    select(values).prop_map(Value::from).boxed()
}

fn list(item: BoxedStrategy<Value>, max: usize) -> BoxedStrategy<Value> {
    pvec(item, 0..max).prop_map(Value::from).boxed()
}

/// Counts that add up: `(total, parts)`, the total sometimes larger than the parts.
fn consistent(parts: usize) -> BoxedStrategy<(i64, Vec<i64>)> {
    let part = prop_oneof![2 => Just(0i64), 3 => 1i64..4];
    (
        pvec(part, parts),
        prop_oneof![3 => Just(0i64), 1 => 1i64..3],
    )
        .prop_map(|(parts, extra)| (parts.iter().sum::<i64>() + extra, parts))
        .boxed()
}

/// Builds objects whose fields are odd (absent, null, or any value at all) `odd` times in
/// 10 000 each; one case uses one rate throughout, so that some cases are mostly
/// well-formed and others mostly not.
#[derive(Clone, Copy)]
struct Gen {
    odd: u32,
}

impl Gen {
    /// A field: mostly `good`, sometimes absent (`None`), null, or anything at all.
    fn field(self, good: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
        prop_oneof![
            10_000 - 3 * self.odd => good.prop_map(Some),
            self.odd => Just(None),
            self.odd => Just(Some(Value::Null)),
            self.odd => junk().prop_map(Some),
        ]
        .boxed()
    }

    fn pick(self, values: &'static [&'static str]) -> BoxedStrategy<Option<Value>> {
        self.field(pick(values))
    }

    /// Mostly `usual` (the value that makes a claim count), sometimes one of `others`.
    fn mostly(
        self,
        usual: &'static str,
        others: &'static [&'static str],
    ) -> BoxedStrategy<Option<Value>> {
        self.field(prop_oneof![12 => Just(Value::from(usual)), 1 => pick(others)].boxed())
    }

    /// An object of the given fields (absent ones left out), sometimes with extra fields.
    fn object(
        self,
        fields: Vec<(&'static str, BoxedStrategy<Option<Value>>)>,
    ) -> BoxedStrategy<Value> {
        let (names, values): (Vec<_>, Vec<_>) = fields.into_iter().unzip();
        let extra = prop_oneof![
            10_000 - self.odd => Just(Vec::new()),
            self.odd => pvec(("[a-zA-Z]{1,12}", junk()), 1..3),
        ];
        (values, extra)
            .prop_map(move |(values, extra)| {
                let mut map = Map::new();
                for (name, value) in names.iter().zip(values) {
                    if let Some(value) = value {
                        map.insert((*name).to_string(), value);
                    }
                }
                for (key, value) in extra {
                    map.entry(key).or_insert(value);
                }
                Value::Object(map)
            })
            .boxed()
    }

    /// An object field: the object, or (being odd) absent, null or anything else.
    fn nested(
        self,
        fields: Vec<(&'static str, BoxedStrategy<Option<Value>>)>,
    ) -> BoxedStrategy<Option<Value>> {
        self.field(self.object(fields))
    }

    /// A count: mostly small (negative ones included), sometimes out of range or not an
    /// integer.
    fn count(self) -> BoxedStrategy<Option<Value>> {
        let weird = prop_oneof![
            Just(json!(i64::MAX)),
            Just(json!(u64::MAX)),
            Just(json!(3.0)),
            Just(json!("7")),
        ];
        self.field(
            prop_oneof![
                10_000 - self.odd => (-2i64..8).prop_map(Value::from),
                self.odd => weird,
            ]
            .boxed(),
        )
    }

    /// A summary of named counts: three times in four, counts that add up (each still odd
    /// at the case's rate; `more` left out), otherwise any counts and `more`.
    fn summary(
        self,
        total: &'static str,
        parts: &'static [&'static str],
        more: Vec<(&'static str, BoxedStrategy<Option<Value>>)>,
    ) -> BoxedStrategy<Option<Value>> {
        let mut random: Vec<_> = std::iter::once(total)
            .chain(parts.iter().copied())
            .map(|name| (name, self.count()))
            .collect();
        random.extend(more);
        let odd = pvec(self.field(Just(json!("keep")).boxed()), parts.len() + 1);
        let adding_up = (consistent(parts.len()), odd, self.object(Vec::new())).prop_map(
            move |((sum, counts), odd, extra)| {
                let mut map = extra.as_object().cloned().unwrap_or_default();
                let values = std::iter::once(sum).chain(counts);
                for ((name, value), odd) in std::iter::once(total)
                    .chain(parts.iter().copied())
                    .zip(values)
                    .zip(odd)
                {
                    match odd {
                        Some(keep) if keep == "keep" => {
                            map.insert(name.into(), json!(value));
                        }
                        Some(other) => {
                            map.insert(name.into(), other);
                        }
                        None => {}
                    }
                }
                map
            },
        );
        let random = self.object(random);
        prop_oneof![
            3 => adding_up.prop_map(|m| Some(Value::Object(m))),
            1 => self.field(random),
        ]
        .boxed()
    }

    fn failures(self) -> BoxedStrategy<Option<Value>> {
        self.field(list(
            self.object(vec![
                (
                    "category",
                    self.pick(&["PermissionDenied", "Throttled", "", " "]),
                ),
                ("message", self.pick(&["it broke"])),
            ]),
            3,
        ))
    }

    /// Stored conditions, a forged `Reconciled=True, Succeeded` among them.
    fn conditions(self) -> BoxedStrategy<Option<Value>> {
        self.field(list(
            self.object(vec![
                ("type", self.pick(&["Reconciled", "Stale", "Ready"])),
                ("status", self.pick(&["True", "False", "Unknown"])),
                (
                    "reason",
                    self.pick(&[
                        "Succeeded",
                        "PartiallySucceeded",
                        "AwaitingEvidence",
                        "HeartbeatExpired",
                    ]),
                ),
                ("message", self.pick(&["forged"])),
                ("lastTransitionTime", self.pick(&["2026-11-26T11:30:00Z"])),
            ]),
            3,
        ))
    }

    fn local_ref(
        self,
        usual: &'static str,
        others: &'static [&'static str],
    ) -> BoxedStrategy<Option<Value>> {
        self.nested(vec![("name", self.mostly(usual, others))])
    }

    fn run(self) -> BoxedStrategy<Value> {
        let policy_type = prop_oneof![
            10_000 - self.odd => pick(&["deviceConfiguration", "compliancePolicy", " deviceConfiguration", ""]),
            self.odd => junk(),
        ]
        .boxed();
        let coverage = self.object(vec![
            (
                "policyType",
                self.pick(&[
                    "deviceConfiguration",
                    "compliancePolicy",
                    " deviceConfiguration",
                    "other",
                ]),
            ),
            (
                "state",
                self.pick(&["Succeeded", "Succeeded", "Failed", "Running", ""]),
            ),
            (
                "failureCategory",
                self.pick(&["PermissionDenied", "Throttled", ""]),
            ),
            ("itemCount", self.count()),
        ]);
        self.object(vec![
            ("apiVersion", Just(Some(json!(API_VERSION))).boxed()),
            ("kind", Just(Some(json!("OperationRun"))).boxed()),
            (
                "metadata",
                self.nested(vec![
                    ("name", self.mostly(RUN, &["other"])),
                    ("namespace", self.mostly(NS, &["other-ns", ""])),
                    ("uid", self.mostly(RUN_UID, &["u-2", ""])),
                    ("creationTimestamp", self.pick(&["2026-11-26T10:00:00Z"])),
                ]),
            ),
            (
                "spec",
                self.nested(vec![
                    (
                        "type",
                        self.field(
                            prop_oneof![
                                4 => pick(&[BACKUP, CAPTURE, INVENTORY]),
                                1 => pick(&["policy.sync", "", " inventory.sync"]),
                            ]
                            .boxed(),
                        ),
                    ),
                    (
                        "backupScheduleRef",
                        self.local_ref("nightly", &["weekly", ""]),
                    ),
                    (
                        "baselineProfileRef",
                        self.local_ref("win11", &["win10", ""]),
                    ),
                    (
                        "inventory",
                        self.nested(vec![("policyTypes", self.field(list(policy_type, 4)))]),
                    ),
                ]),
            ),
            (
                "status",
                self.nested(vec![
                    (
                        "phase",
                        self.mostly("Running", &["Queued", "Completed", "Paused"]),
                    ),
                    (
                        "heartbeatTime",
                        self.mostly("2026-11-26T11:00:00Z", &["2026-11-26T11:59:00Z", "soon"]),
                    ),
                    ("failures", self.failures()),
                    (
                        "inventory",
                        self.nested(vec![("coverage", self.field(list(coverage, 4)))]),
                    ),
                    ("conditions", self.conditions()),
                ]),
            ),
        ])
    }

    fn run_ref(self) -> BoxedStrategy<Option<Value>> {
        self.nested(vec![
            ("name", self.mostly(RUN, &["other", ""])),
            ("uid", self.mostly(RUN_UID, &["u-2", ""])),
        ])
    }

    fn backup_set(self) -> BoxedStrategy<Value> {
        self.object(vec![
            (
                "spec",
                self.nested(vec![
                    (
                        "backupScheduleRef",
                        self.local_ref("nightly", &["weekly", ""]),
                    ),
                    ("operationRunRef", self.run_ref()),
                ]),
            ),
            (
                "status",
                self.nested(vec![
                    ("state", self.mostly("Finalized", &["Running", ""])),
                    (
                        "summary",
                        self.summary(
                            "itemsTotal",
                            &["succeeded", "failed", "skipped"],
                            Vec::new(),
                        ),
                    ),
                    ("failures", self.failures()),
                ]),
            ),
        ])
    }

    fn baseline_snapshot(self) -> BoxedStrategy<Value> {
        let gap = self.object(vec![
            ("reason", self.pick(&["MissingPermission", ""])),
            ("count", self.count()),
        ]);
        let gaps = prop_oneof![
            3 => Just(Some(json!([]))),
            1 => self.field(list(gap, 3)),
        ]
        .boxed();
        self.object(vec![
            (
                "spec",
                self.nested(vec![
                    (
                        "baselineProfileRef",
                        self.local_ref("win11", &["win10", ""]),
                    ),
                    ("operationRunRef", self.run_ref()),
                ]),
            ),
            (
                "status",
                self.nested(vec![
                    ("state", self.mostly("Finalized", &["Capturing", ""])),
                    (
                        "summary",
                        self.summary("subjectsTotal", &["captured"], vec![("gaps", gaps)]),
                    ),
                    (
                        "fallbackUsed",
                        self.field(
                            prop_oneof![3 => Just(json!(false)), 1 => Just(json!(true))].boxed(),
                        ),
                    ),
                    ("failures", self.failures()),
                ]),
            ),
        ])
    }
}

/// Artifacts of one kind, each with a name of its own and a namespace (mostly the run's).
fn artifacts(kind: &'static str, body: BoxedStrategy<Value>) -> BoxedStrategy<Vec<Value>> {
    let namespace = Gen { odd: 300 }.mostly(NS, &["other-ns", ""]);
    pvec((body, namespace), 0..3)
        .prop_map(move |items| {
            items
                .into_iter()
                .enumerate()
                .map(|(i, (mut body, namespace))| {
                    let mut metadata = Map::new();
                    metadata.insert("name".into(), json!(format!("{}-{i}", kind.to_lowercase())));
                    metadata.insert("uid".into(), json!(format!("{kind}-uid-{i}")));
                    if let Some(namespace) = namespace {
                        metadata.insert("namespace".into(), namespace);
                    }
                    if let Value::Object(map) = &mut body {
                        map.insert("apiVersion".into(), json!(API_VERSION));
                        map.insert("kind".into(), json!(kind));
                        map.insert("metadata".into(), Value::Object(metadata));
                    }
                    body
                })
                .collect()
        })
        .boxed()
}

// The proof, from the raw JSON alone: what a success needs, checked without the crate's types.
include!("lenient_readers/proof.rs");

// ---------------------------------------------------------------------------------------
// The properties

/// Objects read directly, as the controller's stores read them: an artifact whose metadata
/// cannot be read cannot be named and never reaches `decide`.
fn direct(run: &Value, sets: &[Value], snapshots: &[Value]) -> Result<(), TestCaseError> {
    let parsed_sets: Vec<_> = sets
        .iter()
        .filter_map(|s| BackupSet::salvage(s).ok().map(|p| (s, p)))
        .collect();
    let parsed_snapshots: Vec<_> = snapshots
        .iter()
        .filter_map(|s| BaselineSnapshot::salvage(s).ok().map(|p| (s, p)))
        .collect();
    let Ok(parsed_run) = OperationRun::salvage(run) else {
        // not even the run's metadata can be read: there is no run to decide
        return Ok(());
    };
    let evidence = Evidence {
        backup_sets: parsed_sets.iter().map(|(_, p)| p).collect(),
        baseline_snapshots: parsed_snapshots.iter().map(|(_, p)| p).collect(),
    };
    let decision = decide(&parsed_run, &evidence, now(), &Config::default());
    let raw_sets: Vec<&Value> = parsed_sets.iter().map(|(raw, _)| *raw).collect();
    let raw_snapshots: Vec<&Value> = parsed_snapshots.iter().map(|(raw, _)| *raw).collect();
    check(&decision, run, &raw_sets, &raw_snapshots, None)
}

/// The same objects written as one YAML or JSON file and read back as `evaluate` reads
/// them: the text reads back as the same values; the file is either refused as a whole or
/// decided with nothing left out.
fn from_text(
    run: &Value,
    sets: &[Value],
    snapshots: &[Value],
    yaml: bool,
) -> Result<(), TestCaseError> {
    let objects: Vec<&Value> = std::iter::once(run).chain(sets).chain(snapshots).collect();
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let file: PathBuf = dir
        .path()
        .join(if yaml { "objects.yaml" } else { "objects.json" });
    let text = if yaml {
        let docs: Result<Vec<String>, _> = objects.iter().map(serde_norway::to_string).collect();
        docs.map_err(|e| TestCaseError::fail(e.to_string()))?
            .join("---\n")
    } else {
        let docs: Result<Vec<String>, _> = objects.iter().map(serde_json::to_string).collect();
        docs.map_err(|e| TestCaseError::fail(e.to_string()))?
            .join("\n")
    };
    let read =
        manifests::documents(&file, &text).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let values: Vec<&Value> = read.iter().map(|(_, v)| v).collect();
    prop_assert_eq!(values, objects.clone(), "read back from {}", text);
    std::fs::write(&file, &text).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let Ok(loaded) = manifests::load(std::slice::from_ref(&file)) else {
        return Ok(());
    };
    prop_assert_eq!(
        loaded.backup_sets.len(),
        sets.len(),
        "no artifact is left out"
    );
    prop_assert_eq!(loaded.baseline_snapshots.len(), snapshots.len());
    let results = evaluate::evaluate(&loaded, now(), &Config::default());
    prop_assert_eq!(results.len(), 1);
    let raw_sets: Vec<&Value> = sets.iter().collect();
    let raw_snapshots: Vec<&Value> = snapshots.iter().collect();
    for (_, decision) in &results {
        check(decision, run, &raw_sets, &raw_snapshots, Some("default"))?;
    }
    Ok(())
}

fn inputs() -> impl Strategy<Value = (Value, Vec<Value>, Vec<Value>)> {
    // mostly well-formed, a little odd, or very odd
    select(&[2u32, 2, 100, 800][..]).prop_flat_map(|odd| {
        let g = Gen { odd };
        (
            g.run(),
            artifacts("BackupSet", g.backup_set()),
            artifacts("BaselineSnapshot", g.baseline_snapshot()),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..config() })]

    /// Read directly, no input panics, and no success goes unproven.
    #[test]
    fn salvaged_objects_never_give_an_unproven_success((run, sets, snapshots) in inputs()) {
        direct(&run, &sets, &snapshots)?;
    }
}

proptest! {
    // each case writes a file
    #![proptest_config(config())]

    /// Read from YAML text as `evaluate` reads it: the same.
    #[test]
    fn yaml_files_never_give_an_unproven_success((run, sets, snapshots) in inputs()) {
        from_text(&run, &sets, &snapshots, true)?;
    }

    /// Read from JSON text as `evaluate` reads it: the same.
    #[test]
    fn json_files_never_give_an_unproven_success((run, sets, snapshots) in inputs()) {
        from_text(&run, &sets, &snapshots, false)?;
    }
}

/// The inputs reach every kind of answer often enough for the properties to mean
/// something: successes of each family among them.
#[test]
fn the_inputs_reach_successes_of_every_family() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::collections::BTreeMap;

    let mut runner = TestRunner::deterministic();
    let strategy = inputs();
    let mut seen: BTreeMap<(String, &str), usize> = BTreeMap::new();
    let cases = 2000;
    for _ in 0..cases {
        let (run, sets, snapshots) = strategy.new_tree(&mut runner).expect("a case").current();
        let Ok(parsed) = OperationRun::salvage(&run) else {
            continue;
        };
        let sets: Vec<_> = sets
            .iter()
            .filter_map(|s| BackupSet::salvage(s).ok())
            .collect();
        let snapshots: Vec<_> = snapshots
            .iter()
            .filter_map(|s| BaselineSnapshot::salvage(s).ok())
            .collect();
        let evidence = Evidence {
            backup_sets: sets.iter().collect(),
            baseline_snapshots: snapshots.iter().collect(),
        };
        let decision = decide(&parsed, &evidence, now(), &Config::default());
        if let Some(verdict) = decision.verdict {
            let family = string(&run, &["spec", "type"]).unwrap_or("?").to_string();
            *seen.entry((family, verdict.reason.as_str())).or_default() += 1;
        }
    }
    println!("verdicts in {cases} cases: {seen:#?}");
    for family in [BACKUP, CAPTURE, INVENTORY] {
        for reason in [Reason::Succeeded, Reason::PartiallySucceeded] {
            let n = seen
                .get(&(family.to_string(), reason.as_str()))
                .copied()
                .unwrap_or(0);
            assert!(n >= 5, "{family} {} only {n} times", reason.as_str());
        }
    }
}

/// The proof is checked on its own: a success decided on a view that misses one of two
/// in-scope claims (a lagging cache) is caught.
#[test]
fn a_success_decided_on_a_partial_view_is_caught() {
    let run = json!({
        "apiVersion": API_VERSION, "kind": "OperationRun",
        "metadata": {"name": RUN, "namespace": NS, "uid": RUN_UID, "creationTimestamp": "2026-11-26T10:00:00Z"},
        "spec": {"type": BACKUP, "backupScheduleRef": {"name": "nightly"}},
        "status": {"phase": "Running", "heartbeatTime": "2026-11-26T11:00:00Z"}
    });
    let set = |name: &str| {
        json!({
            "apiVersion": API_VERSION, "kind": "BackupSet",
            "metadata": {"name": name, "namespace": NS, "uid": name},
            "spec": {"backupScheduleRef": {"name": "nightly"}, "operationRunRef": {"name": RUN, "uid": RUN_UID}},
            "status": {"state": "Finalized", "summary": {"itemsTotal": 3, "succeeded": 3}}
        })
    };
    let (first, second) = (set("first"), set("second"));
    let parsed = OperationRun::salvage(&run).expect("a run");
    let seen = BackupSet::salvage(&first).expect("a set");
    let evidence = Evidence {
        backup_sets: vec![&seen],
        baseline_snapshots: Vec::new(),
    };
    let decision = decide(&parsed, &evidence, now(), &Config::default());
    assert_eq!(
        decision.verdict.as_ref().map(|v| v.reason),
        Some(Reason::Succeeded)
    );
    assert!(check(&decision, &run, &[&first], &[], None).is_ok());
    let caught = check(&decision, &run, &[&first, &second], &[], None);
    assert!(caught.is_err(), "two in-scope claims prove nothing");
}

/// Serde reads a struct from a sequence of its fields in order; a claim written that way
/// (`operationRunRef: [nightly, u-1]`) is of the wrong type, so it is in scope and
/// malformed, and never evidence: here it blocks the success the other claim would give.
#[test]
fn structs_written_as_sequences_are_unreadable() {
    let run = json!({
        "apiVersion": API_VERSION, "kind": "OperationRun",
        "metadata": {"name": RUN, "namespace": NS, "uid": RUN_UID, "creationTimestamp": "2026-11-26T10:00:00Z"},
        "spec": {"type": BACKUP, "backupScheduleRef": {"name": "nightly"}},
        "status": {"phase": "Running", "heartbeatTime": "2026-11-26T11:00:00Z"}
    });
    let good = json!({
        "apiVersion": API_VERSION, "kind": "BackupSet",
        "metadata": {"name": "good", "namespace": NS, "uid": "b-1"},
        "spec": {"backupScheduleRef": {"name": "nightly"}, "operationRunRef": {"name": RUN, "uid": RUN_UID}},
        "status": {"state": "Finalized", "summary": {"itemsTotal": 1, "succeeded": 1}}
    });
    let positional = json!({
        "apiVersion": API_VERSION, "kind": "BackupSet",
        "metadata": {"name": "positional", "namespace": NS, "uid": "b-2"},
        "spec": {"backupScheduleRef": [], "operationRunRef": [RUN, RUN_UID]},
        "status": {"state": "Finalized", "summary": [3, 3, 0, 0]}
    });
    let parsed = BackupSet::salvage(&positional).expect("named");
    assert_eq!(
        parsed.problem.as_deref(),
        Some("spec.backupScheduleRef: a sequence where a mapping belongs")
    );
    let run_parsed = OperationRun::salvage(&run).expect("a run");
    for sets in [vec![&positional], vec![&good, &positional]] {
        let parsed: Vec<_> = sets
            .iter()
            .map(|s| BackupSet::salvage(s).expect("named"))
            .collect();
        let evidence = Evidence {
            backup_sets: parsed.iter().collect(),
            baseline_snapshots: Vec::new(),
        };
        let decision = decide(&run_parsed, &evidence, now(), &Config::default());
        let reason = decision.verdict.map(|v| v.reason);
        assert!(
            matches!(
                reason,
                Some(Reason::InvalidEvidence | Reason::AmbiguousEvidence)
            ),
            "{reason:?}"
        );
    }
}
