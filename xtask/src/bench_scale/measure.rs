// The controller's run, the raw loop and the breakdown, included into bench_scale.rs.
/// How the controller is started: its binary, the chart's arguments, the kubeconfig maker.
struct Setup<'a> {
    cp: &'a ControlPlane,
    binary: &'a Path,
    args: Vec<String>,
    /// The niceness the controller runs at, if set.
    nice: Option<i32>,
}

impl Setup<'_> {
    /// How to start the controller as the chart's ServiceAccount (a fresh token: they last
    /// an hour); minted before the clock starts.
    async fn launch(&self, log: &Path) -> Result<Launch, String> {
        let token = self
            .cp
            .service_account_token(RELEASE_NS, CONTROLLER_SA)
            .await
            .map_err(|e| e.to_string())?;
        let kubeconfig = self
            .cp
            .kubeconfig_for_token(&token)
            .map_err(|e| e.to_string())?;
        Ok(Launch::new(self.binary)
            .args(self.args.iter().cloned())
            .kubeconfig(kubeconfig)
            .env("POD_NAMESPACE", RELEASE_NS)
            .env("POD_NAME", "operationrun-controller-bench")
            .log(log)
            .ready_timeout(Duration::from_secs(60)))
    }
}

/// The chart's Deployment args for this benchmark: without leader election, at `C`.
fn controller_args(chart: Vec<String>, concurrency: u16) -> Vec<String> {
    let mut args: Vec<String> = chart
        .into_iter()
        .filter(|a| {
            !a.starts_with("--concurrency")
                && !a.starts_with("--lease-name")
                && a != "--no-leader-election"
        })
        .collect();
    args.push("--no-leader-election".into());
    args.push(format!("--concurrency={concurrency}"));
    args
}

/// What the controller run measured.
struct ControllerRun {
    ready: Duration,
    /// When the status-writes counter reached N, seen by polling.
    done: Duration,
    peak_kib: u64,
    idle_kib: u64,
    cpu_to_done: f64,
    cpu_total: f64,
    apiserver_cpu: f64,
    etcd_cpu: f64,
    metrics: String,
    started: Timestamp,
    /// When the controller had stopped and its last requests were logged.
    until: Timestamp,
    perf: Vec<PathBuf>,
}

/// The RSS of the controller with nothing to cache, after it settled.
async fn empty_rss(setup: &Setup<'_>, dir: &Path) -> Result<u64, String> {
    let mut controller = setup
        .launch(&dir.join("controller-empty.log"))
        .await?
        .start()
        .await
        .map_err(|e| e.to_string())?;
    tokio::time::sleep(IDLE).await;
    let (rss, _) = memory(controller.id()).ok_or("the controller exited while idle")?;
    controller.terminate().await.map_err(|e| e.to_string())?;
    Ok(rss)
}

async fn measure_controller(
    setup: &Setup<'_>,
    cp: &ControlPlane,
    expected: u64,
    perf_dir: Option<&Path>,
) -> Result<ControllerRun, String> {
    let pids = cp.pids();
    let (etcd, apiserver) = (pids.first().copied(), pids.get(1).copied());
    let api_cpu = || apiserver.map_or(0.0, cpu_seconds);
    let etcd_cpu = || etcd.map_or(0.0, cpu_seconds);
    let log = cp.dir().join("controller.log");
    let launch = setup.launch(&log).await?;
    let mut perfs = Vec::new();
    let (api0, etcd0) = (api_cpu(), etcd_cpu());
    let started = Timestamp::now();
    let t0 = Instant::now();
    let mut controller = launch.start().await.map_err(|e| e.to_string())?;
    let ready = t0.elapsed();
    let pid = controller.id();
    if let Some(nice) = setup.nice {
        renice(pid, nice)?;
    }
    if let Some(dir) = perf_dir {
        // attached once the process answers /readyz, before its watches have listed much
        perfs.push(Perf::attach(dir, "controller", pid)?);
    }
    let mut peak = 0;
    let mut last_progress = (0.0, 0.0, Instant::now());
    let (done, cpu_to_done, api_at_done, etcd_at_done) = loop {
        if let Some((rss, hwm)) = memory(pid) {
            peak = peak.max(rss).max(hwm);
        }
        if let Ok(Some(status)) = controller.try_wait() {
            return Err(format!(
                "the controller exited ({status}); see {}",
                log.display()
            ));
        }
        let (_, text) = controller
            .get("/metrics")
            .await
            .map_err(|e| e.to_string())?;
        let writes = metric(&text, "operationrun_status_writes");
        let reconciles = metric(&text, "operationrun_reconciliations");
        if writes >= expected as f64 {
            break (t0.elapsed(), cpu_seconds(pid), api_cpu(), etcd_cpu());
        }
        if (writes, reconciles) != (last_progress.0, last_progress.1) {
            last_progress = (writes, reconciles, Instant::now());
        } else if last_progress.2.elapsed() > STALL {
            return Err(format!(
                "the controller made {writes} of {expected} status writes and nothing moved for {STALL:?}; see {}",
                log.display()
            ));
        }
        tokio::time::sleep(POLL).await;
    };
    let idle_until = Instant::now() + IDLE;
    while Instant::now() < idle_until {
        if let Some((rss, hwm)) = memory(pid) {
            peak = peak.max(rss).max(hwm);
        }
        tokio::time::sleep(POLL).await;
    }
    let (idle, hwm) = memory(pid).ok_or("the controller exited while idle")?;
    let peak = peak.max(hwm);
    let (_, metrics) = controller
        .get("/metrics")
        .await
        .map_err(|e| e.to_string())?;
    let cpu_total = cpu_seconds(pid);
    let mut reports = Vec::new();
    for perf in perfs {
        reports.extend(perf.finish()?);
    }
    controller.terminate().await.map_err(|e| e.to_string())?;
    // the audit log is written after each response: let the last lines land
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(ControllerRun {
        ready,
        done,
        peak_kib: peak,
        idle_kib: idle,
        cpu_to_done,
        cpu_total,
        apiserver_cpu: api_at_done - api0,
        etcd_cpu: etcd_at_done - etcd0,
        metrics,
        started,
        until: Timestamp::now(),
        perf: reports,
    })
}

