//! `cargo xtask dist`: every file of a release, into `target/dist/` (flat):
//!
//! - `kubectl-oprun-v<version>-<os>-<arch>.tar.gz` for linux and darwin on amd64 and
//!   arm64 and for windows on amd64, each holding the plugin, `LICENSE` and `README.md`;
//! - `operationrun-controller-v<version>-linux-<arch>`, the static controller binaries;
//! - `operationrun-controller-<version>.tgz`, the Helm chart (its image tag is the
//!   chart's `appVersion`, pinned to the version), and `operationrun-controller.yaml`,
//!   the static install manifest;
//! - `oprun.yaml`, the krew manifest with the archives' checksums, checked by krew's own
//!   validator, which installs every platform from the archives;
//! - `operationrun-controller-v<version>.spdx.json`, the SBOM (syft), and `SHA256SUMS`.
//!
//! Every binary is cross-compiled with cargo-zigbuild and zig, both from PyPI, installed
//! into a virtual environment under `~/.cache/operationrun-controller/zig/`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{checked, root, say};

/// The release version: the workspace's, which the chart and the krew manifest repeat.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Where the project lives; the release URLs and the image's source label name it.
pub(crate) const REPOSITORY: &str = "https://github.com/tenantatlas/operationrun-controller";
/// The pinned zig and cargo-zigbuild (PyPI), shared with the Dockerfile.
const ZIG_REQUIREMENTS: &str = include_str!("../zig-requirements.txt");
/// The release asset the controller is built into for `platform`.
const CONTROLLER: &str = "operationrun-controller";
const PLUGIN: &str = "kubectl-oprun";

/// One platform a binary is built for: krew's (and Go's) names for it, and Rust's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Platform {
    /// `linux`, `darwin` or `windows`.
    pub(crate) os: &'static str,
    /// `amd64` or `arm64`.
    pub(crate) arch: &'static str,
    /// The Rust target triple.
    pub(crate) triple: &'static str,
}

impl Platform {
    /// The executable's file name on this platform.
    fn exe(&self, name: &str) -> String {
        if self.os == "windows" {
            format!("{name}.exe")
        } else {
            name.to_string()
        }
    }
}

/// The image's and the controller binary's platform.
pub(crate) const LINUX_AMD64: Platform = Platform {
    os: "linux",
    arch: "amd64",
    triple: "x86_64-unknown-linux-musl",
};
const LINUX_ARM64: Platform = Platform {
    os: "linux",
    arch: "arm64",
    triple: "aarch64-unknown-linux-musl",
};
/// The platforms krew users expect; the controller ships for the linux ones.
const PLUGIN_PLATFORMS: [Platform; 5] = [
    LINUX_AMD64,
    LINUX_ARM64,
    Platform {
        os: "darwin",
        arch: "amd64",
        triple: "x86_64-apple-darwin",
    },
    Platform {
        os: "darwin",
        arch: "arm64",
        triple: "aarch64-apple-darwin",
    },
    Platform {
        os: "windows",
        arch: "amd64",
        triple: "x86_64-pc-windows-gnu",
    },
];
const CONTROLLER_PLATFORMS: [Platform; 2] = [LINUX_AMD64, LINUX_ARM64];

const USAGE: &str = "usage: cargo xtask dist

Builds every file of a release into target/dist/ (flat): the kubectl-oprun archives
(linux and darwin on amd64 and arm64, windows amd64), the static controller binaries
(linux amd64 and arm64), the Helm chart, the static install manifest, the krew manifest
with the archives' checksums (checked by krew's validator), an SPDX SBOM and SHA256SUMS.";

