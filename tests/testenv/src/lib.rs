//! A real Kubernetes control plane for tests: etcd and kube-apiserver, built
//! from their Go modules by `tests/controlplane/build.sh`, started on loopback
//! with fresh certificates, RBAC, ServiceAccount tokens and an audit log.
//!
//! An operator's tests are only as good as the API server they talk to: this
//! one applies the real schema validation, CEL rules, server-side apply,
//! resourceVersion preconditions and authorization.
//!
//! ```no_run
//! # async fn f() -> testenv::Result<()> {
//! let cp = testenv::ControlPlane::start().await?;
//! let client = cp.client(); // admin (system:masters)
//! # Ok(()) }
//! ```
//!
//! What is not there: no kube-controller-manager, scheduler or kubelet. Pods
//! never run, namespaces are never finalized after deletion, no `default`
//! ServiceAccount is created, garbage collection does not happen.

mod certs;
pub mod chart;
pub mod clock;
pub mod controller;
pub mod faults;
mod process;
pub mod worker;

use std::fs;
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};

/// Everything that can go wrong starting or using a test control plane.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Go-built binaries are not where they should be.
    #[error(
        "test control plane binaries missing in {dir}: {missing}. \
         Build them with tests/controlplane/build.sh (or point OPRUN_CONTROLPLANE_BIN at a directory holding them)"
    )]
    BinariesMissing {
        /// The directory looked in.
        dir: PathBuf,
        /// The binaries not found there.
        missing: String,
    },
    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Certificate or key generation failed.
    #[error("generating certificates: {0}")]
    Certificate(#[from] rcgen::Error),
    /// etcd or kube-apiserver exited or never became ready.
    #[error("{what} did not start: {reason}\n--- end of {log} ---\n{tail}")]
    Startup {
        /// `etcd` or `kube-apiserver`.
        what: &'static str,
        /// Why we gave up.
        reason: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of that log.
        tail: String,
    },
    /// The kubeconfig we wrote could not be loaded.
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    /// A request to the API server failed.
    #[error("kube: {0}")]
    Kube(#[from] kube::Error),
    /// Malformed data (versions.env, an audit log line, a server answer).
    #[error("{0}")]
    Invalid(String),
    /// Something did not happen in time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

pub(crate) fn write_file(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    fs::write(path, contents).map_err(io_err(format!("writing {}", path.display())))
}

/// `tests/controlplane/versions.env`, the single place the pinned versions
/// live; build.sh reads the same file, so both agree on the cache path.
const VERSIONS_ENV: &str = include_str!("../../controlplane/versions.env");

/// The pinned versions of the test control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    /// k8s.io/kubernetes (kube-apiserver, kubectl), e.g. `v1.37.2`.
    pub kubernetes: String,
    /// go.etcd.io/etcd/server/v3, e.g. `v3.7.0`.
    pub etcd: String,
    /// helm.sh/helm/v3, e.g. `v3.22.0`.
    pub helm: String,
}

impl Versions {
    /// The versions pinned in `tests/controlplane/versions.env` for the
    /// control plane `OPRUN_K8S` selects, as build.sh does: `newest` (the
    /// default) or `oldest` (the oldest supported Kubernetes minor).
    pub fn pinned() -> Result<Self> {
        let (k8s_key, etcd_key) = match std::env::var("OPRUN_K8S") {
            Err(std::env::VarError::NotPresent) => ("K8S_VERSION", "ETCD_VERSION"),
            Ok(v) if v.is_empty() || v == "newest" => ("K8S_VERSION", "ETCD_VERSION"),
            Ok(v) if v == "oldest" => ("K8S_OLDEST_VERSION", "ETCD_OLDEST_VERSION"),
            other => {
                return Err(Error::Invalid(format!(
                    "OPRUN_K8S must be newest or oldest, not {other:?}"
                )));
            }
        };
        Self::from_keys(k8s_key, etcd_key)
    }

    /// The newest pinned control plane, whatever `OPRUN_K8S` says: the kubectl and helm
    /// every test uses (see [`client_bin_dir`]).
    pub fn newest() -> Result<Self> {
        Self::from_keys("K8S_VERSION", "ETCD_VERSION")
    }

    fn from_keys(k8s_key: &str, etcd_key: &str) -> Result<Self> {
        let get = |key: &str| {
            VERSIONS_ENV
                .lines()
                .filter_map(|l| l.trim().split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_string())
                .ok_or_else(|| Error::Invalid(format!("versions.env has no {key}")))
        };
        Ok(Self {
            kubernetes: get(k8s_key)?,
            etcd: get(etcd_key)?,
            helm: get("HELM_VERSION")?,
        })
    }
}

/// The directory holding kube-apiserver and etcd (and, for the newest control plane,
/// kubectl and helm): `$OPRUN_CONTROLPLANE_BIN`, else the cache directory build.sh writes
/// for the versions `OPRUN_K8S` selects (see [`Versions::pinned`]). It is not checked to
/// exist.
pub fn bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("OPRUN_CONTROLPLANE_BIN").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    cache_bin_dir(&Versions::pinned()?)
}

