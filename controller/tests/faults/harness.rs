//! The stage of every scenario: a real control plane with the CRDs and the tenant
//! namespaces, the chart's RBAC for each controller identity, controller processes kept
//! running as a kubelet keeps a pod running, and optionally a TCP fault proxy (toxiproxy)
//! between the controllers and the API server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::{Value, json};
use testenv::ControlPlane;
use testenv::controller::{Controller, Launch};
use testenv::faults::{Toxiproxy, kubeconfig_with_server};

use super::fleet::TENANTS;

/// Where the controllers' ServiceAccounts and their Lease live.
pub const SYSTEM_NS: &str = "operationrun-system";
/// The Lease every controller identity competes for.
pub const LEASE: &str = "operationrun-controller";
/// The toxiproxy proxy in front of the API server.
pub const PROXY: &str = "kube-apiserver";

/// The audit log's username of ServiceAccount `name` in [`SYSTEM_NS`].
pub fn user(name: &str) -> String {
    format!("system:serviceaccount:{SYSTEM_NS}:{name}")
}

/// One scenario's cluster.
pub struct Stage {
    /// The control plane (etcd and kube-apiserver).
    pub cp: ControlPlane,
    /// The admin client, talking to the API server directly.
    pub admin: Client,
    /// The fault proxy and the address it listens on, when the scenario has one.
    pub proxy: Option<(Toxiproxy, SocketAddr)>,
    /// Logs of the controllers and the proxy, kept when the scenario fails.
    pub logs: PathBuf,
}

impl Stage {
    /// A control plane with the CRDs and namespaces; with `proxy`, toxiproxy in front of it.
    pub async fn new(scenario: &str, proxy: bool) -> Stage {
        let logs = std::env::temp_dir().join(format!(
            "oprun-faults-{scenario}-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_millisecond()
        ));
        std::fs::create_dir_all(&logs).expect("a directory for the logs");
        let cp = ControlPlane::start().await.expect("control plane starts");
        let admin = cp.client();
        let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
        for crd in operationrun_crds::crds() {
            let name = crd.metadata.name.clone().unwrap_or_default();
            crds.patch(
                &name,
                &PatchParams::apply("faults").force(),
                &Patch::Apply(&crd),
            )
            .await
            .expect("CRD accepted");
            tokio::time::timeout(
                Duration::from_secs(30),
                await_condition(crds.clone(), &name, conditions::is_crd_established()),
            )
            .await
            .expect("CRD established in time")
            .expect("CRD watch");
        }
        let namespaces: Api<Namespace> = Api::all(admin.clone());
        for ns in std::iter::once(&SYSTEM_NS).chain(TENANTS.iter()) {
            let object: Namespace =
                serde_json::from_value(json!({"metadata": {"name": ns}})).expect("namespace");
            namespaces
                .create(&PostParams::default(), &object)
                .await
                .expect("namespace created");
        }
        // discovery of the new kinds can lag Established by a moment
        let runs = super::fleet::api_all(&admin, "OperationRun");
        let deadline = Instant::now() + Duration::from_secs(20);
        while runs.list(&Default::default()).await.is_err() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let proxy = if proxy {
            let toxiproxy = Toxiproxy::start(&logs.join("toxiproxy.log"))
                .await
                .unwrap_or_else(|e| panic!("toxiproxy starts: {e}"));
            let upstream = cp.server_url().trim_start_matches("https://").to_string();
            let listen = toxiproxy
                .proxy(PROXY, &upstream)
                .await
                .unwrap_or_else(|e| panic!("the proxy is created: {e}"));
            Some((toxiproxy, listen))
        } else {
            None
        };
        Stage {
            cp,
            admin,
            proxy,
            logs,
        }
    }

    /// The fault proxy; panics when the scenario has none.
    pub fn toxiproxy(&self) -> &Toxiproxy {
        &self.proxy.as_ref().expect("this scenario has a proxy").0
    }

