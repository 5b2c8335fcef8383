//! `cargo xtask cluster [--chart]`: a local control plane to try the controller and the
//! plugin by hand. Starts etcd and kube-apiserver on loopback, installs the CRDs (with
//! `--chart`, the whole Helm chart as the demo installs it), prints the admin `KUBECONFIG`
//! to export, and stays up until Ctrl-C or SIGTERM, then stops both processes and removes
//! their temporary directory.

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use testenv::ControlPlane;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::{RELEASE_NS, checked, root, say};

/// The ServiceAccount the chart creates for the controller (its release name).
const CONTROLLER_SA: &str = "operationrun-controller";

const USAGE: &str = "usage: cargo xtask cluster [--chart]

Starts a local etcd and kube-apiserver, installs the CRDs, prints the KUBECONFIG to
export, and stays up until Ctrl-C; then stops everything and removes its files.

  --chart   also install the Helm chart (ServiceAccount, RBAC, Deployment, ...) in
            operationrun-system, as `cargo xtask demo` does";

/// Installs the Helm chart with its default values (the values the demo uses) as release
/// `operationrun-controller` in [`RELEASE_NS`], and returns the manifest Helm rendered.
pub(crate) fn install_chart(cp: &ControlPlane) -> Result<String, String> {
    checked(
        {
            let mut c = cp.helm();
            c.args(["install", "operationrun-controller"])
                .arg(root().join("charts/operationrun-controller"))
                .args([
                    "--namespace",
                    RELEASE_NS,
                    "--create-namespace",
                    "--wait=false",
                ]);
            c.stdout(Stdio::null());
            c
        },
        "helm install",
    )?;
    checked(
        {
            let mut c = cp.helm();
            c.args([
                "get",
                "manifest",
                "operationrun-controller",
                "--namespace",
                RELEASE_NS,
            ]);
            c
        },
        "helm get manifest",
    )
}

