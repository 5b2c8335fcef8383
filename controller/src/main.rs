//! The `operationrun-controller` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use jiff::Timestamp;
use operationrun_controller::decide::Config;
use operationrun_controller::{evaluate, manifests};

/// Decides the true outcome of stale OperationRuns from the evidence they produced.
#[derive(Parser)]
#[command(name = "operationrun-controller", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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

/// Timeouts shared by `run` and `evaluate`.
#[derive(Args, Clone, Copy)]
struct DecisionFlags {
    /// Seconds a run may stay Queued before it is stale (a run's spec.timeouts overrides it).
    #[arg(long, default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..))]
    queued_timeout: u64,
    /// Seconds a Running run may go without a heartbeat before it is stale.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    heartbeat_timeout: u64,
    /// Seconds after becoming stale at which an undecided run is closed as Abandoned; 0 disables.
    #[arg(long, default_value_t = 86_400)]
    abandon_after: u64,
}

impl From<DecisionFlags> for Config {
    fn from(f: DecisionFlags) -> Self {
        Config {
            queued_timeout: f.queued_timeout,
            heartbeat_timeout: f.heartbeat_timeout,
            abandon_after: f.abandon_after,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Json,
    Table,
}

#[derive(Args)]
struct EvaluateArgs {
    /// Manifest files or directories (YAML or JSON; multi-document; kind: List).
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    files: Vec<PathBuf>,
    /// The decision time, RFC 3339 (default: now).
    #[arg(long)]
    now: Option<Timestamp>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    output: Output,
    #[command(flatten)]
    flags: DecisionFlags,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
