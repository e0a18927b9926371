//! What a command can fail with, and the exit code each failure maps to.

use std::path::PathBuf;

use kubesim::scenario::ScenarioError;
use poolshift_provider_api::ErrorKind;

use crate::cluster_view::ViewError;
use crate::engine::EngineError;
use crate::exit::Exit;
use crate::logging::LoggingError;
use crate::ports::LockError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Logging(#[from] LoggingError),
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("cannot listen on 127.0.0.1:{port}: {source} (choose another --port, or 0 to pick a free one)")]
    Listen { port: u16, source: std::io::Error },
    #[error("cannot write the kubeconfig {}: {source}", .path.display())]
    WriteKubeconfig { path: PathBuf, source: std::io::Error },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot listen for shutdown signals: {0}")]
    Signals(std::io::Error),
    #[error("reading the simulated cluster: {0}")]
    View(#[from] ViewError),
    #[error("writing output: {0}")]
    Output(std::io::Error),
    #[error("no terminal to ask for confirmation: pass --yes to run unattended (runbook: scheduled-upgrades)")]
    NeedsYes,
    #[error(
        "--to next-minor: an unattended run (--yes without a terminal) moves to the next minor version only when {file} sets `to: next-minor` for pool {pool}; nothing changed (runbook: scheduled-upgrades)"
    )]
    JobNextMinor { file: String, pool: String },
    /// `status --dir`: the directory cannot be read, has no cluster files, or two files name one cluster.
    #[error("status --dir: {0}")]
    Fleet(String),
    #[error(
        "{file} sends notifications to the webhook in ${var}, which is not set: set it (from a Secret in the CronJob) or remove the webhook; nothing changed (runbook: scheduled-upgrades)"
    )]
    WebhookUrlMissing { var: String, file: String },
    #[error("webhooks: cannot set up the HTTP client: {0}")]
    Webhooks(String),
    #[error("{0}; nothing changed (choose another --metrics-addr)")]
    Metrics(#[from] crate::metrics::ServeError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    /// Boxed: a session error carries versions (with their provider release), which makes it large.
    #[error(transparent)]
    Session(Box<crate::session::SessionError>),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("kubeconfig: {0}")]
    KubeConfig(String),
    #[error(transparent)]
    Provider(#[from] super::provider::ProviderBuildError),
    #[error("reading the simulator's clock (GET /sim/v1/clock): {0}")]
    SimClock(String),
    #[error(transparent)]
    Store(#[from] crate::ports::StoreError),
    #[error(transparent)]
    Cluster(#[from] crate::ports::ClusterError),
    #[error(
        "pool {pool} has an unfinished run {run} ({status} at phase {phase}): `poolshift resume {args}` continues it, `poolshift rollback {args}` undoes it, `poolshift abort {args}` ends it as it is (runbook: pause-resume)"
    )]
    Unfinished { pool: String, run: String, phase: String, status: String, args: String },
    #[error(transparent)]
    Busy(Box<Busy>),
    #[error("no run to {action} for pool {pool}: no checkpoint at {location}")]
    NoRun { action: &'static str, pool: String, location: String },
    #[error("`{option}` is not available in this build of poolshift yet")]
    NotBuiltOption { option: &'static str },
    #[error("cannot write {}: {source}", .path.display())]
    WriteFile { path: PathBuf, source: std::io::Error },
    #[error("snapshot {}: {message}", .path.display())]
    Snapshot { path: PathBuf, message: String },
    #[error("{0}")]
    Rehearsal(String),
    #[error("plan file {}: {message} (runbook: plan-drift)", .path.display())]
    PlanFile { path: PathBuf, message: String },
    #[error(
        "plan {plan_id} ({}) is not executed: {count} material change(s) since it was made (listed above); nothing was changed. Plan again with `poolshift plan --out FILE` and have it reviewed (runbook: plan-drift)",
        .path.display()
    )]
    PlanDrift { path: PathBuf, plan_id: String, count: usize },
    #[error(
        "the plan has {count} blocked pod(s) (listed above): the run would create green, cordon blue and stop at them. Resolve them and plan again, or pass --accept-blockers to start anyway; nothing was changed (runbook: plan-drift)"
    )]
    PlanBlockers { count: usize },
}

