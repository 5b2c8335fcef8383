//! `cargo xtask image`: the controller's OCI image, built without a Docker engine.
//!
//! A static musl binary (cargo-zigbuild, stripped) in an image `FROM scratch` holding only
//! that binary: no shell, no package manager, no base to pull. It runs as UID/GID 65532,
//! the chart's `runAsUser`/`runAsGroup`; TLS trust comes from the kubeconfig and the
//! ServiceAccount, so it needs no CA bundle. buildah (the Debian package, installed here
//! when missing) assembles it with its vfs storage under `target/image/`, and pushes it
//! to an OCI archive, `target/image/operationrun-controller-v<version>-linux-amd64.oci.tar`.
//! The Dockerfile builds the same image for people who have Docker.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use serde_json::Value;

use crate::dist::{self, LINUX_AMD64, REPOSITORY, VERSION, Zig, human};
use crate::{checked, root, say};

/// The image's path for the binary, its entrypoint.
const BINARY: &str = "/operationrun-controller";
/// The chart's `runAsUser` and `runAsGroup` (distroless's "nonroot").
const USER: &str = "65532:65532";
/// What the image's labels say it is.
const DESCRIPTION: &str =
    "Decides the true outcome of stale OperationRuns from the evidence they produced.";

const USAGE: &str = "usage: cargo xtask image

