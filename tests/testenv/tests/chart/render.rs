//! What the chart renders, offline: the static manifest, determinism, the Deployment,
//! the optional objects and the CRD templates.

use super::*;

#[test]
fn static_manifest_is_the_fresh_render() {
    let committed_path = repo_root().join("deploy/operationrun-controller.yaml");
    let committed = std::fs::read_to_string(&committed_path).unwrap();
    let how = "deploy/operationrun-controller.yaml is stale: regenerate it with deploy/render.sh";

    // What render.sh writes now…
    let scratch = Scratch::new("render");
    let fresh_path = scratch.0.join("manifest.yaml");
    let mut cmd = Command::new(repo_root().join("deploy/render.sh"));
    cmd.arg(&fresh_path).env("HELM", bin("helm"));
    run_ok(cmd, None);
    let fresh = std::fs::read_to_string(&fresh_path).unwrap();
    assert!(committed == fresh, "{how}");

    // …is the Namespace, then exactly `helm template --include-crds` with
    // default values.
    let namespace = std::fs::read_to_string(repo_root().join("deploy/namespace.yaml")).unwrap();
    let chart = render(&["--include-crds"]);
    assert!(committed == format!("{namespace}{chart}"), "{how}");

    let docs = docs(&committed);
    assert_eq!(docs[0]["kind"], "Namespace");
    assert_eq!(docs[0]["metadata"]["name"], NS);
    assert_eq!(of_kind(&docs, "CustomResourceDefinition").len(), 3);
    for d in &docs[1..] {
        let cluster_scoped = [
            "CustomResourceDefinition",
            "ClusterRole",
            "ClusterRoleBinding",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ]
        .contains(&d["kind"].as_str().unwrap());
        if !cluster_scoped {
            assert_eq!(d["metadata"]["namespace"], NS, "{}", d["kind"]);
        }
    }
}

// --- (b) determinism, no cluster access -------------------------------------

#[test]
fn rendering_is_deterministic_and_offline() {
    let variants: &[&[&str]] = &[
        &["--include-crds"],
        HA_VALUES,
        &[
            "--set",
            "crds.install=true",
            "--set",
            "serviceMonitor.enabled=true",
            "--set",
            "networkPolicy.enabled=true",
            "--set-string",
            "podAnnotations.a=1",
            "--set-string",
            "podAnnotations.b=2",
            "--set",
            "nodeSelector.zone=z1",
        ],
    ];
    let all = chart_dir().join("ci/all-values.yaml");
    let all = ["--values", all.to_str().unwrap()];
    for args in variants.iter().copied().chain([&all[..]]) {
        let first = render(args);
        let second = render(args);
        assert!(first == second, "two renders of {args:?} differ");
    }
    // Nothing asks the cluster or depends on what it is.
    for entry in std::fs::read_dir(chart_dir().join("templates")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for word in [
            "lookup",
            ".Capabilities",
            "{{ now",
            "(now",
            "now |",
            "randAlpha",
            "randNum",
            "randAscii",
            "randBytes",
            "uuidv4",
            "genCA",
            "genPrivateKey",
            "genSelfSigned",
        ] {
            assert!(
                !text.contains(word),
                "{} uses {word}: the chart must render without a cluster, deterministically",
                path.display()
            );
        }
    }
}

#[test]
fn deployment_is_hardened_and_probed() {
    let docs = docs(&render(&[]));
    let deploy = one(&docs, "Deployment");
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "operationrun-controller");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = container(&docs);
    assert_eq!(
        c["image"],
        "ghcr.io/tenantatlas/operationrun-controller:0.1.0"
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["runAsUser"], 65532);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    for kind in ["requests", "limits"] {
        for res in ["cpu", "memory"] {
            assert!(c["resources"][kind][res].is_string(), "{kind}.{res}");
        }
    }
    assert_eq!(c["ports"][0]["name"], "http");
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "http");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "http");
    let env: BTreeMap<&str, &str> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap(),
                e["valueFrom"]["fieldRef"]["fieldPath"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        env,
        BTreeMap::from([
            ("POD_NAME", "metadata.name"),
            ("POD_NAMESPACE", "metadata.namespace")
        ])
    );

    let svc = one(&docs, "Service");
    assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(
        svc["spec"]["selector"],
        deploy["spec"]["selector"]["matchLabels"]
    );

    // An image digest wins over the tag.
    let digest = format!("sha256:{}", "a".repeat(64));
    let docs = self::docs(&render(&["--set", &format!("image.digest={digest}")]));
    assert_eq!(
        container(&docs)["image"],
        format!("ghcr.io/tenantatlas/operationrun-controller@{digest}")
    );
}

// --- optional objects -------------------------------------------------------

