// The krew manifest check's file server, the SBOM and SHA256SUMS, included into dist.rs.
/// A loopback HTTP server of the files in one directory, for krew to download from; it
/// stops when dropped.
struct FileServer {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FileServer {
    fn start(dir: &Path) -> Result<Self, String> {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(|e| format!("binding a port: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("binding a port: {e}"))?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (dir, flag) = (dir.to_path_buf(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                if let Ok(stream) = stream {
                    let _ = serve(&dir, stream);
                }
            }
        });
        Ok(Self { addr, stop })
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        // wake the accept loop so it sees the flag
        let _ = TcpStream::connect(self.addr);
    }
}

/// Answers one `GET /<file>` with the file of `dir` (no subdirectories), or 404.
fn serve(dir: &Path, mut stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let name = request
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.strip_prefix('/'))
        .filter(|n| !n.is_empty() && !n.contains('/') && !n.contains(".."));
    match name.and_then(|n| fs::read(dir.join(n)).ok()) {
        Some(body) => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(&body)?;
        }
        None => {
            stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
        }
    }
    stream.flush()
}

/// An SPDX SBOM, made by syft from the lines of `Cargo.lock` for the crates the two release
/// binaries are built from (normal and build dependencies, for every platform; the test
/// and tool crates left out), named after the project and the version.
fn sbom(tools_bin: &Path, out: &Path) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let metadata = checked(
        {
            let mut c = Command::new(cargo);
            c.args(["metadata", "--format-version", "1", "--locked"])
                .current_dir(root());
            c
        },
        "cargo metadata",
    )?;
    let metadata: Value =
        serde_json::from_str(&metadata).map_err(|e| format!("cargo metadata: {e}"))?;
    let shipped = shipped_packages(&metadata, &[CONTROLLER, PLUGIN])?;
    let lock_path = root().join("Cargo.lock");
    let lock =
        fs::read_to_string(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
    let (kept, total) = filter_lock(&lock, &shipped);
    if kept.matches("[[package]]").count() != shipped.len() {
        return Err(format!(
            "Cargo.lock has {} of the {} packages cargo metadata lists",
            kept.matches("[[package]]").count(),
            shipped.len()
        ));
    }
    let dir = std::env::temp_dir().join(format!("oprun-dist-sbom-{}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let name = format!("{CONTROLLER}-v{VERSION}.spdx.json");
    let result = fs::write(dir.join("Cargo.lock"), kept)
        .map_err(|e| format!("writing the SBOM's Cargo.lock: {e}"))
        .and_then(|()| {
            checked(
                {
                    let mut c = Command::new(tools_bin.join("syft"));
                    c.arg("scan")
                        .arg(format!("dir:{}", dir.display()))
                        .args(["--source-name", CONTROLLER, "--source-version", VERSION])
                        .arg("--output")
                        .arg(format!("spdx-json={}", out.join(&name).display()))
                        .args(["--quiet"])
                        .env("SYFT_CHECK_FOR_APP_UPDATE", "false");
                    c
                },
                "syft scan",
            )
        });
    let _ = fs::remove_dir_all(&dir);
    result?;
    let sbom: Value = serde_json::from_slice(
        &fs::read(out.join(&name)).map_err(|e| format!("reading the SBOM: {e}"))?,
    )
    .map_err(|e| format!("the SBOM is not JSON: {e}"))?;
    let packages = sbom["packages"].as_array().map_or(0, Vec::len);
    if packages < shipped.len() {
        return Err(format!(
            "the SBOM lists {packages} packages, fewer than the {} shipped crates",
            shipped.len()
        ));
    }
    say(&format!(
        "SBOM: {} of the {total} crates in Cargo.lock ship in the release binaries; {packages} SPDX packages",
        shipped.len()
    ));
    Ok(())
}

/// (name, version) of every package the workspace members `roots` depend on, directly or
/// not, through normal and build dependencies on any platform, the roots included.
fn shipped_packages(
    metadata: &Value,
    roots: &[&str],
) -> Result<BTreeSet<(String, String)>, String> {
    let packages: HashMap<&str, (&str, &str)> = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata: no packages")?
        .iter()
        .filter_map(|p| {
            Some((
                p["id"].as_str()?,
                (p["name"].as_str()?, p["version"].as_str()?),
            ))
        })
        .collect();
    let nodes: HashMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .ok_or("cargo metadata: no resolve graph")?
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let mut todo: Vec<&str> = packages
        .iter()
        .filter(|(id, (name, _))| {
            roots.contains(name)
                && metadata["workspace_members"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|w| w.as_str() == Some(id)))
        })
        .map(|(id, _)| *id)
        .collect();
    if todo.len() != roots.len() {
        return Err(format!(
            "cargo metadata: workspace members {roots:?} not all found"
        ));
    }
    let mut seen = BTreeSet::new();
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        let node = nodes
            .get(id)
            .ok_or_else(|| format!("cargo metadata: no node {id}"))?;
        for dep in node["deps"].as_array().into_iter().flatten() {
            let shipped = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].as_str() != Some("dev"));
            if let (true, Some(pkg)) = (shipped, dep["pkg"].as_str()) {
                todo.push(pkg);
            }
        }
    }
    seen.iter()
        .map(|id| {
            packages
                .get(id)
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .ok_or_else(|| format!("cargo metadata: no package {id}"))
        })
        .collect()
}

/// `lock` with only the `[[package]]` entries of `keep` (by name and version), and how
/// many entries it had.
fn filter_lock(lock: &str, keep: &BTreeSet<(String, String)>) -> (String, usize) {
    let mut out = String::new();
    let mut total = 0;
    let mut blocks = lock.split("\n[[package]]\n");
    if let Some(head) = blocks.next() {
        out.push_str(head);
        out.push('\n');
    }
    for block in blocks {
        total += 1;
        let field = |key: &str| {
            block.lines().find_map(|l| {
                l.strip_prefix(key).map(|v| {
                    v.trim()
                        .trim_start_matches('=')
                        .trim()
                        .trim_matches('"')
                        .to_string()
                })
            })
        };
        if let (Some(name), Some(version)) = (field("name ="), field("version ="))
            && keep.contains(&(name, version))
        {
            out.push_str("\n[[package]]\n");
            out.push_str(block.trim_end());
            out.push('\n');
        }
    }
    (out, total)
}

/// Writes `SHA256SUMS` (`sha256sum -c` reads it) over every other file of `out`.
fn sha256sums(out: &Path) -> Result<Vec<(String, String)>, String> {
    let mut names: Vec<String> = fs::read_dir(out)
        .map_err(|e| format!("{}: {e}", out.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n != "SHA256SUMS")
        .collect();
    names.sort();
    let mut sums = Vec::new();
    let mut text = String::new();
    for name in names {
        let sum = sha256_file(&out.join(&name))?;
        text.push_str(&format!("{sum}  {name}\n"));
        sums.push((name, sum));
    }
    fs::write(out.join("SHA256SUMS"), text).map_err(|e| format!("writing SHA256SUMS: {e}"))?;
    Ok(sums)
}
