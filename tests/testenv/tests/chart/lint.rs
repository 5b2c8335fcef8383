//! `helm lint --strict`, and the values the schema and the templates' checks refuse.

use super::*;

#[test]
fn helm_lint_passes() {
    for args in [&[][..], HA_VALUES, &["--set", "crds.install=true"]] {
        let scratch = Scratch::new("lint");
        let mut cmd = helm(&scratch);
        cmd.args(["lint", "--strict"]).arg(chart_dir()).args(args);
        let out = run_ok(cmd, None);
        assert!(out.contains("0 chart(s) failed"), "{out}");
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
}
