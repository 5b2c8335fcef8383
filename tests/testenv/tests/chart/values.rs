//! The values matrix, offline: each `ci/*-values.yaml` (the value sets
//! scripts/check-manifests.sh lints with `helm lint --strict`, validates with kubeconform
//! and scores with kube-score) rendered and checked for what it says it does; the names of
//! several releases in one cluster; the PrometheusRule and the dashboard against their one
//! source in the chart's `files/`.

use serde_json::json;

use super::rbac::{documented_grants, grants};
use super::*;

/// The path of `ci/<name>-values.yaml`.
fn ci_values(name: &str) -> String {
    let path = chart_dir().join("ci").join(format!("{name}-values.yaml"));
    assert!(path.is_file(), "{} missing", path.display());
    path.to_str().unwrap().to_string()
}

fn render_ci(release: &str, namespace: &str, name: &str) -> Vec<Value> {
    let file = ci_values(name);
    docs(&try_render(release, namespace, &["--values", &file]).unwrap_or_else(|e| panic!("{e}")))
}

fn pod_spec(docs: &[Value]) -> Value {
    one(docs, "Deployment")["spec"]["template"]["spec"].clone()
}

/// A file of the repository.
fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The PrometheusRule of `files/prometheus-rules.yaml`, the alerts' one source.
fn rules_source() -> Value {
    let d = docs(&read(
        "charts/operationrun-controller/files/prometheus-rules.yaml",
    ));
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["kind"], "PrometheusRule");
    d[0].clone()
}

