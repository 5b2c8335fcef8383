//! The chart's RBAC, statically: exactly the rules of docs/operating.md#rbac.

use super::*;

/// (scope, apiGroup, resource, resourceName, verb); scope is `*` for a
/// ClusterRole, else the Role's namespace.
type Grant = (String, String, String, String, String);

/// Every grant of every (Cluster)Role bound to the controller's
/// ServiceAccount; panics on a role nobody binds or a binding to another
/// subject. The role aggregated to `view` is for people, not the controller:
/// [`aggregated_role_only_reads`] checks it.
pub(super) fn grants(docs: &[Value], namespace: &str, sa: &str) -> BTreeSet<Grant> {
    let mut bound = BTreeSet::new();
    for b in of_kind(docs, "ClusterRoleBinding")
        .into_iter()
        .chain(of_kind(docs, "RoleBinding"))
    {
        assert_eq!(
            b["subjects"],
            serde_json::json!([{"kind": "ServiceAccount", "name": sa, "namespace": namespace}])
        );
        let scope = b["metadata"]["namespace"].as_str().unwrap_or("*");
        bound.insert((
            scope.to_string(),
            b["roleRef"]["kind"].as_str().unwrap().to_string(),
            b["roleRef"]["name"].as_str().unwrap().to_string(),
        ));
    }
    let mut out = BTreeSet::new();
    for role in of_kind(docs, "ClusterRole")
        .into_iter()
        .chain(of_kind(docs, "Role"))
        .filter(|r| !aggregated(r))
    {
        let scope = role["metadata"]["namespace"].as_str().unwrap_or("*");
        let kind = role["kind"].as_str().unwrap();
        let name = role["metadata"]["name"].as_str().unwrap();
        assert!(
            bound.contains(&(scope.to_string(), kind.to_string(), name.to_string())),
            "{kind} {scope}/{name} is not bound"
        );
        for rule in role["rules"].as_array().unwrap() {
            let list = |k: &str| -> Vec<String> {
                rule[k]
                    .as_array()
                    .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
                    .unwrap_or_default()
            };
            let names = list("resourceNames");
            let names = if names.is_empty() {
                vec!["*".to_string()]
            } else {
                names
            };
            for g in list("apiGroups") {
                for r in list("resources") {
                    for n in &names {
                        for v in list("verbs") {
                            out.insert((
                                scope.to_string(),
                                g.clone(),
                                r.clone(),
                                n.clone(),
                                v.clone(),
                            ));
                        }
                    }
                }
            }
        }
    }
    out
}

/// Whether `role` is labelled for aggregation into a built-in role.
fn aggregated(role: &Value) -> bool {
    role["metadata"]["labels"].as_object().is_some_and(|l| {
        l.keys()
            .any(|k| k.starts_with("rbac.authorization.k8s.io/aggregate-to-"))
    })
}

/// The grants docs/operating.md#rbac lists, in `scopes` (`*` = cluster-wide), with the
/// Lease in `lease_ns` named `lease`.
pub(super) fn documented_grants(scopes: &[&str], lease_ns: &str, lease: &str) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    let mut add = |s: &str, g: &str, r: &str, n: &str, v: &str| {
        out.insert((s.into(), g.into(), r.into(), n.into(), v.into()));
    };
    for s in scopes {
        for r in ["operationruns", "backupsets", "baselinesnapshots"] {
            for v in ["get", "list", "watch"] {
                add(s, "ops.tenantatlas.io", r, "*", v);
            }
        }
        add(
            s,
            "ops.tenantatlas.io",
            "operationruns/status",
            "*",
            "patch",
        );
        add(s, "events.k8s.io", "events", "*", "create");
        add(s, "events.k8s.io", "events", "*", "patch");
    }
    add(lease_ns, "coordination.k8s.io", "leases", "*", "create");
    add(lease_ns, "coordination.k8s.io", "leases", lease, "get");
    add(lease_ns, "coordination.k8s.io", "leases", lease, "update");
    out
}

#[test]
fn rbac_grants_exactly_the_documented_rules() {
    let d = docs(&render(&[]));
    assert_eq!(
        grants(&d, NS, "operationrun-controller"),
        documented_grants(&["*"], NS, "operationrun-controller")
    );

    let d = docs(&try_render("oprun-ha", "operationrun-ha", HA_VALUES).unwrap());
    // Nothing cluster-wide for the controller (the read role for people is not bound).
    assert!(of_kind(&d, "ClusterRole").into_iter().all(aggregated));
    assert!(of_kind(&d, "ClusterRoleBinding").is_empty());
    assert_eq!(
        grants(&d, "operationrun-ha", "oprun-ha-operationrun-controller"),
        documented_grants(
            &["tenant-a", "tenant-b"],
            "operationrun-ha",
            "oprun-ha-operationrun-controller"
        )
    );

    // Without leader election there is no Lease to touch.
    let d = docs(&render(&["--set", "leaderElection.enabled=false"]));
    let mut expected = documented_grants(&["*"], NS, "operationrun-controller");
    expected.retain(|g| g.1 != "coordination.k8s.io");
    assert_eq!(grants(&d, NS, "operationrun-controller"), expected);
}

/// `rbac.aggregateToView` (on by default): one ClusterRole, bound to nobody, that only reads
/// the three kinds and is aggregated to `view` alone (`edit` and `admin` include `view`); the
/// chart aggregates no write access anywhere (docs/operating.md#who-supplies-the-evidence).
#[test]
fn aggregated_role_only_reads() {
    for (release, namespace, name) in [
        (RELEASE, NS, "operationrun-controller-view"),
        ("blue", "ops", "blue-operationrun-controller-view.ops"),
    ] {
        for args in [&[][..], HA_VALUES] {
            let d = docs(&try_render(release, namespace, args).unwrap());
            let roles: Vec<&Value> = of_kind(&d, "ClusterRole")
                .into_iter()
                .filter(|r| aggregated(r))
                .collect();
            let [role] = roles.as_slice() else {
                panic!("{args:?}: {} aggregated roles", roles.len());
            };
            assert_eq!(role["metadata"]["name"], name);
            let aggregation: Vec<(&String, &Value)> = role["metadata"]["labels"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| k.starts_with("rbac.authorization.k8s.io/"))
                .collect();
            assert_eq!(
                aggregation,
                [(
                    &"rbac.authorization.k8s.io/aggregate-to-view".to_string(),
                    &serde_json::json!("true")
                )]
            );
            assert_eq!(
                role["rules"],
                serde_json::json!([{
                    "apiGroups": ["ops.tenantatlas.io"],
                    "resources": ["operationruns", "backupsets", "baselinesnapshots"],
                    "verbs": ["get", "list", "watch"],
                }])
            );
            for b in of_kind(&d, "ClusterRoleBinding")
                .into_iter()
                .chain(of_kind(&d, "RoleBinding"))
            {
                assert_ne!(b["roleRef"]["name"], *name, "the view role is bound");
            }
        }
    }
    let d = docs(&render(&["--set", "rbac.aggregateToView=false"]));
    assert!(!of_kind(&d, "ClusterRole").into_iter().any(aggregated));
}
