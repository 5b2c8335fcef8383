//! Faults for reliability tests: etcd or kube-apiserver killed and started again on the same
//! ports and data, etcd compacted, signals to a process (kill, freeze, resume), and a TCP
//! fault proxy ([toxiproxy](https://github.com/Shopify/toxiproxy), built from its Go module
//! by `tests/tools/build.sh`) between a client and the API server.
//!
//! ```no_run
//! # async fn f(cp: &mut testenv::ControlPlane) -> testenv::Result<()> {
//! use testenv::faults::Component;
//! let stopped = cp.kill(Component::ApiServer)?;
//! let took = cp.restart(stopped).await?; // same port, same etcd
//! # Ok(()) }
//! ```

use std::ffi::OsString;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{ControlPlane, Error, Result, io_err, process};

/// A process of the control plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// etcd.
    Etcd,
    /// kube-apiserver.
    ApiServer,
}

impl Component {
    fn name(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::ApiServer => "kube-apiserver",
        }
    }
}

/// A component killed by [`ControlPlane::kill`]: what it takes to start it again exactly
/// as it ran (its command line, hence the same ports, certificates and data directory).
#[derive(Debug)]
pub struct Stopped {
    component: Component,
    argv: Vec<OsString>,
    index: usize,
}

impl Stopped {
    /// The component that was killed.
    pub fn component(&self) -> Component {
        self.component
    }
}

/// The command line of a running process, from `/proc/<pid>/cmdline`.
fn cmdline(pid: u32) -> Result<Vec<OsString>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map_err(io_err(format!("reading the command line of {pid}")))?;
    let argv: Vec<OsString> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| OsString::from_vec(a.to_vec()))
        .collect();
    if argv.is_empty() {
        return Err(Error::Invalid(format!("process {pid} has no command line")));
    }
    Ok(argv)
}

/// A signal a test sends to a process it started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGKILL: death without a chance to clean up.
    Kill,
    /// SIGSTOP: frozen, as a process on a stalled node or in a long GC pause.
    Stop,
    /// SIGCONT: resumed after [`Signal::Stop`].
    Cont,
}

/// Sends `signal` to `pid`, which must be a child of this process that has not been reaped
/// (so the pid cannot belong to anyone else).
pub fn signal(pid: u32, signal: Signal) -> Result<()> {
    let sig = match signal {
        Signal::Kill => libc::SIGKILL,
        Signal::Stop => libc::SIGSTOP,
        Signal::Cont => libc::SIGCONT,
    };
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| Error::Invalid(format!("pid {pid} out of range")))?;
    // SAFETY: kill(2) on the pid of a child the caller has not reaped.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(io_err(format!("sending {signal:?} to {pid}"))(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

impl ControlPlane {
    /// Kills `component` with SIGKILL and reaps it; [`restart`](Self::restart) starts it again.
    pub fn kill(&mut self, component: Component) -> Result<Stopped> {
        let name = component.name();
        let index = self
            .guard
            .children
            .iter()
            .position(|(what, _, _)| *what == name)
            .ok_or_else(|| Error::Invalid(format!("{name} is not running")))?;
        let argv = cmdline(self.guard.children[index].1.id())?;
        let (_, mut child, _) = self.guard.children.remove(index);
        signal(child.id(), Signal::Kill)?;
        let _ = child.wait();
        self.guard.record_pids()?;
        Ok(Stopped {
            component,
            argv,
            index,
        })
    }

    /// Starts a killed component again with its own command line (same ports, same etcd data
    /// directory, same certificates) and waits until it serves: etcd healthy, or the API
    /// server's `/readyz` answering `ok`. Returns how long that took.
    pub async fn restart(&mut self, stopped: Stopped) -> Result<Duration> {
        self.restart_with(stopped, &[]).await
    }

