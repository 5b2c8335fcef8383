//! The controller image `cargo xtask image` builds: an OCI archive under `target/image/`
//! whose one layer holds only the static, stripped binary (no shell), run as UID/GID 65532
//! with the entrypoint and command the chart expects, labelled, and small. The binary taken
//! from that layer runs as UID 65532 against a real API server with the chart's
//! ServiceAccount: it serves `/readyz` and decides a stale run. No container runtime runs
//! here, so the unpacked binary runs directly.
//!
//! Needs the image and the test control plane; `scripts/test-all.sh` builds both, then runs
//!
//! ```sh
//! cargo xtask image && cargo test -p xtask --test image -- --ignored
//! ```

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject};
use operationrun_crds::OperationRun;
use serde_json::Value;
use sha2::{Digest, Sha256};
use testenv::ControlPlane;
use testenv::controller::Launch;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const RELEASE_NS: &str = "operationrun-system";
const CHART_SA: &str = "operationrun-controller";
/// The chart's runAsUser and runAsGroup.
const UID: u32 = 65532;
/// A stripped static binary is about 13 MB; twice that means something went wrong (debug
/// info, a second binary, a base image).
const MAX_BYTES: u64 = 25 * 1024 * 1024;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn archive() -> PathBuf {
    root().join(format!(
        "target/image/operationrun-controller-v{VERSION}-linux-amd64.oci.tar"
    ))
}

