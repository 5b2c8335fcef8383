//! The controller binary as a child process, the one way tests (and `cargo xtask demo`)
//! start and stop it: with the arguments and identity they give it, on a free loopback
//! port, ready once `/readyz` answers 200, stopped with SIGTERM as a pod is, killed if
//! dropped while still running.
//!
//! ```no_run
//! # async fn f(bin: &std::path::Path, kubeconfig: &std::path::Path) -> testenv::Result<()> {
//! use testenv::controller::Launch;
//! let mut controller = Launch::new(bin)
//!     .args(["run", "--no-leader-election"])
//!     .kubeconfig(kubeconfig)
//!     .start()
//!     .await?;
//! let (code, _metrics) = controller.get("/metrics").await?;
//! assert_eq!(code, 200);
//! assert!(controller.terminate().await?.success());
//! # Ok(()) }
//! ```

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Error, Result, io_err, process};

/// How long the controller may take to answer `/readyz` with 200.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the controller may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// How many times to pick another port when the one picked was taken meanwhile.
const START_ATTEMPTS: u32 = 3;
/// Variables a pod or a developer's shell may set that would change what the controller
/// does; it sees them only when the test gives them.
const CLEARED_ENV: &[&str] = &["KUBECONFIG", "POD_NAME", "POD_NAMESPACE", "RUST_LOG"];

/// How to start the controller: its executable, arguments, environment and log file.
#[derive(Debug, Clone)]
pub struct Launch {
    bin: PathBuf,
    args: Vec<String>,
    env: Vec<(OsString, OsString)>,
    log: Option<PathBuf>,
    ready_timeout: Duration,
    ready_path: String,
}

impl Launch {
    /// The controller executable at `bin`, e.g. `env!("CARGO_BIN_EXE_operationrun-controller")`.
    pub fn new(bin: impl Into<PathBuf>) -> Self {
        Self {
            bin: bin.into(),
            args: Vec::new(),
            env: Vec::new(),
            log: None,
            ready_timeout: READY_TIMEOUT,
            ready_path: "/readyz".into(),
        }
    }

    /// Appends arguments (the subcommand first). An `--http-addr` among them is replaced by
    /// a free loopback port; without one, that port is added.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Acts as the identity of `kubeconfig` (e.g. from
    /// [`ControlPlane::kubeconfig_for_token`](crate::ControlPlane::kubeconfig_for_token)).
    pub fn kubeconfig(self, kubeconfig: impl AsRef<Path>) -> Self {
        self.env("KUBECONFIG", kubeconfig.as_ref())
    }

    /// Sets an environment variable (e.g. the downward API's `POD_NAME`, `POD_NAMESPACE`).
    /// `KUBECONFIG`, `POD_NAME`, `POD_NAMESPACE` and `RUST_LOG` are never inherited.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Writes stdout and stderr to `path`, kept after the process ends. By default they go
    /// to a temporary file removed on drop (kept if the test is panicking).
    pub fn log(mut self, path: impl Into<PathBuf>) -> Self {
        self.log = Some(path.into());
        self
    }

    /// How long [`start`](Self::start) waits for `/readyz` (default 30 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Which endpoint [`start`](Self::start) waits for a 200 from: `/readyz` by default;
    /// `/healthz` for a controller that is not expected to become ready (a kind it cannot
    /// list keeps `/readyz` at 503).
    pub fn ready_path(mut self, path: &str) -> Self {
        self.ready_path = path.to_string();
        self
    }