    /// Like [`restart`](Self::restart), with `extra` flags after its own (a later flag wins),
    /// e.g. `--watch-cache=false` so that kube-apiserver serves watches from etcd itself.
    pub async fn restart_with(&mut self, mut stopped: Stopped, extra: &[&str]) -> Result<Duration> {
        stopped.argv.extend(extra.iter().map(OsString::from));
        let started = Instant::now();
        let name = stopped.component.name();
        let log = self.guard.dir.join(format!(
            "{name}-restart-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0)
        ));
        let mut cmd = Command::new(&stopped.argv[0]);
        cmd.args(&stopped.argv[1..]);
        crate::spawn(&mut self.guard, name, cmd, &log)?;
        // keep start order (etcd first) so that drop stops the API server before its etcd
        if let Some(entry) = self.guard.children.pop() {
            let at = stopped.index.min(self.guard.children.len());
            self.guard.children.insert(at, entry);
        }
        self.guard.record_pids()?;
        match stopped.component {
            Component::Etcd => {
                let port = self.etcd_port()?;
                crate::wait_for_etcd(&mut self.guard, port, &log).await?;
            }
            Component::ApiServer => {
                let client = self.client.clone();
                crate::wait_ready(&mut self.guard, &client, &log).await?;
            }
        }
        Ok(started.elapsed())
    }

    /// The loopback port etcd serves clients on (and its v3 JSON gateway).
    pub fn etcd_port(&self) -> Result<u16> {
        let (_, etcd, _) = self
            .guard
            .children
            .iter()
            .find(|(what, _, _)| *what == "etcd")
            .ok_or_else(|| Error::Invalid("etcd is not running".into()))?;
        let argv = cmdline(etcd.id())?;
        argv.iter()
            .filter_map(|a| a.to_str())
            .find_map(|a| a.strip_prefix("--listen-client-urls=http://127.0.0.1:"))
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| Error::Invalid("etcd's command line names no client port".into()))
    }

    /// etcd's current revision (the newest resourceVersion of the cluster).
    pub async fn etcd_revision(&self) -> Result<i64> {
        let port = self.etcd_port()?;
        let (code, body) = http_json(
            SocketAddr::from(([127, 0, 0, 1], port)),
            "POST",
            "/v3/maintenance/status",
            Some(&json!({})),
        )
        .await?;
        if code != 200 {
            return Err(Error::Invalid(format!(
                "etcd status answered {code}: {body}"
            )));
        }
        revision_of(&body)
    }

    /// Compacts etcd at `revision` (physically), so that every watch or read asking for an
    /// older resourceVersion is refused (410 Gone through the API server).
    pub async fn compact_etcd(&self, revision: i64) -> Result<()> {
        let port = self.etcd_port()?;
        let (code, body) = http_json(
            SocketAddr::from(([127, 0, 0, 1], port)),
            "POST",
            "/v3/kv/compaction",
            Some(&json!({"revision": revision.to_string(), "physical": true})),
        )
        .await?;
        if code != 200 {
            return Err(Error::Invalid(format!(
                "etcd compaction at {revision} answered {code}: {body}"
            )));
        }
        Ok(())
    }
}

fn revision_of(body: &Value) -> Result<i64> {
    let rev = &body["header"]["revision"];
    rev.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| rev.as_i64())
        .ok_or_else(|| Error::Invalid(format!("etcd answer without a revision: {body}")))
}