Builds a static musl binary of operationrun-controller and an OCI image FROM scratch with
only that binary (USER 65532:65532, ENTRYPOINT [\"/operationrun-controller\"], CMD [\"run\"],
OCI labels), with buildah and no Docker engine, into
target/image/operationrun-controller-v<version>-linux-amd64.oci.tar.";

/// Entry point of `cargo xtask image`; `args` are the ones after `image`.
pub(crate) fn main(args: &[String]) -> ExitCode {
    if let Some(arg) = args.first() {
        if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        eprintln!("error: unexpected argument {arg:?}\n\n{USAGE}");
        return ExitCode::from(2);
    }
    let started = Instant::now();
    match image() {
        Ok(()) => {
            say(&format!(
                "cargo xtask image done in {:.0} s",
                started.elapsed().as_secs_f64()
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The OCI archive `cargo xtask image` writes, under the workspace's `target/`.
pub(crate) fn archive_name() -> String {
    format!(
        "operationrun-controller-v{VERSION}-{}-{}.oci.tar",
        LINUX_AMD64.os, LINUX_AMD64.arch
    )
}

fn image() -> Result<(), String> {
    // the workspace root without `xtask/..`, for the paths printed
    let root = root().canonicalize().unwrap_or_else(|_| root());
    let out = root.join("target/image");
    fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;

    say("building a static operationrun-controller for linux/amd64 (musl, stripped)");
    let zig = Zig::install()?;
    let binary = zig.build(
        "operationrun-controller",
        "operationrun-controller",
        LINUX_AMD64,
    )?;
    let binary_size = fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);

    let buildah = Buildah::new(&out)?;
    let revision = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let epoch = dist::source_date_epoch();
    let created = jiff::Timestamp::from_second(epoch as i64)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .map_err(|e| format!("time {epoch}: {e}"))?;
    let labels = [
        ("org.opencontainers.image.title", "operationrun-controller"),
        ("org.opencontainers.image.description", DESCRIPTION),
        ("org.opencontainers.image.source", REPOSITORY),
        ("org.opencontainers.image.url", REPOSITORY),
        ("org.opencontainers.image.version", VERSION),
        ("org.opencontainers.image.licenses", "Apache-2.0"),
        ("org.opencontainers.image.revision", revision.as_str()),
        ("org.opencontainers.image.created", created.as_str()),
    ];

    say("assembling the image with buildah: FROM scratch, the binary only");
    let name = format!("localhost/operationrun-controller:{VERSION}");
    let container = buildah
        .run(&["from", "--quiet", "scratch"])?
        .trim()
        .to_string();
    let result = (|| {
        buildah.run(&[
            "copy",
            "--quiet",
            "--chown",
            "0:0",
            "--chmod",
            "0755",
            &container,
            &binary.display().to_string(),
            BINARY,
        ])?;
        let mut config = vec![
            "config".to_string(),
            "--os=linux".into(),
            format!("--arch={}", LINUX_AMD64.arch),
            format!("--user={USER}"),
            format!("--entrypoint=[\"{BINARY}\"]"),
            "--cmd=[\"run\"]".into(),
            "--port=8080/tcp".into(),
            "--workingdir=/".into(),
        ];
        config.extend(labels.iter().map(|(k, v)| format!("--label={k}={v}")));
        config.push(container.clone());
        buildah.run(&config.iter().map(String::as_str).collect::<Vec<_>>())?;
        // --timestamp: the layer's files and the config's dates are the commit's, so the
        // same commit gives the same image digest
        buildah.run(&[
            "commit",
            "--quiet",
            "--format=oci",
            "--identity-label=false",
            "--omit-history",
            &format!("--timestamp={epoch}"),
            &container,
            &name,
        ])
    })();
    let _ = buildah.run(&["rm", &container]);
    result?;

    let archive = out.join(archive_name());
    let _ = fs::remove_file(&archive);
    let digest_file = out.join("digest");
    let pushed = buildah.run(&[
        "push",
        "--quiet",
        "--format=oci",
        "--digestfile",
        &digest_file.display().to_string(),
        &name,
        &format!("oci-archive:{}:{VERSION}", archive.display()),
    ]);
    let _ = buildah.run(&["rmi", &name]);
    buildah.remove_storage();
    pushed?;

    let summary = Summary::read(&archive)?;
    let digest = fs::read_to_string(&digest_file)
        .map(|d| d.trim().to_string())
        .unwrap_or_default();
    let _ = fs::remove_file(&digest_file);
    if !digest.is_empty() && digest != summary.manifest_digest {
        return Err(format!(
            "buildah reported digest {digest}, the archive's index names {}",
            summary.manifest_digest
        ));
    }
    let archive_size = fs::metadata(&archive).map(|m| m.len()).unwrap_or(0);
    println!(
        "\n{}\n  image      {name} (linux/{})\n  digest     {}\n  binary     {} {} (static, stripped)\n  layer      {} compressed, {} files: {}\n  archive    {}\n  user       {USER}, entrypoint [\"{BINARY}\"], cmd [\"run\"], revision {revision}",
        archive.display(),
        LINUX_AMD64.arch,
        summary.manifest_digest,
        BINARY,
        human(binary_size),
        human(summary.layer_size),
        summary.files.len(),
        summary.files.join(", "),
        human(archive_size),
    );
    Ok(())
}

fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .current_dir(root())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// buildah with a vfs storage of its own under `target/image/.buildah` (no daemon, no
/// overlay mounts, nothing left in `/var/lib/containers`), installed with apt-get when
/// missing.
struct Buildah {
    storage: PathBuf,
}

impl Buildah {
    fn new(out: &Path) -> Result<Self, String> {
        if Command::new("buildah")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| !s.success())
            .unwrap_or(true)
        {
            say("installing buildah (Debian package)");
            let root_user = effective_uid().is_some_and(|id| id == "0");
            let apt = |args: &[&str]| {
                let mut c = if root_user {
                    Command::new("apt-get")
                } else {
                    let mut c = Command::new("sudo");
                    c.arg("apt-get");
                    c
                };
                c.args(args)
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .stdout(Stdio::null());
                checked(c, &format!("apt-get {}", args.join(" "))).map(drop)
            };
            apt(&["update", "-qq"])?;
            apt(&["install", "-y", "-qq", "buildah"])?;
        }
        let storage = out.join(".buildah");
        // a storage left by an interrupted run holds nothing worth keeping
        let _ = fs::remove_dir_all(&storage);
        Ok(Self { storage })
    }

    /// `buildah <args>` on this storage; its stdout.
    fn run(&self, args: &[&str]) -> Result<String, String> {
        let mut c = Command::new("buildah");
        c.arg("--storage-driver=vfs")
            .arg(format!("--root={}", self.storage.join("root").display()))
            .arg(format!("--runroot={}", self.storage.join("run").display()))
            .args(args)
            .env("BUILDAH_ISOLATION", "chroot")
            .stdin(Stdio::null());
        checked(
            c,
            &format!("buildah {}", args.first().copied().unwrap_or_default()),
        )
    }

    fn remove_storage(&self) {
        let _ = fs::remove_dir_all(&self.storage);
    }
}

/// The effective user id, from `id -u`.
fn effective_uid() -> Option<String> {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// What the archive holds: the manifest's digest, the compressed size of its one layer
/// and the files in it.
struct Summary {
    manifest_digest: String,
    layer_size: u64,
    files: Vec<String>,
}

impl Summary {
    fn read(archive: &Path) -> Result<Self, String> {
        let blobs = read_archive(archive)?;
        let index: Value = json_blob(&blobs, "index.json")?;
        let manifest_digest = index["manifests"][0]["digest"]
            .as_str()
            .ok_or("index.json names no manifest")?
            .to_string();
        let manifest = json_blob(&blobs, &blob_path(&manifest_digest))?;
        let layers = manifest["layers"].as_array().ok_or("manifest: no layers")?;
        let mut layer_size = 0;
        let mut files = Vec::new();
        for layer in layers {
            let digest = layer["digest"].as_str().ok_or("layer without a digest")?;
            let data = blobs
                .get(&blob_path(digest))
                .ok_or_else(|| format!("layer {digest} missing from the archive"))?;
            layer_size += data.len() as u64;
            let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(data.as_slice()));
            for entry in tar.entries().map_err(|e| format!("layer {digest}: {e}"))? {
                let entry = entry.map_err(|e| format!("layer {digest}: {e}"))?;
                let path = entry
                    .path()
                    .map_err(|e| format!("layer {digest}: {e}"))?
                    .display()
                    .to_string();
                files.push(format!("/{}", path.trim_start_matches("./")));
            }
        }
        Ok(Self {
            manifest_digest,
            layer_size,
            files,
        })
    }
}

fn blob_path(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

fn json_blob(
    blobs: &std::collections::HashMap<String, Vec<u8>>,
    path: &str,
) -> Result<Value, String> {
    let data = blobs
        .get(path)
        .ok_or_else(|| format!("{path} missing from the archive"))?;
    serde_json::from_slice(data).map_err(|e| format!("{path}: {e}"))
}

/// Every file of an OCI archive (a tar of an OCI layout), by path.
fn read_archive(archive: &Path) -> Result<std::collections::HashMap<String, Vec<u8>>, String> {
    let file = fs::File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    let mut tar = tar::Archive::new(file);
    let mut blobs = std::collections::HashMap::new();
    for entry in tar
        .entries()
        .map_err(|e| format!("{}: {e}", archive.display()))?
    {
        let mut entry = entry.map_err(|e| format!("{}: {e}", archive.display()))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| format!("{}: {e}", archive.display()))?
            .display()
            .to_string();
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| format!("{}: {e}", archive.display()))?;
        blobs.insert(path.trim_start_matches("./").to_string(), data);
    }
    Ok(blobs)
}
