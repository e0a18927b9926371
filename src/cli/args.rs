//! The command line: global options and one argument struct per command (clap derive; options that a job
//! would set also read `POOLSHIFT_*` environment variables).

use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::logging::LogFormat;

const EXIT_CODES: &str = "\
Exit codes:
  0  done, or nothing to do
  1  failed
  2  usage, configuration or scenario error
  3  paused, or the maintenance window closed (resume continues)
  4  blocked, waiting for an operator
  5  plan found blockers";

/// Upgrades Kubernetes node pools blue/green: a new pool at the target version, then the old pool's nodes
/// are cordoned and drained in batches through the Eviction API, never breaking a PodDisruptionBudget.
#[derive(Debug, Parser)]
#[command(name = "poolshift", version, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Log format on stderr; auto = human on a terminal, JSON otherwise.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto, env = "POOLSHIFT_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log level (error, warn, info, debug, trace) or RUST_LOG-style directives; default: RUST_LOG, else info.
    #[arg(long, global = true, value_name = "LEVEL", env = "POOLSHIFT_LOG_LEVEL")]
    pub log_level: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a full upgrade on an embedded simulated cluster (no cloud account or cluster needed).
    Demo(DemoArgs),
    /// Build the upgrade plan and print it (dry run); exits 5 when it finds blockers.
    Plan(PlanArgs),
    /// Upgrade a pool: guided on a terminal, unattended with --yes.
    Upgrade(UpgradeArgs),
    /// Show the state of upgrade runs.
    Status(StatusArgs),
    /// Ask the running upgrade to pause after its in-flight evictions.
    Pause(PoolArgs),
    /// Continue a paused upgrade from its checkpoint: guided on a terminal, unattended with --yes.
    Resume(ResumeArgs),
    /// Undo an upgrade that has not deleted the blue pool yet.
    Rollback(PoolArgs),
    /// Stop an upgrade and release its lock, leaving the pools as they are.
    Abort(PoolArgs),
    /// Save the cluster state that plan reads, for offline planning.
    Snapshot(SnapshotArgs),
    /// The kubesim cluster simulator.
    Sim(SimArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the man page (roff).
    Man,
}

impl Command {
    /// The command's name as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Demo(_) => "demo",
            Command::Plan(_) => "plan",
            Command::Upgrade(_) => "upgrade",
            Command::Status(_) => "status",
            Command::Pause(_) => "pause",
            Command::Resume(_) => "resume",
            Command::Rollback(_) => "rollback",
            Command::Abort(_) => "abort",
            Command::Snapshot(_) => "snapshot",
            Command::Sim(_) => "sim",
            Command::Completions(_) => "completions",
            Command::Man => "man",
        }
    }
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Scenario YAML file (default: the built-in demo cluster).
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Do not stop at approval gates.
    #[arg(short, long)]
    pub yes: bool,
}

/// Where and what to upgrade, shared by plan and upgrade.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Cluster configuration file.
    #[arg(short = 'c', long = "config", value_name = "FILE", env = "POOLSHIFT_CONFIG")]
    pub config: Option<PathBuf>,
    /// The pool to upgrade (default: the only pool of the configuration).
    #[arg(long, value_name = "NAME", env = "POOLSHIFT_POOL")]
    pub pool: Option<String>,
    /// Target version: latest-patch, next-minor, or an exact X.Y.Z (default: the pool's `to` in the file).
    #[arg(long, value_name = "TARGET", env = "POOLSHIFT_TO")]
    pub to: Option<Target>,
    /// Keep the checkpoint in this local file instead of the configured store (`{pool}` is the pool's name).
    #[arg(long, value_name = "FILE", env = "POOLSHIFT_STATE_FILE")]
    pub state_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Report format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = PlanFormat::Text)]
    pub output: PlanFormat,
    /// Plan offline from a file written by `poolshift snapshot` (no cluster or provider is contacted; the
    /// dry-run evictions are not checked).
    #[arg(long, value_name = "FILE")]
    pub from_snapshot: Option<PathBuf>,
    /// Rehearse the plan with the upgrade engine on a simulated copy of the cluster (virtual time) and
    /// report the timeline.
    #[arg(long)]
    pub rehearse: bool,
    #[command(flatten)]
    pub rehearsal: RehearsalArgs,
    /// Also write the plan to FILE (the JSON of `-o json`, with its plan id) for review and for
    /// `poolshift upgrade --plan FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// How the rehearsal's simulated copy behaves where the cluster's state cannot tell.
