//! The chart's admission policy on a real API server, as the identities that matter: the
//! `Stale` and `Reconciled` conditions of an OperationRun are written only by the
//! controller's ServiceAccount; a worker with `patch` on `operationruns/status` writes its
//! own fields and may remove `Stale` and `Reconciled=False`; removing `Reconciled=True`
//! also needs the verb `redecide`. Workers write the way workers do: server-side apply,
//! JSON merge patch, JSON patch, and `kubectl patch`.
//!
//! Also: the installed CRDs let a run's BackupSets and BaselineSnapshots be listed with a
//! field selector on `spec.operationRunRef.name`, and `admissionPolicy.enabled=false`
//! renders no policy.
//!
//! Needs the binaries of `tests/controlplane/build.sh`.

#[path = "admission/support.rs"]
mod support;

use support::*;

use std::process::Command;
use std::time::{Duration, Instant};

use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use testenv::ControlPlane;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_controller_writes_its_conditions() {
    let started = Instant::now();
    let cp = ControlPlane::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    install(&cp);

    service_account_with_rules(&cp, "worker", worker_rules());
    // An operator, allowed to ask for a final decision to be taken again: the worker's
    // rules plus `redecide`, granted as the operating guide shows (a ClusterRole bound in
    // one namespace).
    service_account_with_rules(&cp, "operator", worker_rules());
    let grant = [
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": "operationrun-redecide"},
               "rules": [{"apiGroups": [GROUP], "resources": ["operationruns"], "verbs": ["redecide"]},
                         {"apiGroups": [GROUP], "resources": ["operationruns/status"],
                          "verbs": ["get", "patch"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "operationrun-redecide", "namespace": TENANT},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "operationrun-redecide"},
               "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": TENANT}]}),
    ];
    let stream: String = grant.iter().map(|o| format!("---\n{o}\n")).collect();
    let mut cmd = cp.kubectl();
    cmd.args(["apply", "--server-side", "-f", "-"]);
    run_ok(cmd, Some(&stream));
    for (user, expected) in [("operator", "yes"), ("worker", "no")] {
        let mut cmd = cp.kubectl();
        cmd.args([
            "auth",
            "can-i",
            "redecide",
            "operationruns.ops.tenantatlas.io",
            "-n",
            TENANT,
        ])
        .arg(format!("--as=system:serviceaccount:{TENANT}:{user}"));
        let out = output(cmd, None);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            expected,
            "{user}"
        );
    }
    let controller = Actor::service_account(&cp, RELEASE_NS, RELEASE).await;
    assert_eq!(controller.user, CONTROLLER);
    let worker = Actor::service_account(&cp, TENANT, "worker").await;
    let operator = Actor::service_account(&cp, TENANT, "operator").await;

    // (The policy's status.typeChecking is written by kube-controller-manager, which this
    // control plane does not run: the expressions are proven below by what they allow and
    // refuse. A policy whose expressions failed to compile or evaluate would refuse every
    // write (failurePolicy Fail), which the allowed cases would show.)
    // The policy takes effect a moment after it is created: wait for a first refusal.
    // The runs are created afterwards, so their creation also goes through the policy
    // (CREATE, without an old object).
    create_run(&cp, "probe").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = merge(
            &worker,
            "probe",
            json!({"status": {"conditions": [stale_true()]}}),
        )
        .await;
        match a {
            Err((403, _)) => break,
            Ok(_) => {
                // not yet in force: undo the forged write and try again
                allowed(
                    "admin clears the probe",
                    answer(
                        api(&cp.client(), "OperationRun")
                            .patch_status(
                                "probe",
                                &PatchParams::default(),
                                &Patch::Merge(json!({"status": {"conditions": null}})),
                            )
                            .await,
                    ),
                );
            }
            Err((code, m)) => panic!("probe: unexpected answer {code}: {m}"),
        }
        assert!(Instant::now() < deadline, "the policy never took effect");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let in_force = started.elapsed();
    create_run(&cp, "nightly").await;

    // --- the worker's own fields, as workers write them -----------------------
    allowed(
        "worker applies its own fields",
        apply(
            &worker,
            "backup-worker",
            "nightly",
            json!({"phase": "Running", "startedAt": "2026-11-26T10:00:02Z",
                   "heartbeatTime": "2026-11-26T10:02:00Z"}),
        )
        .await,
    );
    allowed(
        "worker heartbeats by merge patch",
        merge(
            &worker,
            "nightly",
            json!({"status": {"heartbeatTime": "2026-11-26T10:02:30Z"}}),
        )
        .await,
    );

    // --- a worker cannot add the controller's conditions ----------------------
    let forged = reconciled("True", "Succeeded", "120 of 120 items stored");
    refused(
        "worker applies Reconciled=True",
        apply(
            &worker,
            "backup-worker",
            "nightly",
            json!({"conditions": [forged.clone()]}),
        )
        .await,
        &[&format!("Reconciled is written only by {CONTROLLER}")],
    );
    refused(
        "worker merges Reconciled=True",
        merge(
            &worker,
            "nightly",
            json!({"status": {"conditions": [forged.clone()]}}),
        )
        .await,
        &[&format!("Reconciled is written only by {CONTROLLER}")],
    );
    refused(
        "worker merges Stale",
        merge(
            &worker,
            "nightly",
            json!({"status": {"conditions": [stale_true()]}}),
        )
        .await,
        &[&format!("Stale is written only by {CONTROLLER}")],
    );
    refused(
        "worker JSON-patches Reconciled in",
        json_patch(
            &worker,
            "nightly",
            json!([{"op": "add", "path": "/status/conditions", "value": [forged.clone()]}]),
        )
        .await,
        &[&format!("Reconciled is written only by {CONTROLLER}")],
    );
    // kubectl, as the operating guide shows it.
    let mut cmd = Command::new(cp.bin_dir().join("kubectl"));
    cmd.arg("--kubeconfig")
        .arg(&worker.kubeconfig)
        .args(["patch", "oprun", "nightly", "-n", TENANT])
        .args(["--subresource=status", "--type=merge", "-p"])
        .arg(r#"{"status":{"conditions":[{"type":"Reconciled","status":"True","reason":"Succeeded"}]}}"#);
    let out = output(cmd, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "kubectl patch succeeded");
    assert!(
        stderr.starts_with(&format!(
            "Error from server (Forbidden): operationruns.ops.tenantatlas.io \"nightly\" is forbidden: \
             ValidatingAdmissionPolicy '{POLICY}' with binding '{POLICY}' denied request: \
             Reconciled is written only by {CONTROLLER}"
        )),
        "{stderr}"
    );
    assert!(conditions(&get(&cp, "nightly").await).is_empty());

    // --- the controller can --------------------------------------------------
    let rv = get(&cp, "nightly").await["metadata"]["resourceVersion"].clone();
    let body = json!({
        "apiVersion": "ops.tenantatlas.io/v1alpha1", "kind": "OperationRun",
        "metadata": {"name": "nightly", "namespace": TENANT, "resourceVersion": rv},
        "status": {"conditions": [stale_true(),
            reconciled("False", "AwaitingEvidence", "no BackupSet claims this run yet")]},
    });
    let run = allowed(
        "controller applies Stale and Reconciled=False",
        answer(
            controller
                .runs()
                .patch_status(
                    "nightly",
                    &PatchParams::apply("operationrun-controller"),
                    &Patch::Apply(&body),
                )
                .await,
        ),
    );
    assert_eq!(
        condition(&run, "Reconciled").unwrap()["reason"],
        "AwaitingEvidence"
    );

    // --- beside them, the worker still writes what is its own ------------------
    let run = allowed(
        "worker heartbeats beside the controller's conditions",
        merge(
            &worker,
            "nightly",
            json!({"status": {"heartbeatTime": "2026-11-26T10:03:00Z"}}),
        )
        .await,
    );
    assert_eq!(conditions(&run).len(), 2);
    allowed(
        "worker labels the run",
        answer(
            worker
                .runs()
                .patch(
                    "nightly",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"labels": {"shard": "3"}}})),
                )
                .await,
        ),
    );
    // A condition of its own: conditions the controller does not own are not looked at,
    // also when a merge patch rewrites the whole list with the controller's unchanged.
    let run = allowed(
        "worker JSON-patches a condition of its own in",
        json_patch(
            &worker,
            "nightly",
            json!([{"op": "add", "path": "/status/conditions/-", "value":
                {"type": "WorkerReady", "status": "True", "reason": "Started", "message": "",
                 "lastTransitionTime": "2026-11-26T10:00:02Z"}}]),
        )
        .await,
    );
    let mut list = conditions(&run);
    let own = list
        .iter_mut()
        .find(|c| c["type"] == "WorkerReady")
        .unwrap();
    own["status"] = "False".into();
    own["reason"] = "Paused".into();
    let run = allowed(
        "worker merges the whole list, the controller's entries unchanged",
        merge(&worker, "nightly", json!({"status": {"conditions": list}})).await,
    );
    assert_eq!(condition(&run, "WorkerReady").unwrap()["reason"], "Paused");
    assert_eq!(
        condition(&run, "Reconciled").unwrap()["reason"],
        "AwaitingEvidence"
    );

    // --- …but never changes a field of the controller's ------------------------
    let i = index(&run, "Reconciled");
    refused(
        "worker JSON-patches Reconciled's reason",
        json_patch(
            &worker,
            "nightly",
            json!([{"op": "replace", "path": format!("/status/conditions/{i}/reason"),
                    "value": "Succeeded"}]),
        )
        .await,
        &[&format!("Reconciled is written only by {CONTROLLER}")],
    );
    refused(
        "worker JSON-patches Reconciled's status",
        json_patch(
            &worker,
            "nightly",
            json!([{"op": "replace", "path": format!("/status/conditions/{i}/status"),
                    "value": "True"}]),
        )
        .await,
        &["Reconciled is written only by"],
    );
    let s = index(&run, "Stale");
    refused(
        "worker JSON-patches Stale's status",
        json_patch(
            &worker,
            "nightly",
            json!([{"op": "replace", "path": format!("/status/conditions/{s}/status"),
                    "value": "False"}]),
        )
        .await,
        &[&format!("Stale is written only by {CONTROLLER}")],
    );
    let mut list = conditions(&run);
    list.iter_mut().find(|c| c["type"] == "Reconciled").unwrap()["message"] =
        "120 of 120 items stored".into();
    refused(
        "worker merges a list with Reconciled's message changed",
        merge(&worker, "nightly", json!({"status": {"conditions": list}})).await,
        &["Reconciled is written only by"],
    );
    refused(
        "worker applies a changed Reconciled, forced",
        apply(
            &worker,
            "backup-worker",
            "nightly",
            json!({"conditions": [reconciled("False", "AwaitingEvidence", "forged")]}),
        )
        .await,
        &["Reconciled is written only by"],
    );

    // --- anyone may remove Stale and Reconciled=False -------------------------
    let run = get(&cp, "nightly").await;
    let run = allowed(
        "worker removes Reconciled=False",
        json_patch(&worker, "nightly", remove_ops(&run, "Reconciled")).await,
    );
    assert!(condition(&run, "Reconciled").is_none());
    let run = allowed(
        "worker removes Stale",
        json_patch(&worker, "nightly", remove_ops(&run, "Stale")).await,
    );
    assert!(condition(&run, "Stale").is_none());
    assert!(condition(&run, "WorkerReady").is_some());

    // --- a final decision -----------------------------------------------------
    let run = allowed(
        "controller applies Stale and Reconciled=True",
        apply(
            &controller,
            "operationrun-controller",
            "nightly",
            json!({"conditions": [stale_true(),
                reconciled("True", "PartiallySucceeded",
                           "100 of 120 items stored in BackupSet nightly; 20 failed (Throttled)")]}),
        )
        .await,
    );
    assert_eq!(condition(&run, "Reconciled").unwrap()["status"], "True");
    let redecide = "Reconciled=True is a final decision: removing it needs the verb redecide";
    refused(
        "worker removes Reconciled=True",
        json_patch(&worker, "nightly", remove_ops(&run, "Reconciled")).await,
        &[
            redecide,
            "system:serviceaccount:tenant-a:worker does not have",
        ],
    );
    refused(
        "worker empties the conditions by merge patch",
        merge(&worker, "nightly", json!({"status": {"conditions": []}})).await,
        &[redecide],
    );
    // Not even the controller takes a final decision back.
    refused(
        "controller applies without Reconciled=True",
        apply(
            &controller,
            "operationrun-controller",
            "nightly",
            json!({"conditions": [stale_true()]}),
        )
        .await,
        &[redecide, &format!("{CONTROLLER} does not have")],
    );
    let run = allowed(
        "worker removes Stale beside Reconciled=True",
        json_patch(&worker, "nightly", remove_ops(&run, "Stale")).await,
    );
    assert_eq!(condition(&run, "Reconciled").unwrap()["status"], "True");

    // With `redecide`, exactly as the operating guide says: kubectl, a JSON patch on
    // the status subresource, guarded by a test of the condition's type.
    let i = index(&run, "Reconciled");
    let mut cmd = Command::new(cp.bin_dir().join("kubectl"));
    cmd.arg("--kubeconfig")
        .arg(&operator.kubeconfig)
        .args(["patch", "operationrun", "nightly", "-n", TENANT])
        .args(["--subresource=status", "--type=json", "-p"])
        .arg(format!(
            r#"[{{"op":"test","path":"/status/conditions/{i}/type","value":"Reconciled"}},{{"op":"remove","path":"/status/conditions/{i}"}}]"#
        ));
    run_ok(cmd, None);
    let run = get(&cp, "nightly").await;
    assert!(condition(&run, "Reconciled").is_none(), "{run}");
    assert!(condition(&run, "WorkerReady").is_some(), "{run}");
    // And then the controller decides again.
    allowed(
        "controller applies a new decision",
        apply(
            &controller,
            "operationrun-controller",
            "nightly",
            json!({"conditions": [reconciled("True", "Succeeded", "120 of 120 items stored")]}),
        )
        .await,
    );

    // Without the policy nothing of the above would be refused: the same forged write
    // succeeds once its binding is gone.
    let mut cmd = cp.kubectl();
    cmd.args(["delete", "validatingadmissionpolicybinding", POLICY]);
    run_ok(cmd, None);
    let unbound = Instant::now();
    let deadline = unbound + Duration::from_secs(60);
    loop {
        match merge(
            &worker,
            "probe",
            json!({"status": {"conditions": [stale_true()]}}),
        )
        .await
        {
            Ok(_) => break,
            Err((403, _)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err((code, m)) => panic!("without the binding: {code}: {m}"),
        }
    }
    eprintln!(
        "policy in force {:.1}s after the control plane was started, out of force {:.2}s \
         after its binding was deleted; whole test {:.1}s",
        in_force.as_secs_f64(),
        unbound.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_are_listed_by_the_run_they_claim() {
    let cp = ControlPlane::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    install(&cp);
    let artifact = |kind: &str, name: &str, run: &str| -> DynamicObject {
        let (profile_key, profile) = if kind == "BackupSet" {
            ("backupScheduleRef", "nightly")
        } else {
            ("baselineProfileRef", "win11")
        };
        serde_json::from_value(json!({
            "apiVersion": "ops.tenantatlas.io/v1alpha1", "kind": kind,
            "metadata": {"name": name, "namespace": TENANT},
            "spec": {profile_key: {"name": profile},
                     "operationRunRef": {"name": run, "uid": "5f0c0000-0000-0000-0000-000000000001"}},
        }))
        .unwrap()
    };
    for kind in ["BackupSet", "BaselineSnapshot"] {
        let api = api(&cp.client(), kind);
        for (name, run) in [("a-1", "run-a"), ("a-2", "run-a"), ("b-1", "run-b")] {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match api
                    .create(&PostParams::default(), &artifact(kind, name, run))
                    .await
                {
                    Ok(_) => break,
                    Err(kube::Error::Api(s)) if s.code == 404 && Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => panic!("creating {kind} {name}: {e}"),
                }
            }
        }
        // A LIST without resourceVersion (a consistent read), narrowed by the field.
        let selected = api
            .list(&ListParams::default().fields(&format!("{RUN_REF_FIELD}=run-a")))
            .await
            .unwrap_or_else(|e| panic!("field-selected list of {kind}: {e}"));
        let mut names: Vec<String> = selected
            .items
            .iter()
            .filter_map(|o| o.metadata.name.clone())
            .collect();
        names.sort();
        assert_eq!(names, ["a-1", "a-2"], "{kind}");

        // kubectl, as an operator would.
        let plural = if kind == "BackupSet" {
            "backupsets"
        } else {
            "baselinesnapshots"
        };
        let mut cmd = cp.kubectl();
        cmd.args(["get", plural, "-n", TENANT, "-o", "name"])
            .arg(format!("--field-selector={RUN_REF_FIELD}=run-b"));
        let out = run_ok(cmd, None);
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            [format!(
                "{}.ops.tenantatlas.io/b-1",
                plural.trim_end_matches('s')
            )],
            "{kind}"
        );
        // A field the CRD does not declare is refused, not silently ignored.
        let err = api
            .list(&ListParams::default().fields("spec.backupScheduleRef.name=nightly"))
            .await
            .expect_err("an undeclared field selector is refused");
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == 400),
            "{err}"
        );
    }
}