/// The directory holding kubectl and helm: `$OPRUN_CONTROLPLANE_BIN`, else the newest
/// control plane's cache directory whatever `OPRUN_K8S` says. The clients are not what
/// the oldest control plane tests, so `OPRUN_K8S=oldest tests/controlplane/build.sh`
/// need only build kube-apiserver and etcd.
pub fn client_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("OPRUN_CONTROLPLANE_BIN").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    cache_bin_dir(&Versions::newest()?)
}

/// `<cache root>/<kubernetes>-<etcd>-<helm>/bin`, as build.sh names it.
fn cache_bin_dir(v: &Versions) -> Result<PathBuf> {
    let root = match std::env::var_os("OPRUN_CONTROLPLANE_CACHE").filter(|d| !d.is_empty()) {
        Some(root) => PathBuf::from(root),
        None => {
            let home = std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .ok_or_else(|| {
                    Error::Invalid(
                        "HOME is not set; set OPRUN_CONTROLPLANE_BIN or OPRUN_CONTROLPLANE_CACHE"
                            .into(),
                    )
                })?;
            PathBuf::from(home).join(".cache/operationrun-controller/controlplane")
        }
    };
    Ok(root
        .join(format!("{}-{}-{}", v.kubernetes, v.etcd, v.helm))
        .join("bin"))
}

/// Where control plane directories live; stale ones are removed on start.
fn base_dir() -> PathBuf {
    std::env::temp_dir().join("oprun-testenv")
}

/// Audit policy: metadata (user, verb, object, response code) for every
/// request, and the full request and response bodies of every write, so tests
/// can check exactly what a controller wrote.
const AUDIT_POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  # Reads and watches: who asked for what, and the answer's status.
  - level: Metadata
    verbs: ["get", "list", "watch"]
  # Everything else (every write, every non-resource URL): with bodies.
  - level: RequestResponse
"#;

/// How many times to pick fresh ports when one turns out to be taken.
const START_ATTEMPTS: u32 = 5;
/// How long kube-apiserver may take to answer `/readyz` with `ok`.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// The ServiceAccount token issuer (and default audience).
const SA_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// Owns the processes and the directory of one control plane; killing and
/// removing them on drop is what makes a panicking test leave nothing behind.
struct Guard {
    dir: PathBuf,
    /// Name, process and log file, in start order.
    children: Vec<(&'static str, Child, PathBuf)>,
    keep_dir: bool,
}

impl Guard {
    fn kill_all(&mut self) {
        // Reverse start order: the API server before its etcd.
        while let Some((_, mut child, _)) = self.children.pop() {
            process::kill_and_wait(&mut child);
        }
    }