/// Lists every run of `namespaces` (paged): their controller-owned conditions by name,
/// and a count of runs by Reconciled reason.
async fn decided(
    client: &kube::Client,
    namespaces: &[String],
) -> Result<(HashMap<String, Vec<RunCondition>>, BTreeMap<String, usize>), String> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &RESOURCES.runs);
    let wanted: HashSet<&str> = namespaces.iter().map(String::as_str).collect();
    let mut conditions = HashMap::new();
    let mut reasons = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = ListParams::default().limit(500);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let page = api
            .list(&params)
            .await
            .map_err(|e| format!("listing runs: {e}"))?;
        for run in page.items {
            if !run
                .metadata
                .namespace
                .as_deref()
                .is_some_and(|ns| wanted.contains(ns))
            {
                continue;
            }
            let owned: Vec<RunCondition> = run.data["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["type"] == "Stale" || c["type"] == "Reconciled")
                .filter_map(|c| serde_json::from_value(c.clone()).ok())
                .collect();
            let reason = owned
                .iter()
                .find(|c| c.type_ == "Reconciled")
                .map_or("(none)".to_string(), |c| {
                    format!("{} {}", c.status, c.reason.as_deref().unwrap_or_default())
                });
            *reasons.entry(reason).or_default() += 1;
            conditions.insert(run.metadata.name.unwrap_or_default(), owned);
        }
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    Ok((conditions, reasons))
}

// ---------------------------------------------------------------------------------------
// The raw loop

/// Sends the controller's status write for every run, `concurrency` in flight, as `client`;
/// returns the wall time.
async fn raw_loop(
    client: &kube::Client,
    writes: Vec<Created>,
    concurrency: usize,
) -> Result<Duration, String> {
    let client = client.clone();
    let t0 = Instant::now();
    pool(writes, concurrency, move |run: Created| {
        let client = client.clone();
        async move {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client, &run.namespace, &RESOURCES.runs);
            writer::write_conditions(
                &api,
                &run.name,
                &run.namespace,
                &run.resource_version,
                &run.conditions,
            )
            .await
            .map_err(|e| format!("raw write of {}/{}: {e}", run.namespace, run.name))
        }
    })
    .await?;
    Ok(t0.elapsed())
}

/// What one raw loop measured.
struct RawRun {
    time: Duration,
    apiserver_cpu: f64,
    etcd_cpu: f64,
    /// CPU of this program's client while it sent the writes.
    client_cpu: f64,
    requests: Requests,
    load: String,
}

