//! `cargo xtask bench-scale --runs N --concurrency C`: the controller at scale, on the local
//! control plane, against the floor the API server sets.
//!
//! Setup (not timed): the Helm chart is installed, then N stale runs, split evenly across
//! the three decided families (backups with one complete BackupSet each, captures with one
//! complete BaselineSnapshot each, inventory syncs with full coverage), are created over 50
//! namespaces as workers create them: the run, then its status (Running, a heartbeat an hour
//! old), then its artifact naming the run's uid, then the artifact's status. Each run with an
//! artifact also has `--history` finalized artifacts of earlier runs that no longer exist
//! (kept by retention), so that the caches hold about two artifacts per run.
//!
//! Measured: the release controller binary, run with the chart's arguments as the chart's
//! ServiceAccount: start to first and to last decision (from the API server's audit log),
//! requests by verb and resource (same log), peak and idle RSS (`/proc`), and the RSS of
//! the same controller over an empty cluster. Then a raw loop on a fresh copy of the runs
//! sends the controller's own status write for every run at the same concurrency, as the
//! same identity, through the same admission. One markdown table row sums it up.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use kube::Resource;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::runtime::events::{Recorder, Reporter};
use operationrun_controller::metrics::Metrics;
use operationrun_controller::reconciler::confirm;
use operationrun_controller::reconciler::lenient::Lenient;
use operationrun_controller::reconciler::writer;
use operationrun_core::decide::{Config, Evidence, Transition, decide};
use operationrun_crds::{API_VERSION, BackupSet, BaselineSnapshot, OperationRun, RunCondition};
use serde_json::{Value, json};
use testenv::ControlPlane;
use testenv::controller::Launch;

use crate::{RELEASE_NS, checked, root};

/// The ServiceAccount the chart creates for the controller (its release name).
const CONTROLLER_SA: &str = "operationrun-controller";
/// The user the API server sees for that ServiceAccount.
const CONTROLLER_USER: &str = "system:serviceaccount:operationrun-system:operationrun-controller";
/// Namespaces the runs are spread over (each set: the controller's and the raw loop's).
const NAMESPACES: usize = 50;
/// Setup requests in flight.
const SETUP_IN_FLIGHT: usize = 32;
/// How often the controller's /metrics and /proc are read while it works.
const POLL: Duration = Duration::from_millis(100);
/// How long the controller stays idle after its last decision before its RSS is read.
const IDLE: Duration = Duration::from_secs(5);
/// The controller is given up on when neither its writes nor its reconciles move for this long.
const STALL: Duration = Duration::from_secs(120);
/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;
/// What the test control plane's audit policy records (testenv fixes it).
const AUDIT_LEVEL: &str = "RequestResponse for writes, Metadata for reads (testenv's fixed policy; no lighter level can be chosen)";

const USAGE: &str =
    "usage: cargo xtask bench-scale --runs N --concurrency C [--history H] [--controller BIN]
       [--nice N] [--breakdown] [--perf DIR]

Measures the release controller over N stale runs (split evenly across backups,
captures and inventory syncs; 50 namespaces) on a local control plane, and a raw
loop of the same status writes at the same concurrency; prints one markdown table row.

  --runs N          stale runs to decide (at least 3)
  --concurrency C   the controller's --concurrency and the raw loop's requests in flight (1-64)
  --history H       finalized artifacts of earlier, deleted runs per backup and capture
                    run (default 2: about two cached artifacts per run)
  --controller BIN  measure this controller executable instead of building the release
                    binary of this checkout (e.g. a copy kept to compare several runs)
  --nice N          run etcd, kube-apiserver, the controller and this program's own
                    threads at niceness N (e.g. -10, as root), so that other load on a
                    shared machine takes less of the measured processes' CPU
  --breakdown       then send, alone and at the same concurrency, the confirmation LISTs
                    and the Events the decisions need, and report their API server CPU
  --perf DIR        record the controller with `perf record` (DWARF call graphs) while it
                    works, and write the reports into DIR (kube-apiserver is built
                    stripped: its CPU is measured by --breakdown instead)";

