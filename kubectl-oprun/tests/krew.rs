//! The krew manifest names this crate's version, the five platforms and release assets
//! whose checksums are left, visibly, for release time (`cargo xtask dist` fills them).

use serde_json::Value;

#[test]
fn krew_manifest_matches_the_crate() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../krew/oprun.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let m: Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(
        m["apiVersion"],
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(m["kind"], "Plugin");
    assert_eq!(m["metadata"]["name"], "oprun");
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(m["spec"]["version"], version.as_str());
    let short = m["spec"]["shortDescription"].as_str().unwrap();
    assert!(short.len() <= 50, "{short}");
    for field in ["description", "caveats", "homepage"] {
        assert!(
            m["spec"][field].as_str().is_some_and(|s| !s.is_empty()),
            "{field}"
        );
    }
    let platforms = m["spec"]["platforms"].as_array().unwrap();
    let mut seen = Vec::new();
    for p in platforms {
        let labels = &p["selector"]["matchLabels"];
        let (os, arch) = (
            labels["os"].as_str().unwrap(),
            labels["arch"].as_str().unwrap(),
        );
        seen.push(format!("{os}/{arch}"));
        let asset = format!("kubectl-oprun-{version}-{os}-{arch}.tar.gz");
        assert_eq!(
            p["uri"],
            format!(
                "https://github.com/tenantatlas/operationrun-controller/releases/download/{version}/{asset}"
            )
            .as_str()
        );
        let sha = p["sha256"].as_str().unwrap();
        assert!(
            sha.starts_with("FILLED-AT-RELEASE-TIME") && sha.contains(&asset),
            "{sha}"
        );
        let bin = if os == "windows" {
            "kubectl-oprun.exe"
        } else {
            "kubectl-oprun"
        };
        assert_eq!(p["bin"], bin);
        // krew wants the license installed with the plugin
        let files: Vec<(&str, &str)> = p["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["from"].as_str().unwrap(), f["to"].as_str().unwrap()))
            .collect();
        assert_eq!(files, [(bin, "."), ("LICENSE", ".")]);
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "darwin/amd64",
            "darwin/arm64",
            "linux/amd64",
            "linux/arm64",
            "windows/amd64"
        ]
    );
}