fn sha256(data: &[u8]) -> String {
    let hex: String = Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// The image as the archive holds it: index, manifest, config, and the one layer's
/// entries (path, mode, uid, gid, contents).
struct Image {
    index: Value,
    manifest: Value,
    config: Value,
    layer_compressed: u64,
    layer_diff_id: String,
    entries: Vec<(String, u32, u64, u64, Vec<u8>)>,
}

impl Image {
    fn read() -> Self {
        let path = archive();
        let file = std::fs::File::open(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; build it first with `cargo xtask image`",
                path.display()
            )
        });
        let mut files: HashMap<String, Vec<u8>> = HashMap::new();
        for entry in tar::Archive::new(file).entries().expect("a tar archive") {
            let mut entry = entry.expect("a tar entry");
            if entry.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let name = entry.path().expect("a path").display().to_string();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("readable");
            files.insert(name.trim_start_matches("./").to_string(), data);
        }
        // every blob is what its name says
        for (name, data) in &files {
            if let Some(hex) = name.strip_prefix("blobs/sha256/") {
                assert_eq!(sha256(data), format!("sha256:{hex}"), "blob {name}");
            }
        }
        let json = |name: &str| -> Value {
            serde_json::from_slice(
                files
                    .get(name)
                    .unwrap_or_else(|| panic!("{name} missing from the archive")),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let blob = |descriptor: &Value| -> &Vec<u8> {
            let digest = descriptor["digest"].as_str().expect("a digest");
            let data = files
                .get(&format!("blobs/{}", digest.replacen(':', "/", 1)))
                .unwrap_or_else(|| panic!("blob {digest} missing"));
            assert_eq!(
                descriptor["size"].as_u64(),
                Some(data.len() as u64),
                "size of {digest}"
            );
            data
        };
        assert!(files.contains_key("oci-layout"), "an OCI layout");
        let index = json("index.json");
        let manifests = index["manifests"].as_array().expect("manifests");
        assert_eq!(manifests.len(), 1, "{index}");
        let manifest: Value = serde_json::from_slice(blob(&manifests[0])).expect("manifest");
        let config: Value = serde_json::from_slice(blob(&manifest["config"])).expect("config");
        let layers = manifest["layers"].as_array().expect("layers");
        assert_eq!(layers.len(), 1, "one layer: {manifest}");
        assert_eq!(
            layers[0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let compressed = blob(&layers[0]);
        let mut tar_bytes = Vec::new();
        flate2::read::GzDecoder::new(compressed.as_slice())
            .read_to_end(&mut tar_bytes)
            .expect("a gzip layer");
        let mut entries = Vec::new();
        for entry in tar::Archive::new(tar_bytes.as_slice())
            .entries()
            .expect("a tar layer")
        {
            let mut entry = entry.expect("a layer entry");
            let header = entry.header().clone();
            let name = entry.path().expect("a path").display().to_string();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("readable");
            entries.push((
                name,
                header.mode().expect("mode"),
                header.uid().expect("uid"),
                header.gid().expect("gid"),
                data,
            ));
        }
        Self {
            index,
            manifest,
            config,
            layer_compressed: compressed.len() as u64,
            layer_diff_id: sha256(&tar_bytes),
            entries,
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> usize {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes")) as usize
}

/// (has a program interpreter, i.e. is dynamically linked; has a symbol table) of a
/// little-endian ELF64 executable.
fn elf_facts(b: &[u8]) -> (bool, bool) {
    assert!(b.len() > 64 && &b[..4] == b"\x7fELF", "an ELF file");
    assert_eq!((b[4], b[5]), (2, 1), "ELF64, little endian");
    assert_eq!(u16_at(b, 0x12), 62, "x86-64");
    let (phoff, phentsize, phnum) = (u64_at(b, 0x20), u16_at(b, 0x36), u16_at(b, 0x38));
    const PT_INTERP: u32 = 3;
    let interp = (0..phnum).any(|i| u32_at(b, phoff + i * phentsize) == PT_INTERP);
    let (shoff, shentsize, shnum) = (u64_at(b, 0x28), u16_at(b, 0x3A), u16_at(b, 0x3C));
    const SHT_SYMTAB: u32 = 2;
    let symtab = (0..shnum).any(|i| u32_at(b, shoff + i * shentsize + 4) == SHT_SYMTAB);
    (interp, symtab)
}

#[test]
#[ignore = "needs `cargo xtask image`; scripts/test-all.sh builds the image, then runs it"]
fn image_holds_only_the_static_binary_run_as_65532() {
    let image = Image::read();
    assert_eq!(
        image.index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], VERSION,
        "tagged with the version"
    );
    assert_eq!(
        image.manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let config = &image.config;
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!([image.layer_diff_id]),
        "the config names the layer it has"
    );
    let run = &config["config"];
    assert_eq!(run["User"], "65532:65532", "{run}");
    assert_eq!(
        run["Entrypoint"],
        serde_json::json!(["/operationrun-controller"])
    );
    // the chart's Deployment passes `run` and its flags as args, replacing this
    assert_eq!(run["Cmd"], serde_json::json!(["run"]));
    assert!(run["ExposedPorts"].get("8080/tcp").is_some(), "{run}");

    let labels = &run["Labels"];
    let label = |k: &str| labels[format!("org.opencontainers.image.{k}")].as_str();
    assert_eq!(
        label("source"),
        Some("https://github.com/tenantatlas/operationrun-controller")
    );
    assert_eq!(label("version"), Some(VERSION));
    assert_eq!(label("licenses"), Some("Apache-2.0"));
    assert_eq!(label("title"), Some("operationrun-controller"));
    assert!(
        label("description").is_some_and(|d| d.contains("OperationRun")),
        "{labels}"
    );
    assert!(
        label("revision")
            .is_some_and(|r| r.len() == 40 && r.chars().all(|c| c.is_ascii_hexdigit())),
        "a commit: {labels}"
    );
    assert!(
        label("created").is_some_and(|c| c.parse::<Timestamp>().is_ok()),
        "{labels}"
    );

    // FROM scratch: the binary and nothing else, so no shell, no package manager
    let names: Vec<&str> = image.entries.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, ["operationrun-controller"], "the layer's files");
    let (_, mode, uid, gid, binary) = &image.entries[0];
    assert_eq!(mode & 0o7777, 0o755, "executable, not setuid");
    assert_eq!((*uid, *gid), (0, 0), "owned by root, run as 65532");
    let (dynamic, symbols) = elf_facts(binary);
    assert!(!dynamic, "statically linked: no program interpreter");
    assert!(!symbols, "stripped: no symbol table");

    let size = binary.len() as u64;
    assert!(
        (1024 * 1024..MAX_BYTES).contains(&size),
        "binary of {size} bytes"
    );
    assert!(
        image.layer_compressed < MAX_BYTES,
        "layer of {} bytes",
        image.layer_compressed
    );
}

/// Writes the image's binary into a fresh directory any user can read, and returns it.
fn unpack_binary(image: &Image) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oprun-image-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (name, mode, _, _, data) = &image.entries[0];
    let path = dir.join(name);
    std::fs::write(&path, data).expect("binary written");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).expect("chmod");
    path
}

/// `setpriv` (util-linux) arguments that run a program as UID and GID 65532 with no
/// supplementary groups, as the pod's securityContext does.
fn as_nonroot() -> Vec<String> {
    vec![
        format!("--reuid={UID}"),
        format!("--regid={UID}"),
        "--clear-groups".into(),
        "--".into(),
    ]
}

fn kubectl(cp: &ControlPlane, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut cmd = cp.kubectl();
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl starts");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).expect("stdin");
    }
    let out = child.wait_with_output().expect("kubectl ends");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs `cargo xtask image`; scripts/test-all.sh builds the image, then runs it"]
async fn binary_from_the_image_runs_as_65532_and_decides_a_stale_run() {
    let image = Image::read();
    let binary = unpack_binary(&image);
    let mut setpriv = Command::new("setpriv");
    setpriv.args(as_nonroot()).arg(&binary).arg("--version");
    let out = setpriv.output().expect("setpriv (util-linux) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("operationrun-controller {VERSION}")
    );

    // a control plane with the chart applied as an operator would
    let cp = ControlPlane::start().await.expect("control plane");
    let rendered =
        testenv::chart::render("operationrun-controller", RELEASE_NS, &["--include-crds"])
            .expect("helm template");
    kubectl(&cp, &["create", "namespace", RELEASE_NS], None);
    kubectl(
        &cp,
        &["apply", "--server-side", "--validate=strict", "-f", "-"],
        Some(&rendered),
    );
    kubectl(
        &cp,
        &[
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=60s",
        ],
        None,
    );

    // the image's binary, as UID 65532, with the Deployment's args and the chart
    // ServiceAccount's token
    let token = cp
        .service_account_token(RELEASE_NS, CHART_SA)
        .await
        .expect("token");
    let kubeconfig = cp.kubeconfig_for_token(&token).expect("kubeconfig");
    let mut args = as_nonroot();
    args.push(binary.display().to_string());
    args.extend(testenv::chart::deployment_args(&rendered).expect("Deployment args"));
    let mut controller = Launch::new("setpriv")
        .args(args)
        .kubeconfig(&kubeconfig)
        .env("POD_NAMESPACE", RELEASE_NS)
        .env("POD_NAME", "operationrun-controller-image")
        .start()
        .await
        .unwrap_or_else(|e| panic!("the image's binary starts as UID {UID}: {e}"));
    let status = std::fs::read_to_string(format!("/proc/{}/status", controller.id()))
        .expect("the process's status");
    for id in ["Uid", "Gid"] {
        let line = status
            .lines()
            .find(|l| l.starts_with(&format!("{id}:")))
            .unwrap_or_default();
        let ids: Vec<&str> = line.split_whitespace().skip(1).collect();
        let uid = UID.to_string();
        assert_eq!(ids, [uid.as_str(); 4], "{line}");
    }
    let exe = std::fs::read_link(format!("/proc/{}/exe", controller.id())).expect("its exe");
    assert_eq!(exe, binary, "the image's binary is what runs");
    let (code, body) = controller.get("/readyz").await.expect("GET /readyz");
    assert_eq!(code, 200, "{body}");

    // a backup run with an old heartbeat and a complete BackupSet (examples/complete-backup)
    let admin = cp.client();
    testenv::worker::apply(
        &admin,
        &root().join("examples/complete-backup"),
        Timestamp::now(),
    )
    .await
    .expect("example applied");
    let ar = ApiResource::erase::<OperationRun>(&());
    let runs: Api<DynamicObject> = Api::namespaced_with(admin.clone(), "tenant-contoso", &ar);
    let deadline = Instant::now() + Duration::from_secs(60);
    let condition = |run: &DynamicObject, kind: &str| -> (String, String) {
        run.data["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == kind)
            .map(|c| {
                (
                    c["status"].as_str().unwrap_or_default().to_string(),
                    c["reason"].as_str().unwrap_or_default().to_string(),
                )
            })
            .unwrap_or_default()
    };
    loop {
        let run = runs.get("nightly-20261126").await.expect("the run");
        let reconciled = condition(&run, "Reconciled");
        if reconciled.0 == "True" {
            assert_eq!(reconciled, ("True".into(), "Succeeded".into()));
            assert_eq!(
                condition(&run, "Stale"),
                ("True".into(), "HeartbeatExpired".into())
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run is not decided after 60 s: {:?}\n{}",
            run.data["status"],
            controller.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // written by the chart's ServiceAccount, the identity the binary was given
    cp.wait_for_audit_event(Duration::from_secs(10), |e| {
        e["objectRef"]["resource"] == "operationruns"
            && e["objectRef"]["subresource"] == "status"
            && e["objectRef"]["name"] == "nightly-20261126"
            && e["user"]["username"] == testenv::worker::CONTROLLER_USER
            && e["responseStatus"]["code"] == 200
    })
    .await
    .expect("the decision in the audit log, by the chart's ServiceAccount");

    // stopped as a pod is
    let exit = controller.terminate().await.expect("stops on SIGTERM");
    assert!(exit.success(), "{exit}\n{}", controller.log());
    let _ = std::fs::remove_dir_all(binary.parent().expect("its dir"));
}