/// One HTTP/1.1 request with a JSON body over plain TCP: the status code and the JSON answer
/// (`null` when the answer is empty or not JSON).
async fn http_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value)> {
    let what = format!("{method} http://{addr}{path}");
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            payload.len()
        );
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        std::io::Result::Ok(answer)
    };
    let answer = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| Error::Timeout(Duration::from_secs(10), what.clone()))?
        .map_err(io_err(what.clone()))?;
    let answer = String::from_utf8_lossy(&answer);
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| Error::Invalid(format!("{what}: not an HTTP answer: {answer:?}")))?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((code, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

/// The payload of a chunked HTTP/1.1 body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// A loopback address with a port free right now.
fn free_addr() -> Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(io_err("picking a free port"))
}

/// The pinned toxiproxy version, from `tests/tools/toxiproxy/go.mod` (the file build.sh
/// reads too).
const TOXIPROXY_GO_MOD: &str = include_str!("../../tools/toxiproxy/go.mod");

fn toxiproxy_version() -> Result<String> {
    TOXIPROXY_GO_MOD
        .lines()
        .map(str::split_whitespace)
        .find_map(|mut words| {
            (words.next() == Some("github.com/Shopify/toxiproxy/v2"))
                .then(|| words.next().map(String::from))
                .flatten()
        })
        .ok_or_else(|| Error::Invalid("tests/tools/toxiproxy/go.mod pins no toxiproxy".into()))
}

/// The directory holding `toxiproxy-server`: `$OPRUN_TOOLS_BIN` (the test command exports
/// it), else the build.sh cache directory of the pinned toxiproxy version.
pub fn toxiproxy_bin_dir() -> Result<PathBuf> {
    let missing = |looked: String| {
        Error::Invalid(format!(
            "toxiproxy-server not found ({looked}); build it with tests/tools/build.sh \
             (or point OPRUN_TOOLS_BIN at its bin directory)"
        ))
    };
    if let Some(dir) = std::env::var_os("OPRUN_TOOLS_BIN").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if dir.join("toxiproxy-server").is_file() {
            return Ok(dir);
        }
        return Err(missing(format!("OPRUN_TOOLS_BIN={}", dir.display())));
    }
    let root = match std::env::var_os("OPRUN_TOOLS_CACHE").filter(|d| !d.is_empty()) {
        Some(root) => PathBuf::from(root),
        None => PathBuf::from(
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .ok_or_else(|| missing("HOME is not set".into()))?,
        )
        .join(".cache/operationrun-controller/tools"),
    };
    let wanted = format!("toxiproxy-{}", toxiproxy_version()?);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .map_err(|_| missing(format!("no {}", root.display())))?
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.split('_').any(|part| part == wanted))
        })
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("toxiproxy-server").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
        .ok_or_else(|| missing(format!("no {wanted} under {}", root.display())))
}

/// A running `toxiproxy-server` on loopback; dropping it kills it.
#[derive(Debug)]
pub struct Toxiproxy {
    child: Child,
    api: SocketAddr,
    log: PathBuf,
}

/// A toxic: a fault toxiproxy applies to one direction of every connection of a proxy.
/// `downstream` is server → client, `upstream` client → server.
#[derive(Clone, Debug)]
pub struct Toxic {
    /// Its name, to remove it later.
    pub name: String,
    /// `latency`, `reset_peer`, `timeout`, `bandwidth`, `slow_close`, `limit_data`, ...
    pub kind: String,
    /// `upstream` or `downstream`.
    pub stream: String,
    /// The share of connections it applies to, 0 to 1.
    pub toxicity: f64,
    /// Its attributes, e.g. `{"latency": 1000, "jitter": 0}` or `{"timeout": 0}`.
    pub attributes: Value,
}

impl Toxic {
    /// A toxic of `kind` on `stream` for every connection.
    pub fn new(name: &str, kind: &str, stream: &str, attributes: Value) -> Self {
        Toxic {
            name: name.to_string(),
            kind: kind.to_string(),
            stream: stream.to_string(),
            toxicity: 1.0,
            attributes,
        }
    }
}