#[derive(Debug, Args)]
pub struct RehearsalArgs {
    /// Rehearsal: from a pod bound to a node to Running.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_duration)]
    pub pod_start: std::time::Duration,
    /// Rehearsal: from Running to Ready.
    #[arg(long, value_name = "DUR", default_value = "3s", value_parser = parse_duration)]
    pub pod_ready: std::time::Duration,
    /// Rehearsal: from deletion to gone.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_duration)]
    pub pod_termination: std::time::Duration,
    /// Rehearsal: from creating green to its nodes appearing.
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = parse_duration)]
    pub pool_provision: std::time::Duration,
    /// Rehearsal: from a green node appearing to Ready.
    #[arg(long, value_name = "DUR", default_value = "20s", value_parser = parse_duration)]
    pub node_ready: std::time::Duration,
    /// Rehearsal: from deleting blue to its nodes gone.
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    pub pool_delete: std::time::Duration,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    crate::config::units::parse_duration(s)
}

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Run unattended: no confirmation prompts.
    #[arg(short, long)]
    pub yes: bool,
    /// Allow the `force` escalation for this run: pods still stuck at the drain timeout are deleted,
    /// bypassing their PodDisruptionBudget (only where the pool's `escalation` is `force`).
    #[arg(long, env = "POOLSHIFT_FORCE")]
    pub force: bool,
    /// Execute this reviewed plan (written by `poolshift plan --out FILE`) instead of planning again. It is
    /// compared with the cluster and the provider before the start and before each batch: material
    /// differences refuse (exit 6), benign ones are reported.
    #[arg(long, value_name = "FILE", env = "POOLSHIFT_PLAN")]
    pub plan: Option<PathBuf>,
    /// With --plan: refuse a plan made longer ago than this.
    #[arg(long, value_name = "DUR", default_value = "24h", value_parser = parse_duration, requires = "plan")]
    pub max_plan_age: std::time::Duration,
    /// Start although the plan has blocked pods (the run stops at them as the pool's escalation says);
    /// without it, a plan with blockers is refused (exit 5) unless answered yes on a terminal.
    #[arg(long, env = "POOLSHIFT_ACCEPT_BLOCKERS")]
    pub accept_blockers: bool,
    /// When the pool has an unfinished run (paused, blocked, stopped by its window, crashed), resume it
    /// instead of refusing: one scheduled job running `upgrade --yes --resume` starts or continues.
    #[arg(long, env = "POOLSHIFT_RESUME")]
    pub resume: bool,
    /// Run although the file's maintenance windows are all closed (an operator's emergency change).
    #[arg(long)]
    pub ignore_windows: bool,
    /// Serve Prometheus metrics of the run at http://ADDR/metrics while it is live (`0.0.0.0:9090`).
    #[arg(long, value_name = "ADDR", env = "POOLSHIFT_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Cluster configuration file: its pools are shown.
    #[arg(short = 'c', long = "config", value_name = "FILE", env = "POOLSHIFT_CONFIG", conflicts_with = "dir")]
    pub config: Option<PathBuf>,
    /// A fleet: every cluster file (`*.yaml`, `*.yml`) in this directory, one table for all their pools.
    #[arg(long, value_name = "DIR", conflicts_with = "contexts")]
    pub dir: Option<PathBuf>,
    /// Every context of the kubeconfig (the file's, or the default one), with the file's pools.
    #[arg(long, conflicts_with_all = ["contexts", "dir"])]
    pub all_contexts: bool,
    /// Read checkpoints from this local file instead of the configured store (`{pool}` is the pool's name).
    #[arg(long, value_name = "FILE", env = "POOLSHIFT_STATE_FILE")]
    pub state_file: Option<PathBuf>,
    /// kubeconfig context to look at (repeat for several clusters; default: the file's context, or the
    /// current one).
    #[arg(long = "context", value_name = "CTX")]
    pub contexts: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = StatusFormat::Text)]
    pub output: StatusFormat,
}

#[derive(Debug, Args)]
pub struct PoolArgs {
    /// Cluster configuration file.
    #[arg(short = 'c', long = "config", value_name = "FILE", env = "POOLSHIFT_CONFIG")]
    pub config: Option<PathBuf>,
    /// The pool whose run this applies to (default: the only pool, or the only one with a run in progress).
    #[arg(long, value_name = "NAME", env = "POOLSHIFT_POOL")]
    pub pool: Option<String>,
    /// The checkpoint is in this local file instead of the configured store (`{pool}` is the pool's name).
    #[arg(long, value_name = "FILE", env = "POOLSHIFT_STATE_FILE")]
    pub state_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Do not stop to ask at the stop points (a terminal otherwise gets the guided stops).
    #[arg(short, long)]
    pub yes: bool,
    /// Run although the file's maintenance windows are all closed (an operator's emergency change).
    #[arg(long)]
    pub ignore_windows: bool,
    /// Serve Prometheus metrics of the run at http://ADDR/metrics while it is live (`0.0.0.0:9090`).
    #[arg(long, value_name = "ADDR", env = "POOLSHIFT_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Cluster configuration file (for its kubeconfig context; default: the current context).
    #[arg(short = 'c', long = "config", value_name = "FILE", env = "POOLSHIFT_CONFIG")]
    pub config: Option<PathBuf>,
    /// File to write the snapshot to.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// Record only this pool's provider description (default: every pool of the configuration).
    #[arg(long, value_name = "NAME", env = "POOLSHIFT_POOL")]
    pub pool: Option<String>,
}