/// Entry point of `cargo xtask dist`; `args` are the ones after `dist`.
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
    match dist() {
        Ok(()) => {
            say(&format!(
                "cargo xtask dist done in {:.0} s",
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

fn dist() -> Result<(), String> {
    // the workspace root without `xtask/..`, for the paths printed
    let root = root().canonicalize().unwrap_or_else(|_| root());
    let out = root.join("target/dist");
    if out.exists() {
        fs::remove_dir_all(&out).map_err(|e| format!("removing {}: {e}", out.display()))?;
    }
    fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let mtime = source_date_epoch();
    chart_says_the_version()?;

    say("the Go tools: helm and kubectl (tests/controlplane), krew and syft (tests/tools)");
    let cp_bin = last_line(checked(
        {
            let mut c = Command::new(root.join("tests/controlplane/build.sh"));
            c.args(["kubectl", "helm"]);
            c
        },
        "tests/controlplane/build.sh kubectl helm",
    )?);
    let tools_bin = last_line(checked(
        {
            let mut c = Command::new(root.join("tests/tools/build.sh"));
            c.args(["krew", "syft"]);
            c
        },
        "tests/tools/build.sh krew syft",
    )?);

    let zig = Zig::install()?;
    let readme = root.join("kubectl-oprun/README.md");
    let license = root.join("LICENSE");
    let mut archives = BTreeMap::new();
    let mut failed = Vec::new();
    for platform in PLUGIN_PLATFORMS {
        let name = format!(
            "{PLUGIN}-v{VERSION}-{}-{}.tar.gz",
            platform.os, platform.arch
        );
        say(&format!("{PLUGIN} for {}/{}", platform.os, platform.arch));
        match zig.build(PLUGIN, PLUGIN, platform) {
            Ok(bin) => {
                let exe = platform.exe(PLUGIN);
                write_tar_gz(
                    &out.join(&name),
                    &[
                        (exe.as_str(), bin.as_path(), 0o755),
                        ("LICENSE", license.as_path(), 0o644),
                        ("README.md", readme.as_path(), 0o644),
                    ],
                    mtime,
                )?;
                let sum = sha256_file(&out.join(&name))?;
                archives.insert(name, sum);
            }
            Err(e) => failed.push(format!("{PLUGIN} {}/{}: {e}", platform.os, platform.arch)),
        }
    }
    for platform in CONTROLLER_PLATFORMS {
        say(&format!(
            "{CONTROLLER} for {}/{}",
            platform.os, platform.arch
        ));
        match zig.build(CONTROLLER, CONTROLLER, platform) {
            Ok(bin) => {
                let name = format!("{CONTROLLER}-v{VERSION}-{}-{}", platform.os, platform.arch);
                copy_executable(&bin, &out.join(name))?;
            }
            Err(e) => failed.push(format!(
                "{CONTROLLER} {}/{}: {e}",
                platform.os, platform.arch
            )),
        }
    }
    if !failed.is_empty() {
        return Err(format!(
            "some platforms did not build (the others are in {}):\n  {}",
            out.display(),
            failed.join("\n  ")
        ));
    }

    say("the Helm chart (helm package), its image pinned to the version");
    let chart = package_chart(&cp_bin, &out)?;
    say("the static install manifest (deploy/operationrun-controller.yaml)");
    static_manifest(&out)?;
    say("the krew manifest with the archives' checksums, checked by validate-krew-manifest");
    krew_manifest(&out, &archives, &cp_bin, &tools_bin)?;
    say("the SBOM (syft, SPDX JSON) of the crates the release binaries are built from");
    sbom(&tools_bin, &out)?;
    say("SHA256SUMS");
    let sums = sha256sums(&out)?;

    println!("\ntarget/dist/ ({VERSION}; chart {chart}):");
    for (name, sum) in &sums {
        let size = fs::metadata(out.join(name)).map(|m| m.len()).unwrap_or(0);
        println!("  {:<52} {:>10}  sha256:{sum}", name, human(size));
    }
    let size = fs::metadata(out.join("SHA256SUMS"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!("  {:<52} {:>10}", "SHA256SUMS", human(size));
    Ok(())
}

/// The last line of a build script's stdout: its bin directory.
pub(crate) fn last_line(stdout: String) -> PathBuf {
    PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
}

/// The time every archived file is stamped with: `SOURCE_DATE_EPOCH`, else the last
/// commit's time, so that the same commit gives the same archives.
pub(crate) fn source_date_epoch() -> u64 {
    if let Some(t) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return t;
    }
    Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(root())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(0)
}

/// zig and cargo-zigbuild, pinned in `xtask/zig-requirements.txt`, in a virtual
/// environment of their own (installed by [`Zig::install`] when missing).
pub(crate) struct Zig {
    /// `PATH` with the environment's `bin` first: cargo finds `cargo-zigbuild` there, and
    /// cargo-zigbuild finds zig through that environment's `python3 -m ziglang`.
    path: std::ffi::OsString,
}

impl Zig {
    /// The environment under `~/.cache/operationrun-controller/zig/`, created with
    /// `python3 -m venv` and filled with pip from PyPI the first time.
    pub(crate) fn install() -> Result<Self, String> {
        let pins: Vec<&str> = ZIG_REQUIREMENTS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if pins.is_empty() {
            return Err("xtask/zig-requirements.txt pins nothing".into());
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .ok_or("HOME is not set")?;
        let name = pins.join("_").replace("==", "-");
        let venv = PathBuf::from(home)
            .join(".cache/operationrun-controller/zig")
            .join(name);
        let bin = venv.join("bin");
        let done = venv.join(".installed");
        if !done.is_file() {
            fs::create_dir_all(&venv).map_err(|e| format!("creating {}: {e}", venv.display()))?;
            // one install at a time; a second caller waits, then finds it done
            let lock = fs::File::create(venv.join(".lock"))
                .map_err(|e| format!("locking {}: {e}", venv.display()))?;
            lock.lock()
                .map_err(|e| format!("locking {}: {e}", venv.display()))?;
            if !done.is_file() {
                say(&format!(
                    "installing {} from PyPI into {}",
                    pins.join(", "),
                    venv.display()
                ));
                let t0 = Instant::now();
                let python = std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
                let status = Command::new(&python)
                    .args(["-m", "venv", "--clear"])
                    .arg(&venv)
                    .status()
                    .map_err(|e| format!("python3 -m venv: {e} (is python3 installed?)"))?;
                if !status.success() {
                    return Err(format!(
                        "python3 -m venv {} failed ({status})",
                        venv.display()
                    ));
                }
                let requirements = venv.join("requirements.txt");
                fs::write(&requirements, ZIG_REQUIREMENTS)
                    .map_err(|e| format!("writing {}: {e}", requirements.display()))?;
                let status = Command::new(bin.join("python3"))
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                        "--no-input",
                        "-r",
                    ])
                    .arg(&requirements)
                    .status()
                    .map_err(|e| format!("pip install: {e}"))?;
                if !status.success() {
                    return Err(format!("pip install {} failed ({status})", pins.join(" ")));
                }
                fs::write(&done, ZIG_REQUIREMENTS)
                    .map_err(|e| format!("writing {}: {e}", done.display()))?;
                say(&format!(
                    "zig and cargo-zigbuild installed in {:.0} s",
                    t0.elapsed().as_secs_f64()
                ));
            }
        }
        let mut paths = vec![bin];
        if let Some(p) = std::env::var_os("PATH") {
            paths.extend(std::env::split_paths(&p));
        }
        let path = std::env::join_paths(paths).map_err(|e| format!("PATH: {e}"))?;
        Ok(Self { path })
    }

    /// Builds `bin` of `package` for `platform` in release mode, stripped, with
    /// `cargo zigbuild`, adding the Rust target first if missing; returns the executable.
    pub(crate) fn build(
        &self,
        package: &str,
        bin: &str,
        platform: Platform,
    ) -> Result<PathBuf, String> {
        rust_target(platform.triple)?;
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let t0 = Instant::now();
        let messages = checked(
            {
                let mut c = Command::new(cargo);
                c.args([
                    "zigbuild",
                    "--release",
                    "--locked",
                    "--target",
                    platform.triple,
                    "--package",
                    package,
                    "--bin",
                    bin,
                    "--message-format=json-render-diagnostics",
                ])
                .env("PATH", &self.path)
                .env("CARGO_PROFILE_RELEASE_STRIP", "symbols")
                .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
                .current_dir(root());
                if platform.os == "darwin" {
                    // without it zig marks the binary for its newest macOS only
                    c.env("SDKROOT", macos_stubs()?)
                        .env("MACOSX_DEPLOYMENT_TARGET", MACOS_MINIMUM);
                }
                c
            },
            &format!("cargo zigbuild --target {} --bin {bin}", platform.triple),
        )?;
        let exe = messages
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == bin)
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .ok_or_else(|| format!("cargo reported no {bin} executable for {}", platform.triple))?;
        say(&format!(
            "built {} ({}, {:.0} s)",
            exe.display(),
            human(fs::metadata(&exe).map(|m| m.len()).unwrap_or(0)),
            t0.elapsed().as_secs_f64()
        ));
        Ok(exe)
    }
}

/// The oldest macOS the darwin builds run on: Rust's minimum for arm64, and what the TLS
/// stack needs on amd64 (`SecTrustEvaluateWithError`, macOS 10.14).
const MACOS_MINIMUM: &str = "11.0";

/// The macOS libraries the darwin builds link against, as text stubs (`.tbd`: a
/// library's install name and the symbols it exports, what Apple's SDK holds too), from
/// `xtask/macos-stubs.txt`. zig brings libSystem but not the frameworks, and the SDK cannot
/// be had here; the binary records the install names, and macOS loads the real frameworks.
const MACOS_STUBS: &str = include_str!("../macos-stubs.txt");

/// Writes the stubs of [`MACOS_STUBS`] as a minimal SDK under `target/` and returns its
/// root, for `SDKROOT` (cargo-zigbuild passes it to zig as the framework and library path).
fn macos_stubs() -> Result<PathBuf, String> {
    let sdk = root().join("target/xtask-macos-stubs");
    let mut stubs: Vec<(String, String, Vec<String>)> = Vec::new();
    for line in MACOS_STUBS.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            let (_, _, symbols) = stubs.last_mut().ok_or_else(|| {
                format!("xtask/macos-stubs.txt: symbol {trimmed} before any library")
            })?;
            symbols.push(trimmed.to_string());
        } else {
            let (path, install_name) = trimmed.split_once(' ').ok_or_else(|| {
                format!("xtask/macos-stubs.txt: expected `<stub path> <install name>`: {line:?}")
            })?;
            stubs.push((
                path.to_string(),
                install_name.trim().to_string(),
                Vec::new(),
            ));
        }
    }
    for (path, install_name, symbols) in &stubs {
        let file = sdk.join(path);
        if let Some(dir) = file.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let text = format!(
            "--- !tapi-tbd\ntbd-version:     4\ntargets:         [ x86_64-macos, arm64-macos ]\ninstall-name:    '{install_name}'\nexports:\n  - targets:         [ x86_64-macos, arm64-macos ]\n    symbols:         [ {} ]\n...\n",
            symbols.join(", ")
        );
        fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(sdk)
}

/// Adds the Rust standard library for `triple` to the pinned toolchain when missing.
fn rust_target(triple: &str) -> Result<(), String> {
    let installed = checked(
        {
            let mut c = Command::new("rustup");
            c.args(["target", "list", "--installed"])
                .current_dir(root());
            c
        },
        "rustup target list --installed",
    )?;
    if installed.lines().any(|l| l.trim() == triple) {
        return Ok(());
    }
    say(&format!("rustup target add {triple}"));
    checked(
        {
            let mut c = Command::new("rustup");
            c.args(["target", "add", triple]).current_dir(root());
            c
        },
        &format!("rustup target add {triple}"),
    )
    .map(drop)
}

/// A size for people: `12.9 MiB (13 526 016 bytes)`.
pub(crate) fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// The hex SHA-256 of the file at `path`.
pub(crate) fn sha256_file(path: &Path) -> Result<String, String> {
    let mut file = fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn copy_executable(from: &Path, to: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    fs::copy(from, to)
        .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", to.display()))
}

/// Writes a gzip-compressed tar of `files` (name in the archive, source, mode), owned by
/// root, every file stamped `mtime`: the same inputs give the same bytes.
pub(crate) fn write_tar_gz(
    dest: &Path,
    files: &[(&str, &Path, u32)],
    mtime: u64,
) -> Result<(), String> {
    let err = |e: std::io::Error| format!("writing {}: {e}", dest.display());
    let file = fs::File::create(dest).map_err(err)?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    for (name, source, mode) in files {
        let data = fs::read(source).map_err(|e| format!("{}: {e}", source.display()))?;
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        header.set_cksum();
        tar.append_data(&mut header, name, data.as_slice())
            .map_err(err)?;
    }
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .and_then(|mut f| f.flush())
        .map_err(err)
}

/// The chart's `version` and `appVersion` (the image tag when `image.tag` is empty) are
/// the workspace's: a release says one version everywhere. Checked before anything is built.
fn chart_says_the_version() -> Result<(), String> {
    let chart_yaml = root().join("charts/operationrun-controller/Chart.yaml");
    let text =
        fs::read_to_string(&chart_yaml).map_err(|e| format!("{}: {e}", chart_yaml.display()))?;
    for key in ["version", "appVersion"] {
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .map(|v| v.trim().trim_matches('"').to_string())
            .unwrap_or_default();
        if value != VERSION {
            return Err(format!(
                "{} says {key}: {value:?}, the workspace {VERSION:?}",
                chart_yaml.display()
            ));
        }
    }
    Ok(())
}

/// `helm package` of the chart (its `version` and `appVersion` are the release's, see
/// [`chart_says_the_version`]); checks the packaged chart renders the version's image.
fn package_chart(cp_bin: &Path, out: &Path) -> Result<String, String> {
    let helm = cp_bin.join("helm");
    let home = std::env::temp_dir().join(format!("oprun-dist-helm-{}", std::process::id()));
    let helm_cmd = || {
        let mut c = Command::new(&helm);
        c.env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"));
        c
    };
    let packaged = checked(
        {
            let mut c = helm_cmd();
            c.arg("package")
                .arg(root().join("charts/operationrun-controller"))
                .arg("--destination")
                .arg(out);
            c
        },
        "helm package",
    );
    let name = format!("operationrun-controller-{VERSION}.tgz");
    let rendered = packaged.and_then(|_| {
        checked(
            {
                let mut c = helm_cmd();
                c.args(["template", "operationrun-controller"])
                    .arg(out.join(&name))
                    .args(["--namespace", "operationrun-system"]);
                c
            },
            "helm template (the packaged chart)",
        )
    });
    let _ = fs::remove_dir_all(&home);
    let rendered = rendered?;
    let image = format!("image: \"ghcr.io/tenantatlas/operationrun-controller:{VERSION}\"");
    if !rendered.lines().any(|l| l.trim() == image) {
        return Err(format!(
            "the packaged chart does not render {image}; its images: {:?}",
            rendered
                .lines()
                .filter(|l| l.trim().starts_with("image:"))
                .collect::<Vec<_>>()
        ));
    }
    Ok(name)
}

/// Copies the static install manifest, after checking it names this version's image.
fn static_manifest(out: &Path) -> Result<(), String> {
    let from = root().join("deploy/operationrun-controller.yaml");
    let text = fs::read_to_string(&from).map_err(|e| format!("{}: {e}", from.display()))?;
    let image = format!("image: \"ghcr.io/tenantatlas/operationrun-controller:{VERSION}\"");
    let images: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("image:"))
        .collect();
    if images.is_empty() || images.iter().any(|l| *l != image) {
        return Err(format!(
            "{} names the images {images:?}, not {image}",
            from.display()
        ));
    }
    fs::write(out.join("operationrun-controller.yaml"), text)
        .map_err(|e| format!("writing the static manifest: {e}"))
}

/// The krew manifest of the release: `krew/oprun.yaml` with every placeholder checksum
/// replaced by the archive's. Checked twice with krew's `validate-krew-manifest`: as
/// released (structure, platforms; its URIs are not served yet), and as a copy whose URIs
/// point at the archives served here, which the validator installs for every platform with
/// `kubectl krew install` (checksum, files, LICENSE extracted).
fn krew_manifest(
    out: &Path,
    archives: &BTreeMap<String, String>,
    cp_bin: &Path,
    tools_bin: &Path,
) -> Result<(), String> {
    let template_path = root().join("krew/oprun.yaml");
    let template = fs::read_to_string(&template_path)
        .map_err(|e| format!("{}: {e}", template_path.display()))?;
    if !template
        .lines()
        .any(|l| l.trim() == format!("version: v{VERSION}"))
    {
        return Err(format!(
            "{} does not say version: v{VERSION}",
            template_path.display()
        ));
    }
    let mut used = BTreeSet::new();
    let mut lines = vec![
        format!("# krew plugin manifest of kubectl oprun v{VERSION}: install with"),
        "#   kubectl krew install --manifest=oprun.yaml".to_string(),
        "# Generated by `cargo xtask dist` from krew/oprun.yaml.".to_string(),
    ];
    // the template's leading comment speaks of placeholders: not carried over
    for line in template.lines().skip_while(|l| l.starts_with('#')) {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("sha256:") {
            let asset = rest
                .trim()
                .trim_matches('"')
                .strip_prefix("FILLED-AT-RELEASE-TIME: sha256 of ")
                .ok_or_else(|| format!("krew/oprun.yaml: unexpected sha256 line {line:?}"))?;
            let sum = archives.get(asset).ok_or_else(|| {
                format!("krew/oprun.yaml names {asset}, which this release does not build")
            })?;
            used.insert(asset.to_string());
            let indent = &line[..line.len() - trimmed.len()];
            lines.push(format!("{indent}sha256: {sum}"));
        } else {
            lines.push(line.to_string());
        }
    }
    let unused: Vec<&String> = archives.keys().filter(|a| !used.contains(*a)).collect();
    if !unused.is_empty() {
        return Err(format!("krew/oprun.yaml has no platform for {unused:?}"));
    }
    let manifest = lines.join("\n") + "\n";
    let released = out.join("oprun.yaml");
    fs::write(&released, &manifest).map_err(|e| format!("{}: {e}", released.display()))?;
    validate_krew(tools_bin, cp_bin, &released, true)?;

    // the same manifest with its URIs on a loopback server of target/dist/
    let server = FileServer::start(out)?;
    let prefix = format!("{REPOSITORY}/releases/download/v{VERSION}/");
    let local = manifest.replace(&prefix, &format!("http://{}/", server.addr));
    if local.matches("http://127.0.0.1").count() != archives.len() {
        return Err(format!(
            "expected {} URIs under {prefix} in the krew manifest",
            archives.len()
        ));
    }
    let dir = std::env::temp_dir().join(format!("oprun-dist-krew-{}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let copy = dir.join("oprun.yaml");
    let result = fs::write(&copy, local)
        .map_err(|e| format!("{}: {e}", copy.display()))
        .and_then(|()| validate_krew(tools_bin, cp_bin, &copy, false));
    let _ = fs::remove_dir_all(&dir);
    result
}

fn validate_krew(
    tools_bin: &Path,
    cp_bin: &Path,
    manifest: &Path,
    skip_install: bool,
) -> Result<(), String> {
    let mut paths = vec![tools_bin.to_path_buf(), cp_bin.to_path_buf()];
    if let Some(p) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&p));
    }
    let path = std::env::join_paths(paths).map_err(|e| format!("PATH: {e}"))?;
    let mut c = Command::new(tools_bin.join("validate-krew-manifest"));
    c.arg("-manifest").arg(manifest).env("PATH", path);
    if skip_install {
        c.arg("-skip-install");
    }
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("validate-krew-manifest: {e}"))?;
    let log =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "validate-krew-manifest -manifest {} failed ({}):\n{log}",
            manifest.display(),
            out.status
        ));
    }
    // the validator's last words, "no overlapping spec.platform[].selector" (after klog's
    // `I1130 02:16:45.1 123 main.go:94] `) or "all N spec.platforms installed fine"
    let last = log
        .lines()
        .rev()
        .find(|l| l.contains("installed fine") || l.contains("no overlapping"))
        .unwrap_or_default();
    let last = match last.split_once("] ") {
        Some((_, message)) => message,
        // log.Printf's `2026/11/30 02:16:45 ` prefix
        None => last.splitn(3, ' ').nth(2).unwrap_or(last),
    };
    say(&format!(
        "validate-krew-manifest{}: {}",
        if skip_install { " -skip-install" } else { "" },
        last.trim()
    ));
    Ok(())
}

// The krew manifest check's file server, the SBOM and SHA256SUMS, included into dist.rs.
include!("dist/release_files.rs");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keeps_only_the_named_packages() {
        let lock = "# header\nversion = 4\n\n[[package]]\nname = \"a\"\nversion = \"1.0.0\"\n\n[[package]]\nname = \"b\"\nversion = \"2.0.0\"\ndependencies = [\n \"a\",\n]\n";
        let keep = BTreeSet::from([("b".to_string(), "2.0.0".to_string())]);
        let (out, total) = filter_lock(lock, &keep);
        assert_eq!(total, 2);
        assert!(out.starts_with("# header\nversion = 4\n"), "{out}");
        assert!(out.contains("name = \"b\""), "{out}");
        assert!(!out.contains("name = \"a\""), "{out}");
    }
}