#[test]
fn the_policy_follows_its_values() {
    // On by default, naming the release's own ServiceAccount, on every namespace.
    let d = docs(&render(RELEASE, RELEASE_NS, &[]));
    let policies = of_kind(&d, "ValidatingAdmissionPolicy");
    let bindings = of_kind(&d, "ValidatingAdmissionPolicyBinding");
    assert_eq!((policies.len(), bindings.len()), (1, 1));
    assert_eq!(policies[0]["metadata"]["name"], POLICY);
    assert_eq!(bindings[0]["spec"]["policyName"], POLICY);
    assert_eq!(bindings[0]["spec"]["validationActions"], json!(["Deny"]));
    assert!(bindings[0]["spec"]["matchResources"].is_null());
    let controller = |p: &Value| {
        p["spec"]["variables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "controller")
            .unwrap()["expression"]
            .clone()
    };
    assert_eq!(controller(policies[0]), format!("'{CONTROLLER}'"));
    let rules = &policies[0]["spec"]["matchConstraints"]["resourceRules"][0];
    assert_eq!(rules["operations"], json!(["CREATE", "UPDATE"]));
    assert_eq!(
        rules["resources"],
        json!(["operationruns", "operationruns/status"])
    );

    // Another release, another namespace: its own names and its own ServiceAccount.
    let d = docs(&render(
        "blue",
        "ops",
        &["--set", "watchNamespaces={tenant-a,tenant-b}"],
    ));
    let policy = of_kind(&d, "ValidatingAdmissionPolicy")[0];
    assert_eq!(
        policy["metadata"]["name"],
        "blue-operationrun-controller-conditions.ops"
    );
    assert_eq!(
        controller(policy),
        "'system:serviceaccount:ops:blue-operationrun-controller'"
    );
    // With watchNamespaces, only those namespaces.
    let binding = of_kind(&d, "ValidatingAdmissionPolicyBinding")[0];
    assert_eq!(
        binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"],
        json!([{"key": "kubernetes.io/metadata.name", "operator": "In",
                "values": ["tenant-a", "tenant-b"]}])
    );

    // Off: neither object.
    let d = docs(&render(
        RELEASE,
        RELEASE_NS,
        &["--set", "admissionPolicy.enabled=false"],
    ));
    assert!(of_kind(&d, "ValidatingAdmissionPolicy").is_empty());
    assert!(of_kind(&d, "ValidatingAdmissionPolicyBinding").is_empty());
    assert!(!d.is_empty());
}

/// The bundled examples that record conditions the controller wrote earlier are applied
/// by `testenv::worker` as the controller's ServiceAccount, which the policy lets through
/// (the end-to-end suite and the demo apply them over the chart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_with_recorded_conditions_apply_under_the_policy() {
    let cp = ControlPlane::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    install(&cp);
    // In force once the admin, who is not the controller, is refused.
    create_run(&cp, "probe").await;
    let admin = api(&cp.client(), "OperationRun");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let forged = json!({"status": {"conditions": [stale_true()]}});
        match answer(
            admin
                .patch_status("probe", &PatchParams::default(), &Patch::Merge(&forged))
                .await,
        ) {
            Err((403, _)) => break,
            Ok(_) => {
                let clear = json!({"status": {"conditions": null}});
                allowed(
                    "admin clears the probe",
                    answer(
                        admin
                            .patch_status("probe", &PatchParams::default(), &Patch::Merge(&clear))
                            .await,
                    ),
                );
            }
            Err((code, m)) => panic!("probe: unexpected answer {code}: {m}"),
        }
        assert!(Instant::now() < deadline, "the policy never took effect");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    testenv::worker::apply(
        &cp.client(),
        &repo_root().join("examples"),
        jiff::Timestamp::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("examples applied: {e}"));
    let runs = Api::<DynamicObject>::namespaced_with(
        cp.client(),
        "tenant-litware",
        &ApiResource::from_gvk(&GroupVersionKind::gvk(GROUP, "v1alpha1", "OperationRun")),
    );
    let run = serde_json::to_value(runs.get("nightly-20261126").await.unwrap()).unwrap();
    assert_eq!(
        condition(&run, "Reconciled").map(|c| c["reason"].clone()),
        Some("AwaitingEvidence".into()),
        "{run}"
    );
    let managers: Vec<&str> = run["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(
        managers.contains(&"operationrun-controller"),
        "{managers:?}"
    );
}
