//! `cargo xtask demo`: the main job in one command. Builds whatever is missing, starts a
//! local control plane, installs the Helm chart, applies the bundled examples as their
//! workers would, runs the controller with the chart's ServiceAccount, prints
//! `kubectl get opruns -A` with the reconciled outcomes, and stops everything.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject};
use operationrun_core::decide::Config;
use operationrun_core::{evaluate, manifests};
use operationrun_crds::OperationRun;
use serde_json::Value;
use testenv::ControlPlane;
use testenv::controller::Launch;

mod bench_scale;
mod cluster;
mod dist;
mod image;

const RELEASE_NS: &str = "operationrun-system";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn say(text: &str) {
    eprintln!("==> {text}");
}

fn checked(mut cmd: Command, what: &str) -> Result<String, String> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what} failed ({})", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn owned_reasons(run: &DynamicObject) -> Vec<(String, String, String)> {
    run.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"] == "Stale" || c["type"] == "Reconciled")
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("type"), s("status"), s("reason"))
        })
        .collect()
}

async fn demo() -> Result<(), String> {
    let root = root();
    say("building the test control plane (kube-apiserver, etcd, kubectl, helm) if missing");
    let bin_dir = checked(
        Command::new(root.join("tests/controlplane/build.sh")),
        "tests/controlplane/build.sh",
    )?;
    let bin_dir = bin_dir
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    say("building operationrun-controller");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let messages = checked(
        {
            let mut c = Command::new(cargo);
            c.args([
                "build",
                "--quiet",
                "--bin",
                "operationrun-controller",
                "--message-format=json",
            ])
            .current_dir(&root);
            c
        },
        "cargo build",
    )?;
    // the executable's path, wherever the target directory is configured to be
    let binary = messages
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["target"]["name"] == "operationrun-controller")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or("cargo build reported no operationrun-controller executable")?;

    say("starting etcd and kube-apiserver on loopback");
    // SAFETY: single-threaded at this point; the variable is read by testenv
    unsafe { std::env::set_var("OPRUN_CONTROLPLANE_BIN", &bin_dir) };
    let cp = ControlPlane::start().await.map_err(|e| e.to_string())?;

    say("installing the Helm chart (CRDs, ServiceAccount, RBAC, Deployment)");
    let rendered = cluster::install_chart(&cp)?;
    let args = testenv::chart::deployment_args(&rendered).map_err(|e| e.to_string())?;
    // this control plane has no nodes: the Deployment's pod never runs, so the same binary
    // runs here with the Deployment's arguments (on a free loopback port) and its
    // ServiceAccount's token
    let args: Vec<String> = args
        .into_iter()
        .map(|a| {
            if a == "--log-format=json" {
                "--log-format=text".to_string()
            } else {
                a
            }
        })
        .collect();
    let token = cp
        .service_account_token(RELEASE_NS, "operationrun-controller")
        .await
        .map_err(|e| e.to_string())?;
    let kubeconfig = cp.kubeconfig_for_token(&token).map_err(|e| e.to_string())?;
    let shown = args.join(" ");
    let mut controller = Launch::new(&binary)
        .args(args)
        .kubeconfig(&kubeconfig)
        .env("POD_NAMESPACE", RELEASE_NS)
        .env("POD_NAME", "operationrun-controller-demo")
        .log(cp.dir().join("controller.log"))
        .start()
        .await
        .map_err(|e| format!("starting the controller: {e}"))?;
    say(&format!(
        "running operationrun-controller {shown} (as the chart's ServiceAccount; serving on {})",
        controller.addr()
    ));

    say("applying examples/ as their workers would (timestamps shifted to now)");
    let examples = root.join("examples");
    let applied = testenv::worker::apply(&cp.client(), &examples, Timestamp::now())
        .await
        .map_err(|e| e.to_string())?;
    for (kind, ns, name, why) in &applied.rejected_status {
        say(&format!(
            "the API server refused the status of {kind} {ns}/{name}: {why}"
        ));
    }

    say("waiting for the controller's decisions");
    let offline = manifests::load(std::slice::from_ref(&examples)).map_err(|e| e.to_string())?;
    let reference: Timestamp = testenv::worker::EXAMPLES_REFERENCE
        .parse()
        .map_err(|e| format!("{e}"))?;
    let stale: Vec<(String, String)> = evaluate::evaluate(&offline, reference, &Config::default())
        .into_iter()
        .filter(|(e, _)| e.rule.is_some())
        .map(|(e, _)| (e.namespace, e.name))
        .collect();
    let ar = ApiResource::erase::<OperationRun>(&());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut waiting = 0;
        for (ns, name) in &stale {
            let api: Api<DynamicObject> = Api::namespaced_with(cp.client(), ns, &ar);
            let run = api.get(name).await.map_err(|e| e.to_string())?;
            if !owned_reasons(&run)
                .iter()
                .any(|(t, _, _)| t == "Reconciled")
            {
                waiting += 1;
            }
        }
        if waiting == 0 {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{waiting} stale runs still undecided after 60 s; see {}",
                cp.dir().join("controller.log").display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // one more moment for the transitions of runs that were decided last
    tokio::time::sleep(Duration::from_secs(1)).await;

    let table = checked(
        {
            let mut c = cp.kubectl();
            c.args(["get", "opruns", "-A"]);
            c
        },
        "kubectl get opruns -A",
    )?;
    println!("\n$ kubectl get opruns -A\n{table}");
    say("stopping the controller and the control plane");
    // SIGTERM, so the Lease is released as in a real rollout
    controller.terminate().await.map_err(|e| e.to_string())?;
    drop(cp);
    Ok(())
}

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    match task.as_str() {
        "demo" => {
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
            match runtime.block_on(demo()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        "cluster" => cluster::main(&std::env::args().skip(2).collect::<Vec<_>>()),
        "bench-scale" => bench_scale::main(&std::env::args().skip(2).collect::<Vec<_>>()),
        "image" => image::main(&std::env::args().skip(2).collect::<Vec<_>>()),
        "dist" => dist::main(&std::env::args().skip(2).collect::<Vec<_>>()),
        _ => {
            eprintln!(
                "usage: cargo xtask demo | cluster [--chart] | bench-scale --runs N --concurrency C | image | dist\n\n  demo      run the controller on a local control plane over examples/ and show the outcomes\n  cluster   keep a local control plane with the CRDs (--chart: the Helm chart) up until Ctrl-C\n  bench-scale  measure the release controller over N stale runs against a raw write loop\n  image     build the controller's OCI image (FROM scratch, static binary) into target/image/\n  dist      build the release files (plugin archives, binaries, chart, krew manifest, SBOM, SHA256SUMS) into target/dist/"
            );
            ExitCode::from(2)
        }
    }
}