    /// Starts the process and waits until `/readyz` (or [`ready_path`](Self::ready_path))
    /// answers 200. Fails, with the end of the
    /// log, if it exits first or is not ready in time.
    pub async fn start(self) -> Result<Controller> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut controller = self.spawn()?;
            match controller
                .wait_ready(&self.ready_path, self.ready_timeout)
                .await
            {
                Ok(()) => return Ok(controller),
                // Someone took the port between picking and binding it: pick another.
                Err(_)
                    if attempt < START_ATTEMPTS && controller.log().contains("cannot listen") =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn spawn(&self) -> Result<Controller> {
        let addr = free_addr()?;
        let args = with_http_addr(&self.args, addr);
        let (log, own_log) = match &self.log {
            Some(path) => (path.clone(), false),
            None => (temp_log(), true),
        };
        let out = File::create(&log).map_err(io_err(format!("creating {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(io_err(format!("opening {}", log.display())))?;
        let mut cmd = Command::new(&self.bin);
        cmd.args(&args);
        for key in CLEARED_ENV {
            cmd.env_remove(key);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child =
            process::spawn_tied(cmd).map_err(io_err(format!("starting {}", self.bin.display())))?;
        Ok(Controller {
            child,
            addr,
            log,
            own_log,
            exited: None,
        })
    }
}

/// A running controller process. Dropping it kills the process if it still runs.
#[derive(Debug)]
pub struct Controller {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    own_log: bool,
    exited: Option<ExitStatus>,
}

impl Controller {
    /// Where it serves `/metrics`, `/healthz` and `/readyz`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Everything it printed so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The file its stdout and stderr go to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// `GET path` over HTTP/1.1: the status code and the body.
    pub async fn get(&self, path: &str) -> Result<(u16, String)> {
        let mut stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(io_err(format!("connecting to {}", self.addr)))?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(io_err(format!("GET {path}")))?;
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .await
            .map_err(io_err(format!("GET {path}")))?;
        let code = answer
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| Error::Invalid(format!("GET {path}: not an HTTP answer: {answer:?}")))?;
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((code, body))
    }

    /// Its exit status, if it has exited.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if self.exited.is_none() {
            self.exited = self
                .child
                .try_wait()
                .map_err(io_err("waiting for the controller"))?;
        }
        Ok(self.exited)
    }

    /// Stops it as Kubernetes stops a pod: SIGTERM, then its exit status. Kills it and fails
    /// if it has not exited within 20 s.
    pub async fn terminate(&mut self) -> Result<ExitStatus> {
        if let Some(status) = self.try_wait()? {
            return Ok(status);
        }
        let pid = libc::pid_t::try_from(self.child.id())
            .map_err(|_| Error::Invalid(format!("pid {} out of range", self.child.id())))?;
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet (so the
        // pid cannot have been reused).
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(io_err("sending SIGTERM")(std::io::Error::last_os_error()));
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                process::kill_and_wait(&mut self.child);
                return Err(Error::Timeout(
                    STOP_TIMEOUT,
                    format!(
                        "the controller to exit on SIGTERM; its log:\n{}",
                        self.log()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_ready(&mut self, path: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Err(self.startup_error(format!("exited with {status}")));
            }
            if matches!(self.get(path).await, Ok((200, _))) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                process::kill_and_wait(&mut self.child);
                return Err(self.startup_error(format!("{path} not 200 within {timeout:?}")));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn startup_error(&self, reason: String) -> Error {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        Error::Startup {
            what: "operationrun-controller",
            reason,
            log: self.log.clone(),
            tail: lines[lines.len().saturating_sub(40)..].join("\n"),
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if self.exited.is_none() {
            process::kill_and_wait(&mut self.child);
        }
        if self.own_log {
            if std::thread::panicking() {
                eprintln!("controller log kept: {}", self.log.display());
            } else {
                let _ = std::fs::remove_file(&self.log);
            }
        }
    }
}

/// A loopback address with a port free right now.
fn free_addr() -> Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(io_err("picking a free port"))
}

/// `args` with every `--http-addr` set to `addr`, or `--http-addr=<addr>` appended.
fn with_http_addr(args: &[String], addr: SocketAddr) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len() + 1);
    let mut replaced = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--http-addr" {
            iter.next();
            replaced = true;
            out.push(format!("--http-addr={addr}"));
        } else if arg.starts_with("--http-addr=") {
            replaced = true;
            out.push(format!("--http-addr={addr}"));
        } else {
            out.push(arg.clone());
        }
    }
    if !replaced {
        out.push(format!("--http-addr={addr}"));
    }
    out
}

fn temp_log() -> PathBuf {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "oprun-controller-{}-{}.log",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_addr_is_replaced_or_added() {
        let addr: SocketAddr = "127.0.0.1:4242".parse().unwrap();
        let given = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            with_http_addr(
                &given(&["run", "--http-addr=0.0.0.0:8080", "--dry-run"]),
                addr
            ),
            given(&["run", "--http-addr=127.0.0.1:4242", "--dry-run"])
        );
        assert_eq!(
            with_http_addr(
                &given(&["run", "--http-addr", "0.0.0.0:8080", "--dry-run"]),
                addr
            ),
            given(&["run", "--http-addr=127.0.0.1:4242", "--dry-run"])
        );
        assert_eq!(
            with_http_addr(&given(&["run"]), addr),
            given(&["run", "--http-addr=127.0.0.1:4242"])
        );
    }
}