/// The command line of `bench-scale`.
#[derive(Debug)]
struct Options {
    runs: usize,
    concurrency: u16,
    history: usize,
    perf: Option<PathBuf>,
    controller: Option<PathBuf>,
    nice: Option<i32>,
    breakdown: bool,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut runs = None;
    let mut concurrency = None;
    let mut history = 2;
    let mut perf = None;
    let mut controller = None;
    let mut nice = None;
    let mut breakdown = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        if matches!(flag, "-h" | "--help") {
            return Ok(None);
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| iter.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let number = |v: String| {
            v.replace([',', '_'], "")
                .parse::<usize>()
                .map_err(|e| format!("{flag} {v}: {e}"))
        };
        match flag {
            "--runs" => runs = Some(number(value()?)?),
            "--concurrency" => concurrency = Some(number(value()?)?),
            "--history" => history = number(value()?)?,
            "--perf" => perf = Some(PathBuf::from(value()?)),
            "--controller" => controller = Some(PathBuf::from(value()?)),
            "--breakdown" => breakdown = true,
            "--nice" => {
                let v = value()?;
                nice = Some(
                    v.parse::<i32>()
                        .ok()
                        .filter(|n| (-20..=19).contains(n))
                        .ok_or_else(|| format!("--nice {v}: not a niceness (-20 to 19)"))?,
                );
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let runs = runs.ok_or("--runs is required")?;
    if runs < 3 {
        return Err("--runs must be at least 3 (one run of each family)".into());
    }
    let concurrency = concurrency.ok_or("--concurrency is required")?;
    let concurrency = u16::try_from(concurrency)
        .ok()
        .filter(|c| (1..=64).contains(c))
        .ok_or("--concurrency must be between 1 and 64 (the controller's range)")?;
    Ok(Some(Options {
        runs,
        concurrency,
        history,
        perf,
        controller,
        nice,
        breakdown,
    }))
}

/// Entry point of `cargo xtask bench-scale`; `args` are the ones after `bench-scale`.
pub(crate) fn main(args: &[String]) -> ExitCode {
    let options = match parse(args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
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
    match runtime.block_on(bench(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------
// The workload

// The runs, artifacts and namespaces bench-scale creates.
include!("bench_scale/setup.rs");

// What bench-scale reads off processes and the audit log, included into bench_scale.rs.
include!("bench_scale/probes.rs");

// The controller's run, the raw loop and the breakdown, included into bench_scale.rs.
include!("bench_scale/measure.rs");

/// When the benchmark began, for the progress lines.
static BEGAN: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

/// A progress line on stderr, with the time since the benchmark began.
fn say(text: &str) {
    eprintln!("==> [{:6.1} s] {text}", BEGAN.elapsed().as_secs_f64());
}

fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Builds the test control plane if missing and points testenv at it.
fn build_controlplane() -> Result<(), String> {
    say("building the test control plane (kube-apiserver, etcd, kubectl, helm) if missing");
    let out = checked(
        Command::new(root().join("tests/controlplane/build.sh")),
        "tests/controlplane/build.sh",
    )?;
    let dir = out.lines().last().unwrap_or_default().trim().to_string();
    // SAFETY: no other thread of this process reads the environment at this point (the
    // runtime's workers only run the benchmark's futures, which have not started testenv)
    unsafe { std::env::set_var("OPRUN_CONTROLPLANE_BIN", dir) };
    Ok(())
}

/// Builds what is missing; returns the release controller executable.
fn build() -> Result<PathBuf, String> {
    if std::env::var_os("OPRUN_CONTROLPLANE_BIN").is_none_or(|d| d.is_empty()) {
        build_controlplane()?;
    }
    say("building operationrun-controller (release)");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let messages = checked(
        {
            let mut c = Command::new(cargo);
            c.args([
                "build",
                "--quiet",
                "--release",
                "--bin",
                "operationrun-controller",
                "--message-format=json",
            ])
            .current_dir(root());
            c
        },
        "cargo build --release",
    )?;
    messages
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["target"]["name"] == "operationrun-controller")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo build reported no operationrun-controller executable".into())
}

/// The commit the controller is built from, and whether its sources differ from it.
fn revision() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(commit) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown (not a git checkout)".into();
    };
    let changed = git(&[
        "status",
        "--porcelain",
        "--",
        "controller/src",
        "core/src",
        "crds/src",
        "Cargo.lock",
    ])
    .is_some_and(|s| !s.is_empty());
    if changed {
        format!(
            "{commit} with uncommitted changes in controller/src, core/src, crds/src or Cargo.lock"
        )
    } else {
        commit
    }
}

async fn bench(options: Options) -> Result<(), String> {
    let began = *BEGAN;
    let (binary, revision) = match &options.controller {
        Some(given) => {
            if std::env::var_os("OPRUN_CONTROLPLANE_BIN").is_none_or(|d| d.is_empty()) {
                build_controlplane()?;
            }
            (given.clone(), format!("{} (given)", given.display()))
        }
        None => {
            let binary = build()?;
            (binary, revision())
        }
    };
    let (cores, mem_gib) = machine();
    let date = Timestamp::now().strftime("%Y-%m-%d").to_string();
    let n = options.runs;
    let c = options.concurrency;

    say("starting etcd and kube-apiserver on loopback");
    let cp = ControlPlane::start().await.map_err(|e| e.to_string())?;
    say(&format!("audit policy: {AUDIT_LEVEL}"));
    say("installing the Helm chart (CRDs, ServiceAccount, RBAC, admission policy)");
    let rendered = crate::cluster::install_chart(&cp)?;
    checked(
        {
            let mut k = cp.kubectl();
            k.args([
                "wait",
                "--for=condition=Established",
                "crd",
                "--all",
                "--timeout=60s",
            ]);
            k.stdout(Stdio::null());
            k
        },
        "kubectl wait for the CRDs",
    )?;
    let chart_args = testenv::chart::deployment_args(&rendered).map_err(|e| e.to_string())?;
    let setup = Setup {
        cp: &cp,
        binary: &binary,
        args: controller_args(chart_args, c),
        nice: options.nice,
    };
    if let Some(nice) = options.nice {
        for pid in cp.pids().into_iter().chain([std::process::id()]) {
            renice(pid, nice)?;
        }
        say(&format!(
            "etcd, kube-apiserver, the controller and this program run at niceness {nice}"
        ));
    }
    say(&format!(
        "controller: {} {}",
        binary.display(),
        setup.args.join(" ")
    ));

    say("the controller over an empty cluster (baseline RSS)");
    let empty_kib = empty_rss(&setup, cp.dir()).await?;

    let setup_started = Instant::now();
    let (namespaces, planned) = plan(n, "bench");
    say(&format!(
        "setup: {n} stale runs (a third each of backups, captures, inventory syncs) over {NAMESPACES} namespaces, {SETUP_IN_FLIGHT} requests in flight"
    ));
    let admin = cp.client();
    create_namespaces(&admin, &namespaces).await?;
    let now = Timestamp::now();
    let config = decision_config(&setup.args)?;
    let (runs, artifacts) = populate(&admin, planned, Some((options.history, config)), now).await?;
    let setup_time = setup_started.elapsed();
    say(&format!(
        "setup done in {}: {n} runs, {artifacts} artifacts",
        seconds(setup_time)
    ));

    // the raw loop before and after the controller, so that a drift of the machine's other
    // load does not favour either side; the first copy is deleted before the controller
    // starts, so that it never sees it
    let (raw_before, copy_namespaces) = raw_copy(&cp, "bench-raw1", &runs, c, now).await?;
    delete_runs(&admin, &copy_namespaces).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let load_before = load_average();
    say(&format!(
        "measuring the controller (--concurrency={c}); load average {load_before}"
    ));
    let run = measure_controller(&setup, &cp, n as u64, options.perf.as_deref()).await?;
    let ctrl = audit_requests(cp.audit_log_path(), run.started, run.until, CONTROLLER_USER)?;
    let (conditions, reasons) = decided(&admin, &namespaces).await?;
    say(&format!("decided: {reasons:?}"));
    let same = runs
        .iter()
        .filter(|r| {
            conditions
                .get(&r.name)
                .is_some_and(|c| same_conditions(c, &r.conditions))
        })
        .count();
    if same != n {
        return Err(format!(
            "{same} of {n} runs hold the conditions the raw loop writes; the controller decided {reasons:?}"
        ));
    }
    let (first, last) = match (ctrl.first_write, ctrl.last_write) {
        (Some(f), Some(l)) => (f, l),
        _ => return Err("the audit log shows no status write by the controller".into()),
    };
    let since = |t: Timestamp| {
        Duration::from_secs_f64(t.duration_since(run.started).as_secs_f64().max(0.0))
    };
    let (to_first, to_last) = (since(first), since(last));

    let (raw_after, _) = raw_copy(&cp, "bench-raw2", &runs, c, now).await?;
    let costs = if options.breakdown {
        breakdown(&cp, &runs, c).await?
    } else {
        Vec::new()
    };
    let raw_time = (raw_before.time + raw_after.time) / 2;
    let raw_api = (raw_before.apiserver_cpu + raw_after.apiserver_cpu) / 2.0;

    // the table
    let nf = n as f64;
    let decisions_per_s = nf / to_last.as_secs_f64();
    let raw_per_s = nf / raw_time.as_secs_f64();
    let writes = ctrl.count("patch operationruns/status");
    let confirmations = ctrl.confirmations();
    let events = ctrl.events();
    let others = ctrl.total() - writes - confirmations - events;
    let per_run = |k: u64| format!("{:.2}", k as f64 / nf);
    let objects = n + artifacts;
    let bytes_per_object = (run.idle_kib.saturating_sub(empty_kib) * 1024) as f64 / objects as f64;
    println!(
        "\n| date | machine | audit | runs | artifacts | C | start→first decision | start→last decision | decisions/s | raw loop (before / after) | raw patches/s | controller ÷ raw | kube-apiserver CPU/run, controller / raw | status PATCH /run | confirm LIST /run | Event writes /run | other requests /run | peak RSS | idle RSS | empty RSS | bytes / cached object |"
    );
    println!(
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    println!(
        "| {date} | {cores} cores, {mem_gib:.0} GiB | RequestResponse (writes) | {n} | {artifacts} | {c} | {} | {} | {decisions_per_s:.0} | {} ({} / {}) | {raw_per_s:.0} | {:.2} | {:.1} / {:.1} ms | {} | {} | {} | {} | {} | {} | {} | {bytes_per_object:.0} |",
        seconds(to_first),
        seconds(to_last),
        seconds(raw_time),
        seconds(raw_before.time),
        seconds(raw_after.time),
        decisions_per_s / raw_per_s,
        run.apiserver_cpu * 1000.0 / nf,
        raw_api * 1000.0 / nf,
        per_run(writes),
        per_run(confirmations),
        per_run(events),
        per_run(others),
        mib(run.peak_kib),
        mib(run.idle_kib),
        mib(empty_kib),
    );

    // the details behind it
    let m = &run.metrics;
    let reconciles = metric(m, "operationrun_reconciliations");
    let reconcile_sum = metric(m, "operationrun_reconcile_duration_seconds_sum");
    let reconcile_count = metric(m, "operationrun_reconcile_duration_seconds_count");
    println!("\nDetails ({n} runs, {artifacts} artifacts, concurrency {c}):");
    println!("- audit policy: {AUDIT_LEVEL}");
    println!("- controller built from {revision}");
    if cfg!(debug_assertions) {
        println!(
            "- the raw loop's client is a debug build, slower than the release controller: for figures to keep, run `cargo run --release -p xtask -- bench-scale …`"
        );
    } else {
        println!("- the raw loop's client is a release build");
    }
    match options.nice {
        Some(nice) => println!(
            "- etcd, kube-apiserver, the controller and the raw loop ran at niceness {nice}"
        ),
        None => println!("- every process ran at the default niceness"),
    }
    println!(
        "- load average before the controller: {load_before}; after: {}",
        load_average()
    );
    println!(
        "- setup: {} (not timed); controller /readyz after {}; status-writes counter reached {n} after {} (polled every {} ms)",
        seconds(setup_time),
        seconds(run.ready),
        seconds(run.done),
        POLL.as_millis()
    );
    println!(
        "- first→last decision: {} ({:.0} decisions/s)",
        seconds(to_last.saturating_sub(to_first)),
        nf / to_last.saturating_sub(to_first).as_secs_f64().max(1e-3)
    );
    println!(
        "- CPU to the last decision: controller {:.2} s ({:.2} ms/run), kube-apiserver {:.2} s ({:.2} ms/run), etcd {:.2} s; controller CPU including {} idle: {:.2} s",
        run.cpu_to_done,
        run.cpu_to_done * 1000.0 / nf,
        run.apiserver_cpu,
        run.apiserver_cpu * 1000.0 / nf,
        run.etcd_cpu,
        seconds(IDLE),
        run.cpu_total
    );
    for (when, raw) in [("before", &raw_before), ("after", &raw_after)] {
        println!(
            "- raw loop {when} the controller: {} (load average {}); CPU kube-apiserver {:.2} s ({:.2} ms/run), etcd {:.2} s, the loop's client {:.2} s ({:.2} ms/run); requests {:?}, {:.1} ms each in the API server",
            seconds(raw.time),
            raw.load,
            raw.apiserver_cpu,
            raw.apiserver_cpu * 1000.0 / nf,
            raw.etcd_cpu,
            raw.client_cpu,
            raw.client_cpu * 1000.0 / nf,
            raw.requests.by_kind,
            raw.requests
                .latency
                .get("patch operationruns/status")
                .map_or(0.0, |(n, sum)| sum * 1000.0 / (*n).max(1) as f64),
        );
    }
    for cost in &costs {
        println!(
            "- breakdown, {} alone: {} requests in {} ({:.0}/s); kube-apiserver CPU {:.2} s ({:.2} ms each, {:.2} ms per run)",
            cost.what,
            cost.requests,
            seconds(cost.time),
            cost.requests as f64 / cost.time.as_secs_f64().max(1e-3),
            cost.apiserver_cpu,
            cost.apiserver_cpu * 1000.0 / (cost.requests.max(1) as f64),
            cost.apiserver_cpu * 1000.0 / nf,
        );
    }
    println!(
        "- reconciles: {reconciles:.0} ({:.2}/run), mean {:.2} ms each; status writes {} ok, {} conflicts; reconcile errors {:.0}",
        reconciles / nf,
        if reconcile_count > 0.0 {
            reconcile_sum * 1000.0 / reconcile_count
        } else {
            0.0
        },
        ctrl.status_writes,
        ctrl.conflicts,
        metric(m, "operationrun_reconcile_errors"),
    );
    println!(
        "- Events: {:.0} published, {:.0} dropped by the queue, {:.0} failed (until {} after the last decision)",
        metric(m, "operationrun_events"),
        metric(m, "operationrun_events_dropped"),
        metric(m, "operationrun_event_errors"),
        seconds(IDLE)
    );
    println!(
        "- controller requests (audit log, {CONTROLLER_USER}), with their mean time in the API server (received to response complete):"
    );
    for (kind, count) in &ctrl.by_kind {
        match ctrl.latency.get(kind) {
            Some((done, sum)) if *done > 0 => {
                println!("  - {kind}: {count}, {:.1} ms", sum * 1000.0 / *done as f64)
            }
            _ => println!("  - {kind}: {count}"),
        }
    }
    for (resource, (pages, first, last)) in &ctrl.initial_lists {
        println!(
            "- LIST {resource} without a selector: {pages} pages, the first received {} after start, the last complete {} after start",
            seconds(since(*first)),
            seconds(since(*last)),
        );
    }
    println!(
        "- RSS: empty {}, peak {}, idle {}; cached objects {objects} → {bytes_per_object:.0} bytes each",
        mib(empty_kib),
        mib(run.peak_kib),
        mib(run.idle_kib)
    );
    for line in samples(m, "operationrun_reconcile_duration_seconds_bucket") {
        println!("  - {line}");
    }
    for report in &run.perf {
        println!("- perf report: {}", report.display());
    }
    println!(
        "- the whole benchmark took {} (audit log {} MiB)",
        seconds(began.elapsed()),
        audit_mib(cp.audit_log_path())
    );
    say("stopping the control plane");
    drop(cp);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_are_read_and_checked() {
        let o = parse(&args(&["--runs", "10,000", "--concurrency=16"]))
            .unwrap()
            .unwrap();
        assert_eq!((o.runs, o.concurrency, o.history), (10_000, 16, 2));
        assert!(parse(&args(&["--runs", "10"])).is_err());
        assert!(parse(&args(&["--runs", "10", "--concurrency", "65"])).is_err());
        assert!(parse(&args(&["--runs", "2", "--concurrency", "4"])).is_err());
        assert!(parse(&args(&["--help"])).unwrap().is_none());
    }

    #[test]
    fn the_chart_args_lose_leader_election_and_take_the_concurrency() {
        let got = controller_args(
            args(&[
                "run",
                "--lease-name=x",
                "--concurrency=4",
                "--log-format=json",
            ]),
            16,
        );
        assert_eq!(
            got,
            args(&[
                "run",
                "--log-format=json",
                "--no-leader-election",
                "--concurrency=16"
            ])
        );
    }

    #[test]
    fn runs_are_dealt_to_families_and_namespaces_evenly() {
        let (namespaces, planned) = plan(300, "bench");
        assert_eq!(namespaces.len(), NAMESPACES);
        let backups = planned
            .iter()
            .filter(|p| p.family == Family::Backup)
            .count();
        assert_eq!(backups, 100);
        let in_first = planned.iter().filter(|p| p.namespace == "bench-00").count();
        assert_eq!(in_first, 6);
    }

    #[test]
    fn the_decision_flags_are_read_from_the_chart_args() {
        let config = decision_config(&args(&[
            "run",
            "--queued-timeout=60",
            "--heartbeat-timeout=30",
            "--log-level=info",
        ]))
        .unwrap();
        assert_eq!((config.queued_timeout, config.heartbeat_timeout), (60, 30));
        assert_eq!(config.abandon_after, Config::default().abandon_after);
        assert!(decision_config(&args(&["--abandon-after=soon"])).is_err());
    }

    #[test]
    fn conditions_compare_without_their_transition_time() {
        let at = |t: &str| RunCondition {
            type_: "Stale".into(),
            status: "True".into(),
            last_transition_time: Some(t.into()),
            ..Default::default()
        };
        assert!(same_conditions(&[at("a")], &[at("b")]));
        let mut other = at("a");
        other.status = "False".into();
        assert!(!same_conditions(&[at("a")], &[other]));
    }

    #[test]
    fn metrics_are_summed_over_labels() {
        let text = "# HELP x\noperationrun_status_writes_total 7\noperationrun_reconciliations_total{family=\"a\",reason=\"b\"} 2\noperationrun_reconciliations_total{family=\"c\",reason=\"d\"} 3\n";
        assert_eq!(metric(text, "operationrun_status_writes"), 7.0);
        assert_eq!(metric(text, "operationrun_reconciliations"), 5.0);
        assert_eq!(metric(text, "operationrun_missing"), 0.0);
    }
}
