//! The command line of `operationrun-controller`, public so that tests parse exactly what
//! the binary parses (e.g. the chart's Deployment args) with the real parser.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use jiff::Timestamp;
use operationrun_core::args::DecisionArgs;

/// Decides the true outcome of stale OperationRuns from the evidence they produced.
#[derive(Parser, Debug)]
#[command(name = "operationrun-controller", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands: `run`, `evaluate` and `crds`.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller against the cluster of the kubeconfig (or in-cluster).
    Run(RunArgs),
    /// Print, for every OperationRun in the given manifests, the controller-owned conditions
    /// after one reconcile at --now, without a cluster.
    Evaluate(EvaluateArgs),
    /// Print the CustomResourceDefinitions, or write them into a folder.
    Crds {
        /// Write one file per CRD into this folder instead of printing.
        #[arg(long)]
        output_dir: Option<PathBuf>,
    },
}

/// How `run` writes its log lines: text for people, JSON for log collectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The flags of `run`.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct RunArgs {
    /// Watch only this namespace (repeatable); default: all namespaces.
    #[arg(long = "namespace", value_name = "NS")]
    pub namespaces: Vec<String>,
    /// Namespace of the leader-election Lease (default: $POD_NAMESPACE).
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "operationrun-controller")]
    pub lease_name: String,
    /// Run without leader election (only one replica may run).
    #[arg(long)]
    pub no_leader_election: bool,
    /// Decide, log and count in metrics, but write nothing and emit no Events.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub flags: DecisionArgs,
    /// Address serving /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub http_addr: std::net::SocketAddr,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides it.
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Runs reconciled at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Kubernetes Events sent per second at most; a burst beyond the queue is dropped and
    /// counted in operationrun_events_dropped_total (the conditions are the record).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub event_qps: u32,
    /// Events that may wait to be sent; beyond this, new ones are dropped and counted.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub event_queue: u32,
    /// Seconds every API request but a watch may take before it is abandoned (the Lease's
    /// requests take at most its 2 s retry period), so a hung connection never holds a
    /// reconcile.
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=300))]
    pub request_timeout: u32,
    /// Seconds a watched kind may stay unsynced (a re-list) before /readyz fails; it also
    /// fails until every cache has synced once.
    #[arg(long, value_name = "SECONDS", default_value_t = 180, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub unsynced_timeout: u32,
}

/// How `evaluate` prints its results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Json,
    Table,
}

/// The flags of `evaluate`.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct EvaluateArgs {
    /// Manifest files or directories (YAML or JSON; multi-document; kind: List).
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// The decision time, RFC 3339 (default: now).
    #[arg(long)]
    pub now: Option<Timestamp>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: Output,
    #[command(flatten)]
    pub flags: DecisionArgs,
}