    fn record_pids(&self) -> Result<()> {
        let pids: String = self
            .children
            .iter()
            .map(|(_, c, _)| format!("{}\n", c.id()))
            .collect();
        write_file(&self.dir.join(process::PIDS_FILE), pids)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill_all();
        if !self.keep_dir {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A running etcd + kube-apiserver on loopback. Dropping it kills both and
/// removes its temporary directory.
pub struct ControlPlane {
    guard: Guard,
    bin_dir: PathBuf,
    client_bin_dir: PathBuf,
    server_url: String,
    kubeconfig: PathBuf,
    ca_cert: PathBuf,
    audit_log: PathBuf,
    client: kube::Client,
    token_configs: AtomicU32,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("server_url", &self.server_url)
            .field("dir", &self.guard.dir)
            .finish_non_exhaustive()
    }
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver with fresh certificates on free loopback
    /// ports and waits until `/readyz` answers `ok` (a few seconds warm).
    ///
    /// Set `OPRUN_TESTENV_KEEP=1` to keep the directory (logs, audit log,
    /// kubeconfig) after the control plane is dropped.
    pub async fn start() -> Result<Self> {
        let bin_dir = bin_dir()?;
        let client_bin_dir = client_bin_dir()?;
        let missing: Vec<&str> = ["etcd", "kube-apiserver"]
            .into_iter()
            .filter(|b| !bin_dir.join(b).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(Error::BinariesMissing {
                dir: bin_dir,
                missing: missing.join(", "),
            });
        }

        let base = base_dir();
        fs::create_dir_all(&base).map_err(io_err(format!("creating {}", base.display())))?;
        process::clean_stale(&base);

        let dir = new_dir(&base)?;
        let mut guard = Guard {
            dir: dir.clone(),
            children: Vec::new(),
            keep_dir: std::env::var_os("OPRUN_TESTENV_KEEP").is_some_and(|v| v == "1"),
        };
        let pki = dir.join("pki");
        fs::create_dir_all(&pki).map_err(io_err("creating pki dir"))?;
        let certs = certs::generate(&pki)?;
        let audit_policy = dir.join("audit-policy.yaml");
        write_file(&audit_policy, AUDIT_POLICY)?;
        let audit_log = dir.join("audit.log");
        let kubeconfig = dir.join("kubeconfig");

        let mut last_err = None;
        for attempt in 1..=START_ATTEMPTS {
            let [etcd_port, peer_port, api_port] = free_ports()?;
            let server_url = format!("https://127.0.0.1:{api_port}");
            write_kubeconfig(
                &kubeconfig,
                &server_url,
                &certs.ca_cert,
                json!({
                    "client-certificate": certs.admin_cert,
                    "client-key": certs.admin_key,
                }),
            )?;
            let client = client_from_kubeconfig(&kubeconfig).await?;

            let etcd_dir = dir.join(format!("etcd-{attempt}"));
            let etcd_log = dir.join(format!("etcd-{attempt}.log"));
            let mut etcd = Command::new(bin_dir.join("etcd"));
            etcd.args([
                "--name=testenv",
                &format!("--data-dir={}", etcd_dir.display()),
                &format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"),
                &format!("--advertise-client-urls=http://127.0.0.1:{etcd_port}"),
                &format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"),
                &format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"),
                &format!("--initial-cluster=testenv=http://127.0.0.1:{peer_port}"),
                "--unsafe-no-fsync",
                "--log-level=warn",
            ]);
            spawn(&mut guard, "etcd", etcd, &etcd_log)?;
            if let Err(e) = wait_for_etcd(&mut guard, etcd_port, &etcd_log).await {
                guard.kill_all();
                if is_port_clash(&e) {
                    last_err = Some(e);
                    continue;
                }
                return Err(e);
            }

            let api_log = dir.join(format!("kube-apiserver-{attempt}.log"));
            let mut api = Command::new(bin_dir.join("kube-apiserver"));
            api.args([
                &format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                // A loopback advertise address is refused by the endpoint
                // reconciler; nothing here needs the `kubernetes` Endpoints.
                "--endpoint-reconciler-type=none",
                &format!("--secure-port={api_port}"),
                &format!("--cert-dir={}", pki.display()),
                &format!("--tls-cert-file={}", certs.serving_cert.display()),
                &format!("--tls-private-key-file={}", certs.serving_key.display()),
                &format!("--client-ca-file={}", certs.ca_cert.display()),
                "--authorization-mode=RBAC",
                &format!("--service-account-issuer={SA_ISSUER}"),
                &format!(
                    "--service-account-key-file={}",
                    certs.service_account_pub.display()
                ),
                &format!(
                    "--service-account-signing-key-file={}",
                    certs.service_account_key.display()
                ),
                "--service-cluster-ip-range=10.0.0.0/24",
                &format!("--audit-policy-file={}", audit_policy.display()),
                &format!("--audit-log-path={}", audit_log.display()),
                "--audit-log-format=json",
                "--audit-log-mode=blocking",
                "--allow-privileged=true",
                "--profiling=false",
            ]);
            spawn(&mut guard, "kube-apiserver", api, &api_log)?;
            match wait_ready(&mut guard, &client, &api_log).await {
                Ok(()) => {
                    return Ok(Self {
                        guard,
                        bin_dir,
                        client_bin_dir,
                        server_url,
                        kubeconfig,
                        ca_cert: certs.ca_cert,
                        audit_log,
                        client,
                        token_configs: AtomicU32::new(0),
                    });
                }
                Err(e) => {
                    guard.kill_all();
                    if is_port_clash(&e) {
                        last_err = Some(e);
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| Error::Invalid("control plane did not start".into())))
    }

    /// A client acting as the admin (a client certificate in `system:masters`).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The admin kubeconfig, for kubectl, helm or a controller under test.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The directory holding kube-apiserver and etcd (see [`bin_dir`]).
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// This control plane's temporary directory (logs, certificates, audit log).
    pub fn dir(&self) -> &Path {
        &self.guard.dir
    }

    /// The API server's audit log: one JSON `audit.k8s.io/v1` Event per line.
    pub fn audit_log_path(&self) -> &Path {
        &self.audit_log
    }

    /// PIDs of etcd and kube-apiserver, so a test can check none outlives
    /// the control plane.
    pub fn pids(&self) -> Vec<u32> {
        self.guard.children.iter().map(|(_, c, _)| c.id()).collect()
    }

    /// Fails, naming the process and the end of its log, if etcd or
    /// kube-apiserver has exited: a control plane kept up for a long time
    /// (`cargo xtask cluster`) stops instead of serving a dead cluster.
    pub fn check_running(&mut self) -> Result<()> {
        for (what, child, log) in &mut self.guard.children {
            let status = child
                .try_wait()
                .map_err(io_err(format!("waiting for {what}")))?;
            if let Some(status) = status {
                return Err(Error::Invalid(format!(
                    "{what} exited ({status})\n--- end of {} ---\n{}",
                    log.display(),
                    tail(log, 30)
                )));
            }
        }
        Ok(())
    }

    /// All audit events logged so far, parsed. A line still being written at
    /// the end of the file is skipped.
    pub fn audit_events(&self) -> Result<Vec<Value>> {
        let text = match fs::read_to_string(&self.audit_log) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("reading the audit log")(e)),
        };
        let complete = match text.rfind('\n') {
            Some(i) => &text[..i],
            None => "",
        };
        complete
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .map_err(|e| Error::Invalid(format!("audit log line is not JSON ({e}): {l}")))
            })
            .collect()
    }

