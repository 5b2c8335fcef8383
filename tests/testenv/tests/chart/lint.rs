//! `helm lint --strict`, and the values the schema and the templates' checks refuse.

use super::*;

#[test]
fn helm_lint_passes() {
    let files = ci_value_files();
    assert!(files.len() >= 5, "{files:?}");
    let ci: Vec<[String; 2]> = files
        .iter()
        .map(|f| ["--values".to_string(), f.to_str().unwrap().to_string()])
        .collect();
    let mut sets: Vec<Vec<&str>> = vec![
        vec![],
        HA_VALUES.to_vec(),
        vec!["--set", "crds.install=true"],
    ];
    sets.extend(ci.iter().map(|a| a.iter().map(String::as_str).collect()));
    for args in sets {
        let scratch = Scratch::new("lint");
        let mut cmd = helm(&scratch);
        cmd.args(["lint", "--strict"]).arg(chart_dir()).args(&args);
        let out = run_ok(cmd, None);
        assert!(out.contains("0 chart(s) failed"), "{args:?}: {out}");
    }
}

#[test]
fn schema_and_checks_reject_bad_values() {
    let cases: &[(&[&str], &str)] = &[
        (&["--set", "logFormat=xml"], "/logFormat"),
        (
            &["--set", "unknownKey=1"],
            "additional properties 'unknownKey'",
        ),
        (&["--set", "image.tagg=1"], "additional properties 'tagg'"),
        (&["--set", "replicaCount=0"], "/replicaCount"),
        (&["--set", "concurrency=many"], "/concurrency"),
        (&["--set", "concurrency=65"], "/concurrency"),
        (
            &["--set", "timeouts.queuedSeconds=0"],
            "/timeouts/queuedSeconds",
        ),
        (
            &["--set", "timeouts.abandonAfterSeconds=-1"],
            "/timeouts/abandonAfterSeconds",
        ),
        (&["--set", "metrics.port=70000"], "/metrics/port"),
        (&["--set", "watchNamespaces={a,a}"], "/watchNamespaces"),
        (&["--set", "watchNamespaces={Tenant_A}"], "/watchNamespaces"),
        (
            &["--set", "image.pullPolicy=Sometimes"],
            "/image/pullPolicy",
        ),
        (&["--set", "crds.keep=yes"], "/crds/keep"),
        (&["--set", "events.qps=0"], "/events/qps"),
        (&["--set", "events.queue=100001"], "/events/queue"),
        (
            &["--set", "requestTimeoutSeconds=301"],
            "/requestTimeoutSeconds",
        ),
        (
            &["--set", "unsyncedTimeoutSeconds=0"],
            "/unsyncedTimeoutSeconds",
        ),
        (
            &["--set", "serviceAccount.name=Not_A_Name"],
            "/serviceAccount/name",
        ),
        (
            &["--set", "serviceMonitor.scrapeTimeout=ten"],
            "/serviceMonitor/scrapeTimeout",
        ),
        (
            &["--set", "prometheusRule.namespace=Mon"],
            "/prometheusRule/namespace",
        ),
        (
            &["--set", "grafanaDashboard.label=x"],
            "additional properties 'label'",
        ),
        (
            &["--set", "rbac.aggregateToView=yes"],
            "/rbac/aggregateToView",
        ),
        (&["--set", "extraEnv[0].value=x"], "/extraEnv/0"),
        (
            &["--set", "serviceAccount.create=false"],
            "serviceAccount.create=false requires serviceAccount.name",
        ),
        (
            &["--set", "extraArgs={--event-qps=50}"],
            "the chart sets --event-qps itself: use events.qps",
        ),
        (
            &["--set", "extraArgs={--concurrency}"],
            "the chart sets --concurrency itself: use concurrency",
        ),
        (
            &["--set", "extraArgs={--namespace=tenant-a}"],
            "the chart sets --namespace itself: use watchNamespaces",
        ),
        (
            &["--set", "extraArgs={--lease-namespace=kube-system}"],
            "the chart sets --lease-namespace itself",
        ),
        (
            &["--set", "extraArgs={--no-leader-election}"],
            "use leaderElection.enabled=false",
        ),
        (
            &["--set", "dryRun=true", "--set", "extraArgs={--dry-run}"],
            "the chart sets --dry-run itself: use dryRun",
        ),
        (
            &["--set", "extraEnv[0].name=POD_NAMESPACE"],
            "extraEnv: POD_NAMESPACE is set by the chart",
        ),
        (
            &[
                "--set",
                "serviceMonitor.interval=30s",
                "--set",
                "serviceMonitor.scrapeTimeout=1m",
            ],
            "scrapeTimeout must not be longer than serviceMonitor.interval",
        ),
        (
            &[
                "--set",
                "replicaCount=2",
                "--set",
                "leaderElection.enabled=false",
            ],
            "requires leaderElection.enabled",
        ),
        (
            &[
                "--set",
                "replicaCount=2",
                "--set",
                "podDisruptionBudget.minAvailable=2",
            ],
            "minAvailable must be less than replicaCount",
        ),
    ];
    for (args, expected) in cases {
        match try_render(RELEASE, NS, args) {
            Ok(_) => panic!("{args:?} was accepted"),
            Err(e) => assert!(e.contains(expected), "{args:?}: {e}"),
        }
    }
    // A parent chart's `global` is not an unknown key.
    try_render(RELEASE, NS, &["--set", "global.foo=1"]).unwrap();
    // The checks are no wider than they say: a timeout equal to the interval, one given
    // in other units, a flag of `run` the chart does not pass.
    try_render(
        RELEASE,
        NS,
        &[
            "--set",
            "serviceMonitor.interval=1m",
            "--set",
            "serviceMonitor.scrapeTimeout=59s1000ms",
            "--set",
            "extraArgs={--dry-run}",
        ],
    )
    .unwrap();
}
