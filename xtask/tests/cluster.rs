//! `cargo xtask cluster` as a contributor uses it: the printed kubeconfig reaches a
//! control plane with the CRDs (and with `--chart`, the chart's objects and a kubeconfig of
//! the controller's ServiceAccount), and Ctrl-C stops etcd and kube-apiserver and removes
//! their directory.
//!
//! Needs the test control plane (tests/controlplane/build.sh), like every control plane
//! test; the command is pointed at it so that it never starts a build itself.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CRDS: [&str; 3] = [
    "customresourcedefinition.apiextensions.k8s.io/backupsets.ops.tenantatlas.io",
    "customresourcedefinition.apiextensions.k8s.io/baselinesnapshots.ops.tenantatlas.io",
    "customresourcedefinition.apiextensions.k8s.io/operationruns.ops.tenantatlas.io",
];

/// A running `xtask cluster` in its own process group, killed with the group if the
/// test fails half-way.
struct Cluster {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: Vec<String>,
    stderr: mpsc::Receiver<String>,
}

impl Cluster {
    fn start(args: &[&str]) -> Self {
        let bin = testenv::bin_dir().expect("control plane bin dir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg("cluster")
            .args(args)
            .env("OPRUN_CONTROLPLANE_BIN", &bin)
            .env_remove("OPRUN_TESTENV_KEEP")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // its own group, as a shell gives a foreground job: Ctrl-C reaches the whole group
            .process_group(0)
            .spawn()
            .expect("starting xtask cluster");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (tx, stderr) = mpsc::channel();
        let mut err = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            let _ = tx.send(text);
        });
        Self {
            child,
            lines,
            stdout: Vec::new(),
            stderr,
        }
    }

    /// Reads stdout until a line starts with `prefix` (after indentation) and returns
    /// the rest of it.
    fn wait_for_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.push(line.clone());
                    if let Some(rest) = line.trim_start().strip_prefix(prefix) {
                        return rest.to_string();
                    }
                }
                Err(e) => {
                    self.kill_group();
                    let err = self.stderr.recv_timeout(Duration::from_secs(5));
                    panic!(
                        "no line starting with {prefix:?} ({e}); stdout:\n{}\nstderr:\n{}",
                        self.stdout.join("\n"),
                        err.unwrap_or_default()
                    );
                }
            }
        }
    }

    /// Sends `signal` to the whole process group, as a terminal does on Ctrl-C.
    fn signal_group(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg("--")
            .arg(format!("-{}", self.child.id()))
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    fn kill_group(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }

    /// Waits for the command to exit; returns its success and its stderr.
    fn wait_exit(&mut self, timeout: Duration) -> (bool, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for xtask") {
                let err = self
                    .stderr
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_default();
                return (status.success(), err);
            }
            if Instant::now() > deadline {
                self.kill_group();
                panic!("xtask cluster still running {timeout:?} after the signal");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill_group();
        }
    }
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    let bin = testenv::bin_dir().expect("control plane bin dir");
    Command::new(bin.join("kubectl"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("running kubectl")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// PIDs of the control plane's processes, checked to be etcd and kube-apiserver running
/// from `dir`.
fn control_plane_pids(dir: &Path) -> Vec<u32> {
    let pids: Vec<u32> = std::fs::read_to_string(dir.join("pids"))
        .expect("the control plane's pids file")
        .lines()
        .map(|l| l.trim().parse().expect("a pid"))
        .collect();
    assert_eq!(pids.len(), 2, "etcd and kube-apiserver: {pids:?}");
    for pid in &pids {
        assert!(
            runs_from(*pid, dir),
            "pid {pid} is not running from {dir:?}"
        );
    }
    pids
}

/// Whether `pid` is a live process with `dir` on its command line (a reused PID is not).
fn runs_from(pid: u32, dir: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let needle = dir.as_os_str().as_encoded_bytes();
    cmdline.windows(needle.len()).any(|w| w == needle)
}

/// Ctrl-C, then: a clean exit, and neither a process nor a file left.
fn interrupt_and_check_cleanup(mut cluster: Cluster, dir: &Path, pids: &[u32]) {
    cluster.signal_group("INT");
    let (success, stderr) = cluster.wait_exit(Duration::from_secs(30));
    assert!(success, "xtask cluster failed after SIGINT:\n{stderr}");
    assert!(stderr.contains("SIGINT"), "{stderr}");
    for pid in pids {
        assert!(!runs_from(*pid, dir), "pid {pid} outlived xtask cluster");
    }
    assert!(!dir.exists(), "{dir:?} was not removed");
}

#[test]
fn cluster_serves_the_crds_until_ctrl_c_and_leaves_nothing() {
    let mut cluster = Cluster::start(&[]);
    let kubeconfig =
        PathBuf::from(cluster.wait_for_line("export KUBECONFIG=", Duration::from_secs(120)));
    let dir = kubeconfig
        .parent()
        .expect("kubeconfig in a directory")
        .to_path_buf();
    let pids = control_plane_pids(&dir);

    let crds = ok(kubectl(&kubeconfig, &["get", "crds", "-o", "name"]));
    for crd in CRDS {
        assert!(crds.lines().any(|l| l == crd), "{crd} missing in:\n{crds}");
    }
    ok(kubectl(&kubeconfig, &["get", "opruns", "-A"]));
    // admin: it may do anything
    let can = kubectl(&kubeconfig, &["auth", "can-i", "*", "*"]);
    assert_eq!(String::from_utf8_lossy(&can.stdout).trim(), "yes");
    // nothing but the CRDs: no release namespace without --chart
    let ns = ok(kubectl(&kubeconfig, &["get", "namespaces", "-o", "name"]));
    assert!(!ns.contains("operationrun-system"), "{ns}");

    interrupt_and_check_cleanup(cluster, &dir, &pids);
}

#[test]
fn cluster_with_chart_installs_the_release_and_a_service_account_kubeconfig() {
    let mut cluster = Cluster::start(&["--chart"]);
    let kubeconfig =
        PathBuf::from(cluster.wait_for_line("export KUBECONFIG=", Duration::from_secs(120)));
    let sa_line = cluster.wait_for_line("KUBECONFIG=", Duration::from_secs(10));
    let sa_kubeconfig = PathBuf::from(sa_line.split_whitespace().next().expect("a path"));
    let dir = kubeconfig
        .parent()
        .expect("kubeconfig in a directory")
        .to_path_buf();
    let pids = control_plane_pids(&dir);

    let crds = ok(kubectl(&kubeconfig, &["get", "crds", "-o", "name"]));
    for crd in CRDS {
        assert!(crds.lines().any(|l| l == crd), "{crd} missing in:\n{crds}");
    }
    let objects = ok(kubectl(
        &kubeconfig,
        &[
            "-n",
            "operationrun-system",
            "get",
            "deployment/operationrun-controller",
            "serviceaccount/operationrun-controller",
            "clusterrole/operationrun-controller",
            "clusterrolebinding/operationrun-controller",
            "-o",
            "name",
        ],
    ));
    assert_eq!(objects.lines().count(), 4, "{objects}");

    let who = ok(kubectl(
        &sa_kubeconfig,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    ));
    assert_eq!(
        who,
        "system:serviceaccount:operationrun-system:operationrun-controller"
    );
    // the chart's RBAC applies to it
    let can = kubectl(
        &sa_kubeconfig,
        &[
            "auth",
            "can-i",
            "patch",
            "operationruns",
            "--subresource=status",
            "-A",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&can.stdout).trim(), "yes");
    let can = kubectl(
        &sa_kubeconfig,
        &["auth", "can-i", "delete", "operationruns", "-A"],
    );
    assert_eq!(String::from_utf8_lossy(&can.stdout).trim(), "no");

    interrupt_and_check_cleanup(cluster, &dir, &pids);
}

#[test]
fn cluster_refuses_an_unknown_argument() {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["cluster", "--chartt"])
        .output()
        .expect("running xtask");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--chartt") && err.contains("usage"), "{err}");
}