#[test]
fn optional_objects_follow_values() {
    // One replica: no PodDisruptionBudget, no anti-affinity, nothing optional.
    let single = docs(&render(&[]));
    let kinds: BTreeSet<&str> = single.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding"
        ])
    );
    assert!(one(&single, "Deployment")["spec"]["template"]["spec"]["affinity"].is_null());

    // Two replicas: a PDB and a preferred anti-affinity on the pod's labels.
    let ha = docs(&render(HA_VALUES));
    let deploy = one(&ha, "Deployment");
    assert_eq!(deploy["spec"]["replicas"], 2);
    let pdb = one(&ha, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"], deploy["spec"]["selector"],
        "the PDB selects the controller pods"
    );
    let term = &deploy["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        [0]["podAffinityTerm"];
    assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(
        term["labelSelector"]["matchLabels"],
        deploy["spec"]["selector"]["matchLabels"]
    );
    // A user affinity replaces the default one.
    let custom = docs(&render(&[
        "--set",
        "replicaCount=3",
        "--set",
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool",
        "--set",
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
    ]));
    let affinity = &one(&custom, "Deployment")["spec"]["template"]["spec"]["affinity"];
    assert!(affinity["podAntiAffinity"].is_null());
    assert!(affinity["nodeAffinity"].is_object());

    // ServiceMonitor only when enabled, on the Service's port name.
    let sm = docs(&render(&[
        "--set",
        "serviceMonitor.enabled=true",
        "--set",
        "serviceMonitor.labels.release=prom",
    ]));
    let monitor = one(&sm, "ServiceMonitor");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prom");
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        one(&sm, "Service")["spec"]["ports"][0]["name"]
    );
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");

    // NetworkPolicy: ingress only, on the http port, unless egress is given.
    let np = docs(&render(&["--set", "networkPolicy.enabled=true"]));
    let policy = one(&np, "NetworkPolicy");
    assert_eq!(
        policy["spec"]["policyTypes"],
        serde_json::json!(["Ingress"])
    );
    assert_eq!(
        policy["spec"]["ingress"],
        serde_json::json!([{"ports": [{"port": "http", "protocol": "TCP"}]}])
    );
    assert!(policy["spec"]["egress"].is_null());
    let np = docs(&render(&[
        "--set",
        "networkPolicy.enabled=true",
        "--set",
        "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring",
        "--set",
        "networkPolicy.egress[0].ports[0].port=443",
    ]));
    let policy = one(&np, "NetworkPolicy");
    assert_eq!(
        policy["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    assert_eq!(
        policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["name"],
        "monitoring"
    );
    assert_eq!(policy["spec"]["egress"][0]["ports"][0]["port"], 443);
}

/// Where `a` and `b` first differ: a JSON path and both values.
fn first_diff(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.keys()
                .chain(y.keys())
                .find_map(|k| match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => first_diff(p, q, &format!("{path}.{k}")),
                    (p, q) => Some(format!("{path}.{k}: {p:?} vs {q:?}")),
                })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_diff(p, q, &format!("{path}[{i}]"))),
        _ => (a != b).then(|| format!("{path}: {a} vs {b}")),
    }
}

fn numbers_as_f64(v: &Value) -> Value {
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64().unwrap()),
        Value::Array(a) => Value::Array(a.iter().map(numbers_as_f64).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), numbers_as_f64(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// With `crds.install=true` the CRD templates are the generated files of
/// `crds/`, plus labels and (with `crds.keep`) the keep annotation.
#[test]
fn crd_templates_are_the_generated_crds() {
    let generated: BTreeMap<String, Value> = std::fs::read_dir(chart_dir().join("crds"))
        .unwrap()
        .map(|e| {
            let d = docs(&std::fs::read_to_string(e.unwrap().path()).unwrap());
            assert_eq!(d.len(), 1);
            let name = d[0]["metadata"]["name"].as_str().unwrap().to_string();
            (name, d[0].clone())
        })
        .collect();
    assert_eq!(generated.len(), 3);

    // Default: CRDs come from crds/ only (`helm template` leaves them out).
    assert!(of_kind(&docs(&render(&[])), "CustomResourceDefinition").is_empty());

    for keep in [true, false] {
        let rendered = docs(&render(&[
            "--set",
            "crds.install=true",
            "--set",
            &format!("crds.keep={keep}"),
        ]));
        let crds = of_kind(&rendered, "CustomResourceDefinition");
        assert_eq!(crds.len(), generated.len());
        for crd in crds {
            let name = crd["metadata"]["name"].as_str().unwrap();
            let source = &generated[name];
            // fromYaml/toYaml prints `1000000000.0` as `1000000000`: equal
            // for the API server, so numbers are compared by value.
            if let Some(d) = first_diff(
                &numbers_as_f64(&crd["spec"]),
                &numbers_as_f64(&source["spec"]),
                ".spec",
            ) {
                panic!("{name}: the template differs from crds/ at {d}");
            }
            assert_eq!(crd["apiVersion"], source["apiVersion"]);
            assert_eq!(
                crd["metadata"]["labels"]["app.kubernetes.io/managed-by"],
                "Helm"
            );
            let policy = &crd["metadata"]["annotations"]["helm.sh/resource-policy"];
            if keep {
                assert_eq!(policy, "keep", "{name}");
            } else {
                assert!(policy.is_null(), "{name}");
            }
        }
    }
}
