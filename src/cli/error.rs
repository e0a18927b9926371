//! What a command can fail with, and the exit code each failure maps to.

use std::path::PathBuf;

use kubesim::scenario::ScenarioError;

use crate::cluster_view::ViewError;
use crate::exit::Exit;
use crate::logging::LoggingError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("`{command}` is not available in this build of poolshift yet")]
    NotBuilt { command: &'static str },
    #[error(transparent)]
    Logging(#[from] LoggingError),
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("no demo scenario found (looked for {}); pass --scenario FILE", .looked.display())]
    DemoScenarioMissing { looked: PathBuf },
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
    #[error("no terminal to ask for confirmation: pass --yes to run unattended")]
    NeedsYes,
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error(transparent)]
    Session(#[from] crate::session::SessionError),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

impl CliError {
    pub fn exit(&self) -> Exit {
        match self {
            CliError::NotBuilt { .. }
            | CliError::Logging(_)
            | CliError::Scenario(_)
            | CliError::DemoScenarioMissing { .. }
            | CliError::NeedsYes => Exit::Usage,
            CliError::Listen { .. }
            | CliError::WriteKubeconfig { .. }
            | CliError::Runtime(_)
            | CliError::Signals(_)
            | CliError::View(_)
            | CliError::Output(_)
            | CliError::Engine(_)
            | CliError::Session(_)
            | CliError::Kube(_) => Exit::Failed,
        }
    }
}