impl Toxiproxy {
    /// Starts `toxiproxy-server` on a free loopback port, logging to `log`, and waits until
    /// its API answers.
    pub async fn start(log: &Path) -> Result<Self> {
        let bin = toxiproxy_bin_dir()?.join("toxiproxy-server");
        let mut last = None;
        for _ in 0..3 {
            let api = free_addr()?;
            let out = std::fs::File::create(log)
                .map_err(io_err(format!("creating {}", log.display())))?;
            let err = out
                .try_clone()
                .map_err(io_err(format!("opening {}", log.display())))?;
            let mut cmd = Command::new(&bin);
            cmd.args(["-host", "127.0.0.1", "-port", &api.port().to_string()])
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err);
            let child = process::spawn_tied(cmd).map_err(io_err("starting toxiproxy-server"))?;
            let mut proxy = Toxiproxy {
                child,
                api,
                log: log.to_path_buf(),
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(status)) = proxy.child.try_wait() {
                    last = Some(format!("exited with {status}: {}", proxy.log_text()));
                    break;
                }
                if matches!(http_json(api, "GET", "/version", None).await, Ok((200, _))) {
                    return Ok(proxy);
                }
                if Instant::now() >= deadline {
                    last = Some(format!("no answer on {api}: {}", proxy.log_text()));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Err(Error::Invalid(format!(
            "toxiproxy-server did not start: {}",
            last.unwrap_or_default()
        )))
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let (code, answer) = http_json(self.api, method, path, body).await?;
        if !(200..300).contains(&code) {
            return Err(Error::Invalid(format!(
                "toxiproxy {method} {path} answered {code}: {answer}"
            )));
        }
        Ok(answer)
    }

    /// Creates proxy `name` listening on a free loopback port and forwarding to `upstream`
    /// (`host:port`); returns the address clients should use instead of `upstream`.
    pub async fn proxy(&self, name: &str, upstream: &str) -> Result<SocketAddr> {
        let listen = free_addr()?;
        let body = json!({"name": name, "listen": listen.to_string(), "upstream": upstream, "enabled": true});
        self.call("POST", "/proxies", Some(&body)).await?;
        Ok(listen)
    }

    /// Adds a toxic to proxy `name`; it applies to open connections and new ones.
    pub async fn add_toxic(&self, proxy: &str, toxic: &Toxic) -> Result<()> {
        let body = json!({
            "name": toxic.name, "type": toxic.kind, "stream": toxic.stream,
            "toxicity": toxic.toxicity, "attributes": toxic.attributes,
        });
        self.call("POST", &format!("/proxies/{proxy}/toxics"), Some(&body))
            .await
            .map(|_| ())
    }

    /// Removes toxic `toxic` from proxy `proxy`.
    pub async fn remove_toxic(&self, proxy: &str, toxic: &str) -> Result<()> {
        self.call("DELETE", &format!("/proxies/{proxy}/toxics/{toxic}"), None)
            .await
            .map(|_| ())
    }

    /// Enables or disables proxy `name`. Disabling closes every connection through it and
    /// refuses new ones, until it is enabled again.
    pub async fn set_enabled(&self, proxy: &str, enabled: bool) -> Result<()> {
        self.call(
            "POST",
            &format!("/proxies/{proxy}"),
            Some(&json!({"enabled": enabled})),
        )
        .await
        .map(|_| ())
    }
}

impl Drop for Toxiproxy {
    fn drop(&mut self) {
        process::kill_and_wait(&mut self.child);
    }
}

/// Writes a copy of the kubeconfig at `path` whose cluster is reached at `server` (e.g.
/// `https://127.0.0.1:<proxy port>`), beside it; the API server's certificate names
/// 127.0.0.1, so TLS through a loopback TCP proxy still verifies.
pub fn kubeconfig_with_server(path: &Path, server: &str) -> Result<PathBuf> {
    let text =
        std::fs::read_to_string(path).map_err(io_err(format!("reading {}", path.display())))?;
    let mut config: Value = serde_json::from_str(&text)
        .map_err(|e| Error::Invalid(format!("{} is not JSON: {e}", path.display())))?;
    let clusters = config["clusters"]
        .as_array_mut()
        .ok_or_else(|| Error::Invalid(format!("{} has no clusters", path.display())))?;
    for cluster in clusters {
        cluster["cluster"]["server"] = Value::String(server.to_string());
    }
    let mut name = path.as_os_str().to_owned();
    name.push(format!(
        "-via-{}",
        server.rsplit(':').next().unwrap_or("proxy")
    ));
    let out = PathBuf::from(name);
    let text = serde_json::to_string_pretty(&config)
        .map_err(|e| Error::Invalid(format!("encoding kubeconfig: {e}")))?;
    crate::write_file(&out, text)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk("4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n"), "{\"a\":1}");
    }

    #[test]
    fn etcd_revisions_are_read_as_strings_or_numbers() {
        assert_eq!(
            revision_of(&json!({"header": {"revision": "42"}})).unwrap(),
            42
        );
        assert_eq!(revision_of(&json!({"header": {"revision": 7}})).unwrap(), 7);
        assert!(revision_of(&json!({})).is_err());
    }

    #[test]
    fn the_pinned_toxiproxy_version_is_read() {
        assert!(toxiproxy_version().unwrap().starts_with("v2."));
    }
}