    /// Waits until an audit event matching `pred` is logged and returns it.
    /// The log is written after the response is sent, so a test that has just
    /// seen the response must wait for the event rather than read once.
    pub async fn wait_for_audit_event(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(ev) = self.audit_events()?.into_iter().find(|e| pred(e)) {
                return Ok(ev);
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout(timeout, "a matching audit event".into()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Mints a token for ServiceAccount `namespace/name` with the TokenRequest
    /// API (the ServiceAccount must exist).
    pub async fn service_account_token(&self, namespace: &str, name: &str) -> Result<String> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client(), namespace);
        let req = TokenRequest {
            spec: Some(TokenRequestSpec {
                audiences: Some(vec![SA_ISSUER.to_string()]),
                expiration_seconds: Some(3600),
                ..Default::default()
            }),
            ..Default::default()
        };
        let resp: TokenRequest = api
            .create_subresource("token", name, &PostParams::default(), &req)
            .await?;
        resp.status
            .and_then(|s| s.token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "TokenRequest for {namespace}/{name} returned no token"
                ))
            })
    }

    /// Writes a kubeconfig that authenticates with a bearer `token` (e.g. a
    /// ServiceAccount's), for kubectl/helm or a controller under test.
    pub fn kubeconfig_for_token(&self, token: &str) -> Result<PathBuf> {
        let n = self.token_configs.fetch_add(1, Ordering::Relaxed);
        let path = self.guard.dir.join(format!("kubeconfig-token-{n}"));
        write_kubeconfig(
            &path,
            &self.server_url,
            &self.ca_cert,
            json!({ "token": token }),
        )?;
        Ok(path)
    }

    /// A client that authenticates with a bearer `token`, to act as that
    /// identity (RBAC applies).
    pub async fn client_for_token(&self, token: &str) -> Result<kube::Client> {
        client_from_kubeconfig(&self.kubeconfig_for_token(token)?).await
    }

    /// `kubectl --kubeconfig <admin kubeconfig>`, ready for more arguments.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(self.client_bin_dir.join("kubectl"));
        cmd.arg("--kubeconfig").arg(&self.kubeconfig);
        cmd
    }

    /// `helm --kubeconfig <admin kubeconfig>`, with its cache, config and data
    /// directories inside this control plane's directory (never `~`).
    pub fn helm(&self) -> Command {
        let mut cmd = Command::new(self.client_bin_dir.join("helm"));
        let home = self.guard.dir.join("helm");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"));
        cmd
    }
}