    /// Creates ServiceAccount `name` with the chart's RBAC (rendered by the pinned helm, its
    /// objects named `name`, leader election on [`LEASE`]) and returns a kubeconfig acting as
    /// it: through the proxy when `via_proxy`, else straight to the API server.
    pub async fn identity(&self, name: &str, via_proxy: bool) -> PathBuf {
        let route = match (&self.proxy, via_proxy) {
            (Some((_, listen)), true) => Some(*listen),
            (None, true) => panic!("this scenario has no proxy"),
            (_, false) => None,
        };
        self.identity_with(name, route, &[], |_| {}).await
    }

    /// Like [`identity`](Self::identity), with more `--set` values for the chart (e.g.
    /// `watchNamespaces={a,b}`, `leaderElection.leaseName=x`; later ones win), each RBAC
    /// object passed through `edit` before it is created (to take a permission away), and
    /// the API server reached through `route` (a proxy's listen address) when given.
    pub async fn identity_with(
        &self,
        name: &str,
        route: Option<SocketAddr>,
        sets: &[String],
        edit: impl Fn(&mut Value),
    ) -> PathBuf {
        let mut args = vec![
            "--set".to_string(),
            format!("fullnameOverride={name}"),
            "--set".to_string(),
            format!("leaderElection.leaseName={LEASE}"),
        ];
        for set in sets {
            args.push("--set".to_string());
            args.push(set.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let rendered = testenv::chart::render("operationrun-controller", SYSTEM_NS, &args)
            .expect("the chart renders");
        for mut object in testenv::chart::rbac(&rendered).expect("the chart's RBAC") {
            edit(&mut object);
            let ns = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or(SYSTEM_NS)
                .to_string();
            let admin = self.admin.clone();
            match object["kind"].as_str().unwrap_or_default() {
                "ServiceAccount" => {
                    create(Api::<ServiceAccount>::namespaced(admin, &ns), object).await
                }
                "ClusterRole" => create(Api::<ClusterRole>::all(admin), object).await,
                "ClusterRoleBinding" => create(Api::<ClusterRoleBinding>::all(admin), object).await,
                "Role" => create(Api::<Role>::namespaced(admin, &ns), object).await,
                "RoleBinding" => create(Api::<RoleBinding>::namespaced(admin, &ns), object).await,
                other => panic!("not an RBAC kind: {other}"),
            }
        }
        let token = self
            .cp
            .service_account_token(SYSTEM_NS, name)
            .await
            .expect("token");
        let kubeconfig = self.cp.kubeconfig_for_token(&token).expect("kubeconfig");
        match route {
            Some(listen) => kubeconfig_with_server(&kubeconfig, &format!("https://{listen}"))
                .expect("kubeconfig through the proxy"),
            None => kubeconfig,
        }
    }

    /// Adds proxy `name` in front of the API server to the scenario's toxiproxy (one per
    /// replica, to cut one off alone) and returns the address it listens on.
    pub async fn add_proxy(&self, name: &str) -> SocketAddr {
        let upstream = self
            .cp
            .server_url()
            .trim_start_matches("https://")
            .to_string();
        self.toxiproxy()
            .proxy(name, &upstream)
            .await
            .unwrap_or_else(|e| panic!("proxy {name} is created: {e}"))
    }

    /// Creates namespace `ns` (besides the tenants every stage has).
    pub async fn create_namespace(&self, ns: &str) {
        let namespaces: Api<Namespace> = Api::all(self.admin.clone());
        let object: Namespace =
            serde_json::from_value(json!({"metadata": {"name": ns}})).expect("namespace");
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("namespace {ns} created: {e}"));
    }

    /// Applies the artifact CRDs again without `selectableFields` (as a cluster that installed
    /// them before they declared it, and never upgraded them), and waits until the API server
    /// refuses the field selector on `spec.operationRunRef.name`.
    pub async fn crds_without_selectable_fields(&self) {
        let crds: Api<CustomResourceDefinition> = Api::all(self.admin.clone());
        for crd in operationrun_crds::crds() {
            let mut crd = serde_json::to_value(&crd).expect("CRD as JSON");
            let mut had = false;
            for version in crd["spec"]["versions"].as_array_mut().into_iter().flatten() {
                if let Some(v) = version.as_object_mut() {
                    had |= v.remove("selectableFields").is_some();
                }
            }
            if !had {
                continue;
            }
            let name = crd["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            crds.patch(
                &name,
                &PatchParams::apply("faults").force(),
                &Patch::Apply(&crd),
            )
            .await
            .unwrap_or_else(|e| panic!("CRD {name} applied without selectableFields: {e}"));
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        for kind in ["BackupSet", "BaselineSnapshot"] {
            let api = super::fleet::api(&self.admin, kind, TENANTS[0]);
            let params =
                kube::api::ListParams::default().fields("spec.operationRunRef.name=nothing");
            while api.list(&params).await.is_ok() {
                assert!(
                    Instant::now() < deadline,
                    "the API server still serves a field selector on {kind} 20 s after its CRD lost selectableFields"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// The current holder of the controllers' Lease.
    pub async fn lease_holder(&self) -> Option<String> {
        self.holder_of(LEASE).await
    }

    /// The current holder of Lease `lease` in [`SYSTEM_NS`].
    pub async fn holder_of(&self, lease: &str) -> Option<String> {
        let leases: Api<Lease> = Api::namespaced(self.admin.clone(), SYSTEM_NS);
        leases
            .get_opt(lease)
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
    }

    /// Waits until `pod` holds the Lease.
    pub async fn wait_leader(&self, pod: &str, within: Duration) {
        self.wait_holder(LEASE, pod, within).await;
    }

    /// Waits until `pod` holds Lease `lease`.
    pub async fn wait_holder(&self, lease: &str, pod: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while self.holder_of(lease).await.as_deref() != Some(pod) {
            assert!(
                Instant::now() < deadline,
                "{pod} did not become leader on {lease} within {within:?} (holder: {:?})",
                self.holder_of(lease).await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Removes the logs (the scenario passed), unless `OPRUN_FAULTS_KEEP=1`.
    pub fn clean(&self) {
        if std::env::var_os("OPRUN_FAULTS_KEEP").is_some_and(|v| v == "1") {
            println!("  logs kept in {}", self.logs.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.logs);
        }
    }
}

async fn create<K>(api: Api<K>, object: Value)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let what = format!("{} {}", object["kind"], object["metadata"]["name"]);
    let typed: K = serde_json::from_value(object).unwrap_or_else(|e| panic!("{what}: {e}"));
    api.create(&PostParams::default(), &typed)
        .await
        .unwrap_or_else(|e| panic!("creating {what}: {e}"));
}

/// A controller replica as a Deployment's pod: `operationrun-controller run` with leader
/// election, started again when it exits (as the kubelet restarts a container).
pub struct Pod {
    /// Its POD_NAME, the Lease holder identity.
    pub name: String,
    launch: Launch,
    logs: PathBuf,
    /// The running process, if any.
    pub process: Option<Controller>,
    /// How many times it exited and was started again.
    pub restarts: u32,
    /// When it was last started.
    pub started: Instant,
}

impl Pod {
    /// Starts replica `name` acting as `kubeconfig`, logging under `logs` (one file per life).
    pub async fn start(name: &str, kubeconfig: &Path, logs: &Path) -> Pod {
        Pod::start_with(name, kubeconfig, logs, |launch| launch).await
    }

    /// Like [`start`](Self::start), its launch passed through `configure` (more flags, a fake
    /// clock, another readiness probe); every life of the pod starts the same way.
    pub async fn start_with(
        name: &str,
        kubeconfig: &Path,
        logs: &Path,
        configure: impl FnOnce(Launch) -> Launch,
    ) -> Pod {
        let launch = configure(
            Launch::new(env!("CARGO_BIN_EXE_operationrun-controller"))
                .args(["run", "--lease-namespace", SYSTEM_NS])
                .kubeconfig(kubeconfig)
                .env("POD_NAME", name)
                .env("RUST_LOG", "info,kube_runtime::watcher=debug"),
        );
        let mut pod = Pod {
            name: name.to_string(),
            launch,
            logs: logs.to_path_buf(),
            process: None,
            restarts: 0,
            started: Instant::now(),
        };
        pod.spawn().await.unwrap_or_else(|e| panic!("{e}"));
        pod
    }

    async fn spawn(&mut self) -> Result<(), String> {
        let log = self
            .logs
            .join(format!("{}.{}.log", self.name, self.restarts));
        self.started = Instant::now();
        match self.launch.clone().log(log).start().await {
            Ok(p) => {
                self.process = Some(p);
                Ok(())
            }
            Err(e) => Err(format!("{} did not start: {e}", self.name)),
        }
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Controller::id)
    }

    /// Starts it again if it has exited (a crash, or a lost Lease); true when it did.
    pub async fn keep_running(&mut self) -> bool {
        let exited = match &mut self.process {
            Some(p) => matches!(p.try_wait(), Ok(Some(_))),
            None => true,
        };
        if !exited {
            return false;
        }
        self.restarts += 1;
        eprintln!(
            "  {} exited after {:.1} s; starting it again (restart {})",
            self.name,
            self.started.elapsed().as_secs_f64(),
            self.restarts
        );
        if let Err(e) = self.spawn().await {
            eprintln!("  {e}");
        }
        true
    }

    /// Whether it still runs and says it leads (`operationrun_leader 1` on `/metrics`).
    pub async fn leading(&mut self) -> bool {
        let Some(p) = &mut self.process else {
            return false;
        };
        if matches!(p.try_wait(), Ok(Some(_))) {
            return false;
        }
        matches!(p.get("/metrics").await, Ok((200, body)) if body.lines().any(|l| l == "operationrun_leader 1"))
    }

    /// What `GET path` answers (status code and body), while it runs.
    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        self.process.as_ref()?.get(path).await.ok()
    }

    /// Its `/metrics`, while it runs.
    pub async fn metrics(&self) -> Option<String> {
        match self.get("/metrics").await {
            Some((200, body)) => Some(body),
            _ => None,
        }
    }

    /// Everything it printed in its current life.
    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(Controller::log)
            .unwrap_or_default()
    }

    /// Stops it with SIGTERM (as a pod is stopped).
    pub async fn stop(&mut self) {
        if let Some(p) = &mut self.process {
            let _ = p.terminate().await;
        }
    }
}

/// The samples of metric `name` in an OpenMetrics text: (labels as written between the
/// braces, value). `name` is the whole sample name (`…_total`, `…_bucket`).
pub fn samples<'a>(metrics: &'a str, name: &str) -> Vec<(&'a str, f64)> {
    metrics
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(r) => {
                    let (labels, value) = r.split_once('}')?;
                    (labels, value)
                }
                None if rest.starts_with(' ') => ("", rest),
                None => return None,
            };
            let value = value.split_whitespace().next()?.parse().ok()?;
            Some((labels, value))
        })
        .collect()
}

/// The sum of the samples of `name` whose labels contain every one of `with` (e.g.
/// `code="403"`); 0 when there is none.
pub fn metric(metrics: &str, name: &str, with: &[&str]) -> f64 {
    samples(metrics, name)
        .into_iter()
        .filter(|(labels, _)| with.iter().all(|w| labels.contains(w)))
        .fold(0.0, |sum, (_, v)| sum + v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn samples_are_read_with_and_without_labels() {
        let text = "# TYPE operationrun_leader gauge\noperationrun_leader 1\n\
                    operationrun_api_errors_total{code=\"403\"} 4\n\
                    operationrun_api_errors_total{code=\"timeout\"} 2\n\
                    operationrun_leader_losses_total 0\n";
        assert_eq!(super::metric(text, "operationrun_leader", &[]), 1.0);
        assert_eq!(
            super::metric(text, "operationrun_api_errors_total", &[]),
            6.0
        );
        assert_eq!(
            super::metric(text, "operationrun_api_errors_total", &["code=\"403\""]),
            4.0
        );
        assert_eq!(super::metric(text, "operationrun_missing", &[]), 0.0);
    }
}