fn alert_names(spec: &Value) -> Vec<String> {
    spec["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().iter())
        .map(|r| r["alert"].as_str().unwrap().to_string())
        .collect()
}

/// Every optional object, with every value away from its default.
#[test]
fn all_values_render_every_optional_object() {
    let d = render_ci(RELEASE, NS, "all");
    let kinds: BTreeSet<&str> = d.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    for kind in [
        "ServiceMonitor",
        "PrometheusRule",
        "ConfigMap",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "CustomResourceDefinition",
        "ValidatingAdmissionPolicy",
    ] {
        assert!(kinds.contains(kind), "no {kind} in {kinds:?}");
    }

    let sa = one(&d, "ServiceAccount");
    assert_eq!(
        sa["metadata"]["annotations"]["example.com/owner"],
        "platform"
    );

    let svc = one(&d, "Service");
    assert_eq!(svc["metadata"]["annotations"]["example.com/scrape"], "true");
    assert_eq!(svc["spec"]["ports"][0]["port"], 9090);

    // The ServiceMonitor in the monitoring namespace, selecting the Service in the
    // release namespace, with every scrape value.
    let sm = one(&d, "ServiceMonitor");
    assert_eq!(sm["metadata"]["namespace"], "monitoring");
    assert_eq!(sm["metadata"]["labels"]["release"], "kube-prometheus-stack");
    assert_eq!(sm["spec"]["namespaceSelector"]["matchNames"], json!([NS]));
    assert_eq!(
        sm["spec"]["selector"]["matchLabels"], svc["spec"]["selector"],
        "the ServiceMonitor selects the metrics Service"
    );
    let ep = &sm["spec"]["endpoints"][0];
    assert_eq!(ep["port"], svc["spec"]["ports"][0]["name"]);
    assert_eq!(ep["interval"], "30s");
    assert_eq!(ep["scrapeTimeout"], "10s");
    assert_eq!(ep["relabelings"][0]["targetLabel"], "node");
    assert_eq!(ep["metricRelabelings"][0]["action"], "drop");

    let rule = one(&d, "PrometheusRule");
    assert_eq!(rule["metadata"]["namespace"], "monitoring");
    assert_eq!(
        rule["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    assert_eq!(rule["spec"], rules_source()["spec"]);

    let dashboard = one(&d, "ConfigMap");
    assert_eq!(dashboard["metadata"]["namespace"], "monitoring");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(
        dashboard["metadata"]["annotations"]["grafana_folder"],
        "Operations"
    );

    // The Deployment: spread over zones among its own pods, the extra environment
    // after the chart's, the extra args last, the pod securityContext merged.
    let pod = pod_spec(&d);
    let selector = &one(&d, "Deployment")["spec"]["selector"]["matchLabels"];
    let spread = &pod["topologySpreadConstraints"][0];
    assert_eq!(spread["topologyKey"], "topology.kubernetes.io/zone");
    assert_eq!(spread["labelSelector"]["matchLabels"], *selector);
    let c = container(&d);
    let env: Vec<&str> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(env, ["POD_NAMESPACE", "POD_NAME", "RUST_BACKTRACE"]);
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args.last(), Some(&"--dry-run"));
    for flag in [
        "--event-qps=50",
        "--event-queue=4096",
        "--request-timeout=10",
        "--unsynced-timeout=300",
        "--log-level=info,kube_runtime=warn",
    ] {
        assert!(args.contains(&flag), "{flag} not in {args:?}");
    }
    assert_eq!(pod["securityContext"]["fsGroup"], 65532);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
}

/// OpenShift's restricted-v2 assigns the UID and GID: the render asks for none, and keeps
/// every other setting of the default securityContexts.
#[test]
fn openshift_values_leave_the_uid_to_the_platform() {
    let default = docs(&render(&[]));
    let openshift = render_ci(RELEASE, NS, "openshift");
    let strip = |sc: &Value| {
        let mut sc = sc.clone();
        let map = sc.as_object_mut().unwrap();
        assert!(map.remove("runAsUser").is_some());
        assert!(map.remove("runAsGroup").is_some());
        sc
    };
    let pod = pod_spec(&openshift)["securityContext"].clone();
    assert!(
        pod["runAsUser"].is_null() && pod["runAsGroup"].is_null(),
        "{pod}"
    );
    assert_eq!(pod, strip(&pod_spec(&default)["securityContext"]));
    let sc = container(&openshift)["securityContext"].clone();
    assert!(
        sc["runAsUser"].is_null() && sc["runAsGroup"].is_null(),
        "{sc}"
    );
    assert_eq!(sc, strip(&container(&default)["securityContext"]));
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
}

/// Values merge into the default securityContexts key by key; null removes a key.
#[test]
fn security_contexts_merge_with_the_defaults() {
    let d = docs(&render(&[
        "--set",
        "podSecurityContext.fsGroup=2000",
        "--set",
        "securityContext.readOnlyRootFilesystem=false",
        "--set",
        "securityContext.runAsUser=null",
    ]));
    let pod = &pod_spec(&d)["securityContext"];
    assert_eq!(pod["fsGroup"], 2000);
    assert_eq!(pod["runAsUser"], 65532);
    let sc = &container(&d)["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], false);
    assert!(sc["runAsUser"].is_null(), "{sc}");
    assert_eq!(sc["runAsGroup"], 65532);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
}

/// With serviceAccount.create=false the chart creates none, and the pod, every binding and
/// the admission policy name the one given, with exactly the documented grants.
#[test]
fn an_existing_service_account_is_bound_and_named() {
    let sa = "oprun-controller-managed";
    let d = render_ci(RELEASE, NS, "existing-serviceaccount");
    assert!(of_kind(&d, "ServiceAccount").is_empty());
    assert_eq!(pod_spec(&d)["serviceAccountName"], sa);
    assert_eq!(
        grants(&d, NS, sa),
        documented_grants(&["*"], NS, "operationrun-controller")
    );
    let policy = one(&d, "ValidatingAdmissionPolicy");
    let controller = policy["spec"]["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "controller")
        .unwrap();
    assert_eq!(
        controller["expression"],
        format!("'system:serviceaccount:{NS}:{sa}'")
    );

    // Namespaced too: the RoleBindings of the watched namespaces bind it.
    let d = docs(&render(&[
        "--values",
        &ci_values("existing-serviceaccount"),
        "--set",
        "watchNamespaces={tenant-a}",
    ]));
    assert_eq!(
        grants(&d, NS, sa),
        documented_grants(&["tenant-a"], NS, "operationrun-controller")
    );
}

/// Kinds whose objects have no namespace.
const CLUSTER_SCOPED: &[&str] = &[
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
];

/// (kind, namespace, name) of the objects of a render that other releases' objects could
/// collide with: cluster-scoped ones (CRDs left out: every release shares them) and
/// those outside the release namespace.
fn shared_names(docs: &[Value], release_ns: &str) -> BTreeSet<(String, String, String)> {
    docs.iter()
        .filter(|d| d["kind"] != "CustomResourceDefinition")
        .filter(|d| {
            CLUSTER_SCOPED.contains(&d["kind"].as_str().unwrap())
                || d["metadata"]["namespace"].as_str() != Some(release_ns)
        })
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                d["metadata"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Two releases of one name in two namespaces (which Helm allows), and releases of other
/// names, never share a cluster-scoped object or one in a shared namespace; the release in
/// operationrun-system keeps the names the static manifest and the documents use.
#[test]
fn releases_have_their_own_cluster_scoped_names() {
    let names = |d: &[Value]| -> BTreeSet<(String, String)> {
        shared_names(d, NS)
            .into_iter()
            .map(|(kind, _, name)| (kind, name))
            .collect()
    };
    let pairs = |list: &[(&str, &str)]| -> BTreeSet<(String, String)> {
        list.iter()
            .map(|(k, n)| (k.to_string(), n.to_string()))
            .collect()
    };
    assert_eq!(
        names(&docs(&render(&[]))),
        pairs(&[
            ("ClusterRole", "operationrun-controller"),
            ("ClusterRole", "operationrun-controller-view"),
            ("ClusterRoleBinding", "operationrun-controller"),
            (
                "ValidatingAdmissionPolicy",
                "operationrun-controller-conditions"
            ),
            (
                "ValidatingAdmissionPolicyBinding",
                "operationrun-controller-conditions"
            ),
        ])
    );
    let d = docs(&try_render(RELEASE, "team-a", &[]).unwrap());
    assert_eq!(
        shared_names(&d, "team-a")
            .into_iter()
            .map(|(k, _, n)| (k, n))
            .collect::<BTreeSet<_>>(),
        pairs(&[
            ("ClusterRole", "operationrun-controller.team-a"),
            ("ClusterRole", "operationrun-controller-view.team-a"),
            ("ClusterRoleBinding", "operationrun-controller.team-a"),
            (
                "ValidatingAdmissionPolicy",
                "operationrun-controller-conditions.team-a"
            ),
            (
                "ValidatingAdmissionPolicyBinding",
                "operationrun-controller-conditions.team-a"
            ),
        ])
    );

    // Every optional object on, monitoring objects in one shared namespace; the last
    // release's full name and namespace would meet the second's if joined with a `-`.
    let releases = [
        (RELEASE, NS),
        (RELEASE, "team-a"),
        (RELEASE, "team-b"),
        ("blue", "team-a"),
        ("operationrun-controller-team", "a"),
    ];
    let mut seen: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for (release, namespace) in releases {
        let d = render_ci(release, namespace, "all");
        let own = shared_names(&d, namespace);
        assert!(own.len() >= 8, "{release}/{namespace}: {own:?}");
        for key in own {
            if let Some(other) = seen.insert(key.clone(), format!("{namespace}/{release}")) {
                panic!("{key:?} of {namespace}/{release} is also {other}'s");
            }
        }
        // Within the release, every reference follows its object's name.
        let roles = of_kind(&d, "ClusterRole");
        let cluster_roles: BTreeSet<&str> = roles
            .iter()
            .map(|r| r["metadata"]["name"].as_str().unwrap())
            .collect();
        for b in of_kind(&d, "ClusterRoleBinding") {
            assert!(cluster_roles.contains(b["roleRef"]["name"].as_str().unwrap()));
        }
        assert_eq!(
            one(&d, "ValidatingAdmissionPolicyBinding")["spec"]["policyName"],
            one(&d, "ValidatingAdmissionPolicy")["metadata"]["name"]
        );
    }
}

/// The alerts and the dashboard have one source, the chart's `files/`: the copies in docs/
/// are the same bytes, and the chart renders them unchanged (the leader alert left out
/// without leader election).
#[test]
fn prometheus_rule_and_dashboard_have_one_source() {
    for file in ["prometheus-rules.yaml", "grafana-dashboard.json"] {
        let source = read(&format!("charts/operationrun-controller/files/{file}"));
        let copy = read(&format!("docs/{file}"));
        assert!(
            source == copy,
            "docs/{file} differs from its source: cp charts/operationrun-controller/files/{file} docs/"
        );
    }

    let source = rules_source();
    let all = alert_names(&source["spec"]);
    assert!(all.len() >= 7, "{all:?}");
    assert!(all.contains(&"OperationRunControllerNoLeader".to_string()));
    let d = docs(&render(&["--set", "prometheusRule.enabled=true"]));
    let rule = one(&d, "PrometheusRule");
    assert_eq!(rule["metadata"]["name"], RELEASE);
    assert_eq!(rule["metadata"]["namespace"], NS);
    assert_eq!(rule["spec"], source["spec"]);
    // Prometheus' own templates arrive as text.
    let summary = &rule["spec"]["groups"][0]["rules"][0]["annotations"]["summary"];
    assert!(summary.as_str().unwrap().contains("{{ $labels.family }}"));

    let d = docs(&render(&[
        "--set",
        "prometheusRule.enabled=true",
        "--set",
        "leaderElection.enabled=false",
    ]));
    let without: Vec<String> = all
        .iter()
        .filter(|a| *a != "OperationRunControllerNoLeader")
        .cloned()
        .collect();
    assert_eq!(alert_names(&one(&d, "PrometheusRule")["spec"]), without);

    let d = docs(&render(&["--set", "grafanaDashboard.enabled=true"]));
    let cm = one(&d, "ConfigMap");
    assert_eq!(cm["metadata"]["name"], "operationrun-controller-dashboard");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    let data = cm["data"].as_object().unwrap();
    assert_eq!(data.len(), 1);
    let json_text = data["operationrun-controller.json"].as_str().unwrap();
    let source = read("charts/operationrun-controller/files/grafana-dashboard.json");
    assert_eq!(json_text, source.trim_end_matches('\n'));
    let parsed: Value = serde_json::from_str(json_text).unwrap();
    assert_eq!(parsed["uid"], "operationrun-controller");

    // Another sidecar label replaces the default one.
    let d = docs(&render(&[
        "--set",
        "grafanaDashboard.enabled=true",
        "--set",
        "grafanaDashboard.labels.grafana_dashboard=null",
        "--set-string",
        "grafanaDashboard.labels.dashboards=operations",
    ]));
    let labels = &one(&d, "ConfigMap")["metadata"]["labels"];
    assert!(labels["grafana_dashboard"].is_null(), "{labels}");
    assert_eq!(labels["dashboards"], "operations");

    // Off by default: the static manifest holds neither.
    let d = docs(&render(&[]));
    assert!(of_kind(&d, "PrometheusRule").is_empty());
    assert!(of_kind(&d, "ConfigMap").is_empty());
}