/// Another agent holds the pool: who, since when it renewed, when its lease expires, what to do.
#[derive(Debug, thiserror::Error)]
#[error(
    "pool {pool} is held by agent {holder}{run}: its lease was renewed {age_secs}s ago and expires at {expires_at} unless renewed. Nothing was changed. Wait for that run, follow it with `poolshift status {status_args}`, or stop it at its next safe point with `poolshift pause {args}`; if that agent has died, `poolshift resume {args}` takes over once the lease has expired (after {expires_at}) (runbook: pause-resume)"
)]
pub struct Busy {
    pub pool: String,
    /// ` (run ID)` when known, else empty.
    pub run: String,
    pub holder: String,
    pub age_secs: u64,
    pub expires_at: String,
    /// `-c FILE [--pool NAME]` for the hints.
    pub args: String,
    /// `-c FILE` for the `status` hint.
    pub status_args: String,
}

impl CliError {
    /// The runbook to name after an error whose text comes from elsewhere (the engine, the provider) and
    /// does not name one; `None` when the message names its own or none applies.
    pub fn runbook(&self) -> Option<&'static str> {
        let named = |text: String| text.contains("(runbook: ");
        match self {
            CliError::Engine(EngineError::TooLateToRollBack { .. }) => Some("(runbook: rollback)"),
            CliError::Engine(EngineError::InProgress { .. } | EngineError::Lock(LockError::Held { .. })) => {
                Some("(runbook: pause-resume)")
            }
            CliError::Engine(EngineError::Provider(e)) if !named(e.to_string()) => match e.kind {
                ErrorKind::Permission => Some("(runbook: permissions)"),
                _ if e.provider.starts_with("onprem:") => Some("(runbook: onprem-plugin)"),
                _ => Some("(runbook: pause-resume)"),
            },
            _ => None,
        }
    }

    pub fn exit(&self) -> Exit {
        match self {
            CliError::Logging(_)
            | CliError::Scenario(_)
            | CliError::NeedsYes
            | CliError::JobNextMinor { .. }
            | CliError::Fleet(_)
            | CliError::WebhookUrlMissing { .. }
            | CliError::Metrics(_)
            | CliError::Config(_)
            | CliError::KubeConfig(_)
            | CliError::Provider(_)
            | CliError::Unfinished { .. }
            | CliError::Busy(_)
            | CliError::NoRun { .. }
            | CliError::NotBuiltOption { .. }
            | CliError::Snapshot { .. }
            | CliError::PlanFile { .. } => Exit::Usage,
            CliError::PlanDrift { .. } => Exit::PlanDrift,
            CliError::PlanBlockers { .. } => Exit::PlanBlockers,
            // Refusals that changed nothing: another agent holds the pool, or the run is not in a state for this.
            CliError::Engine(
                EngineError::Lock(LockError::Held { .. })
                | EngineError::InProgress { .. }
                | EngineError::NoRun { .. }
                | EngineError::Finished { .. }
                | EngineError::TooLateToRollBack { .. },
            ) => Exit::Usage,
            CliError::Listen { .. }
            | CliError::WriteKubeconfig { .. }
            | CliError::Runtime(_)
            | CliError::Signals(_)
            | CliError::View(_)
            | CliError::Output(_)
            | CliError::Engine(_)
            | CliError::Session(_)
            | CliError::Kube(_)
            | CliError::SimClock(_)
            | CliError::Store(_)
            | CliError::Cluster(_)
            | CliError::WriteFile { .. }
            | CliError::Webhooks(_)
            | CliError::Rehearsal(_) => Exit::Failed,
        }
    }
}

impl From<crate::session::SessionError> for CliError {
    fn from(e: crate::session::SessionError) -> Self {
        CliError::Session(Box::new(e))
    }
}