/// Entry point of `cargo xtask cluster`; `args` are the ones after `cluster`.
pub(crate) fn main(args: &[String]) -> ExitCode {
    let mut chart = false;
    for arg in args {
        match arg.as_str() {
            "--chart" => chart = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("error: unexpected argument {other:?}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cluster(chart)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal closed): each one stops the cluster.
struct StopSignals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl StopSignals {
    fn new() -> Result<Self, String> {
        let on = |kind, name: &str| signal(kind).map_err(|e| format!("handling {name}: {e}"));
        Ok(Self {
            int: on(SignalKind::interrupt(), "SIGINT")?,
            term: on(SignalKind::terminate(), "SIGTERM")?,
            hup: on(SignalKind::hangup(), "SIGHUP")?,
        })
    }

    /// Waits for the first of the signals and returns its name.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}

/// What `--chart` adds to the printed instructions.
struct ChartInfo {
    /// A kubeconfig with a token of the controller's ServiceAccount.
    sa_kubeconfig: PathBuf,
    /// The Deployment's container args.
    args: Vec<String>,
}

async fn cluster(chart: bool) -> Result<(), String> {
    // Registered first: a signal during start-up stops it and cleans up too.
    let mut signals = StopSignals::new()?;
    let up = async {
        if std::env::var_os("OPRUN_CONTROLPLANE_BIN").is_none_or(|d| d.is_empty()) {
            say("building the test control plane (kube-apiserver, etcd, kubectl, helm) if missing");
            checked(
                Command::new(root().join("tests/controlplane/build.sh")),
                "tests/controlplane/build.sh",
            )?;
        }
        say("starting etcd and kube-apiserver on loopback");
        let cp = ControlPlane::start().await.map_err(|e| e.to_string())?;
        let info = install(&cp, chart).await?;
        Ok::<_, String>((cp, info))
    };
    let (mut cp, info) = tokio::select! {
        up = up => up?,
        name = signals.recv() => {
            say(&format!("{name} during start-up: stopped, temporary files removed"));
            return Ok(());
        }
    };
    print_instructions(&cp, info.as_ref())?;

    let why = loop {
        tokio::select! {
            name = signals.recv() => break Ok(name),
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                if let Err(e) = cp.check_running() {
                    // Ctrl-C in a terminal reaches etcd and kube-apiserver too (one process
                    // group), and they may stop before the signal is seen here.
                    match tokio::time::timeout(Duration::from_millis(500), signals.recv()).await {
                        Ok(name) => break Ok(name),
                        Err(_) => break Err(e.to_string()),
                    }
                }
            }
        }
    };
    let dir = cp.dir().to_path_buf();
    let keep = std::env::var_os("OPRUN_TESTENV_KEEP").is_some_and(|v| v == "1");
    drop(cp);
    let name = why?;
    if keep {
        say(&format!(
            "{name}: etcd and kube-apiserver stopped; {} kept (OPRUN_TESTENV_KEEP=1)",
            dir.display()
        ));
    } else {
        say(&format!(
            "{name}: etcd and kube-apiserver stopped, {} removed",
            dir.display()
        ));
    }
    Ok(())
}

/// Installs the CRDs, or with `chart` the whole chart, and waits until the CRDs serve.
async fn install(cp: &ControlPlane, chart: bool) -> Result<Option<ChartInfo>, String> {
    let info = if chart {
        say("installing the Helm chart (CRDs, ServiceAccount, RBAC, Deployment)");
        let rendered = install_chart(cp)?;
        let args = testenv::chart::deployment_args(&rendered).map_err(|e| e.to_string())?;
        let token = cp
            .service_account_token(RELEASE_NS, CONTROLLER_SA)
            .await
            .map_err(|e| e.to_string())?;
        let sa_kubeconfig = cp.kubeconfig_for_token(&token).map_err(|e| e.to_string())?;
        Some(ChartInfo {
            sa_kubeconfig,
            args,
        })
    } else {
        say("installing the CRDs (charts/operationrun-controller/crds/)");
        checked(
            {
                let mut c = cp.kubectl();
                c.args(["apply", "--server-side", "-f"])
                    .arg(root().join("charts/operationrun-controller/crds"));
                c.stdout(Stdio::null());
                c
            },
            "kubectl apply the CRDs",
        )?;
        None
    };
    checked(
        {
            let mut c = cp.kubectl();
            c.args([
                "wait",
                "--for=condition=Established",
                "crd",
                "--all",
                "--timeout=60s",
            ]);
            c.stdout(Stdio::null());
            c
        },
        "kubectl wait for the CRDs",
    )?;
    Ok(info)
}

fn print_instructions(cp: &ControlPlane, chart: Option<&ChartInfo>) -> Result<(), String> {
    let version = testenv::Versions::pinned()
        .map(|v| format!("Kubernetes {}", v.kubernetes))
        .map_err(|e| e.to_string())?;
    // The plugin is built next to this program, in the same target directory.
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from));
    let path = match &target {
        Some(t) => format!("{}:{}", cp.bin_dir().display(), t.display()),
        None => cp.bin_dir().display().to_string(),
    };
    let kubeconfig = cp.kubeconfig_path().display();
    let mut out = format!(
        "\nA local control plane ({version}) is up at {url}, with the CRDs installed.\n\
         Its admin kubeconfig (system:masters), valid until this command stops:\n\
         \n\
         \x20   KUBECONFIG={kubeconfig}\n\
         \n\
         In another terminal, from the repository:\n\
         \n\
         \x20   export KUBECONFIG={kubeconfig}\n\
         \x20   export PATH=\"{path}:$PATH\"   # kubectl and helm; kubectl-oprun once built\n\
         \x20   kubectl get opruns -A\n\
         \x20   cargo run --bin operationrun-controller -- run --no-leader-election\n\
         \x20   cargo build --bin kubectl-oprun && kubectl oprun list -A\n",
        url = cp.server_url(),
    );
    if let Some(info) = chart {
        out.push_str(&format!(
            "\nThe chart is installed in {RELEASE_NS}; its Deployment's pod never runs (this \
             control plane has no nodes).\n\
             To run the controller as its ServiceAccount {CONTROLLER_SA}, with the Deployment's \
             arguments (the token expires after one hour):\n\
             \n\
             \x20   KUBECONFIG={} POD_NAMESPACE={RELEASE_NS} POD_NAME=operationrun-controller-local \\\n\
             \x20     cargo run --bin operationrun-controller -- {}\n",
            info.sa_kubeconfig.display(),
            info.args.join(" "),
        ));
    }
    out.push_str(&format!(
        "\nPress Ctrl-C to stop etcd and kube-apiserver and remove {}.\n",
        cp.dir().display()
    ));
    println!("{out}");
    Ok(())
}