/// Copies the controller's runs (`source`, with their decided conditions) into namespaces
/// `<prefix>-NN` (untimed), then times the raw loop of their status writes as the
/// controller's ServiceAccount.
async fn raw_copy(
    cp: &ControlPlane,
    prefix: &str,
    source: &[Created],
    concurrency: u16,
    now: Timestamp,
) -> Result<(RawRun, Vec<String>), String> {
    let admin = cp.client();
    let (namespaces, planned) = plan(source.len(), prefix);
    say(&format!(
        "raw loop: copying the {} runs into {prefix}-NN",
        source.len()
    ));
    create_namespaces(&admin, &namespaces).await?;
    let (mut copies, _) = populate(&admin, planned, None, now).await?;
    for (copy, original) in copies.iter_mut().zip(source) {
        copy.conditions = original.conditions.clone();
    }
    let token = cp
        .service_account_token(RELEASE_NS, CONTROLLER_SA)
        .await
        .map_err(|e| e.to_string())?;
    let client = cp
        .client_for_token(&token)
        .await
        .map_err(|e| e.to_string())?;
    let pids = cp.pids();
    let api_cpu = || pids.get(1).copied().map_or(0.0, cpu_seconds);
    let etcd_cpu = || pids.first().copied().map_or(0.0, cpu_seconds);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let load = load_average();
    say(&format!(
        "raw loop: the controller's status write for {} runs, {concurrency} in flight, as its ServiceAccount; load average {load}",
        copies.len()
    ));
    let since = Timestamp::now();
    let me = std::process::id();
    let (api0, etcd0, client0) = (api_cpu(), etcd_cpu(), cpu_seconds(me));
    let n = copies.len() as u64;
    let time = raw_loop(&client, copies, usize::from(concurrency)).await?;
    let (apiserver_cpu, etcd_cpu) = (api_cpu() - api0, etcd_cpu() - etcd0);
    let client_cpu = cpu_seconds(me) - client0;
    say(&format!("raw loop: {}", seconds(time)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let requests = audit_requests(
        cp.audit_log_path(),
        since,
        Timestamp::now(),
        CONTROLLER_USER,
    )?;
    if requests.status_writes != n {
        return Err(format!(
            "the raw loop's status writes in the audit log: {} of {n}",
            requests.status_writes
        ));
    }
    Ok((
        RawRun {
            time,
            apiserver_cpu,
            etcd_cpu,
            client_cpu,
            requests,
            load,
        },
        namespaces,
    ))
}

/// The kube-apiserver CPU and wall time of one kind of request, sent at the benchmark's
/// concurrency as the controller's ServiceAccount.
struct Cost {
    what: &'static str,
    requests: usize,
    time: Duration,
    apiserver_cpu: f64,
}

/// Measures alone, one kind at a time, the requests a decision adds to its status write:
/// the confirmation LIST (the controller's own read) for every run proven by an artifact,
/// and the Event (the controller's own publish) for every transition.
async fn breakdown(
    cp: &ControlPlane,
    runs: &[Created],
    concurrency: u16,
) -> Result<Vec<Cost>, String> {
    let token = cp
        .service_account_token(RELEASE_NS, CONTROLLER_SA)
        .await
        .map_err(|e| e.to_string())?;
    let client = cp
        .client_for_token(&token)
        .await
        .map_err(|e| e.to_string())?;
    let apiserver = cp.pids().get(1).copied();
    let api_cpu = move || apiserver.map_or(0.0, cpu_seconds);
    let limit = usize::from(concurrency);
    let mut costs = Vec::new();

    let reads: Vec<(String, String, &'static str)> = runs
        .iter()
        .filter(|r| r.family.artifact().is_some())
        .map(|r| (r.namespace.clone(), r.name.clone(), r.family.type_name()))
        .collect();
    let requests = reads.len();
    say(&format!(
        "breakdown: {requests} confirmation LISTs, {concurrency} in flight"
    ));
    let metrics = Arc::new(Metrics::default());
    let (c0, t0) = (api_cpu(), Instant::now());
    let reader = client.clone();
    pool(reads, limit, move |(ns, name, family)| {
        let (client, metrics) = (reader.clone(), metrics.clone());
        async move {
            let modes = confirm::Modes::default();
            let timeout = std::time::Duration::from_secs(30);
            confirm::claims(&client, &ns, &name, family, &modes, timeout, &metrics)
                .await
                .map(|_| ())
                .map_err(|e| format!("confirmation LIST for {ns}/{name}: {e}"))
        }
    })
    .await?;
    costs.push(Cost {
        what: "confirmation LIST",
        requests,
        time: t0.elapsed(),
        apiserver_cpu: api_cpu() - c0,
    });

    let events: Vec<(String, String, Transition)> = runs
        .iter()
        .flat_map(|r| {
            r.transitions
                .iter()
                .map(|t| (r.namespace.clone(), r.name.clone(), t.clone()))
        })
        .collect();
    let requests = events.len();
    say(&format!(
        "breakdown: {requests} Events, {concurrency} in flight"
    ));
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: writer::FIELD_MANAGER.to_string(),
            instance: Some("operationrun-controller-bench".into()),
        },
    );
    let (c0, t0) = (api_cpu(), Instant::now());
    pool(events, limit, move |(ns, name, transition)| {
        let recorder = recorder.clone();
        async move {
            let run = DynamicObject::new(&name, &RESOURCES.runs).within(&ns);
            let reference = run.object_ref(&RESOURCES.runs);
            writer::publish(&recorder, &reference, &transition)
                .await
                .map_err(|e| format!("Event for {ns}/{name}: {e}"))
        }
    })
    .await?;
    costs.push(Cost {
        what: "Event",
        requests,
        time: t0.elapsed(),
        apiserver_cpu: api_cpu() - c0,
    });
    Ok(costs)
}

/// Whether two condition lists are the same apart from `lastTransitionTime`.
fn same_conditions(a: &[RunCondition], b: &[RunCondition]) -> bool {
    let strip = |c: &[RunCondition]| {
        c.iter()
            .cloned()
            .map(|mut c| {
                c.last_transition_time = None;
                c
            })
            .collect::<Vec<_>>()
    };
    strip(a) == strip(b)
}

// ---------------------------------------------------------------------------------------
// The benchmark
