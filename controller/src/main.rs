//! The `operationrun-controller` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use jiff::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use operationrun_controller::cli::{Cli, Command, EvaluateArgs, LogFormat, Output, RunArgs};
use operationrun_controller::http::{self, Health};
use operationrun_controller::metrics::Metrics;
use operationrun_controller::reconciler::{self, Hooks, Settings};
use operationrun_controller::request::within;
use operationrun_controller::stall::Caches;
use operationrun_controller::{leader, telemetry};
use operationrun_core::{evaluate, manifests};
use std::time::Duration;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run_controller(args),
        Command::Evaluate(args) => run_evaluate(args),
        Command::Crds { output_dir } => run_crds(output_dir),
    }
}

fn run_evaluate(args: EvaluateArgs) -> ExitCode {
    let manifests = match manifests::load(&args.files) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let now = args.now.unwrap_or_else(Timestamp::now);
    let results = evaluate::evaluate(&manifests, now, &args.flags.into());
    let entries: Vec<_> = results.into_iter().map(|(entry, _)| entry).collect();
    let text = match args.output {
        Output::Json => match evaluate::to_json(&entries) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot render JSON: {e}");
                return ExitCode::FAILURE;
            }
        },
        Output::Table => evaluate::to_table(&entries),
    };
    print!("{text}");
    ExitCode::SUCCESS
}

fn run_crds(output_dir: Option<PathBuf>) -> ExitCode {
    let result = match output_dir {
        None => operationrun_crds::crds_yaml()
            .map(|y| print!("{y}"))
            .map_err(|e| e.to_string()),
        Some(dir) => operationrun_crds::crd_files()
            .map_err(|e| e.to_string())
            .and_then(|files| {
                std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                for (name, text) in files {
                    let path = dir.join(name);
                    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
                }
                Ok(())
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn identity() -> String {
    std::env::var("POD_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("operationrun-controller-{}", std::process::id()))
}

/// Resolves on SIGTERM or SIGINT.
async fn terminated() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn run_controller(args: RunArgs) -> ExitCode {
    telemetry::init(matches!(args.log_format, LogFormat::Json), &args.log_level);
    let lease_namespace = args.lease_namespace.clone().filter(|n| !n.is_empty());
    if !args.no_leader_election && lease_namespace.is_none() {
        eprintln!(
            "error: leader election needs --lease-namespace or $POD_NAMESPACE (or pass --no-leader-election)"
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match controller_main(args, lease_namespace).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "controller stopped");
                ExitCode::FAILURE
            }
        }
    })
}

async fn controller_main(args: RunArgs, lease_namespace: Option<String>) -> Result<(), String> {
    let client = kube::Client::try_default()
        .await
        .map_err(|e| format!("cannot build a client: {e}"))?;
    let metrics = Arc::new(Metrics::default());
    let caches = Arc::new(Caches::new(Duration::from_secs(u64::from(
        args.unsynced_timeout,
    ))));
    let health = Arc::new(Health {
        ready: AtomicBool::new(false),
        metrics: metrics.clone(),
        caches: caches.clone(),
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let bound = http::serve(args.http_addr, health.clone(), stopped())
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.http_addr))?;
    tracing::info!(addr = %bound, "serving /metrics, /healthz and /readyz");
    let request_timeout = Duration::from_secs(u64::from(args.request_timeout));
    within("version", request_timeout, client.apiserver_version())
        .await
        .map_err(|e| format!("cannot reach the API server: {e}"))?;
    health.ready.store(true, Ordering::Release);
    tokio::spawn(async move {
        terminated().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });

    let identity = identity();
    let elector = lease_namespace
        .filter(|_| !args.no_leader_election)
        .map(|ns| {
            leader::Elector::new(
                client.clone(),
                &ns,
                &args.lease_name,
                &identity,
                leader::Timings::default(),
            )
            .with_request_timeout(request_timeout)
        });
    let settings = Settings {
        config: args.flags.into(),
        namespaces: args.namespaces.clone(),
        dry_run: args.dry_run,
        concurrency: args.concurrency,
        instance: identity,
        events: reconciler::events::EventLimits {
            queue: args.event_queue as usize,
            per_second: f64::from(args.event_qps),
            ..Default::default()
        },
        request_timeout,
        caches: caches.clone(),
    };
    tracing::info!(namespaces = ?settings.namespaces, dry_run = settings.dry_run, "controller starting");
    reconciler::run_elected(
        client,
        elector,
        settings,
        metrics,
        Hooks::default(),
        stopped(),
    )
    .await
    .map_err(|e| e.to_string())
}
