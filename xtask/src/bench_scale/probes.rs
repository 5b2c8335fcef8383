// What bench-scale reads off processes and the audit log, included into bench_scale.rs.
/// VmRSS and VmHWM of a process, in KiB.
fn memory(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// User + system CPU time of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // fields after the command name (which may hold spaces) start at field 3
    let Some((_, rest)) = text.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / USER_HZ
}

/// The sum of every sample of metric `name` (its `_total` counter name too) in a
/// Prometheus text exposition.
fn metric(text: &str, name: &str) -> f64 {
    let total = format!("{name}_total");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == name || metric == total)
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// The samples of metric `name` with their labels, for the report.
fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(name))
        .collect()
}

fn machine() -> (usize, f64) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0);
    (cores, mem_kib / 1024.0 / 1024.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Sets the niceness of every thread of process `pid` (threads it starts later inherit it
/// from the thread that starts them).
fn renice(pid: u32, nice: i32) -> Result<(), String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map_err(|e| format!("threads of {pid}: {e}"))?;
    let tids: Vec<String> = tasks
        .filter_map(|t| t.ok().map(|t| t.file_name().to_string_lossy().into_owned()))
        .collect();
    let status = Command::new("renice")
        .args(["-n", &nice.to_string(), "-p"])
        .args(&tids)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("renice: {e}"))?;
    if !status.success() {
        return Err(format!(
            "renice -n {nice} of process {pid} failed ({status})"
        ));
    }
    Ok(())
}

/// `perf record` attached to a process, stopped with SIGINT.
struct Perf {
    child: std::process::Child,
    data: PathBuf,
}

impl Perf {
    fn attach(dir: &Path, what: &str, pid: u32) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let data = dir.join(format!("{what}.perf.data"));
        let child = Command::new("perf")
            // DWARF unwinding: the release build keeps no frame pointers
            .args(["record", "-F", "499", "--call-graph", "dwarf,16384", "-o"])
            .arg(&data)
            .args(["-p", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting perf (apt-get install linux-perf): {e}"))?;
        Ok(Perf { child, data })
    }

    /// Stops recording and writes two reports beside the data: self time by symbol, and
    /// time including callees.
    fn finish(mut self) -> Result<Vec<PathBuf>, String> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let mut reports = Vec::new();
        // self time by function, then time including callees (where the CPU goes, and why)
        for (suffix, children) in [("self", "--no-children"), ("children", "--children")] {
            let report = self.data.with_extension(format!("{suffix}.txt"));
            let out = Command::new("perf")
                .args(["report", children, "--sort", "dso,symbol", "--stdio"])
                .args(["-g", "none", "--percent-limit", "0.3", "-i"])
                .arg(&self.data)
                .stderr(Stdio::null())
                .output()
                .map_err(|e| format!("perf report: {e}"))?;
            std::fs::write(&report, &out.stdout)
                .map_err(|e| format!("{}: {e}", report.display()))?;
            reports.push(report);
        }
        Ok(reports)
    }
}

// ---------------------------------------------------------------------------------------
// The audit log

/// What one identity asked of the API server within a stretch of time, from the audit log.
#[derive(Debug, Default)]
struct Requests {
    /// Requests by "verb resource[/subresource]" (a confirmation LIST: with "?fieldSelector").
    by_kind: BTreeMap<String, u64>,
    /// Completed requests by the same key: how many, and the sum of their time in the API
    /// server (received to response complete), in seconds.
    latency: BTreeMap<String, (u64, f64)>,
    /// Unfiltered LISTs (the watches' initial pages) by resource: pages, the first one's
    /// arrival and the last one's completion.
    initial_lists: BTreeMap<String, (u64, Timestamp, Timestamp)>,
    /// Successful status writes of runs.
    status_writes: u64,
    /// Status writes refused with 409.
    conflicts: u64,
    /// When the first and the last successful status write completed.
    first_write: Option<Timestamp>,
    last_write: Option<Timestamp>,
}

impl Requests {
    fn count(&self, key: &str) -> u64 {
        self.by_kind.get(key).copied().unwrap_or(0)
    }

    fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }

    fn confirmations(&self) -> u64 {
        self.by_kind
            .iter()
            .filter(|(k, _)| k.starts_with("list ") && k.ends_with("?fieldSelector"))
            .map(|(_, n)| n)
            .sum()
    }

    fn events(&self) -> u64 {
        self.by_kind
            .iter()
            .filter(|(k, _)| k.ends_with(" events"))
            .map(|(_, n)| n)
            .sum()
    }
}

/// The audit log and the files the API server rotated it into (`audit-<time>.log`, beside it,
/// once it reaches 100 MB), oldest first.
fn audit_files(log: &Path) -> Vec<PathBuf> {
    let Some(dir) = log.parent() else {
        return vec![log.to_path_buf()];
    };
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("audit-") && n.ends_with(".log"))
        })
        .collect();
    rotated.sort();
    rotated.push(log.to_path_buf());
    rotated
}

/// The total size of the audit log and its rotated files, in MiB.
fn audit_mib(log: &Path) -> u64 {
    audit_files(log)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum::<u64>()
        / (1 << 20)
}

/// Reads the requests `user` made that the API server received between `since` and
/// `until`. Each request is counted once (a watch logs ResponseStarted and ResponseComplete).
fn audit_requests(
    log: &Path,
    since: Timestamp,
    until: Timestamp,
    user: &str,
) -> Result<Requests, String> {
    let needle = format!("\"username\":\"{user}\"");
    let mut seen = HashSet::new();
    let mut out = Requests::default();
    let time = |event: &Value, field: &str| {
        event[field]
            .as_str()
            .and_then(|t| t.parse::<Timestamp>().ok())
    };
    for path in audit_files(log) {
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        for line in BufReader::with_capacity(1 << 20, file).lines() {
            let line = line.map_err(|e| format!("reading {}: {e}", path.display()))?;
            if !line.contains(&needle) {
                continue;
            }
            let Ok(event) = serde_json::from_str::<Value>(&line) else {
                continue; // a line still being written
            };
            let (Some(received), completed) = (
                time(&event, "requestReceivedTimestamp"),
                time(&event, "stageTimestamp"),
            ) else {
                continue;
            };
            if event["user"]["username"] != user || received < since || received > until {
                continue;
            }
            let verb = event["verb"].as_str().unwrap_or_default();
            let code = event["responseStatus"]["code"].as_i64().unwrap_or(0);
            let object = &event["objectRef"];
            let uri = event["requestURI"].as_str().unwrap_or_default();
            let key = match object["resource"].as_str() {
                Some(resource) => {
                    let mut key = format!("{verb} {resource}");
                    if let Some(sub) = object["subresource"].as_str() {
                        key = format!("{key}/{sub}");
                    }
                    if verb == "list" && uri.contains("fieldSelector=") {
                        // the start-up probe selects no run (an empty value)
                        if uri.contains("name%3D&") || uri.ends_with("name%3D") {
                            key.push_str("?probe");
                        } else {
                            key.push_str("?fieldSelector");
                        }
                    }
                    key
                }
                None => format!("{verb} {}", uri.split('?').next().unwrap_or_default()),
            };
            let complete = event["stage"] == "ResponseComplete";
            if complete && let Some(done) = completed {
                let entry = out.latency.entry(key.clone()).or_default();
                entry.0 += 1;
                entry.1 += done.duration_since(received).as_secs_f64();
                if verb == "list" && !uri.contains("fieldSelector=") {
                    let resource = object["resource"].as_str().unwrap_or_default();
                    let pages = out
                        .initial_lists
                        .entry(resource.to_string())
                        .or_insert((0, received, done));
                    pages.0 += 1;
                    pages.1 = pages.1.min(received);
                    pages.2 = pages.2.max(done);
                }
                if key == "patch operationruns/status" {
                    if (200..300).contains(&code) {
                        out.status_writes += 1;
                        out.first_write = Some(out.first_write.map_or(done, |f| f.min(done)));
                        out.last_write = Some(out.last_write.map_or(done, |l| l.max(done)));
                    } else if code == 409 {
                        out.conflicts += 1;
                    }
                }
            }
            let id = event["auditID"].as_str().unwrap_or_default().to_string();
            if seen.insert(id) {
                *out.by_kind.entry(key).or_default() += 1;
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The controller
