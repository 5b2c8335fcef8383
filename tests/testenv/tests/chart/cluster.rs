//! The chart applied to a real API server: RBAC as `kubectl auth can-i` answers it, Pod
//! Security admission, and helm install, upgrade and uninstall.

use super::*;

fn kubectl_apply(cp: &ControlPlane, manifest: &str) -> String {
    let mut cmd = cp.kubectl();
    cmd.args([
        "apply",
        "--server-side",
        "--field-manager=chart-test",
        "--validate=strict",
        "-f",
        "-",
    ]);
    run_ok(cmd, Some(manifest))
}

/// `kubectl auth can-i ARGS --as USER`: true for yes, false for no.
fn can_i(cp: &ControlPlane, user: &str, args: &[&str]) -> bool {
    let mut cmd = cp.kubectl();
    cmd.args(["auth", "can-i"])
        .args(args)
        .arg(format!("--as={user}"));
    let out = output(cmd, None);
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match answer.as_str() {
        "yes" => true,
        "no" => false,
        _ => panic!(
            "kubectl auth can-i {args:?}: {answer:?} {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn check_can_i(cp: &ControlPlane, user: &str, cases: &[(bool, &str)]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|&(expected, args)| {
            let argv: Vec<&str> = args.split_whitespace().collect();
            let got = can_i(cp, user, &argv);
            (got != expected).then(|| {
                format!(
                    "{user} can-i {args}: {} (expected {})",
                    if got { "yes" } else { "no" },
                    if expected { "yes" } else { "no" }
                )
            })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const OPRUNS: &str = "operationruns.ops.tenantatlas.io";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_applies_and_rbac_is_least_privilege() {
    let cp = ControlPlane::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // The static manifest in one step: Namespace, CRDs, and the chart with
    // default values (static_manifest_is_the_fresh_render proves it is the
    // fresh `helm template --include-crds`).
    let manifest =
        std::fs::read_to_string(repo_root().join("deploy/operationrun-controller.yaml")).unwrap();
    kubectl_apply(&cp, &manifest);
    let mut cmd = cp.kubectl();
    cmd.args(["wait", "--for=condition=Established", "--timeout=60s"])
        .args(["crd", OPRUNS])
        .args([
            "backupsets.ops.tenantatlas.io",
            "baselinesnapshots.ops.tenantatlas.io",
        ]);
    run_ok(cmd, None);

    // Namespaced mode, two replicas, in other namespaces, created first.
    for ns in ["operationrun-ha", "tenant-a", "tenant-b", "tenant-c"] {
        let mut cmd = cp.kubectl();
        cmd.args(["create", "namespace", ns]);
        run_ok(cmd, None);
    }
    let mut ha_args = HA_VALUES.to_vec();
    ha_args.extend([
        "--include-crds",
        "--set",
        "networkPolicy.enabled=true",
        "--set",
        "dryRun=true",
    ]);
    let ha = try_render("oprun-ha", "operationrun-ha", &ha_args).unwrap();
    kubectl_apply(&cp, &ha);

    let mut cmd = cp.kubectl();
    cmd.args(["get", "deploy,sa,svc,pdb,role,rolebinding,networkpolicy"])
        .args(["-n", "operationrun-ha", "-o", "name"]);
    let names = run_ok(cmd, None);
    for expected in [
        "deployment.apps/oprun-ha-operationrun-controller",
        "serviceaccount/oprun-ha-operationrun-controller",
        "service/oprun-ha-operationrun-controller-metrics",
        "poddisruptionbudget.policy/oprun-ha-operationrun-controller",
        "role.rbac.authorization.k8s.io/oprun-ha-operationrun-controller-leader-election",
        "networkpolicy.networking.k8s.io/oprun-ha-operationrun-controller",
    ] {
        assert!(names.lines().any(|l| l == expected), "{expected}:\n{names}");
    }

    // Pod Security admission judges the pod the Deployment would create, in
    // the namespace the static manifest labels `enforce: restricted`.
    let deploy = one(&docs(&manifest), "Deployment").clone();
    let pod = |name: &str, spec: &Value| {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS},
            "spec": spec,
        })
        .to_string()
    };
    let spec = &deploy["spec"]["template"]["spec"];
    let mut cmd = cp.kubectl();
    cmd.args(["create", "-f", "-"]);
    run_ok(cmd, Some(&pod("restricted-ok", spec)));
    // A control: the same pod made privileged is refused there.
    let mut weak = spec.clone();
    weak["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = true.into();
    let mut cmd = cp.kubectl();
    cmd.args(["create", "-f", "-"]);
    let out = output(cmd, Some(&pod("restricted-refused", &weak)));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("violates PodSecurity \"restricted:latest\""),
        "{stderr}"
    );

    // --- RBAC as the API server sees it -------------------------------------
    let cluster: &[(bool, &str)] = &[
        // Read the three kinds, everywhere.
        (true, "get operationruns.ops.tenantatlas.io -n tenant-c"),
        (true, "list operationruns.ops.tenantatlas.io -A"),
        (true, "watch operationruns.ops.tenantatlas.io -A"),
        (true, "list backupsets.ops.tenantatlas.io -A"),
        (true, "watch baselinesnapshots.ops.tenantatlas.io -A"),
        (true, "get baselinesnapshots.ops.tenantatlas.io -n tenant-a"),
        // Write the conditions through the status subresource, only by patch.
        (
            true,
            "patch operationruns.ops.tenantatlas.io --subresource=status -n tenant-a",
        ),
        (
            false,
            "update operationruns.ops.tenantatlas.io --subresource=status -n tenant-a",
        ),
        (false, "patch operationruns.ops.tenantatlas.io -n tenant-a"),
        (false, "update operationruns.ops.tenantatlas.io -n tenant-a"),
        (false, "create operationruns.ops.tenantatlas.io -n tenant-a"),
        (false, "delete operationruns.ops.tenantatlas.io -n tenant-a"),
        // Never touch the artifacts.
        (false, "patch backupsets.ops.tenantatlas.io -n tenant-a"),
        (
            false,
            "patch backupsets.ops.tenantatlas.io --subresource=status -n tenant-a",
        ),
        (
            false,
            "update baselinesnapshots.ops.tenantatlas.io -n tenant-a",
        ),
        (
            false,
            "delete baselinesnapshots.ops.tenantatlas.io -n tenant-a",
        ),
        // Events: events.k8s.io only, create and patch.
        (true, "create events.events.k8s.io -n tenant-a"),
        (true, "patch events.events.k8s.io -n tenant-a"),
        (false, "delete events.events.k8s.io -n tenant-a"),
        (false, "create events -n tenant-a"),
        // Its own Lease in the release namespace.
        (
            true,
            "create leases.coordination.k8s.io -n operationrun-system",
        ),
        (
            true,
            "get leases.coordination.k8s.io/operationrun-controller -n operationrun-system",
        ),
        (
            true,
            "update leases.coordination.k8s.io/operationrun-controller -n operationrun-system",
        ),
        (
            false,
            "delete leases.coordination.k8s.io/operationrun-controller -n operationrun-system",
        ),
        (
            false,
            "get leases.coordination.k8s.io/someone-else -n operationrun-system",
        ),
        (
            false,
            "list leases.coordination.k8s.io -n operationrun-system",
        ),
        (false, "create leases.coordination.k8s.io -n tenant-a"),
        // Nothing else.
        (false, "get secrets -n operationrun-system"),
        (false, "list secrets -A"),
        (false, "get configmaps -n tenant-a"),
        (false, "list pods -A"),
        (
            false,
            "create customresourcedefinitions.apiextensions.k8s.io",
        ),
        (false, "* *"),
    ];
    check_can_i(&cp, SA, cluster);

    let ha_sa = "system:serviceaccount:operationrun-ha:oprun-ha-operationrun-controller";
    let namespaced: &[(bool, &str)] = &[
        (true, "list operationruns.ops.tenantatlas.io -n tenant-a"),
        (true, "watch backupsets.ops.tenantatlas.io -n tenant-b"),
        (
            true,
            "patch operationruns.ops.tenantatlas.io --subresource=status -n tenant-b",
        ),
        (true, "create events.events.k8s.io -n tenant-a"),
        // Not outside its namespaces, and not cluster-wide.
        (false, "list operationruns.ops.tenantatlas.io -n tenant-c"),
        (false, "list operationruns.ops.tenantatlas.io -A"),
        (
            false,
            "patch operationruns.ops.tenantatlas.io --subresource=status -n tenant-c",
        ),
        (false, "create events.events.k8s.io -n tenant-c"),
        (
            false,
            "list operationruns.ops.tenantatlas.io -n operationrun-ha",
        ),
        (false, "patch backupsets.ops.tenantatlas.io -n tenant-a"),
        (true, "create leases.coordination.k8s.io -n operationrun-ha"),
        (
            true,
            "update leases.coordination.k8s.io/oprun-ha-operationrun-controller -n operationrun-ha",
        ),
        (
            false,
            "update leases.coordination.k8s.io/operationrun-controller -n operationrun-ha",
        ),
        (
            false,
            "create leases.coordination.k8s.io -n operationrun-system",
        ),
        (false, "get secrets -n tenant-a"),
    ];
    check_can_i(&cp, ha_sa, namespaced);

    // --- the read role for people, aggregated to view, edit and admin --------
    // No kube-controller-manager runs here to aggregate rules, so the chain is checked
    // on the API server's own bootstrap roles: `view` selects the chart's role, `edit`
    // selects `view` and `admin` selects `edit`.
    let cluster_role = |name: &str| -> Value {
        let mut cmd = cp.kubectl();
        cmd.args(["get", "clusterrole", name, "-o", "json"]);
        serde_json::from_str(&run_ok(cmd, None)).unwrap()
    };
    let selects = |aggregator: &Value, role: &Value| -> bool {
        let labels = &role["metadata"]["labels"];
        aggregator["aggregationRule"]["clusterRoleSelectors"]
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .any(|sel| {
                sel.get("matchExpressions").is_none()
                    && sel["matchLabels"]
                        .as_object()
                        .is_some_and(|m| m.iter().all(|(k, v)| labels[k] == *v))
            })
    };
    let view_role = cluster_role("operationrun-controller-view");
    let (view, edit, admin) = (
        cluster_role("view"),
        cluster_role("edit"),
        cluster_role("admin"),
    );
    assert!(
        selects(&view, &view_role),
        "view does not aggregate {view_role}"
    );
    assert!(selects(&edit, &view), "edit does not include view: {edit}");
    assert!(
        selects(&admin, &edit),
        "admin does not include edit: {admin}"
    );
    assert!(!selects(&edit, &view_role) && !selects(&admin, &view_role));

    // --- a second release of the same name, in another namespace --------------
    // Its cluster-scoped objects have names of their own: the first release's keep
    // binding the first ServiceAccount.
    let mut cmd = cp.kubectl();
    cmd.args(["create", "namespace", "operationrun-second"]);
    run_ok(cmd, None);
    let second = try_render(RELEASE, "operationrun-second", &[]).unwrap();
    kubectl_apply(&cp, &second);
    let second_sa = "system:serviceaccount:operationrun-second:operationrun-controller";
    check_can_i(
        &cp,
        second_sa,
        &[
            (true, "list operationruns.ops.tenantatlas.io -A"),
            (
                true,
                "patch operationruns.ops.tenantatlas.io --subresource=status -n tenant-c",
            ),
            (
                true,
                "update leases.coordination.k8s.io/operationrun-controller -n operationrun-second",
            ),
            (
                false,
                "update leases.coordination.k8s.io/operationrun-controller -n operationrun-system",
            ),
        ],
    );
    check_can_i(&cp, SA, cluster);
    let mut cmd = cp.kubectl();
    cmd.args(["get", "clusterrolebinding", "-o", "json"])
        .args(["-l", "app.kubernetes.io/instance=operationrun-controller"]);
    let bindings: Value = serde_json::from_str(&run_ok(cmd, None)).unwrap();
    let subjects: BTreeSet<(String, String)> = bindings["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["metadata"]["name"].as_str().unwrap().to_string(),
                b["subjects"][0]["namespace"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        subjects,
        BTreeSet::from([
            ("operationrun-controller".to_string(), NS.to_string()),
            (
                "operationrun-controller.operationrun-second".to_string(),
                "operationrun-second".to_string()
            ),
        ])
    );
}

/// The CRD design the README describes, with the real helm against the real
/// API server: CRDs as templates (`crds.install`, `--skip-crds`) survive
/// `helm uninstall` when kept; CRDs from `crds/` are never deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_upgrade_uninstall_keeps_crds() {
    let cp = ControlPlane::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let helm = |args: &[&str]| {
        let mut cmd = cp.helm();
        cmd.args(args);
        run_ok(cmd, None)
    };
    let chart = chart_dir();
    let chart = chart.to_str().unwrap();
    let crd_names = [
        "operationruns.ops.tenantatlas.io",
        "backupsets.ops.tenantatlas.io",
        "baselinesnapshots.ops.tenantatlas.io",
    ];
    let crd = |name: &str| -> Option<Value> {
        let mut cmd = cp.kubectl();
        cmd.args(["get", "crd", name, "-o", "json", "--ignore-not-found"]);
        let out = run_ok(cmd, None);
        (!out.trim().is_empty()).then(|| serde_json::from_str(&out).unwrap())
    };
    let deployments = |ns: &str| {
        let mut cmd = cp.kubectl();
        cmd.args(["get", "deploy", "-n", ns, "-o", "name"]);
        run_ok(cmd, None)
    };

    // CRDs as release templates, kept on uninstall.
    helm(&[
        "install",
        RELEASE,
        chart,
        "-n",
        NS,
        "--create-namespace",
        "--skip-crds",
        "--set",
        "crds.install=true",
    ]);
    for name in crd_names {
        let c = crd(name).unwrap_or_else(|| panic!("{name} not installed"));
        assert_eq!(
            c["metadata"]["annotations"]["helm.sh/resource-policy"],
            "keep"
        );
        assert_eq!(
            c["metadata"]["annotations"]["meta.helm.sh/release-name"],
            RELEASE
        );
    }
    helm(&[
        "upgrade",
        RELEASE,
        chart,
        "-n",
        NS,
        "--set",
        "crds.install=true",
        "--set",
        "replicaCount=2",
    ]);
    assert!(deployments(NS).contains("operationrun-controller"));
    let out = helm(&["uninstall", RELEASE, "-n", NS]);
    assert!(out.contains("kept due to the resource policy"), "{out}");
    assert!(deployments(NS).trim().is_empty(), "the release is gone");
    for name in crd_names {
        assert!(crd(name).is_some(), "{name} deleted by helm uninstall");
    }

    // Default: crds/ (existing CRDs are left as they are), never deleted. Two releases
    // of one name in two namespaces: Helm would refuse the second if any of its
    // cluster-scoped objects had the first one's name (it owns none of the first's).
    for ns in ["operationrun-default", "operationrun-default-2"] {
        helm(&["install", "default", chart, "-n", ns, "--create-namespace"]);
        assert!(deployments(ns).contains("default-operationrun-controller"));
    }
    for ns in ["operationrun-default", "operationrun-default-2"] {
        helm(&["uninstall", "default", "-n", ns]);
    }
    for name in crd_names {
        assert!(crd(name).is_some(), "{name} deleted by helm uninstall");
    }
}