/// Creates `<base>/cp-<pid>-<start time>-<nanos>-<n>`: the owner's identity in
/// the name lets a later run recognise the directory as stale.
fn new_dir(base: &Path) -> Result<PathBuf> {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let pid = std::process::id();
    let start = process::start_time(pid).unwrap_or(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let dir = base.join(format!(
        "{}{pid}-{start}-{nanos}-{seq}",
        process::DIR_PREFIX
    ));
    fs::create_dir(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
    Ok(dir)
}

/// Three distinct free loopback ports (held together while picked, so they
/// differ; another process may still take one before we bind it, which the
/// caller handles by retrying).
fn free_ports() -> Result<[u16; 3]> {
    let bind = || TcpListener::bind("127.0.0.1:0").map_err(io_err("picking a free port"));
    let ls = [bind()?, bind()?, bind()?];
    let mut ports = [0u16; 3];
    for (p, l) in ports.iter_mut().zip(&ls) {
        *p = l
            .local_addr()
            .map_err(io_err("picking a free port"))?
            .port();
    }
    Ok(ports)
}

fn write_kubeconfig(path: &Path, server: &str, ca: &Path, user: Value) -> Result<()> {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "testenv", "cluster": {"server": server, "certificate-authority": ca}}],
        "users": [{"name": "testenv-user", "user": user}],
        "contexts": [{"name": "testenv", "context": {"cluster": "testenv", "user": "testenv-user"}}],
        "current-context": "testenv",
    });
    // JSON is YAML: kubectl, helm and kube-rs all read it.
    let text = serde_json::to_string_pretty(&config)
        .map_err(|e| Error::Invalid(format!("encoding kubeconfig: {e}")))?;
    write_file(path, text)
}