#[derive(Debug, Args)]
pub struct SimArgs {
    #[command(subcommand)]
    pub command: SimCommand,
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve a simulated cluster on 127.0.0.1 for kubectl and poolshift, until Ctrl-C.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Scenario YAML file describing the cluster.
    #[arg(long, value_name = "FILE")]
    pub scenario: PathBuf,
    /// TCP port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Where to write the kubeconfig that points at the simulator.
    #[arg(long, value_name = "FILE", default_value = "kubesim.kubeconfig")]
    pub kubeconfig: PathBuf,
    /// Simulated seconds per real second (kubelet delays, provisioning, PDB timeouts run this much faster).
    #[arg(long, value_name = "X", default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
}

/// `--to`: how the target version is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The newest patch of the blue pool's minor version.
    LatestPatch,
    /// The newest patch of the next minor version.
    NextMinor,
    /// Exactly this version (`1.31.4`), or a provider release of it (`1.31.4-20250123`, an EKS AMI release
    /// version, which only the eks provider takes).
    Version(crate::model::version::Version),
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "latest-patch" => return Ok(Target::LatestPatch),
            "next-minor" => return Ok(Target::NextMinor),
            _ => {}
        }
        crate::model::version::Version::parse_target(s).map(Target::Version).map_err(|_| {
            format!(
                "{s:?} is not latest-patch, next-minor, a version X.Y.Z (such as 1.31.4) or an EKS release version \
                 X.Y.Z-YYYYMMDD (such as 1.31.4-20250123)"
            )
        })
    }
}

impl From<&Target> for crate::config::TargetSpec {
    fn from(t: &Target) -> Self {
        match t {
            Target::LatestPatch => Self::LatestPatch,
            Target::NextMinor => Self::NextMinor,
            Target::Version(v) => Self::Exact(*v),
        }
    }
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("{s:?} is not a positive number of simulated seconds per real second")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn targets_parse() {
        assert_eq!("latest-patch".parse::<Target>(), Ok(Target::LatestPatch));
        assert_eq!("next-minor".parse::<Target>(), Ok(Target::NextMinor));
        let exact = |s: &str| match s.parse::<Target>() {
            Ok(Target::Version(v)) => v.to_string(),
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(exact("1.31.4"), "1.31.4");
        assert_eq!(exact("v1.32.0"), "1.32.0");
        // An EKS AMI release version keeps its release.
        assert_eq!(exact("1.31.4-20250123"), "1.31.4-20250123");
        assert_eq!(exact("v1.31.4-20250123"), "1.31.4-20250123");
        for bad in ["1.31", "latest", "1.x.2", "1.2.3.4", "", "1.31.4-", "1.31-20250123", "1.31.4-a b"] {
            assert!(bad.parse::<Target>().is_err(), "{bad}");
        }
        let e = "1.31".parse::<Target>().unwrap_err();
        assert!(e.contains("EKS release version X.Y.Z-YYYYMMDD (such as 1.31.4-20250123)"), "{e}");
    }

    #[test]
    fn speed_must_be_positive() {
        assert_eq!(parse_speed("20"), Ok(20.0));
        assert!(parse_speed("0").is_err());
        assert!(parse_speed("-1").is_err());
        assert!(parse_speed("inf").is_err());
    }

    #[test]
    fn plan_flags_parse() {
        let cli = Cli::try_parse_from([
            "poolshift",
            "plan",
            "-c",
            "c.yaml",
            "--pool",
            "blue",
            "--to",
            "1.31.4",
            "-o",
            "json",
        ])
        .unwrap();
        let Command::Plan(p) = cli.command else { panic!("plan expected") };
        assert_eq!(p.output, PlanFormat::Json);
        assert_eq!(p.target.pool.as_deref(), Some("blue"));
        assert_eq!(p.target.to, Some(Target::Version(crate::model::version::Version::new(1, 31, 4))));
    }
}
