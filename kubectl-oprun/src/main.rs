//! The `kubectl-oprun` binary: `kubectl oprun list` and `kubectl oprun explain`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use jiff::Timestamp;
use kubectl_oprun::Error;
use kubectl_oprun::render::{self, Context};
use kubectl_oprun::source::{self, Access, Cluster, Namespaces};
use kubectl_oprun::view::RunView;
use operationrun_core::args::DecisionArgs;
use operationrun_core::decide::Config;
use operationrun_core::manifests::Manifests;

const ABOUT: &str = "What happened to your OperationRuns, and the one thing to do next.";

const LONG_ABOUT: &str = "\
What happened to your OperationRuns, and the one thing to do next.

Two sources:
  cluster (default)  Reads OperationRuns (and, for --diagnostics, BackupSets and
                     BaselineSnapshots) through the kubeconfig, as kubectl does:
                     --kubeconfig, KUBECONFIG or ~/.kube/config; --context; the
                     context's namespace unless -n or -A is given. The conditions
                     shown are the ones the controller STORED on each run.
  -f PATH            Reads manifests instead (files or directories, YAML or JSON,
                     multi-document, kind: List as `kubectl get -o yaml` writes it),
                     e.g. a cluster dump. Shows the conditions stored in the files.
                     Without -n, `list` shows every namespace in the files.
                     --now RFC3339 fixes the time (default: now), for repeatable output.
                     --reconcile first applies one controller reconcile at --now and
                     shows its result as the controller would have written it
                     (offline only; useful for examples, which carry no conditions).

`list -o json` prints the runs for scripts: each with its phase, whether it is stale,
the stored Reconciled status and reason, the outcome and the next action.

Staleness is measured with the timeout flags below (the controller's defaults unless
given); set them as the controller is configured. `explain --diagnostics` applies the
decision table to the current evidence (the same code the controller runs) only to say
which row decided; it never replaces what is stored.

Exit codes: 0 ok, 1 cluster error, 2 bad input.";

/// `kubectl oprun`.
#[derive(Parser)]
#[command(
    name = "kubectl-oprun",
    bin_name = "kubectl oprun",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Flags every subcommand takes.
#[derive(Args)]
struct Global {
    /// Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: the current context).
    #[arg(long, global = true, value_name = "NAME")]
    context: Option<String>,
    /// The namespace (default: the kubeconfig context's namespace).
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    namespace: Option<String>,
    /// Read manifests from files or directories instead of the cluster (repeatable).
    #[arg(
        short = 'f',
        long = "filename",
        global = true,
        value_name = "PATH",
        value_delimiter = ','
    )]
    files: Vec<PathBuf>,
    /// With -f: the time to read the runs at, RFC 3339 (default: now).
    #[arg(long, global = true, value_name = "RFC3339")]
    now: Option<Timestamp>,
    /// With -f: apply one controller reconcile at --now first and show its result.
    #[arg(long, global = true)]
    reconcile: bool,
    /// The controller's timeouts, which staleness is measured with (made global in `main`).
    #[command(flatten)]
    decision: DecisionArgs,
}

/// How `list` prints the runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    /// An aligned table for people.
    Table,
    /// A JSON array for scripts: each run with its phase, staleness, the stored
    /// `Reconciled` status and reason, the outcome and the next action.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// List runs, those needing attention first: stale and undecided, then Blocked,
    /// Failed and Abandoned, then the rest.
    List {
        /// List runs in every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Explain one run: what happened, its outcome with the proof, and one next action.
    Explain {
        /// The OperationRun's name.
        run: String,
        /// Add the evidence: related artifacts and their counts, every condition, the
        /// recorded failures, the timestamps and the row of the decision table that decided.
        #[arg(long)]
        diagnostics: bool,
    },
}

/// The command line, with the decision flags global like the others, so they may follow
/// the subcommand.
fn command() -> clap::Command {
    let decision_flags: Vec<clap::Id> = DecisionArgs::augment_args(clap::Command::new("flags"))
        .get_arguments()
        .map(|a| a.get_id().clone())
        .collect();
    decision_flags
        .into_iter()
        .fold(Cli::command(), |command, id| {
            command.mut_arg(id, |a| a.global(true))
        })
}

fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match execute(cli) {
        Ok(text) => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: writing output: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs the command and returns everything it prints, so that nothing is half-printed.
fn execute(cli: Cli) -> Result<String, Error> {
    let g = &cli.global;
    let config = Config::from(g.decision);
    // checked here rather than by clap: its `requires` does not see global flags given
    // before the subcommand
    if g.files.is_empty() && (g.now.is_some() || g.reconcile) {
        return Err(Error::Input(
            "--now and --reconcile read files: they need -f (the cluster is read as it is, now)"
                .into(),
        ));
    }
    if !g.files.is_empty() && (g.kubeconfig.is_some() || g.context.is_some()) {
        return Err(Error::Input(
            "-f reads files, not the cluster: drop --kubeconfig and --context".into(),
        ));
    }
    if let (
        Command::List {
            all_namespaces: true,
            ..
        },
        Some(_),
    ) = (&cli.command, &g.namespace)
    {
        return Err(Error::Input(
            "-A lists every namespace: drop -n, or drop -A".into(),
        ));
    }
    if !g.files.is_empty() {
        let mut manifests = source::load_files(&g.files)?;
        let now = g.now.unwrap_or_else(Timestamp::now);
        if g.reconcile {
            source::reconcile(&mut manifests, now, &config);
        }
        return match &cli.command {
            Command::List {
                all_namespaces,
                output,
            } => {
                let namespaces = match (&g.namespace, all_namespaces) {
                    (Some(ns), false) => Namespaces::One(ns.clone()),
                    _ => Namespaces::All,
                };
                let views: Vec<RunView<'_>> = source::in_namespaces(&manifests, &namespaces)
                    .map(|r| RunView::new(r, now, &config))
                    .collect();
                Ok(list_text(&views, &namespaces, *output, now))
            }
            Command::Explain { run, diagnostics } => {
                let found = source::find_in_files(&manifests, g.namespace.as_deref(), run)?;
                let view = RunView::new(found, now, &config);
                Ok(render::explain(
                    &view,
                    &Context {
                        now,
                        config: &config,
                        manifests: Some(&manifests),
                        diagnostics: *diagnostics,
                    },
                ))
            }
        };
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Cluster(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(from_cluster(&cli, &config))
}

async fn from_cluster(cli: &Cli, config: &Config) -> Result<String, Error> {
    let g = &cli.global;
    let access = Access {
        kubeconfig: g.kubeconfig.clone(),
        context: g.context.clone(),
    };
    let cluster = Cluster::connect(&access).await?;
    let namespace = g
        .namespace
        .clone()
        .unwrap_or_else(|| cluster.default_namespace.clone());
    let now = Timestamp::now();
    match &cli.command {
        Command::List {
            all_namespaces,
            output,
        } => {
            let namespaces = if *all_namespaces {
                Namespaces::All
            } else {
                Namespaces::One(namespace)
            };
            let runs = cluster.runs(&namespaces).await?;
            let views: Vec<RunView<'_>> =
                runs.iter().map(|r| RunView::new(r, now, config)).collect();
            Ok(list_text(&views, &namespaces, *output, now))
        }
        Command::Explain { run, diagnostics } => {
            let manifests: Manifests = cluster.run(&namespace, run, *diagnostics).await?;
            let Some(found) = manifests.runs.first() else {
                return Err(Error::Cluster(format!(
                    "OperationRun {run} not found in namespace {namespace}"
                )));
            };
            let view = RunView::new(found, now, config);
            Ok(render::explain(
                &view,
                &Context {
                    now,
                    config,
                    manifests: Some(&manifests),
                    diagnostics: *diagnostics,
                },
            ))
        }
    }
}

/// The list table, or kubectl's "No resources found" note when there is nothing to show;
/// or the JSON array (empty when there is nothing to show).
fn list_text(
    views: &[RunView<'_>],
    namespaces: &Namespaces,
    output: Output,
    now: Timestamp,
) -> String {
    if output == Output::Json {
        return render::list_json(views);
    }
    if views.is_empty() {
        match namespaces {
            Namespaces::All => eprintln!("No OperationRuns found."),
            Namespaces::One(ns) => eprintln!("No OperationRuns found in namespace {ns}."),
        }
        return String::new();
    }
    render::list(views, matches!(namespaces, Namespaces::All), now)
}