async fn client_from_kubeconfig(path: &Path) -> Result<kube::Client> {
    let kubeconfig = Kubeconfig::read_from(path)?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

fn spawn(guard: &mut Guard, what: &'static str, mut cmd: Command, log: &Path) -> Result<()> {
    let out = fs::File::create(log).map_err(io_err(format!("creating {}", log.display())))?;
    let err = out
        .try_clone()
        .map_err(io_err(format!("opening {}", log.display())))?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let child = process::spawn_tied(cmd).map_err(io_err(format!("starting {what}")))?;
    guard.children.push((what, child, log.to_path_buf()));
    guard.record_pids()
}

/// The last `n` lines of a log file, for error messages.
fn tail(log: &Path, n: usize) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn startup_error(what: &'static str, reason: String, log: &Path) -> Error {
    Error::Startup {
        what,
        reason,
        log: log.to_path_buf(),
        tail: tail(log, 30),
    }
}

fn is_port_clash(e: &Error) -> bool {
    matches!(e, Error::Startup { tail, .. } if tail.contains("address already in use"))
}

/// Fails if any started child has exited (etcd losing a port race shows up
/// while the API server is being waited for).
fn check_alive(guard: &mut Guard) -> Result<()> {
    for (what, child, log) in &mut guard.children {
        match child.try_wait() {
            Ok(Some(status)) => {
                return Err(startup_error(what, format!("exited with {status}"), log));
            }
            Ok(None) => {}
            Err(e) => return Err(io_err(format!("waiting for {what}"))(e)),
        }
    }
    Ok(())
}

/// Waits until etcd answers `GET /health` healthy on `port`, so that
/// another process that happens to hold the port is never mistaken for it.
async fn wait_for_etcd(guard: &mut Guard, port: u16, log: &Path) -> Result<()> {
    let timeout = Duration::from_secs(30);
    let deadline = Instant::now() + timeout;
    loop {
        check_alive(guard)?;
        if etcd_healthy(port).await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(startup_error(
                "etcd",
                format!("not healthy on port {port} after {timeout:?}"),
                log,
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn etcd_healthy(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        conn.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await?;
        let mut answer = Vec::new();
        conn.read_to_end(&mut answer).await?;
        io::Result::Ok(answer)
    };
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(answer)) => {
            let answer = String::from_utf8_lossy(&answer);
            answer.contains("\"health\":\"true\"")
        }
        _ => false,
    }
}

async fn wait_ready(guard: &mut Guard, client: &kube::Client, log: &Path) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        check_alive(guard)?;
        let req = http::Request::get("/readyz")
            .body(Vec::new())
            .map_err(|e| Error::Invalid(format!("building /readyz request: {e}")))?;
        let last = match client.request_text(req).await {
            Ok(body) if body.trim() == "ok" => return Ok(()),
            Ok(body) => body,
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(startup_error(
                "kube-apiserver",
                format!("/readyz not ok after {READY_TIMEOUT:?}; last answer: {last}"),
                log,
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_env_has_every_pin() {
        let v = Versions::pinned().unwrap();
        assert!(v.kubernetes.starts_with("v1."), "{v:?}");
        assert!(v.etcd.starts_with("v3."), "{v:?}");
        assert!(v.helm.starts_with('v'), "{v:?}");
    }

    #[test]
    fn stale_dirs_of_dead_owners_are_removed_and_live_ones_kept() {
        let base = std::env::temp_dir().join(format!("oprun-testenv-unit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base).unwrap();
        let me = std::process::id();
        let live = base.join(format!("cp-{me}-{}-1-0", process::start_time(me).unwrap()));
        // Same PID, other start time: a previous process that had our PID.
        let dead = base.join(format!("cp-{me}-1-1-0"));
        let other = base.join("not-ours");
        for d in [&live, &dead, &other] {
            fs::create_dir(d).unwrap();
        }
        process::clean_stale(&base);
        assert!(live.exists());
        assert!(!dead.exists());
        assert!(other.exists());
        fs::remove_dir_all(&base).unwrap();
    }
}
