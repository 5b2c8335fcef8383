//! The CRDs in the Helm chart are generated from the Rust types; this fails when they drift.

use std::path::Path;

#[test]
fn chart_crds_match_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/operationrun-controller/crds");
    let files = operationrun_crds::crd_files().expect("CRDs serialise");
    assert_eq!(files.len(), 3);
    for (name, text) in files {
        let on_disk = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
        assert!(
            on_disk == text,
            "charts/operationrun-controller/crds/{name} is out of date; regenerate it with \
             `cargo run --bin operationrun-controller -- crds --output-dir charts/operationrun-controller/crds`"
        );
    }
}

#[test]
fn schemas_carry_the_contract() {
    let yaml = operationrun_crds::crds_yaml().expect("CRDs serialise");
    let runs = serde_json::to_value(&operationrun_crds::crds()[0]).expect("json");
    let schema = &runs["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    // the family is required, has a pattern and no default that would let it be omitted
    assert_eq!(
        schema["properties"]["spec"]["required"],
        serde_json::json!(["type"])
    );
    assert!(
        schema["properties"]["spec"]["properties"]["type"]
            .get("default")
            .is_none()
    );
    assert!(schema["properties"]["spec"]["properties"]["type"]["pattern"].is_string());
    // conditions are a list-map keyed by type, so server-side apply merges per condition
    let conditions = &schema["properties"]["status"]["properties"]["conditions"];
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
    assert_eq!(
        conditions["x-kubernetes-list-map-keys"],
        serde_json::json!(["type"])
    );
    assert_eq!(
        conditions["items"]["required"],
        serde_json::json!(["status", "type"])
    );
    assert!(conditions["items"]["properties"]["relatedArtifacts"]["maxItems"].is_number());
    // timeouts are whole seconds ≥ 1
    assert_eq!(
        schema["properties"]["spec"]["properties"]["timeouts"]["properties"]["queuedSeconds"]["minimum"],
        1.0
    );
    // every field has a description, so `kubectl explain` is useful
    fn undocumented(path: &str, v: &serde_json::Value, out: &mut Vec<String>) {
        if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
            for (k, p) in props {
                let here = format!("{path}.{k}");
                if k != "metadata"
                    && k != "apiVersion"
                    && k != "kind"
                    && p.get("description").is_none()
                {
                    out.push(here.clone());
                }
                undocumented(&here, p, out);
            }
        }
        if let Some(items) = v.get("items") {
            undocumented(&format!("{path}[]"), items, out);
        }
    }
    for crd in operationrun_crds::crds() {
        let v = serde_json::to_value(&crd).expect("json");
        let mut missing = Vec::new();
        undocumented(
            &crd.spec.names.kind,
            &v["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
            &mut missing,
        );
        assert!(
            missing.is_empty(),
            "fields without a description: {missing:?}"
        );
    }
    assert!(yaml.contains("x-kubernetes-validations"));
}
